//! Facts about a statement shape, read from its normalised text: verb, tables, whether the
//! select list is an aggregate, the columns compared to one value in WHERE, `LIMIT 1`.

use crate::keywords;
use crate::lexer::{Kind, Lexer, Token};
use crate::{Dialect, Verb};

pub(crate) struct Facts {
    pub verb: Verb,
    pub tables: Vec<String>,
    pub aliases: Vec<(String, String)>,
    pub aggregate: bool,
    pub filter_columns: Vec<String>,
    pub limit_one: bool,
    pub keyset_cursor: bool,
}

/// A token with its text and paren depth.
#[derive(Clone, Copy)]
pub(crate) struct Tok<'a> {
    pub kind: Kind,
    pub text: &'a str,
    pub depth: u32,
    /// Byte offset in the tokenised text.
    pub start: usize,
}

impl Tok<'_> {
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }

    pub fn is_word(&self, lower_kw: &str) -> bool {
        self.kind == Kind::Word && keywords::eq(self.text.as_bytes(), lower_kw.as_bytes())
    }
}

/// All tokens of `sql` with their nesting depth (the depth inside a `(`).
pub(crate) fn tokens(sql: &str, dialect: Dialect) -> Vec<Tok<'_>> {
    let mut lx = Lexer::new(sql, dialect);
    let mut out = Vec::new();
    let mut depth = 0u32;
    while let Some(Token { kind, start, end }) = lx.next_token() {
        if kind == Kind::RParen {
            depth = depth.saturating_sub(1);
        }
        out.push(Tok {
            kind,
            text: sql.get(start..end).unwrap_or_default(),
            depth,
            start,
        });
        if kind == Kind::LParen {
            depth += 1;
        }
    }
    out
}

/// Facts are read from at most this many bytes of normalised text, so a pathological
/// multi-megabyte statement cannot make `describe` build a token vector of its size.
pub(crate) const FACTS_WINDOW: usize = 1 << 20;

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub(crate) fn head(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

pub(crate) fn analyse(normalized: &str, dialect: Dialect, original: &str) -> Facts {
    let toks = tokens(head(normalized, FACTS_WINDOW), dialect);
    let verb_at = main_verb(&toks);
    let verb = verb_at
        .and_then(|i| toks.get(i))
        .and_then(|t| Verb::from_word(t.text.as_bytes()))
        .unwrap_or(Verb::Other);
    let limit_one = limit_one(original, dialect);
    let aggregate =
        verb == Verb::Select && verb_at.is_some_and(|i| select_list_is_aggregate(&toks, i));
    let (tables, aliases) = tables(&toks);
    Facts {
        verb,
        tables,
        aliases,
        aggregate,
        filter_columns: filter_columns(&toks),
        limit_one,
        keyset_cursor: keyset_cursor(&toks),
    }
}

/// Index of the main statement's verb word: the first word, or after `WITH` the first verb
/// word at depth 0 (CTE bodies are in parentheses).
pub(crate) fn main_verb(toks: &[Tok<'_>]) -> Option<usize> {
    let first = toks.iter().position(|t| t.kind == Kind::Word)?;
    let first_tok = toks.get(first)?;
    if !first_tok.is_word("with") {
        return Some(first);
    }
    let depth = first_tok.depth;
    toks.iter().enumerate().skip(first + 1).find_map(|(i, t)| {
        let is_verb = ["select", "insert", "update", "delete", "merge", "values"]
            .iter()
            .any(|v| t.is_word(v));
        (t.depth == depth && is_verb).then_some(i)
    })
}

/// Removes identifier quotes: `"My ""T"""` → `My "T"`, `` `t` `` → `t`.
pub(crate) fn unquote(text: &str) -> String {
    let quote = match text.chars().next() {
        Some(q @ ('"' | '`')) => q,
        _ => return text.to_owned(),
    };
    let inner = text
        .get(1..text.len().saturating_sub(1).max(1))
        .unwrap_or_default();
    let doubled: String = [quote, quote].iter().collect();
    inner.replace(&doubled, &quote.to_string())
}

/// A possibly qualified name starting at `i`: returns (unquoted dotted name, last part, next index).
pub(crate) fn qualified_name(toks: &[Tok<'_>], mut i: usize) -> Option<(String, String, usize)> {
    let mut parts: Vec<String> = Vec::new();
    loop {
        let t = toks.get(i)?;
        if !matches!(t.kind, Kind::Word | Kind::Quoted) {
            return None;
        }
        parts.push(unquote(t.text));
        i += 1;
        if toks.get(i).map(|t| t.kind) == Some(Kind::Dot) {
            i += 1;
        } else {
            break;
        }
    }
    let last = parts.last()?.clone();
    Some((parts.join("."), last, i))
}

/// The tables named after FROM/JOIN/INTO/UPDATE (de-duplicated, in order), and the alias
/// each is given (`FROM books book0_`, `JOIN tags AS t`): `(alias, table)`.
fn tables(toks: &[Tok<'_>]) -> (Vec<String>, Vec<(String, String)>) {
    let ctes = cte_names(toks);
    let function_args = function_arg_flags(toks);
    let mut out: Vec<String> = Vec::new();
    let mut aliases: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while let Some(t) = toks.get(i) {
        i += 1;
        if !introduces_table(toks, i - 1, &function_args) {
            continue;
        }
        let in_from = t.is_word("from");
        loop {
            while toks
                .get(i)
                .is_some_and(|t| t.is_word("only") || t.is_word("lateral"))
            {
                i += 1;
            }
            let Some((name, _, next)) = qualified_name(toks, i) else {
                break;
            };
            i = next;
            let is_call = !t.is_word("into") && toks.get(i).map(|t| t.kind) == Some(Kind::LParen);
            let named = !is_call && !ctes.contains(&name);
            if named && !out.contains(&name) {
                out.push(name.clone());
            }
            // `a x`, `a AS x`: the alias (`FROM a x, b AS y` goes on after a comma).
            let alias_at = i + usize::from(toks.get(i).is_some_and(|t| t.is_word("as")));
            if let Some(alias) = toks.get(alias_at).filter(|t| is_alias_word(t)) {
                if named {
                    aliases.push((unquote(alias.text), name));
                }
                i = alias_at + 1;
            }
            if !in_from {
                break;
            }
            if toks.get(i).map(|t| t.kind) == Some(Kind::Comma) {
                i += 1;
            } else {
                break;
            }
        }
    }
    (out, aliases)
}

/// A word that can alias a table: a name, not a keyword that may follow one (`INNER JOIN`,
/// `SET`, `WHERE`, `FOR UPDATE`).
fn is_alias_word(t: &Tok<'_>) -> bool {
    const FOLLOWERS: &[&str] = &[
        "inner",
        "left",
        "right",
        "full",
        "cross",
        "natural",
        "outer",
        "for",
        "window",
        "set",
        "tablesample",
        "straight_join",
        "force",
        "ignore",
        "use",
        "partition",
    ];
    t.kind == Kind::Quoted
        || (t.kind == Kind::Word
            && keywords::classify(t.text.as_bytes()) == keywords::WordClass::Name
            && !FOLLOWERS.iter().any(|w| t.is_word(w)))
}

/// FROM/JOIN/INTO/UPDATE/USING-in-MERGE that name a table (not `FOR UPDATE`, `DO UPDATE`,
/// `KEY UPDATE`, `IS DISTINCT FROM`, `EXTRACT(x FROM ..)`).
fn introduces_table(toks: &[Tok<'_>], i: usize, in_function_args: &[bool]) -> bool {
    let Some(t) = toks.get(i) else { return false };
    let prev = i.checked_sub(1).and_then(|p| toks.get(p));
    let prev_is = |w: &str| prev.is_some_and(|p| p.is_word(w));
    if t.is_word("update") {
        return !(prev_is("for") || prev_is("do") || prev_is("key"));
    }
    if t.is_word("from") {
        return !prev_is("distinct") && in_function_args.get(i) != Some(&true);
    }
    t.is_word("join") || t.is_word("into")
}

/// For every token, whether it sits directly inside `extract(`/`substring(`/`trim(`/
/// `overlay(`/`position(`, where FROM is not a table clause. One forward pass.
fn function_arg_flags(toks: &[Tok<'_>]) -> Vec<bool> {
    const FUNCTIONS: [&str; 5] = ["extract", "substring", "trim", "overlay", "position"];
    let mut stack: Vec<bool> = vec![false];
    let mut flags = Vec::with_capacity(toks.len());
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::LParen => {
                let func = i.checked_sub(1).and_then(|f| toks.get(f));
                stack.push(func.is_some_and(|f| FUNCTIONS.iter().any(|w| f.is_word(w))));
            }
            Kind::RParen if stack.len() > 1 => {
                stack.pop();
            }
            _ => {}
        }
        flags.push(t.kind != Kind::RParen && stack.last().copied().unwrap_or(false));
    }
    flags
}

/// Names defined by `WITH name [(cols)] AS (...)`.
fn cte_names(toks: &[Tok<'_>]) -> Vec<String> {
    let mut names = Vec::new();
    let Some(with_at) = toks.iter().position(|t| t.is_word("with")) else {
        return names;
    };
    let Some(depth) = toks.get(with_at).map(|t| t.depth) else {
        return names;
    };
    for (i, t) in toks.iter().enumerate().skip(with_at + 1) {
        if t.depth != depth || !matches!(t.kind, Kind::Word | Kind::Quoted) {
            continue;
        }
        let prev = toks.get(i - 1);
        let after_list_start = prev.is_some_and(|p| {
            p.is_word("with")
                || p.is_word("recursive")
                || (p.kind == Kind::Comma && p.depth == depth)
        });
        if after_list_start {
            names.push(unquote(t.text));
        } else if Verb::from_word(t.text.as_bytes()).is_some() {
            break;
        }
    }
    names
}

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "every",
    "array_agg",
    "string_agg",
    "json_agg",
    "jsonb_agg",
    "group_concat",
    "stddev",
    "variance",
    "bit_and",
    "bit_or",
];

/// The items of the select list after `SELECT` at `verb_at` (`DISTINCT`/`ALL` skipped), and
/// the token that ends the list (`FROM`, another clause's keyword), if any.
fn select_items<'t, 'a>(
    toks: &'t [Tok<'a>],
    verb_at: usize,
) -> (Vec<&'t [Tok<'a>]>, Option<&'t Tok<'a>>) {
    let Some(depth) = toks.get(verb_at).map(|t| t.depth) else {
        return (Vec::new(), None);
    };
    let mut i = verb_at + 1;
    if toks
        .get(i)
        .is_some_and(|t| t.is_word("distinct") || t.is_word("all"))
    {
        i += 1;
    }
    let ends_item = |t: &Tok<'_>| {
        t.depth < depth
            || (t.depth == depth
                && (matches!(t.kind, Kind::Comma | Kind::Semi)
                    || (t.kind == Kind::Word
                        && keywords::is_reserved(t.text.as_bytes())
                        && !t.is_word("as"))))
    };
    let mut items = Vec::new();
    loop {
        let start = i;
        i += 1;
        while toks.get(i).is_some_and(|t| !ends_item(t)) {
            i += 1;
        }
        items.push(toks.get(start..i).unwrap_or_default());
        match toks.get(i) {
            Some(t) if t.kind == Kind::Comma && t.depth == depth => i += 1,
            end => return (items, end),
        }
    }
}

/// The select list after `SELECT` at `verb_at` is only aggregates, only `EXISTS(..)`, or (with
/// a LIMIT and a FROM) only constants: `SELECT 1 AS one FROM .. LIMIT $1` is an existence probe
/// (Rails `exists?` binds the limit, Django `.exists()` writes `LIMIT 1`).
fn select_list_is_aggregate(toks: &[Tok<'_>], verb_at: usize) -> bool {
    let has_limit = toks
        .iter()
        .any(|t| t.depth == 0 && (t.is_word("limit") || t.is_word("fetch")));
    let Some(depth) = toks.get(verb_at).map(|t| t.depth) else {
        return false;
    };
    let (items, end) = select_items(toks, verb_at);
    let all_agg = items.iter().all(|item| is_aggregate_item(item, depth));
    let all_const = items.iter().all(|item| {
        item.first().is_some_and(|t| t.kind == Kind::Param)
            && is_alias(item.get(1..).unwrap_or_default())
    });
    match end {
        Some(t) => {
            let has_from = t.is_word("from") && t.depth == depth;
            all_agg || (all_const && has_from && has_limit)
        }
        None => !items.is_empty() && all_agg,
    }
}

/// The main statement's select list, one string per item as the normalised text writes it
/// (`"t"."id"`, `COUNT(*) AS "__count"`); empty when the main statement is no SELECT.
pub(crate) fn select_list(normalized: &str, dialect: Dialect) -> Vec<String> {
    let text = head(normalized, FACTS_WINDOW);
    let toks = tokens(text, dialect);
    let Some(verb_at) =
        main_verb(&toks).filter(|&i| toks.get(i).is_some_and(|t| t.is_word("select")))
    else {
        return Vec::new();
    };
    select_items(&toks, verb_at)
        .0
        .into_iter()
        .filter_map(|item| {
            let (first, last) = (item.first()?, item.last()?);
            text.get(first.start..last.end()).map(str::to_owned)
        })
        .collect()
}

/// The statement with its names and select list set aside: every identifier (quoted, or a
/// word that is no keyword) is `?`, every placeholder `$`, the main SELECT's select list
/// `…`; keywords, operators and punctuation stay. Two statements of one form do the same
/// thing to different tables and columns (`SELECT … FROM ? WHERE ?.? = $ LIMIT $`).
pub(crate) fn form(normalized: &str, dialect: Dialect) -> String {
    let toks = tokens(head(normalized, FACTS_WINDOW), dialect);
    let list = main_verb(&toks)
        .filter(|&i| toks.get(i).is_some_and(|t| t.is_word("select")))
        .and_then(|verb_at| {
            let items = select_items(&toks, verb_at).0;
            let first = items.first()?.first()?.start;
            let last = items.last()?.last()?.start;
            Some((first, last))
        });
    let mut out = String::new();
    for tok in &toks {
        if let Some((first, last)) = list {
            if (first..=last).contains(&tok.start) {
                if tok.start == first {
                    out.push_str(" …");
                }
                continue;
            }
        }
        let text = match tok.kind {
            Kind::Quoted => "?",
            Kind::Param => "$",
            Kind::Word if keywords::classify(tok.text.as_bytes()) == keywords::WordClass::Name => {
                "?"
            }
            _ => tok.text,
        };
        out.push(' ');
        out.push_str(text);
    }
    out.trim_start().to_owned()
}

/// `COUNT(..) [AS x]`, `EXISTS(..) [x]`.
fn is_aggregate_item(item: &[Tok<'_>], depth: u32) -> bool {
    let Some(name) = item.first() else {
        return false;
    };
    let named = AGGREGATES.iter().any(|a| name.is_word(a)) || name.is_word("exists");
    if !named || item.get(1).map(|t| t.kind) != Some(Kind::LParen) {
        return false;
    }
    let close = item
        .iter()
        .skip(2)
        .position(|t| t.kind == Kind::RParen && t.depth == depth);
    close.is_some_and(|c| is_alias(item.get(c + 3..).unwrap_or_default()))
}

/// Nothing, `alias`, or `AS alias`.
fn is_alias(rest: &[Tok<'_>]) -> bool {
    let rest = match rest.first() {
        Some(t) if t.is_word("as") => rest.get(1..).unwrap_or_default(),
        _ => rest,
    };
    rest.is_empty()
        || (rest.len() == 1
            && matches!(
                rest.first().map(|t| t.kind),
                Some(Kind::Word | Kind::Quoted)
            ))
}

/// Columns compared with `=` to one parameter inside a WHERE clause (any nesting level), or
/// an inner join's ON condition when the WHERE clause has no parameter ([`filter_flags`]).
fn filter_columns(toks: &[Tok<'_>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let in_where = filter_flags(toks);
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Kind::Op || t.text != "=" || in_where.get(i) != Some(&true) {
            continue;
        }
        if let Some(c) = compared_column(toks, i) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// The column that the operator at `i` compares with one parameter (`col = $1`, `$1 < t.col`,
/// cast or not), if it is one.
fn compared_column(toks: &[Tok<'_>], i: usize) -> Option<String> {
    if toks.get(i + 1).is_some_and(|n| n.kind == Kind::Param) {
        column_before(toks, i)
    } else if param_before(toks, i) {
        qualified_name(toks, i + 1).map(|(_, last, _)| last)
    } else {
        None
    }
}

/// The main statement's WHERE clause compares the column it is first ordered by with one
/// parameter by `>`, `>=`, `<` or `<=` (`WHERE status = $1 AND id > $2 ORDER BY id`): a
/// keyset page, whose cursor is the last row of the page before (Rails' `find_each`,
/// Django's keyset paginators).
fn keyset_cursor(toks: &[Tok<'_>]) -> bool {
    let Some(order_column) = first_order_column(toks) else {
        return false;
    };
    let in_where = main_where_flags(toks);
    toks.iter().enumerate().any(|(i, t)| {
        t.kind == Kind::Op
            && matches!(t.text, ">" | ">=" | "<" | "<=")
            && in_where.get(i) == Some(&true)
            && compared_column(toks, i).as_deref() == Some(order_column.as_str())
    })
}

/// The first column of the main statement's `ORDER BY` (the last part of its name).
fn first_order_column(toks: &[Tok<'_>]) -> Option<String> {
    let order = toks.iter().enumerate().position(|(i, t)| {
        t.depth == 0 && t.is_word("order") && toks.get(i + 1).is_some_and(|n| n.is_word("by"))
    })?;
    qualified_name(toks, order + 2).map(|(_, last, _)| last)
}

/// A placeholder, cast or not (`$1`, `$1::INTEGER`), ends just before `i`.
fn param_before(toks: &[Tok<'_>], i: usize) -> bool {
    let kind = |back: usize| {
        i.checked_sub(back)
            .and_then(|p| toks.get(p))
            .map(|t| t.kind)
    };
    kind(1) == Some(Kind::Param)
        || (kind(1) == Some(Kind::Word)
            && kind(2) == Some(Kind::Cast)
            && kind(3) == Some(Kind::Param))
}

/// The last part of the qualified name that ends just before `i` (`"t"."col" = ..` → `col`).
pub(crate) fn column_before(toks: &[Tok<'_>], i: usize) -> Option<String> {
    let start = name_start_before(toks, i)?;
    qualified_name(toks, start).map(|(_, last, _)| last)
}

/// Index where the qualified name ending just before `i` starts.
pub(crate) fn name_start_before(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    let mut j = i.checked_sub(1)?;
    if !matches!(toks.get(j)?.kind, Kind::Word | Kind::Quoted)
        || keywords::is_reserved(toks.get(j)?.text.as_bytes())
    {
        return None;
    }
    while j >= 2
        && toks.get(j - 1)?.kind == Kind::Dot
        && matches!(toks.get(j - 2)?.kind, Kind::Word | Kind::Quoted)
    {
        j -= 2;
    }
    Some(j)
}

/// Clause keywords that end a WHERE clause at its own depth.
const WHERE_ENDS: &[&str] = &[
    "group",
    "order",
    "limit",
    "offset",
    "returning",
    "having",
    "window",
    "for",
    "union",
    "except",
    "intersect",
    "fetch",
    "on",
    "set",
    "select",
    "from",
    "join",
];

/// For every token, whether it sits inside a WHERE clause, in one forward pass: a WHERE opens
/// the clause at its depth, a clause keyword or `;` closes it, a parenthesised group inherits
/// it unless the group is a subquery (starts with SELECT, which has its own WHERE).
pub(crate) fn where_flags(toks: &[Tok<'_>]) -> Vec<bool> {
    clause_flags(toks, |_, i| {
        let t = toks.get(i)?;
        if t.is_word("where") {
            Some(true)
        } else {
            WHERE_ENDS.iter().any(|w| t.is_word(w)).then_some(false)
        }
    })
}

/// [`where_flags`] of the main statement alone: a WHERE inside a subquery or a CTE's body (in
/// parentheses, so never at depth 0) does not open the clause.
fn main_where_flags(toks: &[Tok<'_>]) -> Vec<bool> {
    clause_flags(toks, |_, i| {
        let t = toks.get(i)?;
        if t.is_word("where") {
            Some(t.depth == 0)
        } else {
            WHERE_ENDS.iter().any(|w| t.is_word(w)).then_some(false)
        }
    })
}

/// For every token, whether it sits in the ON condition of an inner join (`[INNER] JOIN t
/// [AS a] ON …`), where a condition filters rows as it would in the WHERE clause (Sequelize
/// puts a many-to-many's key there). Outer joins' conditions are not filters.
pub(crate) fn inner_join_on_flags(toks: &[Tok<'_>]) -> Vec<bool> {
    clause_flags(toks, |toks, i| {
        let t = toks.get(i)?;
        if t.is_word("on") {
            let join = (0..i).rev().find(|&j| {
                toks.get(j)
                    .is_some_and(|w| w.depth == t.depth && w.is_word("join"))
            })?;
            let outer = join
                .checked_sub(1)
                .and_then(|j| toks.get(j))
                .is_some_and(|w| {
                    ["outer", "left", "right", "full", "cross", "natural"]
                        .iter()
                        .any(|k| w.is_word(k))
                });
            Some(!outer)
        } else {
            (t.is_word("where") || WHERE_ENDS.iter().any(|w| t.is_word(w))).then_some(false)
        }
    })
}

/// The tokens whose `column = $n` comparisons filter the rows: the WHERE clause's, or, when
/// no parameter sits in it, the inner joins' ON conditions.
pub(crate) fn filter_flags(toks: &[Tok<'_>]) -> Vec<bool> {
    let in_where = where_flags(toks);
    let keyed = toks
        .iter()
        .zip(&in_where)
        .any(|(t, &inside)| inside && t.kind == Kind::Param);
    if keyed {
        in_where
    } else {
        inner_join_on_flags(toks)
    }
}

/// Which tokens a clause holds: `switch(toks, i)` says whether the word at `i` opens the
/// clause at its depth (`Some(true)`), closes it (`Some(false)`) or neither; `;` closes it,
/// and a parenthesised group inherits it unless it is a subquery.
fn clause_flags(toks: &[Tok<'_>], switch: impl Fn(&[Tok<'_>], usize) -> Option<bool>) -> Vec<bool> {
    let mut stack: Vec<bool> = vec![false];
    let mut flags = Vec::with_capacity(toks.len());
    for (i, t) in toks.iter().enumerate() {
        let top = stack.last().copied().unwrap_or(false);
        match t.kind {
            Kind::LParen => {
                let subquery = toks.get(i + 1).is_some_and(|n| n.is_word("select"));
                stack.push(top && !subquery);
            }
            Kind::RParen if stack.len() > 1 => {
                stack.pop();
            }
            Kind::Semi => set_top(&mut stack, false),
            Kind::Word => {
                if let Some(open) = switch(toks, i) {
                    set_top(&mut stack, open);
                }
            }
            _ => {}
        }
        let inside = match t.kind {
            Kind::LParen | Kind::RParen => top,
            _ => stack.last().copied().unwrap_or(false),
        };
        flags.push(inside);
    }
    flags
}

fn set_top(stack: &mut [bool], value: bool) {
    if let Some(top) = stack.last_mut() {
        *top = value;
    }
}

/// `LIMIT 1`, `LIMIT 0, 1` (MySQL), `FETCH FIRST [1] ROW(S) ONLY` with a literal 1, at depth 0.
/// Streams the original statement (no token vector: it may be huge).
fn limit_one(sql: &str, dialect: Dialect) -> bool {
    let mut lx = Lexer::new(sql, dialect);
    let mut depth = 0u32;
    let mut found = false;
    while let Some(t) = lx.next_token() {
        match t.kind {
            Kind::LParen => depth += 1,
            Kind::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        let text = sql.get(t.start..t.end).unwrap_or_default();
        let clause = t.kind == Kind::Word
            && (keywords::eq(text.as_bytes(), b"limit") || keywords::eq(text.as_bytes(), b"fetch"));
        if depth == 0 && clause {
            // The clause and the three tokens after it.
            let mut ahead = lx;
            let window: Vec<Tok<'_>> = std::iter::once(t)
                .chain(std::iter::from_fn(|| ahead.next_token()).take(3))
                .map(|t| Tok {
                    kind: t.kind,
                    text: sql.get(t.start..t.end).unwrap_or_default(),
                    depth: 0,
                    start: t.start,
                })
                .collect();
            found |= clause_is_one_row(&window);
        }
    }
    found
}

/// `[LIMIT, 1]`, `[LIMIT, x, ',', 1]`, `[FETCH, FIRST|NEXT, 1|ROW, ..]`.
fn clause_is_one_row(w: &[Tok<'_>]) -> bool {
    let is_one =
        |t: Option<&Tok<'_>>| t.is_some_and(|t| t.kind == Kind::Num && t.text.trim() == "1");
    let Some(first) = w.first() else { return false };
    if first.is_word("limit") {
        let comma_form = w.get(2).is_some_and(|c| c.kind == Kind::Comma);
        return if comma_form {
            is_one(w.get(3))
        } else {
            is_one(w.get(1))
        };
    }
    if w.get(1)
        .is_some_and(|n| n.is_word("first") || n.is_word("next"))
    {
        let n = w.get(2);
        return is_one(n) || n.is_some_and(|n| n.is_word("row"));
    }
    false
}
