//! Batched rewrites: the one statement that replaces a loop of one shape.
//!
//! Works on the normalised text of a [`Shape`], in the shape's dialect (PostgreSQL shapes
//! number placeholders `$n`, the others write `?`). The loop key is the single
//! column compared with `=` to a placeholder in the main WHERE clause (when several are, the one
//! named `id`, `*_id` or camelCase `*Id`), or in an inner join's ON condition when the WHERE
//! clause has none (Sequelize's many-to-many `INNER JOIN j ON … AND j.k = $1`). Rewrites:
//! - `SELECT .. WHERE k = $1` (or `k IN ($1, ...)`) → `k = ANY($1)` (MySQL `k IN (?, ...)`), adding `k` to the select
//!   list when it is missing; a LIMIT is dropped for `id` lookups; a literal `LIMIT 1` on another
//!   key becomes PostgreSQL `DISTINCT ON (k) .. ORDER BY k, ..`.
//! - `SELECT COUNT(*)/SUM(..) .. WHERE k = $1` → `SELECT k, COUNT(*) .. GROUP BY k`.
//! - `SELECT EXISTS(SELECT .. WHERE k = $1)` and `SELECT 1 .. WHERE k = $1 LIMIT ..` →
//!   `SELECT DISTINCT k .. WHERE k = ANY($1)`.
//! - Single-row `INSERT .. VALUES ($1, $2)` → PostgreSQL `INSERT .. SELECT * FROM unnest($1, $2)`,
//!   otherwise a multi-row VALUES list.
//! - `UPDATE t SET a = $1 WHERE id = $2` → PostgreSQL `UPDATE t SET a = v.a FROM unnest(..) AS
//!   v(a, id) WHERE t.id = v.id`; other UPDATEs and DELETEs → `WHERE k = ANY($1)`.
//!
//! Whenever the shape has something the rewrite cannot keep correct (an `OR` beside the key,
//! several candidate keys, `GROUP BY`, OFFSET, a top-N LIMIT, `INSERT .. SELECT`), the answer is
//! `None` rather than a wrong statement.

use crate::facts::{self, name_start_before, Tok};
use crate::lexer::Kind;
use crate::{Dialect, Shape, Verb};

/// A batched statement and why it is equivalent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    pub sql: String,
    pub explanation: String,
}

/// The one statement replacing a loop of `shape`; `None` if no safe rewrite is known.
pub fn batched(shape: &Shape) -> Option<Rewrite> {
    let text = shape.normalized.as_str();
    if text.len() > facts::FACTS_WINDOW {
        return None;
    }
    let dialect = shape.dialect;
    let toks = facts::tokens(text, dialect);
    // No placeholder, no loop key.
    if !toks.iter().any(|t| t.kind == Kind::Param) {
        return None;
    }
    let in_where = facts::filter_flags(&toks);
    let ctx = Ctx {
        limit_one: shape.limit_one,
        in_where: &in_where,
        text,
        dialect,
        toks: &toks,
    };
    match shape.verb {
        Verb::Insert => ctx.insert(),
        Verb::Select if shape.aggregate => ctx.aggregate(),
        Verb::Select => ctx.select(),
        Verb::Update | Verb::Delete => ctx.write(shape.verb),
        _ => None,
    }
}

/// The `key = $n` comparison a loop varies (or `$n = key`, as SQLAlchemy writes its
/// one-to-many lazy loads: `$1::INTEGER = books.author_id`).
struct Key {
    /// Token range of the column expression (`"t"."col"`), inclusive.
    name: (usize, usize),
    /// Token range of the whole comparison, inclusive.
    cmp: (usize, usize),
    /// Token index of the placeholder.
    param: usize,
    /// Token index of the placeholder's cast type (`$1::INTEGER`).
    cast: Option<usize>,
}

struct Ctx<'t> {
    text: &'t str,
    dialect: Dialect,
    toks: &'t [Tok<'t>],
    /// [`facts::filter_flags`] of `toks`: the WHERE clause, or an inner join's ON condition.
    in_where: &'t [bool],
    /// [`Shape::limit_one`]: the LIMIT was a literal 1 (the text only shows `$n`).
    limit_one: bool,
}

impl<'t> Ctx<'t> {
    fn tok(&self, i: usize) -> Option<&Tok<'t>> {
        self.toks.get(i)
    }

    /// Source text from token `a` to the end of token `b` (inclusive).
    fn span(&self, a: usize, b: usize) -> &'t str {
        let (Some(s), Some(e)) = (self.tok(a), self.tok(b)) else {
            return "";
        };
        self.text.get(s.start..e.end()).unwrap_or_default()
    }

    fn key_expr(&self, key: &Key) -> &'t str {
        self.span(key.name.0, key.name.1)
    }

    /// The key's column, unquoted (`"t"."col"` → `col`).
    fn key_name(&self, key: &Key) -> Option<String> {
        facts::qualified_name(self.toks, key.name.0).map(|(_, last, _)| last)
    }

    /// The cast type token after a placeholder at `param` (`$1::INTEGER`).
    fn cast_after(&self, param: usize) -> Option<usize> {
        let cast = self.tok(param + 1)?.kind == Kind::Cast;
        (cast && self.tok(param + 2)?.kind == Kind::Word).then_some(param + 2)
    }

    /// `name IN ($n)` or the collapsed `name IN ($n, ...)` at `in_at` (TypeORM loads a
    /// relation of one entity with `"j"."bookId" IN ($1)`): batching the loop binds every
    /// execution's keys in one array.
    fn in_list(&self, in_at: usize) -> Option<Key> {
        let name_start = name_start_before(self.toks, in_at)?;
        let kinds: Vec<Kind> = (in_at + 1..in_at + 8)
            .map_while(|i| self.tok(i).map(|t| t.kind))
            .collect();
        let single = [Kind::LParen, Kind::Param, Kind::RParen];
        let collapsed = [
            Kind::LParen,
            Kind::Param,
            Kind::Comma,
            Kind::Dot,
            Kind::Dot,
            Kind::Dot,
            Kind::RParen,
        ];
        let close = if kinds.starts_with(&single) {
            in_at + 3
        } else if kinds.starts_with(&collapsed) {
            in_at + 7
        } else {
            return None;
        };
        Some(Key {
            name: (name_start, in_at - 1),
            cmp: (name_start, close),
            param: in_at + 2,
            cast: None,
        })
    }

    /// The comparison around the `=` at `eq`: `name = $n[::type]` or `$n[::type] = name`.
    fn comparison(&self, eq: usize) -> Option<Key> {
        if self.tok(eq + 1)?.kind == Kind::Param {
            let name_start = name_start_before(self.toks, eq)?;
            let cast = self.cast_after(eq + 1);
            return Some(Key {
                name: (name_start, eq - 1),
                cmp: (name_start, cast.unwrap_or(eq + 1)),
                param: eq + 1,
                cast,
            });
        }
        // `$n = name` or `$n::type = name`, the name ending its conjunct.
        let param = (1..=3)
            .filter_map(|back| eq.checked_sub(back))
            .find(|&p| self.tok(p).is_some_and(|t| t.kind == Kind::Param))?;
        let cast = self.cast_after(param);
        let starts = self.tok(param.checked_sub(1)?).is_some_and(|t| {
            t.is_word("where") || t.is_word("and") || t.is_word("on") || t.kind == Kind::LParen
        });
        if !starts || cast.map_or(param, |c| c) + 1 != eq {
            return None;
        }
        let name_at = eq + 1;
        if crate::keywords::is_reserved(self.tok(name_at)?.text.as_bytes()) {
            return None;
        }
        let (_, _, after) = facts::qualified_name(self.toks, name_at)?;
        let ends = self
            .tok(after)
            .is_none_or(|t| matches!(t.kind, Kind::RParen | Kind::Semi | Kind::Word));
        ends.then_some(Key {
            name: (name_at, after - 1),
            cmp: (param, after - 1),
            param,
            cast,
        })
    }

    /// The loop key among `col = param` comparisons in the WHERE clause at `depth`.
    fn key(&self, depth: u32) -> Option<Key> {
        let mut found: Vec<Key> = Vec::new();
        let conjunctive = self.conjunctive(depth);
        for (i, t) in self.toks.iter().enumerate() {
            if conjunctive.get(i) != Some(&true) {
                continue;
            }
            if t.is_word("or") {
                return None;
            }
            if t.kind == Kind::Op && t.text == "=" {
                found.extend(self.comparison(i));
            } else if t.is_word("in") {
                found.extend(self.in_list(i));
            }
        }
        if found.len() > 1 {
            found.retain(|k| looks_like_key(&self.key_name(k).unwrap_or_default()));
        }
        match found.len() {
            1 => found.pop(),
            _ => None,
        }
    }

    /// Tokens of the WHERE clause at `depth` that are AND-ed at its top: the clause's own,
    /// and those inside parentheses that only group a part of it (Diesel writes
    /// `WHERE ("t"."k" = $1)`). A group holding an OR or a subquery, negated, or a function's
    /// arguments is not looked into.
    fn conjunctive(&self, depth: u32) -> Vec<bool> {
        let mut out = vec![false; self.toks.len()];
        // Depths inside the grouping parentheses entered so far.
        let mut groups: Vec<u32> = Vec::new();
        for (i, t) in self.toks.iter().enumerate() {
            let level = groups.last().copied().unwrap_or(depth);
            let in_where = self.in_where.get(i) == Some(&true);
            match t.kind {
                Kind::LParen if t.depth == level && in_where && self.groups_a_conjunct(i) => {
                    groups.push(level + 1);
                }
                Kind::RParen if !groups.is_empty() && t.depth + 1 == level => {
                    groups.pop();
                }
                _ => {
                    if let Some(flag) = out.get_mut(i) {
                        *flag = in_where && t.depth == level;
                    }
                }
            }
        }
        out
    }

    /// The `(` at `open` only groups an AND-ed part of a WHERE clause.
    fn groups_a_conjunct(&self, open: usize) -> bool {
        let (Some(paren), Some(before)) = (self.tok(open), open.checked_sub(1)) else {
            return false;
        };
        let after_connective = self.tok(before).is_some_and(|t| {
            t.is_word("where") || t.is_word("on") || t.is_word("and") || t.kind == Kind::LParen
        });
        if !after_connective || self.tok(open + 1).is_some_and(|t| t.is_word("select")) {
            return false;
        }
        let inner = paren.depth + 1;
        let Some(close) = (open + 1..self.toks.len()).find(|&i| {
            self.tok(i)
                .is_some_and(|t| t.kind == Kind::RParen && t.depth == paren.depth)
        }) else {
            return false;
        };
        let or_inside = (open + 1..close).any(|i| {
            self.tok(i)
                .is_some_and(|t| t.depth == inner && t.is_word("or"))
        });
        let ends_a_conjunct = self.tok(close + 1).is_none_or(|t| {
            matches!(t.kind, Kind::RParen | Kind::Semi)
                || t.is_word("and")
                || self.in_where.get(close + 1) != Some(&true)
        });
        !or_inside && ends_a_conjunct
    }

    /// `key = ANY($n)` (PostgreSQL) or `key IN (?, ...)` (MySQL) in place of `key = $n`.
    fn with_any(&self, key: &Key, from: usize, to: usize) -> String {
        let (Some(first), Some(last), Some(param)) = (
            self.tok(key.cmp.0),
            self.tok(key.cmp.1),
            self.tok(key.param),
        ) else {
            return String::new();
        };
        // A cast on the key (`= $1::INTEGER`, as SQLAlchemy writes) becomes the array's
        // cast: `= ANY($1::INTEGER[])`.
        let cast = key.cast.and_then(|c| self.tok(c));
        let replacement = match (self.dialect, cast) {
            (Dialect::Postgres, Some(ty)) => format!("= ANY({}::{}[])", param.text, ty.text),
            (Dialect::Postgres, None) => format!("= ANY({})", param.text),
            (Dialect::MySql | Dialect::Ansi, _) => "IN (?, ...)".to_owned(),
        };
        let start = self.tok(from).map_or(0, |t| t.start);
        let end = self.tok(to).map_or(0, Tok::end);
        let before = self.text.get(start..first.start).unwrap_or_default();
        let after = self.text.get(last.end()..end).unwrap_or_default();
        format!("{before}{} {replacement}{after}", self.key_expr(key))
    }

    fn bind_hint(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => "bind one array of all the keys",
            Dialect::MySql | Dialect::Ansi => {
                "bind one `?` per key (chunk very long lists, e.g. 1,000 keys per query)"
            }
        }
    }

    /// Index of the first depth-`depth` word among `words` after `from`.
    fn find_word(&self, from: usize, depth: u32, words: &[&str]) -> Option<usize> {
        (from..self.toks.len()).find(|&i| {
            self.tok(i)
                .is_some_and(|t| t.depth == depth && words.iter().any(|w| t.is_word(w)))
        })
    }

    fn last(&self) -> usize {
        let mut last = self.toks.len().saturating_sub(1);
        if self.tok(last).is_some_and(|t| t.kind == Kind::Semi) {
            last = last.saturating_sub(1);
        }
        last
    }

    fn select(&self) -> Option<Rewrite> {
        let key = self.key(0)?;
        let key_name = self.key_name(&key)?;
        if self
            .find_word(
                0,
                0,
                &["group", "union", "except", "intersect", "offset", "fetch"],
            )
            .is_some()
        {
            return None;
        }
        let mut end = self.last();
        if let Some(limit) = self.find_word(0, 0, &["limit"]) {
            // A lookup by the unique id (Rails `find`: `LIMIT $2`, Django `get`: `LIMIT 21`)
            // returns at most one row per key anyway, so the LIMIT can go.
            let by_id = key_name.eq_ignore_ascii_case("id");
            if self.find_word(limit + 1, 0, &["for", "offset"]).is_some() {
                return None;
            }
            if !by_id {
                return self.first_row_per_key(&key, &key_name, limit);
            }
            end = limit.checked_sub(1)?;
        }
        let select_at = facts::main_verb(self.toks)?;
        let from_at = self.find_word(select_at, 0, &["from"])?;
        let body = self.with_any(&key, 0, end);
        let list = self.span(select_at + 1, from_at.checked_sub(1)?);
        let key_expr = self.key_expr(&key);
        let sql = if list_has_column(list, key_qualifier(key_expr).as_deref(), &key_name) {
            body
        } else {
            add_to_select_list(&body, key_expr)
        };
        Some(Rewrite {
            sql,
            explanation: format!(
                "One query for all keys instead of one per key: {}, then group the rows by `{key_name}` in the application.",
                self.bind_hint()
            ),
        })
    }

    /// `... WHERE k = $1 [ORDER BY o] LIMIT 1` on a non-unique key (a has-one load) →
    /// PostgreSQL `SELECT DISTINCT ON (k) ... WHERE k = ANY($1) ORDER BY k[, o]`. Only for a
    /// literal `LIMIT 1`: a bound or larger limit is top-N per key, which needs a window query.
    fn first_row_per_key(&self, key: &Key, key_name: &str, limit: usize) -> Option<Rewrite> {
        let limit_one =
            self.tok(limit + 1).is_some_and(|t| t.kind == Kind::Param) && limit + 1 == self.last();
        let select_at = facts::main_verb(self.toks)?;
        let distinct = self
            .tok(select_at + 1)
            .is_some_and(|t| t.is_word("distinct"));
        if self.dialect != Dialect::Postgres || !limit_one || distinct || !self.limit_one {
            return None;
        }
        let order_at = self.find_word(0, 0, &["order"]);
        let body_end = order_at.unwrap_or(limit).checked_sub(1)?;
        let body = self.with_any(key, 0, body_end);
        let key_expr = self.key_expr(key);
        let order = match order_at {
            // `ORDER BY a, b` → `ORDER BY key, a, b`
            Some(o) => format!(
                "ORDER BY {key_expr}, {}",
                self.span(o + 2, limit.checked_sub(1)?)
            ),
            None => format!("ORDER BY {key_expr}"),
        };
        let with_distinct = insert_after_select(&body, &format!("DISTINCT ON ({key_expr}) "));
        Some(Rewrite {
            sql: format!("{with_distinct} {order}"),
            explanation: format!(
                "One query returns the first row for every `{key_name}` at once ({}); keys missing from the result have no row.",
                self.bind_hint()
            ),
        })
    }

    fn aggregate(&self) -> Option<Rewrite> {
        let select_at = facts::main_verb(self.toks)?;
        let exists_at = select_at + 1;
        if self.tok(exists_at).is_some_and(|t| t.is_word("exists"))
            && self
                .tok(exists_at + 1)
                .is_some_and(|t| t.kind == Kind::LParen)
        {
            return self.exists_subquery(exists_at + 2);
        }
        let Some(key) = self.key(0) else {
            return self.count_of_derived_table(select_at);
        };
        let key_expr = self.key_expr(&key);
        let key_name = self.key_name(&key)?;
        let from_at = self.find_word(select_at, 0, &["from"])?;
        let constant_probe = self
            .tok(select_at + 1)
            .is_some_and(|t| t.kind == Kind::Param);
        if constant_probe {
            let end = self.find_word(from_at, 0, &["limit"])?.checked_sub(1)?;
            let rest = self.with_any(&key, from_at, end);
            return Some(Rewrite {
                sql: format!("SELECT DISTINCT {key_expr} {rest}"),
                explanation: format!(
                    "One query returns every `{key_name}` that has a row ({}); keys missing from the result have none.",
                    self.bind_hint()
                ),
            });
        }
        let clause_end = [
            "group", "order", "limit", "having", "window", "for", "union", "offset", "fetch",
        ];
        if self.find_word(from_at, 0, &clause_end).is_some() {
            return None;
        }
        let body = self.with_any(&key, 0, self.last());
        let sql = format!(
            "{} GROUP BY {key_expr}",
            add_to_select_list(&body, key_expr)
        );
        Some(Rewrite {
            sql,
            explanation: format!(
                "One grouped query computes the aggregate for every `{key_name}` at once ({}); keys missing from the result have no rows (a count of 0).",
                self.bind_hint()
            ),
        })
    }

    /// `SELECT COUNT(*) [AS n] FROM (SELECT .. FROM t .. WHERE k = $1) [AS] s` (SeaORM's
    /// `count`) → `SELECT k, COUNT(*) [AS n] FROM t .. WHERE k = ANY($1) GROUP BY k`: the
    /// derived table only counts the inner query's rows, so the grouped count reads its FROM
    /// and WHERE directly. Not when the inner query has a clause that changes its rows
    /// (DISTINCT, GROUP BY, LIMIT, a set operation).
    fn count_of_derived_table(&self, select_at: usize) -> Option<Rewrite> {
        let count_at = select_at + 1;
        let star = [Kind::LParen, Kind::Op, Kind::RParen];
        let counts_rows = self.tok(count_at).is_some_and(|t| t.is_word("count"))
            && (1..=3).all(|i| self.tok(count_at + i).map(|t| t.kind) == star.get(i - 1).copied());
        if !counts_rows {
            return None;
        }
        let from_at = self.find_word(count_at, 0, &["from"])?;
        let open = from_at + 1;
        let inner_at = open + 1;
        let derived = self.tok(open).is_some_and(|t| t.kind == Kind::LParen)
            && self.tok(inner_at).is_some_and(|t| t.is_word("select"));
        if !derived {
            return None;
        }
        let close = (inner_at..self.toks.len()).find(|&i| {
            self.tok(i)
                .is_some_and(|t| t.kind == Kind::RParen && t.depth == 0)
        })?;
        // Only the derived table's alias may follow it.
        let rest = self.last().saturating_sub(close);
        let alias = |i: usize| {
            self.tok(i)
                .is_some_and(|t| matches!(t.kind, Kind::Word | Kind::Quoted))
        };
        let only_alias = match rest {
            0 => true,
            1 => alias(close + 1),
            2 => self.tok(close + 1).is_some_and(|t| t.is_word("as")) && alias(close + 2),
            _ => false,
        };
        let changes_rows = [
            "distinct",
            "group",
            "having",
            "limit",
            "offset",
            "fetch",
            "union",
            "except",
            "intersect",
            "window",
        ];
        let inner_from = self.find_word(inner_at, 1, &["from"])?;
        let changed = (inner_at..close).any(|i| {
            self.tok(i)
                .is_some_and(|t| t.depth == 1 && changes_rows.iter().any(|w| t.is_word(w)))
        });
        if !only_alias || changed || inner_from > close {
            return None;
        }
        let key = self.key(1)?;
        let key_expr = self.key_expr(&key);
        let key_name = self.key_name(&key)?;
        let mut end = close.checked_sub(1)?;
        if let Some(order) = self
            .find_word(inner_from, 1, &["order"])
            .filter(|&o| o < close)
        {
            end = order.checked_sub(1)?;
        }
        let count = self.span(count_at, from_at.checked_sub(1)?);
        let body = self.with_any(&key, inner_from, end);
        Some(Rewrite {
            sql: format!("SELECT {key_expr}, {count} {body} GROUP BY {key_expr}"),
            explanation: format!(
                "One grouped query counts the rows for every `{key_name}` at once ({}); keys missing from the result have no rows (a count of 0).",
                self.bind_hint()
            ),
        })
    }

    /// `SELECT EXISTS(SELECT .. FROM t WHERE k = $1 ..)` → `SELECT DISTINCT k FROM t WHERE k = ANY($1)`.
    fn exists_subquery(&self, inner_at: usize) -> Option<Rewrite> {
        if !self.tok(inner_at)?.is_word("select") {
            return None;
        }
        let key = self.key(1)?;
        let key_name = self.key_name(&key)?;
        let from_at = self.find_word(inner_at, 1, &["from"])?;
        let close = (from_at..self.toks.len()).find(|&i| {
            self.tok(i)
                .is_some_and(|t| t.kind == Kind::RParen && t.depth == 0)
        })?;
        let mut end = close.checked_sub(1)?;
        if let Some(limit) = self
            .find_word(from_at, 1, &["limit"])
            .filter(|&l| l < close)
        {
            end = limit.checked_sub(1)?;
        }
        let rest = self.with_any(&key, from_at, end);
        Some(Rewrite {
            sql: format!("SELECT DISTINCT {} {rest}", self.key_expr(&key)),
            explanation: format!(
                "One query returns every `{key_name}` for which the EXISTS holds ({}); keys missing from the result are false.",
                self.bind_hint()
            ),
        })
    }

    fn write(&self, verb: Verb) -> Option<Rewrite> {
        let key = self.key(0)?;
        let key_name = self.key_name(&key)?;
        if self.find_word(0, 0, &["limit", "order"]).is_some() {
            return None;
        }
        if verb == Verb::Update && self.dialect == Dialect::Postgres {
            if let Some(rewrite) = self.update_from_unnest() {
                return Some(rewrite);
            }
        }
        let sql = self.with_any(&key, 0, self.last());
        let caveat = if verb == Verb::Update {
            " Valid when every row gets the same SET values; when they differ per row, join a VALUES list (or PostgreSQL `unnest` of arrays) of (key, new values) instead."
        } else {
            ""
        };
        Some(Rewrite {
            sql,
            explanation: format!(
                "One statement for all keys instead of one per `{key_name}` ({}).{caveat}",
                self.bind_hint()
            ),
        })
    }

    /// `UPDATE t SET a = $1, b = $2 WHERE id = $3` (nothing else) →
    /// `UPDATE t SET a = v.a, b = v.b FROM unnest($1, $2, $3) AS v(a, b, id) WHERE t.id = v.id`:
    /// correct even when every row gets different values.
    fn update_from_unnest(&self) -> Option<Rewrite> {
        let mut i = 1;
        let (_, _, after_table) = facts::qualified_name(self.toks, i)?;
        let table = self.span(i, after_table - 1);
        i = after_table;
        let mut target = table;
        if self.tok(i)?.is_word("as") {
            i += 1;
        }
        if !self.tok(i)?.is_word("set") {
            target = self
                .tok(i)
                .filter(|t| matches!(t.kind, Kind::Word | Kind::Quoted))?
                .text;
            i += 1;
        }
        if !self.tok(i)?.is_word("set") || !self.tok(0)?.is_word("update") {
            return None;
        }
        i += 1;
        let mut columns: Vec<&str> = Vec::new();
        let mut params: Vec<&str> = Vec::new();
        loop {
            let (column, eq, param) = (self.tok(i)?, self.tok(i + 1)?, self.tok(i + 2)?);
            let plain = matches!(column.kind, Kind::Word | Kind::Quoted)
                && eq.text == "="
                && param.kind == Kind::Param;
            if !plain {
                return None;
            }
            columns.push(column.text);
            params.push(param.text);
            i += 3;
            match self.tok(i)? {
                t if t.kind == Kind::Comma => i += 1,
                t if t.is_word("where") => break,
                _ => return None,
            }
        }
        let (_, key, after_key) = facts::qualified_name(self.toks, i + 1)?;
        let (eq, param) = (self.tok(after_key)?, self.tok(after_key + 1)?);
        if eq.text != "=" || param.kind != Kind::Param || after_key + 1 != self.last() {
            return None;
        }
        let key_text = self.tok(after_key - 1)?.text;
        if columns
            .iter()
            .any(|c| facts::unquote(c).eq_ignore_ascii_case(&key))
        {
            return None;
        }
        let sets: Vec<String> = columns.iter().map(|c| format!("{c} = v.{c}")).collect();
        params.push(param.text);
        columns.push(key_text);
        let alias = if target == table {
            String::new()
        } else {
            format!(" AS {target}")
        };
        Some(Rewrite {
            sql: format!(
                "UPDATE {table}{alias} SET {} FROM unnest({}) AS v({}) WHERE {target}.{key_text} = v.{key_text}",
                sets.join(", "),
                params.join(", "),
                columns.join(", ")
            ),
            explanation: format!(
                "One UPDATE for all rows, each with its own values: bind one array per column and one of the `{key}` keys, in the same order (add `::type[]` casts if the driver sends untyped parameters)."
            ),
        })
    }

    fn insert(&self) -> Option<Rewrite> {
        let values_at = self.find_word(0, 0, &["values"])?;
        let open = values_at + 1;
        if self.tok(open)?.kind != Kind::LParen {
            return None;
        }
        let close = (open + 1..self.toks.len()).find(|&i| {
            self.tok(i)
                .is_some_and(|t| t.kind == Kind::RParen && t.depth == 0)
        })?;
        let row = self.toks.get(open + 1..close)?;
        let head = self.span(0, values_at.checked_sub(1)?);
        let tail = if close < self.last() {
            self.span(close + 1, self.last())
        } else {
            ""
        };
        let only_params = row
            .iter()
            .all(|t| matches!(t.kind, Kind::Param | Kind::Comma));
        if self.dialect == Dialect::Postgres && only_params {
            let arrays = self.span(open + 1, close.checked_sub(1)?);
            let sql = join_nonempty(&[head, &format!("SELECT * FROM unnest({arrays})"), tail]);
            return Some(Rewrite {
                sql,
                explanation: "One INSERT for all rows: bind one array per column (add `::type[]` casts if the driver sends untyped parameters); or use a multi-row VALUES list.".to_owned(),
            });
        }
        let rows = self.repeated_rows(open, close)?;
        let tail = if self.dialect == Dialect::Postgres && tail.contains('$') {
            return None;
        } else {
            tail
        };
        Some(Rewrite {
            sql: join_nonempty(&[head, &format!("VALUES {rows}"), tail]),
            explanation: "One multi-row INSERT for all rows (chunk very large batches, e.g. 1,000 rows per statement).".to_owned(),
        })
    }

    /// The row `(open..=close)` written twice then `, ...`, placeholders renumbered.
    fn repeated_rows(&self, open: usize, close: usize) -> Option<String> {
        let before = self
            .toks
            .get(..open)?
            .iter()
            .filter(|t| t.kind == Kind::Param)
            .count();
        let mut next = before;
        let mut render = || {
            let mut out = String::new();
            let mut at = self.tok(open)?.start;
            for t in self.toks.get(open..=close)? {
                if t.kind == Kind::Param && self.dialect == Dialect::Postgres {
                    next += 1;
                    out.push_str(self.text.get(at..t.start)?);
                    out.push_str(&format!("${next}"));
                    at = t.end();
                }
            }
            out.push_str(self.text.get(at..self.tok(close)?.end())?);
            Some(out)
        };
        let first = render()?;
        let second = render()?;
        Some(format!("{first}, {second}, ..."))
    }
}

/// `id`, `post_id`, `POST_ID`, or camelCase `authorId` (Sequelize, Hibernate naming).
fn looks_like_key(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let camel = name
        .strip_suffix("Id")
        .is_some_and(|stem| stem.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()));
    lower == "id" || lower.ends_with("_id") || camel
}

fn join_nonempty(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a select list already returns `column` (`*`, `t.*`, or the column itself).
fn list_has_column(list: &str, qualifier: Option<&str>, column: &str) -> bool {
    let toks = facts::tokens(list, Dialect::Postgres);
    // The qualifier of the name ending at token `i` (`"t"."col"`, `t.*`), unquoted.
    let qualifier_of = |i: usize| {
        let dot = i.checked_sub(1).and_then(|d| toks.get(d))?;
        let q = i.checked_sub(2).and_then(|q| toks.get(q))?;
        (dot.kind == Kind::Dot && matches!(q.kind, Kind::Word | Kind::Quoted))
            .then(|| facts::unquote(q.text))
    };
    // A qualified name in the list covers the key only when it names the key's table (or
    // alias): `"tags".*` does not hold `"book_tags"."book_id"`.
    let same_table = |i: usize| match (qualifier_of(i), qualifier) {
        (Some(q), Some(k)) => q.eq_ignore_ascii_case(k),
        _ => true,
    };
    toks.iter().enumerate().any(|(i, t)| {
        let star = t.kind == Kind::Op && t.text == "*" && t.depth == 0;
        let is_col = matches!(t.kind, Kind::Word | Kind::Quoted)
            && facts::unquote(t.text).eq_ignore_ascii_case(column);
        let followed_by_dot = toks.get(i + 1).is_some_and(|n| n.kind == Kind::Dot);
        (star || (is_col && t.depth == 0 && !followed_by_dot)) && same_table(i)
    })
}

/// The qualifier of a key expression (`"book_tags"."book_id"` → `book_tags`), unquoted.
fn key_qualifier(expr: &str) -> Option<String> {
    let toks = facts::tokens(expr, Dialect::Postgres);
    let (dotted, last, _) = facts::qualified_name(&toks, 0)?;
    let qualifier = dotted.strip_suffix(&last)?.strip_suffix('.')?;
    qualifier
        .rsplit('.')
        .next()
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
}

/// `SELECT list ...` → `SELECT {text}list ...` (the main statement's SELECT).
fn insert_after_select(sql: &str, text: &str) -> String {
    let toks = facts::tokens(sql, Dialect::Postgres);
    let at = facts::main_verb(&toks)
        .and_then(|i| toks.get(i + 1))
        .map(|t| t.start);
    match at {
        Some(at) => format!(
            "{}{text}{}",
            sql.get(..at).unwrap_or_default(),
            sql.get(at..).unwrap_or_default()
        ),
        None => sql.to_owned(),
    }
}

/// `SELECT [DISTINCT] list ...` → `SELECT [DISTINCT] expr, list ...`.
fn add_to_select_list(sql: &str, expr: &str) -> String {
    let toks = facts::tokens(sql, Dialect::Postgres);
    let Some(select_at) = facts::main_verb(&toks) else {
        return sql.to_owned();
    };
    let mut after = select_at + 1;
    if toks
        .get(after)
        .is_some_and(|t| t.is_word("distinct") || t.is_word("all"))
    {
        after += 1;
    }
    let Some(at) = toks.get(after).map(|t| t.start) else {
        return sql.to_owned();
    };
    format!(
        "{}{expr}, {}",
        sql.get(..at).unwrap_or_default(),
        sql.get(at..).unwrap_or_default()
    )
}
