//! Interned statement shapes. Every distinct fingerprint is described once (normalised text,
//! verb, tables) and then referred to by a small [`FpId`]; the per-event path only hashes
//! the fingerprint into this table. Run-wide per-shape totals live here too.

use std::collections::BTreeMap;

use querycomb_core::{FingerprintStat, RESOLVER_SPAN_TAG, SDK_LANGUAGE_TAG};
use querycomb_sql::class::{classify, Class, Marker, Purpose};
use querycomb_sql::{Fingerprinter, Scan, Shape, Verb};

use crate::config::Config;
use crate::hash::{hex16, FastMap};

/// Index of a shape in the [`Catalog`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FpId(pub u32);

/// What a statement means for grouping, decided once per shape from its verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A statement the application asked for: counted, and a candidate parent or child.
    Query,
    /// `BEGIN` / `START TRANSACTION`: opens an explicit transaction.
    Begin,
    /// `COMMIT` / `ROLLBACK` / `END`: closes it.
    End,
    /// Bookkeeping that is never counted: savepoints, `ROLLBACK TO`, `DEALLOCATE`, `SET`,
    /// `SHOW`, `PREPARE`, cursor `DECLARE`/`FETCH`/`CLOSE` (paging a cursor is not a loop).
    Bookkeeping,
}

/// One interned shape with its run totals.
#[derive(Debug, Clone)]
pub struct ShapeEntry {
    pub shape: Shape,
    /// The fingerprint as 16 hex digits.
    pub hex: String,
    pub role: Role,
    /// Matched an `allow_sql` or `allow_tables` entry: never reported as a child.
    pub allowed: bool,
    pub calls: u64,
    pub total_us: u64,
    pub timed_calls: u64,
    pub rows: u64,
    pub requests: u64,
    /// Serial of the last unit that counted this shape in `requests`.
    pub(crate) last_unit: u64,
    /// A page loop's statement (`LIMIT … OFFSET …`, keyset paging): decided once per shape.
    pub(crate) paging: bool,
    /// The application code location the first statement of this shape was tagged with.
    pub source_location: Option<String>,
    /// The sqlcommenter tags of the first statement of this shape that name its stack
    /// (see [`stack_tags`]).
    pub stack_tags: BTreeMap<String, String>,
    /// Application work, housekeeping or tooling, and the unit boundary it marks: decided
    /// once per shape (see `querycomb_sql::class`).
    pub class: Class,
    /// Some statement of this shape arrived with its text cut short (trace sources say so).
    pub truncated: bool,
    /// An outgoing HTTP call (from a trace's client span), not SQL.
    pub http: bool,
    /// The service that first ran this shape, when the source says (traces).
    pub service: Option<String>,
}

impl ShapeEntry {
    /// Main table, for messages and reports.
    pub fn table(&self) -> Option<&str> {
        self.shape.tables.first().map(String::as_str)
    }

    /// A job-queue claim: repeating it is polling, never a finding.
    pub fn is_claim(&self) -> bool {
        self.class.marker == Marker::Claim
    }

    /// Sent by a driver, pool or tool rather than by the application.
    pub fn is_tooling(&self) -> bool {
        self.class.purpose != Purpose::Application
    }

    /// Keeps the GraphQL resolver a statement of this shape ran under (`Context::resolver`)
    /// with its stack tags, the first one the shape is seen with, cut like a tag's value, and
    /// the language of the SDK that traced it (`Context::language`), which names the
    /// resolver's DataLoader.
    pub(crate) fn note_resolver(&mut self, path: &str, language: Option<&str>) {
        if self.stack_tags.contains_key(RESOLVER_SPAN_TAG) {
            return;
        }
        let cut = |text: &str| text.chars().take(STACK_TAG_LEN).collect();
        self.stack_tags
            .insert(RESOLVER_SPAN_TAG.to_owned(), cut(path));
        if let Some(language) = language {
            self.stack_tags
                .insert(SDK_LANGUAGE_TAG.to_owned(), cut(language));
        }
    }
}

/// All shapes seen in the run.
#[derive(Debug, Default)]
pub struct Catalog {
    index: FastMap<u64, FpId>,
    entries: Vec<ShapeEntry>,
}

impl Catalog {
    /// The id of the scanned statement's shape; describes it the first time it is seen.
    pub fn intern(
        &mut self,
        fingerprinter: &mut Fingerprinter,
        scan: &Scan,
        sql: &str,
        config: &Config,
    ) -> FpId {
        if let Some(&id) = self.index.get(&scan.fingerprint) {
            return id;
        }
        let shape = fingerprinter.describe(sql);
        let allowed = is_allowed(&shape, sql, config);
        let entry = ShapeEntry {
            class: classify(&shape, fingerprinter.dialect()),
            source_location: tagged_source_location(sql),
            stack_tags: stack_tags(sql),
            paging: shape.is_paging(),
            truncated: false,
            http: false,
            service: None,
            hex: hex16(scan.fingerprint),
            role: role_of(&shape),
            allowed,
            shape,
            calls: 0,
            total_us: 0,
            timed_calls: 0,
            rows: 0,
            requests: 0,
            last_unit: 0,
        };
        let id = FpId(u32::try_from(self.entries.len()).unwrap_or(u32::MAX));
        self.entries.push(entry);
        self.index.insert(scan.fingerprint, id);
        id
    }

    pub fn get(&self, id: FpId) -> Option<&ShapeEntry> {
        self.entries.get(id.0 as usize)
    }

    pub(crate) fn get_mut(&mut self, id: FpId) -> Option<&mut ShapeEntry> {
        self.entries.get_mut(id.0 as usize)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The busiest `top` counted shapes, by calls (then total time, then text for a stable
    /// order).
    pub fn top_stats(&self, top: usize) -> Vec<FingerprintStat> {
        let mut busy: Vec<&ShapeEntry> = self
            .entries
            .iter()
            .filter(|e| e.role == Role::Query && e.calls > 0)
            .collect();
        busy.sort_by(|a, b| {
            (b.calls, b.total_us)
                .cmp(&(a.calls, a.total_us))
                .then_with(|| a.shape.normalized.cmp(&b.shape.normalized))
        });
        busy.truncate(top);
        busy.into_iter().map(stat_of).collect()
    }
}

fn stat_of(e: &ShapeEntry) -> FingerprintStat {
    FingerprintStat {
        fingerprint: e.hex.clone(),
        normalized: e.shape.normalized.clone(),
        table: e.table().map(str::to_owned),
        calls: e.calls,
        total_us: e.total_us,
        timed_calls: e.timed_calls,
        rows: e.rows,
        requests: e.requests,
    }
}

fn role_of(shape: &Shape) -> Role {
    match shape.verb {
        Verb::Begin => Role::Begin,
        Verb::Rollback if is_rollback_to_savepoint(&shape.normalized) => Role::Bookkeeping,
        Verb::Commit | Verb::Rollback => Role::End,
        Verb::Savepoint
        | Verb::Release
        | Verb::Prepare
        | Verb::Deallocate
        | Verb::Declare
        | Verb::Fetch
        | Verb::Close
        | Verb::Set
        | Verb::Show => Role::Bookkeeping,
        _ => Role::Query,
    }
}

/// `ROLLBACK TO [SAVEPOINT] x` undoes part of a transaction and stays inside it.
fn is_rollback_to_savepoint(normalized: &str) -> bool {
    normalized
        .split_ascii_whitespace()
        .nth(1)
        .is_some_and(|word| word.eq_ignore_ascii_case("to"))
}

/// The code location a statement's sqlcommenter tags name: Rails' `source_location`, or
/// OpenTelemetry-style `code.filepath` with `code.lineno`. Read once per new shape, so the
/// per-statement path never pays for it.
fn tagged_source_location(sql: &str) -> Option<String> {
    let tags = querycomb_sql::comment::tags(sql);
    if let Some(location) = tags.get("source_location") {
        return Some(location.into_owned());
    }
    let file = tags.get("code.filepath")?;
    Some(match tags.get("code.lineno") {
        Some(line) => format!("{file}:{line}"),
        None => file.into_owned(),
    })
}

/// Most stack tags kept per shape, and longest value: a tag is evidence, not a payload.
const STACK_TAGS: usize = 8;
const STACK_TAG_LEN: usize = 120;

/// The sqlcommenter tags that name the stack a statement came from: `framework`
/// (google-cloud-sqlcommenter's Django middleware: `django:5.2.19`; Spring's, Flask's),
/// `db_framework` (its SQLAlchemy listener: `sqlalchemy:2.0.58`), `db_driver`, `application`
/// (Rails' and Go's), and any `graphql*` tag but [`RESOLVER_SPAN_TAG`], which only a trace's
/// resolver span gives (`ShapeEntry::note_resolver`). Read once per new shape, like the code
/// location.
fn stack_tags(sql: &str) -> BTreeMap<String, String> {
    let tags = querycomb_sql::comment::tags(sql);
    let mut found = BTreeMap::new();
    if tags.is_empty() {
        return found;
    }
    for (key, value) in tags.iter() {
        let key = key.to_ascii_lowercase();
        let named = matches!(
            key.as_str(),
            "framework" | "db_framework" | "db_driver" | "application"
        ) || (key.starts_with("graphql") && key != RESOLVER_SPAN_TAG);
        if !named || found.contains_key(&key) || found.len() == STACK_TAGS {
            continue;
        }
        let value: String = value.chars().take(STACK_TAG_LEN).collect();
        found.insert(key, value);
    }
    found
}

fn is_allowed(shape: &Shape, raw_sql: &str, config: &Config) -> bool {
    let by_sql = config
        .allow_sql
        .iter()
        .any(|re| re.is_match(&shape.normalized) || re.is_match(raw_sql));
    let by_table = shape
        .tables
        .iter()
        .any(|t| config.allow_tables.iter().any(|p| p.matches_table(t)));
    by_sql || by_table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_to_savepoint_is_recognised() {
        assert!(is_rollback_to_savepoint("ROLLBACK TO SAVEPOINT s1"));
        assert!(is_rollback_to_savepoint("rollback to s1"));
        assert!(!is_rollback_to_savepoint("ROLLBACK"));
        assert!(!is_rollback_to_savepoint("ROLLBACK WORK"));
    }

    #[test]
    fn rails_and_opentelemetry_tags_name_the_code_location() {
        assert_eq!(
            tagged_source_location(
                "SELECT * FROM posts WHERE id = 1 /*action='show',source_location='app%2Fmodels%2Fpost.rb%3A12'*/"
            )
            .as_deref(),
            Some("app/models/post.rb:12")
        );
        assert_eq!(
            tagged_source_location(
                "SELECT 1 /*code.filepath='src%2Fdb.rs',code.lineno='40',route='%2Fx'*/"
            )
            .as_deref(),
            Some("src/db.rs:40")
        );
        assert_eq!(tagged_source_location("SELECT 1 /*route='%2Fx'*/"), None);
        assert_eq!(tagged_source_location("SELECT 1"), None);
    }

    /// The tags google-cloud-sqlcommenter 2.0's Django middleware and SQLAlchemy listener
    /// write (`generate_sql_comment`: sorted, URL-quoted), Rails' `application`, and a
    /// GraphQL tag; the request's own tags are not the stack's.
    #[test]
    fn stack_tags_are_the_ones_naming_the_stack() {
        let django = stack_tags(
            "SELECT 1 /*controller='index',db_driver='django.db.backends.postgresql',framework='django%3A5.2.19',route='%5Epolls/%24'*/",
        );
        assert_eq!(
            django.into_iter().collect::<Vec<_>>(),
            [
                (
                    "db_driver".to_owned(),
                    "django.db.backends.postgresql".to_owned()
                ),
                ("framework".to_owned(), "django:5.2.19".to_owned()),
            ]
        );
        let tagged = stack_tags(
            "/*application='Blog',graphql_operation='Books'*/ SELECT 1 /*db_framework='sqlalchemy%3A2.0.58'*/",
        );
        assert_eq!(
            tagged.keys().map(String::as_str).collect::<Vec<_>>(),
            ["application", "db_framework", "graphql_operation"]
        );
        assert!(stack_tags("SELECT 1 /*route='%2Fx',traceparent='00-0'*/").is_empty());
        // A tag cannot pose as a trace's resolver span.
        assert!(stack_tags("SELECT 1 /*graphql.resolve='authors.*.books'*/").is_empty());
        assert!(stack_tags("SELECT 1 /*telemetry.sdk.language='rust'*/").is_empty());
        assert!(stack_tags("SELECT 1").is_empty());
    }
}
