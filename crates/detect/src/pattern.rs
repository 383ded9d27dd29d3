//! Allow-list patterns, compiled when the configuration is read so that a bad regex is a
//! config error with the file's line and key, never a failure in the middle of a run.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer};

/// A regular expression over SQL text (`allow_sql`).
#[derive(Clone)]
pub struct SqlRegex(Regex);

impl SqlRegex {
    pub fn new(pattern: &str) -> Result<SqlRegex, regex::Error> {
        Regex::new(pattern).map(SqlRegex)
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

impl fmt::Debug for SqlRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlRegex({:?})", self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for SqlRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SqlRegex::new(&text)
            .map_err(|e| serde::de::Error::custom(format!("bad regex {text:?}: {e}")))
    }
}

/// A name pattern for tables and routes: a glob (`*` any run of characters, `?` one
/// character, ASCII case-insensitive), or `re:<regex>` for a regular expression.
#[derive(Clone, Debug)]
pub enum NamePattern {
    Glob(String),
    Regex(SqlRegex),
}

impl NamePattern {
    pub fn new(text: &str) -> Result<NamePattern, regex::Error> {
        match text.strip_prefix("re:") {
            Some(re) => SqlRegex::new(re).map(NamePattern::Regex),
            None => Ok(NamePattern::Glob(text.to_owned())),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Glob(glob) => glob_match(glob.as_bytes(), name.as_bytes()),
            NamePattern::Regex(re) => re.is_match(name),
        }
    }

    /// Matches a table name as written in SQL: quotes removed, and with or without its
    /// schema (`public.orders` matches `orders`).
    pub fn matches_table(&self, table: &str) -> bool {
        let bare = table.replace(['"', '`'], "");
        let unqualified = bare.rsplit('.').next().unwrap_or(&bare);
        self.matches(&bare) || self.matches(unqualified)
    }
}

impl<'de> Deserialize<'de> for NamePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        NamePattern::new(&text)
            .map_err(|e| serde::de::Error::custom(format!("bad pattern {text:?}: {e}")))
    }
}

/// Wildcard match with backtracking to the last `*` only: linear in practice, no recursion.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&ch) = text.get(t) {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&ch) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).unwrap_or(&[]).iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"/admin/*", b"/admin/users"));
        assert!(glob_match(b"AUDIT_*", b"audit_log"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"ac"));
        assert!(glob_match(b"*", b""));
        assert!(!glob_match(b"orders", b"orders2"));
        assert!(glob_match(b"*b*c", b"abxbyc"));
    }

    #[test]
    fn tables_with_schema_and_quotes() {
        let p = NamePattern::new("orders").unwrap();
        assert!(p.matches_table("public.orders"));
        assert!(p.matches_table("\"orders\""));
        assert!(!p.matches_table("order_items"));
    }

    #[test]
    fn regex_routes() {
        let p = NamePattern::new("re:^/api/v[0-9]+/health$").unwrap();
        assert!(p.matches("/api/v2/health"));
        assert!(!p.matches("/api/v2/healthz"));
        assert!(NamePattern::new("re:(").is_err());
    }
}
