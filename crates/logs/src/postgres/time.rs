//! PostgreSQL log timestamps (`%m`, `%t`, `%n`, csvlog/jsonlog `log_time`) to microseconds
//! since the Unix epoch.
//!
//! PostgreSQL writes the zone as `log_timezone`'s abbreviation (`UTC`, `CET`) or, for zones
//! without one, as a numeric offset (`+03`, `-0330`). Numeric offsets and a table of common
//! abbreviations are applied; any other name is read as UTC and reported once by the caller.

use querycomb_core::Timestamp;

/// A parsed timestamp and whether its zone name was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub micros: Timestamp,
    pub zone_known: bool,
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fraction][ ZONE]` (`T` accepted between date and time).
pub(crate) fn parse_timestamp(text: &[u8]) -> Option<Parsed> {
    let date = text.get(..10)?;
    let year = digits(date.get(0..4)?)?;
    let month = digits(date.get(5..7)?)?;
    let day = digits(date.get(8..10)?)?;
    if date.get(4) != Some(&b'-') || date.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(text.get(10), Some(b' ' | b'T')) {
        return None;
    }
    let clock = text.get(11..19)?;
    if clock.get(2) != Some(&b':') || clock.get(5) != Some(&b':') {
        return None;
    }
    let hour = digits(clock.get(0..2)?)?;
    let minute = digits(clock.get(3..5)?)?;
    let second = digits(clock.get(6..8)?)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut micros = 0i64;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let frac_len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        let (frac_digits, after) = fraction
            .split_at_checked(frac_len)
            .unwrap_or((fraction, &[]));
        micros = fraction_micros(frac_digits);
        rest = after;
    }
    let (offset_secs, zone_known) = zone_offset(rest.strip_prefix(b" ").unwrap_or(rest))?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(Parsed {
        micros: secs * 1_000_000 + micros,
        zone_known,
    })
}

/// Parses `%n`: seconds since the epoch with an optional fraction (`1763748017.633`).
pub(crate) fn parse_epoch(text: &[u8]) -> Option<Timestamp> {
    let int_len = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if int_len == 0 || int_len > 12 {
        return None;
    }
    let (int, rest) = text.split_at_checked(int_len)?;
    let secs = digits(int)?;
    let micros = match rest {
        [b'.', fraction @ ..] => fraction_micros(fraction),
        _ => 0,
    };
    Some(secs * 1_000_000 + micros)
}

fn digits(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 12 {
        return None;
    }
    let mut value = 0i64;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    Some(value)
}

/// Up to six fraction digits as microseconds; further digits are ignored.
fn fraction_micros(frac: &[u8]) -> i64 {
    let mut micros = 0i64;
    let mut scale = 100_000i64;
    for &b in frac.iter().take(6) {
        if !b.is_ascii_digit() {
            break;
        }
        micros += i64::from(b - b'0') * scale;
        scale /= 10;
    }
    micros
}

/// Seconds east of UTC for a zone token, and whether it was recognised. `None` when the
/// token is not a zone at all (so the caller's field does not match).
fn zone_offset(zone: &[u8]) -> Option<(i64, bool)> {
    match zone {
        b"" | b"UTC" | b"GMT" | b"UCT" | b"Z" | b"Etc/UTC" | b"WET" => Some((0, true)),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let sign = if *sign == b'-' { -1 } else { 1 };
            numeric_offset(rest).map(|secs| (sign * secs, true))
        }
        _ => {
            if zone.iter().any(|b| b.is_ascii_whitespace()) {
                return None;
            }
            Some(named_offset(zone).map_or((0, false), |h| (h, true)))
        }
    }
}

/// `03`, `0530`, `05:30` → seconds.
fn numeric_offset(text: &[u8]) -> Option<i64> {
    let (hours, minutes) = match text {
        [_] | [_, _] => (text, &b"00"[..]),
        [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
            return Some(digits(&[*h1, *h2])? * 3600 + digits(&[*m1, *m2])? * 60)
        }
        _ => return None,
    };
    Some(digits(hours)? * 3600 + digits(minutes)? * 60)
}

/// Common `log_timezone` abbreviations, in seconds east of UTC.
fn named_offset(zone: &[u8]) -> Option<i64> {
    const H: i64 = 3600;
    let secs = match zone {
        b"BST" | b"CET" | b"WEST" | b"MET" => H,
        b"CEST" | b"EET" | b"SAST" | b"MEST" => 2 * H,
        b"EEST" | b"MSK" | b"IDT" => 3 * H,
        b"IST" => 5 * H + 30 * 60,
        b"HKT" | b"AWST" => 8 * H,
        b"JST" | b"KST" => 9 * H,
        b"ACST" => 9 * H + 30 * 60,
        b"AEST" => 10 * H,
        b"ACDT" => 10 * H + 30 * 60,
        b"AEDT" => 11 * H,
        b"NZST" => 12 * H,
        b"NZDT" => 13 * H,
        b"AST" | b"EDT" => -4 * H,
        b"EST" | b"CDT" => -5 * H,
        b"CST" | b"MDT" => -6 * H,
        b"MST" | b"PDT" => -7 * H,
        b"PST" | b"AKDT" => -8 * H,
        b"AKST" => -9 * H,
        b"HST" => -10 * H,
        _ => return None,
    };
    Some(secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> Option<i64> {
        parse_timestamp(text.as_bytes()).map(|p| p.micros)
    }

    #[test]
    fn utc_with_milliseconds() {
        // 2026-11-21 18:00:17 UTC = 1_795_284_017 s.
        assert_eq!(
            micros("2026-11-21 18:00:17.633 UTC"),
            Some(1_795_284_017_633_000)
        );
        assert_eq!(micros("1970-01-01 00:00:00 UTC"), Some(0));
        assert_eq!(
            micros("2000-03-01 00:00:00.5 GMT"),
            Some(951_868_800_500_000)
        );
    }

    #[test]
    fn numeric_and_named_offsets() {
        let utc = micros("2026-11-21 18:00:17 UTC").unwrap();
        assert_eq!(micros("2026-11-21 21:00:17 +03"), Some(utc));
        assert_eq!(micros("2026-11-21 14:30:17 -0330"), Some(utc));
        assert_eq!(micros("2026-11-21 19:00:17 CET"), Some(utc));
        assert_eq!(micros("2026-11-21 10:00:17 PST"), Some(utc));
        let unknown = parse_timestamp(b"2026-11-21 18:00:17 XYZT").unwrap();
        assert_eq!((unknown.micros, unknown.zone_known), (utc, false));
    }

    #[test]
    fn rejects_non_timestamps() {
        for bad in [
            "",
            "2026-11-21",
            "2026-13-01 00:00:00 UTC",
            "abcd-11-21 18:00:17 UTC",
        ] {
            assert_eq!(micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_seconds() {
        assert_eq!(parse_epoch(b"1795284017.633"), Some(1_795_284_017_633_000));
        assert_eq!(parse_epoch(b"12"), Some(12_000_000));
        assert_eq!(parse_epoch(b"x"), None);
    }
}
