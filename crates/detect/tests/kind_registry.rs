//! Everything outside the registry that names finding kinds agrees with it: the JSON
//! schema's enum, the JSON docs and the generated kinds table (docs/finding-kinds.md).
//! `QUERYCOMB_BLESS=1 cargo nextest run -p querycomb-detect --test kind_registry` rewrites
//! the table after a kind was added or its texts changed.

use std::path::PathBuf;

use querycomb_detect::kinds;

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn registered() -> Vec<String> {
    kinds::all().map(|info| info.kind.id().to_owned()).collect()
}

#[test]
fn json_schema_enum_lists_every_registered_kind() {
    let text = std::fs::read_to_string(docs().join("querycomb.findings.v1.schema.json"))
        .expect("read the JSON schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let listed: Vec<String> = schema["$defs"]["kind"]["enum"]
        .as_array()
        .expect("$defs.kind.enum")
        .iter()
        .map(|v| v.as_str().expect("kind ids are strings").to_owned())
        .collect();
    assert_eq!(
        listed,
        registered(),
        "docs/querycomb.findings.v1.schema.json"
    );
}

#[test]
fn json_docs_describe_every_registered_kind() {
    let text = std::fs::read_to_string(docs().join("json-schema.md")).expect("read docs");
    let row = text
        .lines()
        .find(|l| l.starts_with("| `kind` |"))
        .expect("the `kind` row of docs/json-schema.md");
    for id in registered() {
        assert!(
            row.contains(&format!("`{id}`")),
            "docs/json-schema.md lacks {id}"
        );
    }
}

/// The table of kinds, made from the registry.
fn kinds_table() -> String {
    let mut out = String::from(
        "# Finding kinds\n\n\
         Generated from the detector registry (`crates/detect/src/detectors/`, one file per \
         kind) by `crates/detect/tests/kind_registry.rs`; do not edit by hand.\n\n\
         | id | title | base severity | SARIF rule | what it means | what to do |\n\
         |---|---|---|---|---|---|\n",
    );
    for info in kinds::all() {
        let severity = match info.severity {
            querycomb_core::BaseSeverity::Loop => "`severity.loops` (warning)".to_owned(),
            querycomb_core::BaseSeverity::Repeated => "`severity.repeated` (info)".to_owned(),
            querycomb_core::BaseSeverity::Fixed(s) => format!("always {}", s.id()),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | `{}` | {} | {} |\n",
            info.kind.id(),
            info.title,
            severity,
            info.rule_name,
            info.summary,
            info.help.replace('|', "\\|"),
        ));
    }
    out
}

#[test]
fn kinds_table_in_docs_is_generated_from_the_registry() {
    let path = docs().join("finding-kinds.md");
    let want = kinds_table();
    if std::env::var_os("QUERYCOMB_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/finding-kinds.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/finding-kinds.md is out of date with the registry; regenerate it with \
         QUERYCOMB_BLESS=1 cargo nextest run -p querycomb-detect --test kind_registry"
    );
}
