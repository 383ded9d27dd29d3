//! Recognising transaction control and session bookkeeping from a statement's first words,
//! before (and instead of) fingerprinting it.
//!
//! Why: these statements are never counted, yet many carry names that change all the time —
//! Django's `SAVEPOINT "s140234_x17"`, JDBC's `DEALLOCATE S_1234`, cursor names — so
//! fingerprinting and interning them would grow the shape table with the length of the log.
//! A look at one or two words is also cheaper than a scan.

use querycomb_sql::class::Marker;

use crate::catalog::Role;

/// The role of `sql` when its first words decide it; `None` for anything that needs the
/// full fingerprint (queries, and everything this does not recognise).
pub fn quick_role(sql: &str) -> Option<Role> {
    let mut words = Words {
        rest: sql.as_bytes(),
    };
    let first = words.next()?;
    let is = |word: &[u8], keyword: &str| word.eq_ignore_ascii_case(keyword.as_bytes());
    let role = match first.len() {
        3 if is(first, "end") => Role::End,
        3 if is(first, "set") => match autocommit(words.rest) {
            Some(false) => Role::Begin,
            Some(true) => Role::End,
            None => Role::Bookkeeping,
        },
        4 if is(first, "show") => Role::Bookkeeping,
        5 if is(first, "begin") || is(first, "start") => Role::Begin,
        5 if is(first, "abort") => Role::End,
        5 if is(first, "fetch") || is(first, "close") => Role::Bookkeeping,
        6 if is(first, "commit") => Role::End,
        7 if is(first, "release") || is(first, "declare") || is(first, "prepare") => {
            Role::Bookkeeping
        }
        8 if is(first, "rollback") => match words.next() {
            Some(second) if is(second, "to") || is(second, "prepared") => Role::Bookkeeping,
            _ => Role::End,
        },
        9 if is(first, "savepoint") => Role::Bookkeeping,
        10 if is(first, "deallocate") => Role::Bookkeeping,
        _ => return None,
    };
    Some(role)
}

/// `ROLLBACK` or `ABORT` (checked only for statements [`quick_role`] called an end): with no
/// `BEGIN` before it, what a pool sends when a connection is given back.
pub fn is_rollback(sql: &str) -> bool {
    let mut words = Words {
        rest: sql.as_bytes(),
    };
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"rollback") || w.eq_ignore_ascii_case(b"abort"))
}

/// `DEALLOCATE ALL` and `CLOSE ALL`: what a pool sends when a connection is given back
/// (checked only for statements [`quick_role`] already called bookkeeping).
pub fn quick_marker(sql: &str, role: Role) -> Marker {
    if role != Role::Bookkeeping {
        return Marker::None;
    }
    let mut words = Words {
        rest: sql.as_bytes(),
    };
    let is = |word: Option<&[u8]>, keyword: &str| {
        word.is_some_and(|w| w.eq_ignore_ascii_case(keyword.as_bytes()))
    };
    let first = words.next();
    let resets = (is(first, "deallocate") || is(first, "close")) && is(words.next(), "all");
    if resets {
        Marker::CheckIn
    } else {
        Marker::None
    }
}

/// The value of `autocommit = 0|1` after `SET` (MySQL, MariaDB: also `SESSION autocommit`,
/// `@@autocommit`, `@@session.autocommit`, `OFF`/`ON`), `None` for any other setting.
/// Turning it off is how MySQL drivers begin a transaction (Django's `atomic()`,
/// Connector/J's `setAutoCommit(false)`, PyMySQL's connection default): the server opens one
/// at the next statement, with no `BEGIN` in its logs, and `COMMIT`/`ROLLBACK` end it.
/// Turning it on commits what is open. PostgreSQL has no such setting.
fn autocommit(rest: &[u8]) -> Option<bool> {
    let strip_word = |text: &'_ [u8], word: &str| -> Option<usize> {
        let head = text.get(..word.len())?;
        let after = text.get(word.len()).copied();
        (head.eq_ignore_ascii_case(word.as_bytes())
            && !after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(word.len())
    };
    let mut text = rest.trim_ascii_start();
    for scope in ["session", "local"] {
        if let Some(len) = strip_word(text, scope) {
            text = text.get(len..).unwrap_or_default().trim_ascii_start();
        }
    }
    if let Some(after) = text.strip_prefix(b"@@") {
        text = after;
        for scope in ["session.", "local."] {
            if text
                .get(..scope.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(scope.as_bytes()))
            {
                text = text.get(scope.len()..).unwrap_or_default();
            }
        }
    }
    let len = strip_word(text, "autocommit")?;
    let value = text
        .get(len..)
        .unwrap_or_default()
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let is = |words: [&str; 3]| words.iter().any(|v| strip_word(value, v).is_some());
    if is(["0", "off", "false"]) {
        Some(false)
    } else if is(["1", "on", "true"]) {
        Some(true)
    } else {
        None
    }
}

/// Words of SQL text, skipping whitespace and comments; a word is a run of ASCII letters.
struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.skip_blanks();
        let len = self
            .rest
            .iter()
            .position(|b| !b.is_ascii_alphabetic())
            .unwrap_or(self.rest.len());
        if len == 0 {
            return None;
        }
        let (word, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(word)
    }
}

impl Words<'_> {
    fn skip_blanks(&mut self) {
        loop {
            let trimmed = self.rest.trim_ascii_start();
            if let Some(after) = trimmed.strip_prefix(b"/*") {
                self.rest = match find(after, b"*/") {
                    Some(end) => after.get(end + 2..).unwrap_or(&[]),
                    None => &[],
                };
            } else if let Some(after) = trimmed.strip_prefix(b"--") {
                self.rest = match after.iter().position(|&b| b == b'\n') {
                    Some(end) => after.get(end + 1..).unwrap_or(&[]),
                    None => &[],
                };
            } else {
                self.rest = trimmed;
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_statements() {
        assert_eq!(quick_role("BEGIN"), Some(Role::Begin));
        assert_eq!(
            quick_role("  start transaction isolation level serializable"),
            Some(Role::Begin)
        );
        assert_eq!(quick_role("COMMIT;"), Some(Role::End));
        assert_eq!(quick_role("END"), Some(Role::End));
        assert_eq!(quick_role("ROLLBACK"), Some(Role::End));
        assert_eq!(
            quick_role("rollback to savepoint s1"),
            Some(Role::Bookkeeping)
        );
        assert_eq!(
            quick_role("SAVEPOINT \"s140234_x17\""),
            Some(Role::Bookkeeping)
        );
        assert_eq!(quick_role("RELEASE SAVEPOINT s1"), Some(Role::Bookkeeping));
        assert_eq!(quick_role("DEALLOCATE S_1234"), Some(Role::Bookkeeping));
        assert_eq!(
            quick_role("/* app */ -- note\n FETCH 100 FROM c1"),
            Some(Role::Bookkeeping)
        );
        assert_eq!(
            quick_role("SET search_path = public"),
            Some(Role::Bookkeeping)
        );
    }

    #[test]
    fn turning_autocommit_off_begins_a_transaction_and_on_ends_it() {
        for sql in [
            "SET AUTOCOMMIT = 0",
            "set autocommit=0",
            "SET SESSION autocommit = OFF",
            "SET @@autocommit = 0;",
            "SET @@session.autocommit=false /* app */",
        ] {
            assert_eq!(quick_role(sql), Some(Role::Begin), "{sql}");
        }
        for sql in ["SET AUTOCOMMIT = 1", "set @@autocommit=ON;"] {
            assert_eq!(quick_role(sql), Some(Role::End), "{sql}");
        }
        for sql in [
            "SET autocommit_x = 0",
            "SET autocommit = 0123",
            "SET NAMES utf8mb4",
            "SET autocommit",
        ] {
            assert_eq!(quick_role(sql), Some(Role::Bookkeeping), "{sql}");
        }
    }

    #[test]
    fn rollbacks_among_ends() {
        assert!(is_rollback("ROLLBACK"));
        assert!(is_rollback("/* pool */ abort;"));
        assert!(!is_rollback("COMMIT"));
        assert!(!is_rollback("SET autocommit = 1"));
    }

    #[test]
    fn pool_resets_among_bookkeeping() {
        let marker = |sql| quick_marker(sql, quick_role(sql).unwrap_or(Role::Query));
        assert_eq!(marker("DEALLOCATE ALL"), Marker::CheckIn);
        assert_eq!(marker("close all;"), Marker::CheckIn);
        assert_eq!(marker("DEALLOCATE S_1"), Marker::None);
        assert_eq!(marker("CLOSE c1"), Marker::None);
        assert_eq!(marker("SET x = 1"), Marker::None);
    }

    #[test]
    fn everything_else_needs_a_fingerprint() {
        for sql in [
            "SELECT 1",
            "settings",
            "BEGINNING",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "",
            "/* unterminated",
            "-- only a comment",
            "é",
            "UPDATE t SET a = 1",
        ] {
            assert_eq!(quick_role(sql), None, "{sql:?}");
        }
    }
}
