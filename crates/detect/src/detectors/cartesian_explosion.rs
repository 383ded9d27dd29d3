//! `cartesian_explosion`: one SELECT that JOINs two or more to-many relations of the same
//! rows (`JOIN comments ON comments.post_id = posts.id JOIN tags ON tags.post_id = posts.id`)
//! and returned more than `cartesian_rows` rows. Each parent row comes back once per
//! combination of its children (parents × comments × tags): the eager load that fixed an
//! N+1 now multiplies rows. A join is to-many when the joined table's side of its `ON`
//! equality is a `*_id` (or camelCase `*Id`) column and the other side is an `id`. Needs
//! rows per statement (the proxy, the MySQL slow log).

use querycomb_core::{BaseSeverity, FindingKind, KindInfo, Severity};
use querycomb_sql::Verb;
use regex::Regex;
use std::sync::OnceLock;

use super::{result_size_candidates, Candidate, Detector, MessageParts, UnitAnalysis};

pub const KIND: FindingKind = FindingKind::new("cartesian_explosion");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "cartesian explosion",
    rule_name: "CartesianExplosion",
    summary: "One query joins several to-many relations, multiplying the rows it returns.",
    help: "A single SELECT joined two or more one-to-many relations of the same rows, so each parent row came back once per combination of its children. Load each to-many relation with its own query keyed by the parent ids (Django prefetch_related, Rails preload, SQLAlchemy selectinload, Sequelize separate: true, EF Core AsSplitQuery, Hibernate @BatchSize) instead of one JOIN.",
    severity: BaseSeverity::Fixed(Severity::Warning),
    after_fix: "rows no longer multiplied across to-many joins",
};

pub struct CartesianExplosion;

impl Detector for CartesianExplosion {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        format!(
            "{} joins several to-many relations and returned {} rows (each parent once per combination of its children)",
            parts.child(),
            parts.candidate.rows.unwrap_or_default()
        )
    }

    fn advice(&self) -> Option<&'static str> {
        Some("Load each to-many relation with its own query by the parent ids (a separate IN / = ANY query) instead of joining them all at once.")
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        let threshold = unit.thresholds.cartesian_rows;
        result_size_candidates(
            unit,
            self.kind(),
            threshold,
            |fp| {
                unit.shape(fp).is_some_and(|e| {
                    e.shape.verb == Verb::Select && to_many_joins(&e.shape.normalized) >= 2
                })
            },
            out,
        );
    }
}

/// JOINs whose `ON` equality has the joined table's `*_id`/`*Id` column on one side and an
/// `id` column on the other.
pub fn to_many_joins(sql: &str) -> usize {
    static JOIN: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = JOIN
        .get_or_init(|| {
            Regex::new(
                r#"(?i-u)\bJOIN\s+"?(\w+)"?(?:\s+(?:AS\s+)?"?(\w+)"?)?\s+ON\s+\(?\s*"?(\w+)"?\."?(\w+)"?\s*=\s*"?(\w+)"?\."?(\w+)"?"#,
            )
            .ok()
        })
        .as_ref()
    else {
        return 0;
    };
    re.captures_iter(sql)
        .filter(|c| {
            let get = |i| c.get(i).map_or("", |m| m.as_str());
            let joined = [get(1), get(2)];
            let is_joined = |q: &str| {
                joined
                    .iter()
                    .any(|j| !j.is_empty() && j.eq_ignore_ascii_case(q))
            };
            let (lq, lc, rq, rc) = (get(3), get(4), get(5), get(6));
            let fk = |c: &str| c.ends_with("_id") || c.ends_with("Id");
            let id = |c: &str| c.eq_ignore_ascii_case("id");
            (is_joined(lq) && fk(lc) && id(rc)) || (is_joined(rq) && fk(rc) && id(lc))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::to_many_joins;

    #[test]
    fn counts_only_joins_to_the_many_side() {
        let rails = r#"SELECT "posts"."id" AS t0_r0 FROM "posts" LEFT OUTER JOIN "comments" ON "comments"."post_id" = "posts"."id" LEFT OUTER JOIN "tags" ON "tags"."post_id" = "posts"."id""#;
        assert_eq!(to_many_joins(rails), 2);
        let sequelize = r#"SELECT "post"."id" FROM "posts" AS "post" LEFT OUTER JOIN "comments" AS "comments" ON "post"."id" = "comments"."postId""#;
        assert_eq!(to_many_joins(sequelize), 1);
        let to_one = r#"SELECT b.id FROM books b JOIN authors a ON a.id = b.author_id JOIN publishers p ON p.id = b.publisher_id"#;
        assert_eq!(to_many_joins(to_one), 0);
    }
}
