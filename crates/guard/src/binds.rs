//! What the statement text says about its bind parameters, since sqlx's events do not carry
//! their values.
//!
//! The detectors tell a loop (`n_plus_one`: different parameters each time) from a missing
//! memo (`repeated_identical`: the same ones) by the values, and a batch from a loop by its
//! list length. Without the values, the guard takes each execution of a statement with
//! placeholders as a new parameter set (so a loop that repeats one id is reported as an N+1,
//! not as a repeat; its fix, one batched statement, removes both), and an array placeholder
//! under `ANY(…)`/`unnest(…)` as a batch (its length is unknown; a loader's chunks must not
//! look like a loop).

use querycomb_sql::Dialect;

/// What [`scan`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Binds {
    pub placeholders: bool,
    /// `= ANY($1)`, `IN (SELECT unnest($1))`: an array of keys.
    pub array: bool,
}

/// One pass over the text: `$n` placeholders (PostgreSQL) or `?` (MySQL).
pub(crate) fn scan(sql: &str, dialect: Dialect) -> Binds {
    let bytes = sql.as_bytes();
    let mut binds = Binds::default();
    for (at, &byte) in bytes.iter().enumerate() {
        let placeholder = match dialect {
            Dialect::Postgres => byte == b'$' && bytes.get(at + 1).is_some_and(u8::is_ascii_digit),
            _ => byte == b'?',
        };
        if !placeholder {
            continue;
        }
        binds.placeholders = true;
        if under_array_function(bytes.get(..at).unwrap_or_default()) {
            binds.array = true;
            break;
        }
    }
    binds
}

/// The text before a placeholder ends with `any(` or `unnest(` (any case, spaces allowed).
fn under_array_function(before: &[u8]) -> bool {
    let trimmed = trim_end(before);
    let Some(inner) = trimmed.strip_suffix(b"(") else {
        return false;
    };
    let word = trim_end(inner);
    [b"any".as_slice(), b"unnest".as_slice()]
        .iter()
        .any(|name| {
            word.len() >= name.len()
                && word
                    .get(word.len() - name.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(name))
                && word
                    .get(..word.len() - name.len())
                    .and_then(|head| head.last())
                    .is_none_or(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
        })
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(sql: &str) -> Binds {
        scan(sql, Dialect::Postgres)
    }

    #[test]
    fn placeholders_and_arrays() {
        assert_eq!(pg("SELECT 1"), Binds::default());
        assert_eq!(
            pg("SELECT name FROM authors WHERE id = $1"),
            Binds {
                placeholders: true,
                array: false
            }
        );
        assert_eq!(
            pg("SELECT * FROM a WHERE id = ANY($1)"),
            Binds {
                placeholders: true,
                array: true
            }
        );
        assert_eq!(
            pg("SELECT * FROM a WHERE x = $2 AND id = any ( $1 )"),
            Binds {
                placeholders: true,
                array: true
            }
        );
        assert_eq!(
            pg("SELECT * FROM a WHERE id IN (SELECT unnest($1))"),
            Binds {
                placeholders: true,
                array: true
            }
        );
        assert_eq!(
            pg("SELECT * FROM a WHERE company($1)"),
            Binds {
                placeholders: true,
                array: false
            }
        );
        assert_eq!(pg("SELECT '$' || name FROM a"), Binds::default());
        assert!(scan("SELECT * FROM a WHERE id = ?", Dialect::MySql).placeholders);
    }
}
