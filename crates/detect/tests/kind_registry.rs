//! Everything outside the registry that names finding kinds is generated from it, and these
//! tests fail when a generated text is out of date: the JSON schema's kind enum, the `kind`
//! row of docs/json-schema.md, and docs/finding-kinds.md (the kinds table and the limits
//! detectors declare). So a new kind is one detector file plus one registry line; then
//! `QUERYCOMB_BLESS=1 cargo nextest run -p querycomb-detect --test kind_registry` rewrites
//! the generated parts.

use std::path::{Path, PathBuf};

use querycomb_detect::{detectors, kinds};

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn registered() -> Vec<String> {
    kinds::all().map(|info| info.kind.id().to_owned()).collect()
}

const BLESS_HINT: &str = "regenerate it with \
     QUERYCOMB_BLESS=1 cargo nextest run -p querycomb-detect --test kind_registry";

/// Compares `path` with `want`, rewriting it first under `QUERYCOMB_BLESS`.
fn check_generated(path: &Path, want: &str) {
    if std::env::var_os("QUERYCOMB_BLESS").is_some() {
        std::fs::write(path, want).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "{} is out of date with the detector registry; {BLESS_HINT}",
        path.display()
    );
}

/// `text` with the one line starting (after indentation) with `prefix` replaced by
/// `indentation + line`.
fn with_line_replaced(text: &str, prefix: &str, line: &str) -> String {
    let mut found = 0;
    let mut out: String = text
        .lines()
        .map(|l| {
            let trimmed = l.trim_start();
            if trimmed.starts_with(prefix) {
                found += 1;
                let indent = &l[..l.len() - trimmed.len()];
                format!("{indent}{line}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    if !text.ends_with('\n') {
        out.pop();
    }
    assert_eq!(found, 1, "exactly one line starting with {prefix:?}");
    out
}

#[test]
fn json_schema_enum_lists_every_registered_kind() {
    let path = docs().join("querycomb.findings.v1.schema.json");
    let text = std::fs::read_to_string(&path).expect("read the JSON schema");
    let ids: Vec<String> = registered().iter().map(|id| format!("\"{id}\"")).collect();
    let want = with_line_replaced(
        &text,
        "\"enum\": [\"n_plus_one\"",
        &format!("\"enum\": [{}]", ids.join(", ")),
    );
    check_generated(&path, &want);
    let schema: serde_json::Value = serde_json::from_str(&want).expect("schema is JSON");
    let listed: Vec<&str> = schema["$defs"]["kind"]["enum"]
        .as_array()
        .expect("$defs.kind.enum")
        .iter()
        .map(|v| v.as_str().expect("kind ids are strings"))
        .collect();
    assert_eq!(listed, registered(), "{}", path.display());
}

#[test]
fn json_docs_describe_every_registered_kind() {
    let path = docs().join("json-schema.md");
    let text = std::fs::read_to_string(&path).expect("read docs");
    let kinds: Vec<String> = kinds::all()
        .map(|info| format!("`{}` ({})", info.kind.id(), info.title))
        .collect();
    let row = format!(
        "| `kind` | string | one of the kinds of [finding-kinds.md](finding-kinds.md), which says what each means: {} |",
        kinds.join(", ")
    );
    // The findings' `kind` row (the request's `kind` row lists request kinds).
    let prefix = "| `kind` | string | one of the kinds";
    let text = text.replacen(
        "| `kind` | string | `n_plus_one` (a read per parent row)",
        prefix,
        1,
    );
    check_generated(&path, &with_line_replaced(&text, prefix, &row));
}

/// The tables of kinds and of limits, made from the registry.
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
    out.push_str(
        "\n## Limits\n\n\
         Numbers a detector declares in its own file, set under `[detect.limits]` in \
         `querycomb.toml` (an unknown key is an error).\n\n\
         | key | default | kind | what it limits, and why this default |\n\
         |---|---|---|---|\n",
    );
    for detector in detectors::DETECTORS {
        if let Some(limit) = detector.limit() {
            out.push_str(&format!(
                "| `{}` | {} | `{}` | {} |\n",
                limit.key,
                limit.default,
                detector.kind().id(),
                limit.doc.replace('|', "\\|"),
            ));
        }
    }
    out
}

#[test]
fn kinds_table_in_docs_is_generated_from_the_registry() {
    check_generated(&docs().join("finding-kinds.md"), &kinds_table());
}

#[test]
fn limits_are_read_from_the_config_and_unknown_ones_refused() {
    for limit in detectors::limits() {
        let toml = format!("[limits]\n{} = 7\n", limit.key);
        let config: querycomb_detect::Config = toml::from_str(&toml).expect("a declared limit");
        assert_eq!(config.limits.get(limit), 7);
        assert_eq!(
            querycomb_detect::Config::default().limits.get(limit),
            limit.default
        );
    }
    let err = toml::from_str::<querycomb_detect::Config>("[limits]\nno_such_limit = 1\n")
        .expect_err("an unknown limit");
    assert!(
        err.to_string().contains("unknown limit `no_such_limit`"),
        "{err}"
    );
}
