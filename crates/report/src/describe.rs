//! Helpers shared by the sinks: collecting findings by signature, and the wording of
//! durations, timestamps, sizes and request labels, and the cleaning of input-derived text
//! before it reaches a reader.

use querycomb_detect::detectors::over_budget;
use std::collections::HashMap;

use querycomb_core::{Finding, Location, RequestKind, RequestRef, Timestamp};

/// Findings in arrival order, one per signature.
///
/// Live runs may hand a sink the same signature again with higher counts; the newer
/// finding replaces the older one in place.
#[derive(Debug, Default)]
pub(crate) struct LatestBySignature {
    findings: Vec<Finding>,
    by_signature: HashMap<String, usize>,
}

impl LatestBySignature {
    pub(crate) fn add(&mut self, finding: &Finding) {
        match self.by_signature.get(&finding.signature) {
            Some(&index) if index < self.findings.len() => {
                self.findings[index] = finding.clone();
            }
            _ => {
                let index = self.findings.len();
                self.by_signature.insert(finding.signature.clone(), index);
                self.findings.push(finding.clone());
            }
        }
    }

    pub(crate) fn findings(&self) -> &[Finding] {
        &self.findings
    }
}

const US_PER_DAY: i64 = 86_400_000_000;

/// `812 µs`, `12.4 ms`, `3.21 s`, `4m 05s`.
pub(crate) fn duration(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else if us < 60_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else {
        let secs = us / 1_000_000;
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}

/// `12,345`: counts in reports are read by people.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `4.2 MB` (decimal units, like the sizes people compare with `ls -h`/`du`).
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1_000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1e3;
    let mut unit = 0;
    while value >= 1_000.0 && unit + 1 < UNITS.len() {
        value /= 1e3;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1 request`, `12 requests`.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// civil-from-days, so that no date crate is needed for one line of output.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn split_timestamp(t: Timestamp) -> ((i64, i64, i64), String) {
    let date = civil_from_days(t.div_euclid(US_PER_DAY));
    let in_day = t.rem_euclid(US_PER_DAY);
    let ms = in_day / 1_000;
    let time = format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1_000 % 60,
        ms % 1_000
    );
    (date, time)
}

fn date_text((y, m, d): (i64, i64, i64)) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-11-21 18:00:17.633 UTC`.
pub(crate) fn timestamp(t: Timestamp) -> String {
    let (date, time) = split_timestamp(t);
    format!("{} {time} UTC", date_text(date))
}

/// `2026-11-21 18:00:17.633–18:00:17.912 UTC`; the end date is repeated only when it differs.
pub(crate) fn window(start: Timestamp, end: Option<Timestamp>) -> String {
    let (start_date, start_time) = split_timestamp(start);
    let Some(end) = end.filter(|&e| e != start) else {
        return timestamp(start);
    };
    let (end_date, end_time) = split_timestamp(end);
    if end_date == start_date {
        format!("{} {start_time}–{end_time} UTC", date_text(start_date))
    } else {
        format!(
            "{} {start_time} – {} {end_time} UTC",
            date_text(start_date),
            date_text(end_date)
        )
    }
}

/// How a reader finds the request again: route and trace when the SQL was tagged, else the
/// session and its time window; always the number of statements.
pub(crate) fn request_label(request: &RequestRef) -> String {
    let mut parts = Vec::new();
    if let Some(route) = &request.route {
        parts.push(format!("route {}", clean(route)));
    }
    match (&request.trace_id, request.kind) {
        (Some(trace), _) => parts.push(format!("trace {}", clean(trace))),
        (None, RequestKind::Trace) => parts.push(format!("trace {}", clean(&request.id))),
        _ => {}
    }
    let session = format!("session {}", clean(&request.session));
    parts.push(match request.kind {
        RequestKind::Transaction => format!("transaction on {session}"),
        _ => session,
    });
    if let Some(start) = request.start {
        parts.push(window(start, request.end));
    }
    parts.push(plural(
        u64::from(request.statements),
        "statement",
        "statements",
    ));
    parts.join(", ")
}

/// The table a reader would name the finding after: the repeated query's, else the parent's.
pub(crate) fn table(finding: &Finding) -> Option<&str> {
    finding
        .children
        .iter()
        .chain(finding.parent.iter())
        .find_map(|q| q.table.as_deref())
}

/// Where the repeated statement (else the parent, else the request) starts in the input.
pub(crate) fn primary_location(finding: &Finding) -> Location {
    finding
        .children
        .first()
        .or(finding.parent.as_ref())
        .map_or(finding.request.location, |q| q.location)
}

/// `N+1 query on orders ×50, seen in 12 requests`.
pub(crate) fn headline(finding: &Finding) -> String {
    if finding.kind == over_budget::KIND {
        // Not a loop on one table: `count` is the request's statements.
        return format!(
            "{}: {}, seen in {}",
            querycomb_detect::kinds::info(finding.kind).title,
            plural(u64::from(finding.count), "statement", "statements"),
            plural(u64::from(finding.occurrences), "request", "requests")
        );
    }
    let mut text = querycomb_detect::kinds::info(finding.kind).title.to_owned();
    if let Some(table) = table(finding) {
        text.push_str(" on ");
        text.push_str(&clean(table));
    }
    text.push_str(&format!(
        " ×{}, seen in {}",
        thousands(u64::from(finding.count)),
        plural(u64::from(finding.occurrences), "request", "requests")
    ));
    text
}

/// Input-derived text (SQL, routes, session ids) with control characters replaced, so that
/// a crafted log line cannot move the cursor or recolour a terminal, nor break a line-based
/// format.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_in_the_unit_a_reader_expects() {
        assert_eq!(duration(812), "812 µs");
        assert_eq!(duration(12_400), "12.4 ms");
        assert_eq!(duration(3_210_000), "3.21 s");
        assert_eq!(duration(245_000_000), "4m 05s");
    }

    #[test]
    fn groups_digits_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(4_200_000), "4.2 MB");
        assert_eq!(bytes(u64::MAX), "18446744.1 TB");
    }

    #[test]
    fn formats_timestamps_in_utc() {
        // 2026-11-21 18:00:17.633 UTC
        let t = 1_795_284_017_633_000;
        assert_eq!(timestamp(t), "2026-11-21 18:00:17.633 UTC");
        assert_eq!(timestamp(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(timestamp(-1_000), "1969-12-31 23:59:59.999 UTC");
        assert_eq!(
            timestamp(951_782_400_000_000),
            "2000-02-29 00:00:00.000 UTC"
        );
        // Extreme values still give text, never a panic.
        assert!(!timestamp(i64::MIN).is_empty());
        assert!(!timestamp(i64::MAX).is_empty());
    }

    #[test]
    fn windows_repeat_the_date_only_when_it_changes() {
        let t = 1_795_284_017_633_000;
        assert_eq!(
            window(t, Some(t + 279_000)),
            "2026-11-21 18:00:17.633–18:00:17.912 UTC"
        );
        assert_eq!(window(t, None), "2026-11-21 18:00:17.633 UTC");
        assert_eq!(
            window(t, Some(t + US_PER_DAY)),
            "2026-11-21 18:00:17.633 – 2026-11-22 18:00:17.633 UTC"
        );
    }

    #[test]
    fn labels_requests_by_their_best_evidence() {
        let tagged = crate::fixtures::n_plus_one().request;
        assert_eq!(
            request_label(&tagged),
            "route GET /customers/:id/orders, trace 4bf92f3577b34da6a3ce929d0e0e4736, \
             session 8755, 2026-11-21 18:00:17.633–18:00:17.912 UTC, 52 statements"
        );
        let mut transaction = crate::fixtures::repeated_identical().request;
        transaction.kind = RequestKind::Transaction;
        transaction.start = None;
        transaction.statements = 1;
        assert_eq!(
            request_label(&transaction),
            "transaction on session 9120, 1 statement"
        );
    }

    #[test]
    fn names_the_finding_after_the_repeated_table() {
        let finding = crate::fixtures::n_plus_one();
        assert_eq!(table(&finding), Some("shop_order"));
        assert_eq!(primary_location(&finding).line, 1_207);
        let budget = crate::fixtures::over_budget_without_children();
        assert_eq!(table(&budget), None);
        assert_eq!(primary_location(&budget).line, 1_204);
        assert_eq!(
            headline(&budget),
            "over budget: 52 statements, seen in 12 requests"
        );
    }

    #[test]
    fn cleans_control_characters() {
        assert_eq!(
            clean("a\u{1b}[31mb\nc\td"),
            "a\u{FFFD}[31mb\u{FFFD}c\u{FFFD}d"
        );
    }
}
