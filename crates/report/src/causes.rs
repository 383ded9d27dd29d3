//! One cause, one entry: findings that share a cause, grouped for the reader.
//!
//! Findings are de-duplicated by signature (kind, parent shape, child shapes), so one loop
//! in a fixture shared by many tests still shows as one finding per table it touches and
//! per statement before it. A *cause* joins findings of the same kind that are the same loop
//! by either of two rules, and whatever they join transitively:
//!
//! - *the same SQL*: their repeated statements are the same shape family (the same SQL once
//!   the table names are set aside: proxy models and model variants with the same columns
//!   issue it against several tables);
//! - *the same test over several models*: one parametrised test (`test_x[A]`, `test_x[B]`,
//!   in the same phase) meets, under each of its parameters, loops of that kind repeating
//!   the same statements (each child's verb, whether it aggregates, whether it locks rows;
//!   tables and columns aside). The test makes the same calls whatever the model; the model
//!   decides the table and columns. When each parameter meets exactly one such loop, they
//!   are one cause. When each meets the same number of them, and under every parameter
//!   they read nested column sets (each reads the columns of the one before and more: a key
//!   lookup of a few fields, then of the whole row), the narrowest under one parameter
//!   pairs with the narrowest under the others, the next with the next, and so on. The
//!   same two steps then run again among the loops of each *form* (the same SQL once every
//!   name and the select list are set aside, e.g. `SELECT … FROM ? WHERE ?.? = $ LIMIT $`),
//!   over the parameters that met that form: a loop that only some models add (a tree
//!   query of their own) does not hide the pairs the others share. Any other case
//!   (parameters meeting different numbers of loops of a form, loops reading unrelated
//!   columns or tables, a loop ranked differently under two parameters) joins nothing, so
//!   two loops of one test stay two causes.
//!
//! The tests of a finding are the routes it was seen in (`Finding::seen_in`, the same
//! whatever the order tests ran in, so a pytest-xdist run groups as a serial one does), or
//! its first request's route in a report that has none. Findings whose SQL names different
//! code locations are never joined. The members (tests, tables, model variants) stay one
//! level down.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use querycomb_core::test_route::{test_of_route, unparametrised, Phase};
use querycomb_core::{Finding, FindingKind, RunSummary, Severity};
use querycomb_sql::{Dialect, Fingerprinter, Verb};

use crate::describe::{clean, headline, plural, thousands};

/// What the routes of a run name, for the label before them: the tests `querycomb run`
/// attributed the statements to, or the routes of requests (a trace's, a sqlcommenter
/// tag's), which is all a report can say when nothing told it they are tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteNames {
    #[default]
    Routes,
    Tests,
}

impl RouteNames {
    fn label(self, count: usize) -> &'static str {
        match (self, count) {
            (RouteNames::Tests, 1) => "test",
            (RouteNames::Tests, _) => "tests",
            (RouteNames::Routes, 1) => "route",
            (RouteNames::Routes, _) => "routes",
        }
    }
}

/// Findings that share a cause.
#[derive(Debug)]
pub struct Cause<'a> {
    pub kind: FindingKind,
    pub severity: Severity,
    pub members: Vec<&'a Finding>,
    /// The routes (a test's without its phase) the members were seen in.
    pub routes: BTreeSet<&'a str>,
    /// A member was seen in more routes than it lists (`SeenIn::MAX_ROUTES`): `routes` is a
    /// part of them.
    pub more_routes: bool,
    pub tables: BTreeSet<&'a str>,
    /// Every member's requests are tests' setup or teardown phases.
    pub fixture: bool,
    /// Repeated statements over all members and occurrences.
    pub total_count: u64,
}

impl Cause<'_> {
    /// The member a reader looks at first: the most severe, then the largest.
    pub fn lead(&self) -> &Finding {
        self.members
            .iter()
            .copied()
            .max_by_key(|f| (f.severity, f.total_count))
            .expect("a cause has members")
    }
}

/// The routes a finding was seen in: its `seen_in`, else (a report written before it was
/// kept) its first request's route.
fn routes(finding: &Finding) -> Vec<&str> {
    if finding.seen_in.routes.is_empty() {
        finding.request.route.as_deref().into_iter().collect()
    } else {
        finding.seen_in.route_names().collect()
    }
}

/// The code location the SQL names, when it names one.
fn code_location(finding: &Finding) -> Option<&str> {
    finding
        .children
        .first()
        .and_then(|c| c.source_location.as_deref())
}

/// The same-SQL key: kind, child shape family, code location.
fn family_key(finding: &Finding) -> (FindingKind, Vec<String>, Option<&str>) {
    let family = finding
        .children
        .iter()
        .map(|child| match child.table.as_deref() {
            Some(table) if !table.is_empty() => child.normalized.replace(table, "?table"),
            _ => child.normalized.clone(),
        })
        .collect();
    (finding.kind, family, code_location(finding))
}

/// What the loop repeats, tables and columns aside: each child's verb, whether it
/// aggregates (a count, an existence probe) and whether it locks the rows it reads.
fn repeated_statements(finding: &Finding) -> Vec<(Verb, bool, bool)> {
    let mut describe = Fingerprinter::new(Dialect::Postgres);
    finding
        .children
        .iter()
        .map(|child| {
            let shape = describe.describe(&child.normalized);
            (shape.verb, shape.aggregate, shape.locks_rows())
        })
        .collect()
}

/// What the loop reads: each child's select list items, with the child's place.
fn columns_read(finding: &Finding) -> BTreeSet<(usize, String)> {
    let mut describe = Fingerprinter::new(Dialect::Postgres);
    finding
        .children
        .iter()
        .enumerate()
        .flat_map(|(at, child)| {
            describe
                .describe(&child.normalized)
                .select_list()
                .into_iter()
                .map(move |item| (at, item))
        })
        .collect()
}

/// The same-test key of a finding seen in a parametrised test: the test without its
/// parameters, the phase, kind, repeated statements and code location.
type TestKey<'a> = (
    &'a str,
    &'static str,
    FindingKind,
    Vec<(Verb, bool, bool)>,
    Option<&'a str>,
);

/// The tables a finding's repeated statements touch, sorted: a loop's place in the schema.
type Tables<'a> = Vec<&'a str>;

/// Disjoint sets over finding indexes, each knowing which loop (the index of its same-SQL
/// family's first finding) it holds on each set of tables.
struct Union<'a> {
    parent: Vec<usize>,
    loops: Vec<BTreeMap<Tables<'a>, usize>>,
}

impl<'a> Union<'a> {
    fn new(findings: &[&'a Finding], family_of: &[usize]) -> Self {
        let loops = findings
            .iter()
            .zip(family_of)
            .map(|(finding, family)| {
                let mut tables: Tables<'a> = finding
                    .children
                    .iter()
                    .filter_map(|c| c.table.as_deref())
                    .collect();
                tables.sort_unstable();
                tables.dedup();
                BTreeMap::from([(tables, *family)])
            })
            .collect();
        Union {
            parent: (0..findings.len()).collect(),
            loops,
        }
    }

    fn root(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// Joins the sets of `members` into one, unless that would hold two different loops on
    /// the same tables (two loops of one model are two loops, whatever pairs them): then
    /// none.
    fn join_all(&mut self, members: &[usize]) -> bool {
        let mut roots: Vec<usize> = members.iter().map(|&i| self.root(i)).collect();
        roots.sort_unstable();
        roots.dedup();
        let mut held: BTreeMap<&Tables<'a>, usize> = BTreeMap::new();
        for &root in &roots {
            for (tables, family) in &self.loops[root] {
                if *held.entry(tables).or_insert(*family) != *family {
                    return false;
                }
            }
        }
        // The earliest finding stays the root: causes keep the order of first appearance.
        if let Some((&low, rest)) = roots.split_first() {
            for &other in rest {
                self.parent[other] = low;
                let moved = std::mem::take(&mut self.loops[other]);
                self.loops[low].extend(moved);
            }
        }
        true
    }
}

/// The finding's requests are tests' setup or teardown phases (`querycomb run`): every
/// route it was seen in is one.
pub fn is_fixture(finding: &Finding) -> bool {
    let routes = routes(finding);
    !routes.is_empty()
        && routes
            .iter()
            .all(|route| test_of_route(route).1.is_fixture())
}

/// Each child's form: its SQL with names and select list set aside.
fn forms(finding: &Finding) -> Vec<String> {
    let mut describe = Fingerprinter::new(Dialect::Postgres);
    finding
        .children
        .iter()
        .map(|child| describe.describe(&child.normalized).form())
        .collect()
}

/// A parametrised test's loops: each parameter (the test with its parameters) to the
/// findings it met.
type Loops<'a> = BTreeMap<&'a str, BTreeSet<usize>>;

/// How a pairing was found, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Evidence {
    /// Among the loops of one form.
    SameForm,
    /// Among all the loops of the same statements.
    SameStatements,
}

/// One parametrised test's loops of one same-test key: which are one cause (the module's
/// second rule), as groups of findings. Among the loops of each form (the same SQL once
/// names and select lists are set aside), over the parameters that met that form, so that
/// a loop one model adds does not hide the pairs of the others; and over all the loops.
fn paired(loops: &Loops<'_>, findings: &[&Finding]) -> Vec<(Evidence, Vec<usize>)> {
    let mut groups: Vec<(Evidence, Vec<usize>)> = ranked(loops, findings)
        .into_iter()
        .map(|group| (Evidence::SameStatements, group))
        .collect();
    if loops.len() < 2 {
        return groups;
    }
    let mut by_form: HashMap<Vec<String>, Loops<'_>> = HashMap::new();
    let mut form_of: HashMap<usize, Vec<String>> = HashMap::new();
    for (test, members) in loops {
        for index in members {
            let form = form_of
                .entry(*index)
                .or_insert_with(|| forms(findings[*index]))
                .clone();
            by_form
                .entry(form)
                .or_default()
                .entry(*test)
                .or_default()
                .insert(*index);
        }
    }
    for same_form in by_form.values() {
        groups.extend(
            ranked(same_form, findings)
                .into_iter()
                .map(|group| (Evidence::SameForm, group)),
        );
    }
    groups
}

/// Loops met under several parameters, the same number under each: one under each is one
/// group; several are ranked by the columns they read when these nest under every
/// parameter, and each rank is a group. Anything else is no group.
fn ranked(loops: &Loops<'_>, findings: &[&Finding]) -> Vec<Vec<usize>> {
    let mut sizes = loops.values().map(BTreeSet::len);
    let Some(per_parameter) = sizes.next() else {
        return Vec::new();
    };
    if loops.len() < 2 || sizes.any(|n| n != per_parameter) {
        return Vec::new();
    }
    if per_parameter == 1 {
        return vec![loops.values().flatten().copied().collect()];
    }
    let mut read: HashMap<usize, BTreeSet<(usize, String)>> = HashMap::new();
    let mut rank_of: HashMap<usize, usize> = HashMap::new();
    for members in loops.values() {
        let mut by_width: Vec<usize> = members.iter().copied().collect();
        for index in &by_width {
            read.entry(*index)
                .or_insert_with(|| columns_read(findings[*index]));
        }
        by_width.sort_by_key(|index| read[index].len());
        let nested = by_width.windows(2).all(|pair| {
            let (narrow, wide) = (&read[&pair[0]], &read[&pair[1]]);
            narrow.len() < wide.len() && narrow.is_subset(wide)
        });
        if !nested {
            return Vec::new();
        }
        for (rank, index) in by_width.into_iter().enumerate() {
            if *rank_of.entry(index).or_insert(rank) != rank {
                return Vec::new();
            }
        }
    }
    let mut groups = vec![Vec::new(); per_parameter];
    for (index, rank) in rank_of {
        groups[rank].push(index);
    }
    groups
}

/// Which findings are one cause, by the two rules of the module: each finding's index to
/// its cause's first finding. The same-SQL rule first; then the same-test pairings, the
/// strongest evidence first (pairings within a form before pairings over all loops, then
/// those more tests showed, then those over more parameters), each taken whole unless it
/// would put two different loops on the same tables in one cause. The order is the findings' content (signatures), not their order
/// of appearance, so a run gives the same causes whatever order its tests ran in.
fn same_cause(findings: &[&Finding]) -> Vec<usize> {
    let mut by_family = HashMap::new();
    let mut family_of = Vec::with_capacity(findings.len());
    let mut by_test: HashMap<TestKey<'_>, Loops<'_>> = HashMap::new();
    for (index, finding) in findings.iter().enumerate() {
        family_of.push(*by_family.entry(family_key(finding)).or_insert(index));
        let mut statements = None;
        for route in routes(finding) {
            let (test, phase): (&str, Phase) = test_of_route(route);
            let Some(base) = unparametrised(test) else {
                continue;
            };
            let statements = statements
                .get_or_insert_with(|| repeated_statements(finding))
                .clone();
            let key = (
                base,
                phase.id(),
                finding.kind,
                statements,
                code_location(finding),
            );
            by_test
                .entry(key)
                .or_default()
                .entry(test)
                .or_default()
                .insert(index);
        }
    }
    let mut union = Union::new(findings, &family_of);
    for (index, family) in family_of.iter().enumerate() {
        union.join_all(&[*family, index]);
    }
    let mut found: Vec<(Evidence, Vec<usize>)> = by_test
        .values()
        .flat_map(|loops| paired(loops, findings))
        .map(|(evidence, mut group)| {
            group.sort_by(|a, b| findings[*a].signature.cmp(&findings[*b].signature));
            (evidence, group)
        })
        .collect();
    found.sort();
    // Each pairing with the number of tests that showed it.
    let mut pairings: Vec<(Evidence, usize, Vec<usize>)> = Vec::new();
    for (evidence, group) in found {
        match pairings.last_mut() {
            Some((e, support, g)) if *e == evidence && *g == group => *support += 1,
            _ => pairings.push((evidence, 1, group)),
        }
    }
    let signatures = |group: &[usize]| -> Vec<&str> {
        group
            .iter()
            .map(|i| findings[*i].signature.as_str())
            .collect()
    };
    pairings.sort_by(|(a, m, x), (b, n, y)| {
        (a, std::cmp::Reverse(m), std::cmp::Reverse(x.len()))
            .cmp(&(b, std::cmp::Reverse(n), std::cmp::Reverse(y.len())))
            .then_with(|| signatures(x).cmp(&signatures(y)))
    });
    for (_, _, group) in &pairings {
        union.join_all(group);
    }
    (0..findings.len()).map(|i| union.root(i)).collect()
}

/// Causes, most severe first, then by repeated statements.
pub fn causes<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Vec<Cause<'a>> {
    let findings: Vec<&'a Finding> = findings.into_iter().collect();
    let roots = same_cause(&findings);
    let mut index_of_root: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out: Vec<Cause<'a>> = Vec::new();
    for (finding, root) in findings.iter().copied().zip(roots) {
        let index = *index_of_root.entry(root).or_insert_with(|| {
            out.push(Cause {
                kind: finding.kind,
                severity: finding.severity,
                members: Vec::new(),
                routes: BTreeSet::new(),
                more_routes: false,
                tables: BTreeSet::new(),
                fixture: true,
                total_count: 0,
            });
            out.len() - 1
        });
        let Some(cause) = out.get_mut(index) else {
            continue;
        };
        cause.severity = cause.severity.max(finding.severity);
        cause.members.push(finding);
        cause.total_count += finding.total_count;
        cause
            .routes
            .extend(routes(finding).into_iter().map(|r| test_of_route(r).0));
        cause.more_routes |= finding.seen_in.is_partial();
        cause.fixture &= is_fixture(finding);
        cause
            .tables
            .extend(finding.children.iter().filter_map(|c| c.table.as_deref()));
    }
    out.sort_by_key(|c| std::cmp::Reverse((c.severity, c.total_count)));
    out
}

/// Causes shown in the short summary.
const TOP_CAUSES: usize = 10;
/// Routes (tests) named per cause in the short summary.
const ROUTES_PER_CAUSE: usize = 2;

/// The short summary for stderr when the full report went elsewhere: at most about 30
/// lines — counts by kind and severity, the top causes with their tests, and where the
/// full report is.
pub fn short_summary(
    findings: &[Finding],
    summary: &RunSummary,
    full_report: &str,
    names: RouteNames,
) -> String {
    let causes = causes(findings);
    let mut out = String::new();
    let by_severity = |level: Severity| findings.iter().filter(|f| f.severity == level).count();
    out.push_str(&format!(
        "querycomb: {} in {} ({} error, {} warning, {} info); {} in {}\n",
        plural(findings.len() as u64, "finding", "findings"),
        plural(causes.len() as u64, "cause", "causes"),
        by_severity(Severity::Error),
        by_severity(Severity::Warning),
        by_severity(Severity::Info),
        plural(summary.statements, "statement", "statements"),
        plural(summary.requests, "request", "requests"),
    ));
    if !summary.findings_by_kind.is_empty() {
        let kinds: Vec<String> = summary
            .findings_by_kind
            .iter()
            .map(|(kind, n)| format!("{} {}", kind.id(), thousands(*n)))
            .collect();
        out.push_str(&format!("  kinds: {}\n", kinds.join(", ")));
    }
    if causes.iter().any(|c| !is_fixture_cause(c)) {
        out.push_str("  top causes:\n");
    }
    out.push_str(&top_causes(&causes, "in the full report", names));
    out.push_str(&format!("  full report: {}\n", clean(full_report)));
    out
}

/// A cause made only of info findings in tests' setup and teardown.
fn is_fixture_cause(cause: &Cause<'_>) -> bool {
    cause.fixture && cause.severity == Severity::Info
}

/// The first [`TOP_CAUSES`] causes of the code under test, one line each, then how many
/// more there are (`rest_where`: where a reader finds them) and one line for the fixture
/// causes: the part of a report that fits on one screen, whatever the size of the run.
pub fn top_causes(causes: &[Cause<'_>], rest_where: &str, names: RouteNames) -> String {
    let (fixtures, own): (Vec<&Cause<'_>>, Vec<&Cause<'_>>) =
        causes.iter().partition(|c| is_fixture_cause(c));
    let mut out = String::new();
    for cause in own.iter().take(TOP_CAUSES) {
        out.push_str(&cause_line(cause, names));
    }
    if own.len() > TOP_CAUSES {
        let rest = &own[TOP_CAUSES..];
        let findings: usize = rest.iter().map(|c| c.members.len()).sum();
        out.push_str(&format!(
            "    … and {} more ({}) {rest_where}\n",
            rest.len(),
            plural(findings as u64, "finding", "findings"),
        ));
    }
    if !fixtures.is_empty() {
        let members: usize = fixtures.iter().map(|c| c.members.len()).sum();
        out.push_str(&format!(
            "  fixtures: {} ({}) in tests' setup/teardown, at info (--include-fixtures raises them)\n",
            plural(fixtures.len() as u64, "cause", "causes"),
            plural(members as u64, "finding", "findings"),
        ));
    }
    out
}

/// `error  N+1 query on shop_author ×8, seen in 2 requests — 3 tests, 2 tables: a, b, …`
pub(crate) fn cause_line(cause: &Cause<'_>, names: RouteNames) -> String {
    let mut line = format!(
        "    {:<7}  {}",
        cause.severity.id(),
        clean(&headline(cause.lead()))
    );
    let mut scope = Vec::new();
    if cause.members.len() > 1 {
        scope.push(plural(cause.members.len() as u64, "finding", "findings"));
    }
    if cause.tables.len() > 1 {
        scope.push(plural(cause.tables.len() as u64, "table", "tables"));
    }
    if !cause.routes.is_empty() {
        let named: Vec<String> = cause
            .routes
            .iter()
            .take(ROUTES_PER_CAUSE)
            .map(|t| clean(t))
            .collect();
        let more = cause.routes.len().saturating_sub(ROUTES_PER_CAUSE);
        let routes = match (more, cause.more_routes) {
            (0, false) => named.join(", "),
            (more, false) => format!("{} (+{more})", named.join(", ")),
            (more, true) => format!("{} (+{more} or more)", named.join(", ")),
        };
        scope.push(format!("{}: {routes}", names.label(cause.routes.len())));
    }
    if !scope.is_empty() {
        line.push_str(" — ");
        line.push_str(&scope.join("; "));
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use querycomb_core::SeenIn;

    use super::*;
    use crate::fixtures;

    /// The same loop over a model variant's table, in another test, with another parent.
    fn variant(table: &str, test: &str, severity: Severity) -> Finding {
        let mut finding = fixtures::n_plus_one();
        let original = finding.children[0].table.clone().expect("a table");
        for child in &mut finding.children {
            child.normalized = child.normalized.replace(&original, table);
            child.table = Some(table.to_owned());
        }
        finding.signature = format!("{table}{test}");
        finding.severity = severity;
        finding.request.route = Some(test.to_owned());
        finding.seen_in = SeenIn::of(Some(test));
        finding
    }

    #[test]
    fn one_loop_over_variant_tables_in_several_tests_is_one_cause() {
        let findings = vec![
            variant("tree_node", "t.py::a", Severity::Warning),
            variant("tree_proxynode", "t.py::b (setup)", Severity::Error),
            variant("tree_node", "t.py::c", Severity::Warning),
            fixtures::repeated_identical(),
        ];
        let causes = causes(&findings);
        assert_eq!(causes.len(), 2, "{causes:#?}");
        let lead = &causes[0];
        assert_eq!(lead.members.len(), 3);
        assert_eq!(lead.severity, Severity::Error);
        assert_eq!(
            lead.routes.iter().copied().collect::<Vec<_>>(),
            ["t.py::a", "t.py::b", "t.py::c"]
        );
        assert_eq!(lead.tables.len(), 2);
        assert!(!lead.fixture, "two members are the tests' own work");
        let line = cause_line(lead, RouteNames::Tests);
        assert!(
            line.contains("3 findings; 2 tables; tests: t.py::a, t.py::b (+1)"),
            "{line}"
        );
        // Unless told they are tests, routes are routes (a trace's, a tag's).
        let line = cause_line(lead, RouteNames::Routes);
        assert!(line.contains("; routes: t.py::a, t.py::b (+1)"), "{line}");
    }

    /// A loop of `kind` over `children` (`(table, normalised SQL)`, as Django wrote them
    /// for django-treebeard's tree models) first seen in `route`.
    fn looped(kind: FindingKind, route: &str, children: &[(&str, &str)]) -> Finding {
        let mut finding = fixtures::n_plus_one();
        let template = finding.children[0].clone();
        finding.kind = kind;
        finding.parent = None;
        finding.severity = Severity::Warning;
        finding.request.route = Some(route.to_owned());
        finding.seen_in = SeenIn::of(Some(route));
        finding.signature = format!("{route}{children:?}");
        finding.children = children
            .iter()
            .map(|(table, sql)| querycomb_core::QueryRef {
                normalized: sql.replace("{t}", table),
                table: Some((*table).to_owned()),
                ..template.clone()
            })
            .collect();
        finding
    }

    const MP_INSERT: &str = r#"INSERT INTO "{t}" ("path", "depth", "numchild", "desc") VALUES ($1, $2, $3, $4) RETURNING "{t}"."id""#;
    const MP_UUID_INSERT: &str = r#"INSERT INTO "{t}" ("path", "depth", "numchild", "desc", "custom_id") VALUES ($1, $2, $3, $4, $5::uuid)"#;
    const NS_INSERT: &str = r#"INSERT INTO "{t}" ("lft", "rgt", "tree_id", "depth", "desc") VALUES ($1, $2, $3, $4, $5) RETURNING "{t}"."id""#;
    const AL_INSERT: &str = r#"INSERT INTO "{t}" ("desc", "parent_id", "sib_order") VALUES ($1, $2, $3) RETURNING "{t}"."id""#;
    const NS_LOCK: &str = r#"SELECT "{t}"."id", "{t}"."lft", "{t}"."rgt", "{t}"."tree_id", "{t}"."depth", "{t}"."desc" FROM "{t}" WHERE "{t}"."id" = $1 LIMIT $2 FOR UPDATE"#;
    const MP_GET: &str = r#"SELECT "{t}"."id", "{t}"."path", "{t}"."depth", "{t}"."numchild" FROM "{t}" WHERE "{t}"."id" = $1 LIMIT $2"#;
    const AL_COUNT: &str =
        r#"SELECT COUNT(*) AS "__count" FROM "{t}" WHERE "{t}"."parent_id" = $1"#;
    const LT_COUNT: &str = r#"SELECT COUNT(*) AS "__count" FROM "{t}" WHERE (nlevel("{t}"."path") = $1 AND "{t}"."path" <@ $2)"#;

    fn kinds() -> (FindingKind, FindingKind, FindingKind) {
        use querycomb_detect::detectors::{count_in_loop, n_plus_one, n_plus_one_write};
        (
            n_plus_one::KIND,
            n_plus_one_write::KIND,
            count_in_loop::KIND,
        )
    }

    /// The members' tables of the cause holding the finding on `table`.
    fn tables_with<'a>(causes: &'a [Cause<'a>], table: &str) -> Vec<&'a str> {
        let cause = causes
            .iter()
            .find(|c| c.tables.contains(table))
            .expect("a cause on the table");
        cause.tables.iter().copied().collect()
    }

    #[test]
    fn one_test_over_several_models_meeting_one_loop_each_is_one_cause() {
        let (read, write, count) = kinds();
        let findings = vec![
            // Per-node inserts: each tree model's columns, one test over all models, and
            // its fixture in another test.
            looped(
                write,
                "t.py::test_concurrent[MP_Node]",
                &[("mp_node", MP_INSERT)],
            ),
            looped(
                write,
                "t.py::test_concurrent[MP_NodeUuid]",
                &[("mp_nodeuuid", MP_UUID_INSERT)],
            ),
            looped(
                write,
                "t.py::test_concurrent[AL_Node]",
                &[("al_node", AL_INSERT)],
            ),
            looped(
                write,
                "t.py::test_leaf[NS_Node] (setup)",
                &[("ns_node", NS_INSERT)],
            ),
            looped(
                write,
                "t.py::test_leaf[AL_Node] (setup)",
                &[("al_node", AL_INSERT)],
            ),
            looped(write, "t.py::test_delete_ns", &[("ns_node", NS_INSERT)]),
            // Per-child locking, per-child reads: the same kind in the same test, but not
            // the same statements.
            looped(
                read,
                "t.py::test_concurrent[NS_Node]",
                &[("ns_node", NS_LOCK)],
            ),
            looped(
                read,
                "t.py::test_concurrent[MP_Node]",
                &[("mp_node", MP_GET)],
            ),
            // A count per node.
            looped(count, "t.py::test_leaf[AL_Node]", &[("al_node", AL_COUNT)]),
            looped(count, "t.py::test_leaf[LT_Node]", &[("lt_node", LT_COUNT)]),
        ];
        let causes = causes(&findings);
        assert_eq!(causes.len(), 4, "{causes:#?}");
        assert_eq!(
            tables_with(&causes, "mp_node"),
            ["al_node", "mp_node", "mp_nodeuuid", "ns_node"],
            "every model's per-node insert, in tests and fixtures"
        );
        let inserts = causes.iter().find(|c| c.kind == write).expect("inserts");
        assert_eq!(inserts.members.len(), 6);
        assert!(!inserts.fixture);
        assert_eq!(tables_with(&causes, "lt_node"), ["al_node", "lt_node"]);
        let reads: Vec<&Cause<'_>> = causes.iter().filter(|c| c.kind == read).collect();
        assert_eq!(reads.len(), 2, "the lock and the read stay two: {reads:#?}");
    }

    /// django-treebeard's `test_move_sorted` under each tree model: a per-node read by key
    /// of the tree fields, and one of the whole row (the columns each model's SQL names).
    const MOVE_SORTED: [(&str, &[&str], &[&str]); 4] = [
        (
            "al_sorted",
            &["id", "parent_id"],
            &["id", "desc", "parent_id", "val1", "val2"],
        ),
        (
            "mp_sorted",
            &["id", "path", "depth", "numchild"],
            &["id", "path", "depth", "numchild", "desc", "val1", "val2"],
        ),
        (
            "ns_sorted",
            &["id", "lft", "rgt", "tree_id", "depth"],
            &[
                "id", "lft", "rgt", "tree_id", "depth", "desc", "val1", "val2",
            ],
        ),
        (
            "lt_sorted",
            &["id", "path"],
            &["id", "path", "desc", "val1", "val2"],
        ),
    ];

    /// `SELECT "{t}"."a", "{t}"."b" FROM "{t}" WHERE "{t}"."id" = $1 LIMIT $2`, as Django
    /// writes a `get(pk=…)` of those columns.
    fn by_key(columns: &[&str]) -> String {
        let list: Vec<String> = columns
            .iter()
            .map(|c| format!(r#""{{t}}"."{c}""#))
            .collect();
        format!(
            r#"SELECT {} FROM "{{t}}" WHERE "{{t}}"."id" = $1 LIMIT $2"#,
            list.join(", ")
        )
    }

    /// The tables of each cause, sorted, for comparing two groupings.
    fn partition(causes: &[Cause<'_>]) -> BTreeSet<Vec<String>> {
        causes
            .iter()
            .map(|c| {
                c.members
                    .iter()
                    .map(|f| {
                        format!(
                            "{}:{}",
                            f.children[0].table.as_deref().unwrap_or(""),
                            f.children[0].normalized.len()
                        )
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            })
            .collect()
    }

    #[test]
    fn nested_reads_under_every_model_pair_narrow_with_narrow_and_wide_with_wide() {
        let (read, ..) = kinds();
        let route = |table: &str| format!("t.py::test_move_sorted[{table}]");
        let mut findings = Vec::new();
        for (table, tree, whole) in MOVE_SORTED {
            // AL's whole-row read comes first, the others' tree read: order does not matter.
            findings.push(looped(read, &route(table), &[(table, &by_key(whole))]));
            findings.push(looped(read, &route(table), &[(table, &by_key(tree))]));
        }
        let causes = causes(&findings);
        assert_eq!(causes.len(), 2, "{causes:#?}");
        for cause in &causes {
            assert_eq!(cause.tables.len(), 4, "{cause:#?}");
            assert_eq!(cause.routes.len(), 4, "{cause:#?}");
        }
        let narrow = causes
            .iter()
            .find(|c| {
                c.members.iter().any(|f| {
                    f.children[0].normalized
                        == by_key(&["id", "parent_id"]).replace("{t}", "al_sorted")
                })
            })
            .expect("AL's tree read");
        assert!(
            narrow
                .members
                .iter()
                .all(|f| !f.children[0].normalized.contains("val1")),
            "the tree reads, without the whole rows: {narrow:#?}"
        );

        // One parameter meets one read only: which of the others' two it is, is not known.
        let mut partial = findings.clone();
        partial.remove(0);
        assert_eq!(super::causes(&partial).len(), 7);

        // Under one parameter the two reads do not nest (neither reads the other's
        // columns and more): no ranking, nothing joined.
        let mut unrelated = findings.clone();
        unrelated[6] = looped(
            read,
            &route("lt_sorted"),
            &[("lt_sorted", &by_key(&["id", "desc", "val1"]))],
        );
        assert_eq!(super::causes(&unrelated).len(), 8);

        // Two reads of different tables under each parameter do not nest either.
        let mut tables = findings;
        for finding in tables.iter_mut().skip(1).step_by(2) {
            for child in &mut finding.children {
                child.normalized = child.normalized.replace("_sorted", "_other");
                child.table = child.table.as_ref().map(|t| t.replace("_sorted", "_other"));
            }
        }
        assert_eq!(super::causes(&tables).len(), 8);
    }

    #[test]
    fn pairings_never_put_two_loops_of_one_table_in_one_cause() {
        let (read, ..) = kinds();
        let [(al, al_tree, al_whole), (mp, mp_tree, mp_whole), ..] = MOVE_SORTED;
        let loop_in = |tests: &[String], table: &str, columns: &[&str]| {
            let mut f = looped(read, &tests[0], &[(table, &by_key(columns))]);
            f.seen_in = SeenIn::default();
            for test in tests {
                f.seen_in.add(test, 1);
            }
            f
        };
        let under = |tests: &[&str], model: &str| -> Vec<String> {
            tests
                .iter()
                .map(|t| format!("t.py::{t}[{model}]"))
                .collect()
        };
        // Tree reads pair in two tests, whole rows in one; one more test meets AL's whole
        // row and MP's tree read only, each its model's only loop there.
        let findings = vec![
            loop_in(&under(&["test_b", "test_b2", "test_a"], "AL"), al, al_tree),
            loop_in(&under(&["test_b", "test_b2", "test_c"], "MP"), mp, mp_tree),
            loop_in(&under(&["test_c", "test_d"], "AL"), al, al_whole),
            loop_in(&under(&["test_d"], "MP"), mp, mp_whole),
            // test_a[MP] meets the MP tree read under another name: nothing else.
            loop_in(&under(&["test_e"], "MP"), mp, mp_tree),
        ];
        let causes = causes(&findings);
        for cause in &causes {
            let mut loops: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for member in &cause.members {
                let child = &member.children[0];
                loops
                    .entry(child.table.as_deref().unwrap_or_default())
                    .or_default()
                    .insert(&child.normalized);
            }
            assert!(
                loops.values().all(|sql| sql.len() == 1),
                "two loops of one table in a cause: {loops:#?}"
            );
        }
        assert_eq!(causes.len(), 2, "{causes:#?}");
        let narrow = causes
            .iter()
            .find(|c| {
                c.members
                    .iter()
                    .any(|f| f.children[0].normalized == by_key(al_tree).replace("{t}", al))
            })
            .expect("AL's tree read");
        assert_eq!(
            narrow.tables.len(),
            2,
            "paired with MP's tree read: {narrow:#?}"
        );
        assert!(narrow
            .members
            .iter()
            .all(|f| !f.children[0].normalized.contains("val1")));
    }

    #[test]
    fn the_routes_seen_in_group_the_same_whatever_test_came_first() {
        let (read, write, _) = kinds();
        // Each loop of `test_concurrent[…]` is also met by other tests; under xdist any of
        // them may be the first request.
        let loops = [
            (write, "mp_node", MP_INSERT),
            (write, "ns_node", NS_INSERT),
            (write, "al_node", AL_INSERT),
            (read, "mp_node", MP_GET),
        ];
        let model = |table: &str| table.trim_end_matches("_node").to_uppercase();
        let grouping = |first: &dyn Fn(&str) -> String| {
            let findings: Vec<Finding> = loops
                .iter()
                .map(|(kind, table, sql)| {
                    let mut f = looped(*kind, &first(table), &[(table, sql)]);
                    f.seen_in = SeenIn::default();
                    for route in [
                        format!("t.py::test_concurrent[{}]", model(table)),
                        format!("t.py::test_leaf[{}] (setup)", model(table)),
                        format!("t.py::test_{table}_only"),
                    ] {
                        f.seen_in.add(&route, 2);
                    }
                    f
                })
                .collect();
            partition(&causes(&findings))
        };
        let serial = grouping(&|table| format!("t.py::test_concurrent[{}]", model(table)));
        let xdist = grouping(&|table| format!("t.py::test_{table}_only"));
        assert_eq!(serial, xdist);
        // The three inserts, and the read apart.
        assert_eq!(serial.len(), 2, "{serial:?}");
        assert!(serial.iter().any(|tables| tables.len() == 3), "{serial:?}");
    }

    #[test]
    fn a_loop_seen_in_a_test_s_own_work_is_not_a_fixture_s() {
        let (_, write, _) = kinds();
        let mut finding = looped(write, "t.py::a (setup)", &[("mp_node", MP_INSERT)]);
        assert!(is_fixture(&finding));
        finding.seen_in.add("t.py::b (teardown)", 1);
        assert!(is_fixture(&finding));
        finding.seen_in.add("t.py::c", 1);
        assert!(!is_fixture(&finding));

        for i in 0..SeenIn::MAX_ROUTES {
            finding.seen_in.add(&format!("t.py::d{i:02}"), 1);
        }
        let causes = causes([&finding]);
        assert_eq!(causes[0].routes.len(), SeenIn::MAX_ROUTES);
        let line = cause_line(&causes[0], RouteNames::Tests);
        assert!(
            line.contains("tests: t.py::a, t.py::b (+30 or more)"),
            "{line}"
        );
    }

    #[test]
    fn two_loops_of_one_test_stay_two_causes() {
        let (read, ..) = kinds();
        let author = r#"SELECT "{t}"."id", "{t}"."name" FROM "{t}" WHERE "{t}"."id" = $1"#;
        let publisher = r#"SELECT "{t}"."id", "{t}"."city" FROM "{t}" WHERE "{t}"."id" = $1"#;
        let findings = vec![
            looped(read, "t.py::test_list[sqlite]", &[("author", author)]),
            looped(read, "t.py::test_list[sqlite]", &[("publisher", publisher)]),
            looped(read, "t.py::test_list[pg]", &[("author", author)]),
            looped(read, "t.py::test_list[pg]", &[("publisher", publisher)]),
        ];
        let causes = causes(&findings);
        assert_eq!(causes.len(), 2, "{causes:#?}");
        assert!(causes
            .iter()
            .all(|c| c.members.len() == 2 && c.tables.len() == 1));

        // Not parametrised, or in another phase: nothing to join by.
        let other = r#"SELECT "{t}"."id", "{t}"."code" FROM "{t}" WHERE "{t}"."id" = $1"#;
        let findings = vec![
            looped(read, "t.py::test_a", &[("author", author)]),
            looped(read, "t.py::test_b", &[("country", other)]),
            looped(read, "t.py::test_c[x] (setup)", &[("author", author)]),
            looped(read, "t.py::test_c[y]", &[("country", other)]),
        ];
        assert_eq!(super::causes(&findings).len(), 2);
    }

    #[test]
    fn loops_the_sql_places_in_different_code_are_not_joined() {
        let (_, write, _) = kinds();
        let mut findings = vec![
            looped(write, "t.py::test_add[MP_Node]", &[("mp_node", MP_INSERT)]),
            looped(write, "t.py::test_add[NS_Node]", &[("ns_node", NS_INSERT)]),
        ];
        assert_eq!(causes(&findings).len(), 1);
        findings[0].children[0].source_location = Some("tree/mp.py:120".to_owned());
        findings[1].children[0].source_location = Some("tree/ns.py:88".to_owned());
        assert_eq!(causes(&findings).len(), 2);
    }

    #[test]
    fn the_short_summary_fits_a_screen_and_says_where_the_report_is() {
        let mut findings: Vec<Finding> = (0..40)
            .map(|i| {
                let mut f = variant(
                    &format!("table_{i}"),
                    &format!("t.py::t{i}"),
                    Severity::Warning,
                );
                // A different shape each: 40 causes.
                f.children[0]
                    .normalized
                    .push_str(&format!(" /* {i} */ AND x{i} = 1"));
                f
            })
            .collect();
        let mut fixture = variant("fx", "t.py::f (teardown)", Severity::Info);
        fixture.children[0].normalized = "DELETE FROM fx".to_owned();
        findings.push(fixture);
        let text = short_summary(
            &findings,
            &fixtures::summary(),
            "out.xml (junit)",
            RouteNames::Tests,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() <= 30, "{text}");
        assert!(
            lines[0]
                .starts_with("querycomb: 41 findings in 41 causes (0 error, 40 warning, 1 info)"),
            "{text}"
        );
        assert!(
            text.contains("… and 30 more (30 findings) in the full report"),
            "{text}"
        );
        assert!(text.contains("fixtures: 1 cause (1 finding)"), "{text}");
        assert_eq!(lines.last(), Some(&"  full report: out.xml (junit)"));
    }
}
