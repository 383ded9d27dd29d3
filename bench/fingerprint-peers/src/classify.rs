//! Sorts one disagreement between pg_query and querycomb (a representative query from
//! each of two groups) into a named class, by testing which difference explains it.

use crate::corpus::Query;
use crate::engines::Querycomb;

const CLASS_ALIAS: &str =
    "different tables under the same alias (pg_query 18 fingerprints the alias, not the table)";
const CLASS_PARTITION: &str =
    "tables differing only in digits (pg_query ignores digit runs in relation names)";
const CLASS_OTHER_TABLES: &str = "different tables";
const CLASS_PLACEHOLDER: &str = "placeholder style differs ($n vs ? vs literal)";
const CLASS_UNEXPLAINED: &str = "unexplained by the known differences";

/// Removes one kind of difference from a token list.
type Erasure = fn(Vec<String>) -> Vec<String>;

/// Differences pg_query erases; a disagreement's class is the smallest set of erasures
/// after which querycomb's two normalised texts become equal.
const ERASURES: [(&str, Erasure); 4] = [
    ("cast types", erase_casts),
    ("column aliases (AS name)", erase_column_aliases),
    ("list (IN/ANY) vs single value", erase_lists),
    (
        "order of select list / function arguments / AND terms",
        erase_order,
    ),
];

/// Classifies two queries pg_query groups together but querycomb keeps apart.
pub fn classify_pg_merge(a: &Query, b: &Query, querycomb: &mut Querycomb) -> String {
    let shape_a = querycomb.fingerprinter(a.dialect).describe(&a.sql);
    let shape_b = querycomb.fingerprinter(b.dialect).describe(&b.sql);
    let tables_a = lowered(&shape_a.tables);
    let tables_b = lowered(&shape_b.tables);
    if tables_a != tables_b {
        return tables_class(&tables_a, &tables_b, &a.sql, &b.sql).to_owned();
    }
    let ta = placeholders_as_one(tokens(&shape_a.normalized));
    let tb = placeholders_as_one(tokens(&shape_b.normalized));
    match smallest_erasure(&ta, &tb) {
        Some(names) => format!("pg_query ignores: {}", names.join(" + ")),
        None => CLASS_UNEXPLAINED.to_owned(),
    }
}

/// The smallest set of erasures (fewest first, then in ERASURES order) after which the
/// two token lists are equal.
fn smallest_erasure(a: &[String], b: &[String]) -> Option<Vec<&'static str>> {
    let subsets = 1u32..(1 << ERASURES.len());
    let mut ordered: Vec<u32> = subsets.collect();
    ordered.sort_by_key(|mask| (mask.count_ones(), *mask));
    ordered.into_iter().find_map(|mask| {
        let chosen: Vec<_> = ERASURES
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, e)| *e)
            .collect();
        let erase_all = |tokens: &[String]| {
            chosen
                .iter()
                .fold(tokens.to_vec(), |acc, (_, erase)| erase(acc))
        };
        (erase_all(a) == erase_all(b)).then(|| chosen.iter().map(|(name, _)| *name).collect())
    })
}

fn placeholders_as_one(tokens: Vec<String>) -> Vec<String> {
    tokens
        .into_iter()
        .map(|t| {
            if is_placeholder(&t) {
                "?".to_owned()
            } else {
                t
            }
        })
        .collect()
}

fn tables_class(a: &[String], b: &[String], sql_a: &str, sql_b: &str) -> &'static str {
    if strip_digits(a) == strip_digits(b) {
        CLASS_PARTITION
    } else if has_alias(sql_a) && has_alias(sql_b) {
        CLASS_ALIAS
    } else {
        CLASS_OTHER_TABLES
    }
}

/// Classifies two queries querycomb groups together but pg_query keeps apart.
pub fn classify_qc_merge(a: &Query, b: &Query) -> String {
    if placeholder_style(&a.sql) != placeholder_style(&b.sql) {
        return CLASS_PLACEHOLDER.to_owned();
    }
    CLASS_UNEXPLAINED.to_owned()
}

/// A table alias right after a table name: `FROM orders o1_0`, `"blog_membership" U0`.
fn has_alias(sql: &str) -> bool {
    let words = tokens(sql);
    words.windows(3).any(|w| {
        matches!(w[0].as_str(), "from" | "join")
            && !is_keyword(&w[2])
            && w[2]
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '"')
    })
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "where"
            | "join"
            | "left"
            | "right"
            | "inner"
            | "outer"
            | "on"
            | "order"
            | "group"
            | "limit"
            | "as"
            | "using"
            | "cross"
            | "full"
            | "natural"
            | "having"
            | "union"
            | "window"
            | "offset"
    ) || word.len() == 1 && !word.chars().all(char::is_alphanumeric)
}

fn is_placeholder(token: &str) -> bool {
    token == "?"
        || token
            .strip_prefix('$')
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
}

/// Drops `::type` (and `::type[]`) after any token.
fn erase_casts(tokens: Vec<String>) -> Vec<String> {
    let at = |i: usize| tokens.get(i).map_or("", String::as_str);
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        if token == ":" && at(i + 1) == ":" {
            i += 3;
            while at(i) == "[" && at(i + 1) == "]" {
                i += 2;
            }
            continue;
        }
        out.push(token.clone());
        i += 1;
    }
    out
}

/// Drops `AS name` everywhere (column and table aliases alike: an approximation).
fn erase_column_aliases(tokens: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut skip_next = false;
    for token in tokens {
        if skip_next {
            skip_next = false;
        } else if token == "as" {
            skip_next = true;
        } else {
            out.push(token);
        }
    }
    out
}

/// `IN (…)` becomes `= ?` and `ANY (…)` becomes `?`, unless the list is a subquery.
fn erase_lists(tokens: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while let Some(word) = tokens.get(i).map(String::as_str) {
        let opens = tokens.get(i + 1).is_some_and(|t| t == "(")
            && tokens.get(i + 2).is_some_and(|t| t != "select");
        if opens && (word == "in" || word == "any") {
            let close = matching_paren(&tokens, i + 1);
            if word == "in" {
                out.push("=".to_owned());
            }
            out.push("?".to_owned());
            i = close + 1;
            continue;
        }
        out.push(if is_placeholder(word) {
            "?".to_owned()
        } else {
            word.to_owned()
        });
        i += 1;
    }
    out
}

fn matching_paren(tokens: &[String], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.as_str() {
            "(" => depth += 1,
            ")" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

fn erase_order(mut tokens: Vec<String>) -> Vec<String> {
    tokens.sort();
    tokens
}

fn lowered(tables: &[String]) -> Vec<String> {
    tables
        .iter()
        .map(|t| t.trim_matches(|c| c == '"' || c == '`').to_lowercase())
        .collect()
}

fn strip_digits(tables: &[String]) -> Vec<String> {
    tables
        .iter()
        .map(|t| t.chars().filter(|c| !c.is_ascii_digit()).collect())
        .collect()
}

/// Words (identifier-like runs) and single punctuation characters, case-folded.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || matches!(c, '_' | '$' | '"' | '`' | '.') {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[derive(PartialEq, Eq)]
enum Placeholder {
    Numbered,
    Question,
    Pyformat,
    None,
}

fn placeholder_style(sql: &str) -> Placeholder {
    let bytes = sql.as_bytes();
    let numbered = bytes
        .windows(2)
        .any(|w| w[0] == b'$' && w[1].is_ascii_digit());
    if numbered {
        Placeholder::Numbered
    } else if sql.contains("%(") || sql.contains("%s") {
        Placeholder::Pyformat
    } else if sql.contains('?') {
        Placeholder::Question
    } else {
        Placeholder::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<String> {
        placeholders_as_one(tokens(text))
    }

    #[test]
    fn order_alone_explains_a_swapped_select_list() {
        let a = toks("SELECT id, name FROM t WHERE id = $1");
        let b = toks("SELECT name, id FROM t WHERE id = $1");
        let names = smallest_erasure(&a, &b).unwrap_or_default();
        assert_eq!(names, vec![ERASURES[3].0]);
    }

    #[test]
    fn casts_alone_explain_another_cast_type() {
        let a = toks("SELECT id FROM t WHERE at >= $1::date");
        let b = toks("SELECT id FROM t WHERE at >= $1::timestamptz");
        assert_eq!(
            smallest_erasure(&a, &b).unwrap_or_default(),
            vec![ERASURES[0].0]
        );
    }

    #[test]
    fn list_versus_scalar_is_found_but_subqueries_are_left_alone() {
        let a = toks("SELECT id FROM t WHERE x IN ($1, $2, $3)");
        let b = toks("SELECT id FROM t WHERE x = $1");
        assert_eq!(
            smallest_erasure(&a, &b).unwrap_or_default(),
            vec![ERASURES[2].0]
        );
        let sub = toks("SELECT id FROM t WHERE x IN (SELECT y FROM u)");
        assert_eq!(erase_lists(sub.clone()), sub);
    }

    #[test]
    fn different_words_stay_unexplained() {
        let a = toks("SELECT id FROM t WHERE x = $1");
        let b = toks("SELECT id FROM t WHERE y = $1");
        assert_eq!(smallest_erasure(&a, &b), None);
    }

    #[test]
    fn aliases_and_partitions_are_told_apart() {
        let users = vec!["users".to_owned()];
        let archive = vec!["users_archive".to_owned()];
        let sql = "select u1_0.id from users u1_0 where u1_0.id=$1";
        assert_eq!(tables_class(&users, &archive, sql, sql), CLASS_ALIAS);
        let oct = vec!["m_2026_10".to_owned()];
        let nov = vec!["m_2026_11".to_owned()];
        assert_eq!(tables_class(&oct, &nov, sql, sql), CLASS_PARTITION);
        let plain = "select id from users where id=$1";
        assert_eq!(
            tables_class(&users, &archive, plain, plain),
            CLASS_OTHER_TABLES
        );
    }
}
