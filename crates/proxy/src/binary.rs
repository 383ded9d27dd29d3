//! The text of a binary-format bind value whose type the client declared in `Parse`.
//!
//! pgjdbc (`setLong`, `setInt`) and psycopg 3 send integers in binary and name their type
//! (`int8`, `int4`, `int2`) in the `Parse` message. When values are captured (`--dsn`,
//! `--show-params`), writing them as the text PostgreSQL would print lets the plan check
//! explain the child with the keys the application really used instead of a generic plan.
//! A value whose type is unknown (declared as 0, left to the server) or not listed here
//! stays as hex: reading 8 bytes as an integer when they are a timestamp would hand the
//! plan check a wrong key, which is worse than none.

use std::fmt::Write;

/// `bool`, `int8`, `int2`, `int4`, `text`, `oid`, `float4`, `float8`, `bpchar`, `varchar`,
/// `uuid` (pg_type.oid).
const BOOL: u32 = 16;
const NAME: u32 = 19;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const OID: u32 = 26;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const BPCHAR: u32 = 1042;
const VARCHAR: u32 = 1043;
const UUID: u32 = 2950;

/// Appends the text form of `value` (binary format, declared type `oid`) to `out` and
/// returns true; returns false (and appends nothing) when the type is not one read here or
/// the bytes do not fit it.
pub fn push_text(out: &mut String, oid: u32, value: &[u8]) -> bool {
    match (oid, value) {
        (BOOL, [b]) => out.push_str(if *b == 0 { "false" } else { "true" }),
        (INT2, &[a, b]) => push(out, i16::from_be_bytes([a, b])),
        (INT4, &[a, b, c, d]) => push(out, i32::from_be_bytes([a, b, c, d])),
        (OID, &[a, b, c, d]) => push(out, u32::from_be_bytes([a, b, c, d])),
        (INT8, &[a, b, c, d, e, f, g, h]) => {
            push(out, i64::from_be_bytes([a, b, c, d, e, f, g, h]))
        }
        (FLOAT4, &[a, b, c, d]) => push(out, f32::from_be_bytes([a, b, c, d])),
        (FLOAT8, &[a, b, c, d, e, f, g, h]) => {
            push(out, f64::from_be_bytes([a, b, c, d, e, f, g, h]))
        }
        (TEXT | VARCHAR | BPCHAR | NAME, bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => out.push_str(text),
            Err(_) => return false,
        },
        (UUID, bytes) if bytes.len() == 16 => {
            for (i, b) in bytes.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push('-');
                }
                push(out, format_args!("{b:02x}"));
            }
        }
        _ => return false,
    }
    true
}

fn push(out: &mut String, value: impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

/// The parameter types of a `Parse` body after the statement name and text: a count, then
/// one type oid per parameter (0: left to the server). Empty when the body is cut short.
pub fn parse_param_types(rest: &[u8]) -> Vec<u32> {
    let Some((count, mut rest)) = rest.split_first_chunk::<2>() else {
        return Vec::new();
    };
    let count = usize::from(u16::from_be_bytes(*count));
    let mut types = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let Some((oid, after)) = rest.split_first_chunk::<4>() else {
            return Vec::new();
        };
        types.push(u32::from_be_bytes(*oid));
        rest = after;
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(oid: u32, value: &[u8]) -> Option<String> {
        let mut out = String::new();
        push_text(&mut out, oid, value).then_some(out)
    }

    #[test]
    fn integers_of_every_width_read_as_postgres_prints_them() {
        assert_eq!(text(INT8, &42i64.to_be_bytes()).as_deref(), Some("42"));
        assert_eq!(text(INT4, &(-7i32).to_be_bytes()).as_deref(), Some("-7"));
        assert_eq!(text(INT2, &300i16.to_be_bytes()).as_deref(), Some("300"));
        assert_eq!(
            text(OID, &4_000_000_000u32.to_be_bytes()).as_deref(),
            Some("4000000000")
        );
        assert_eq!(text(BOOL, &[1]).as_deref(), Some("true"));
        assert_eq!(text(FLOAT8, &1.5f64.to_be_bytes()).as_deref(), Some("1.5"));
        assert_eq!(text(VARCHAR, b"ada").as_deref(), Some("ada"));
        let uuid = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7,
        ];
        assert_eq!(
            text(UUID, &uuid).as_deref(),
            Some("12345678-9abc-def0-0001-020304050607")
        );
    }

    #[test]
    fn unknown_types_and_wrong_widths_are_not_guessed() {
        // 0: the client let the server infer the type; 1114: timestamp, 8 bytes too.
        assert_eq!(text(0, &42i64.to_be_bytes()), None);
        assert_eq!(text(1114, &42i64.to_be_bytes()), None);
        assert_eq!(text(INT8, &42i32.to_be_bytes()), None);
        assert_eq!(text(TEXT, &[0xff, 0xfe]), None);
    }

    #[test]
    fn parameter_types_follow_the_statement_text() {
        let mut body = 2u16.to_be_bytes().to_vec();
        body.extend(INT8.to_be_bytes());
        body.extend(0u32.to_be_bytes());
        assert_eq!(parse_param_types(&body), [INT8, 0]);
        assert_eq!(parse_param_types(&body[..5]), Vec::<u32>::new());
        assert_eq!(parse_param_types(&[]), Vec::<u32>::new());
    }
}
