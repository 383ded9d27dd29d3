//! Loads the benchmark corpus: JSON lines holding either a bare SQL string or an object
//! `{"sql": .., "dialect": "postgres"|"mysql", "shape": ..}`.

use std::fmt;
use std::path::Path;

/// SQL dialect of one corpus query, as the corpus file names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorpusDialect {
    Postgres,
    MySql,
}

/// One corpus query with the template (`shape`) it was generated from.
#[derive(Clone, Debug)]
pub struct Query {
    pub sql: String,
    pub dialect: CorpusDialect,
    /// Generator template name; variants of one shape should share a fingerprint.
    pub shape: String,
}

/// A corpus line that could not be read, with its 1-based line number.
#[derive(Debug)]
pub struct CorpusError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Reads every line of the corpus; any bad line is an error because a benchmark over a
/// silently shortened corpus would report misleading figures.
pub fn load(path: &Path) -> Result<Vec<Query>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut queries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let query = parse_line(line, index + 1).map_err(|e| format!("{}: {e}", path.display()))?;
        queries.push(query);
    }
    if queries.is_empty() {
        return Err(format!("{}: no queries", path.display()));
    }
    Ok(queries)
}

fn parse_line(line: &str, number: usize) -> Result<Query, CorpusError> {
    let error = |reason: String| CorpusError {
        line: number,
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| error(format!("not JSON: {e}")))?;
    match value {
        serde_json::Value::String(sql) => Ok(Query {
            sql,
            dialect: CorpusDialect::Postgres,
            shape: format!("line{number}"),
        }),
        serde_json::Value::Object(map) => {
            let sql = map
                .get("sql")
                .and_then(|v| v.as_str())
                .ok_or_else(|| error("object without a string \"sql\"".into()))?;
            let dialect = match map.get("dialect").and_then(|v| v.as_str()) {
                None | Some("postgres") | Some("postgresql") => CorpusDialect::Postgres,
                Some("mysql") | Some("mariadb") => CorpusDialect::MySql,
                Some(other) => return Err(error(format!("unknown dialect {other:?}"))),
            };
            let shape = map
                .get("shape")
                .and_then(|v| v.as_str())
                .map_or_else(|| format!("line{number}"), str::to_owned);
            Ok(Query {
                sql: sql.to_owned(),
                dialect,
                shape,
            })
        }
        _ => Err(error("expected a JSON string or object".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_objects_and_bare_strings() {
        let q = parse_line(r#"{"sql":"SELECT 1","dialect":"mysql","shape":"s"}"#, 1);
        let q = q.map_err(|e| e.to_string());
        assert!(
            matches!(q, Ok(Query { ref sql, dialect: CorpusDialect::MySql, ref shape }) if sql == "SELECT 1" && shape == "s")
        );
        let bare = parse_line(r#""SELECT 2""#, 7).map_err(|e| e.to_string());
        assert!(
            matches!(bare, Ok(Query { dialect: CorpusDialect::Postgres, ref shape, .. }) if shape == "line7")
        );
    }

    #[test]
    fn rejects_bad_lines_with_their_number() {
        let cases = [
            r#"{"dialect":"postgres"}"#,
            r#"{"sql":"x","dialect":"oracle"}"#,
            "[1]",
            "{",
        ];
        for case in cases {
            match parse_line(case, 3) {
                Err(e) => assert_eq!(e.line, 3, "{case}"),
                Ok(q) => panic!("accepted {case:?} as {q:?}"),
            }
        }
    }
}
