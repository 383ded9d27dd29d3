//! The JSON sinks' output checked against the published schema file and its documentation,
//! so the code, `docs/querycomb.findings.v1.schema.json` and `docs/json-schema.md` cannot
//! drift apart unnoticed.

use serde_json::Value;

use super::*;
use crate::fixtures;

const SCHEMA_FILE: &str = include_str!("../../../../docs/querycomb.findings.v1.schema.json");
const SCHEMA_DOC: &str = include_str!("../../../../docs/json-schema.md");

/// A validator for the subset of JSON Schema 2020-12 the schema file uses. It is strict
/// where the schema is open: an object property the schema does not list is an error here,
/// so every field the code writes must be documented.
struct Validator {
    root: Value,
}

impl Validator {
    fn new() -> Self {
        Validator {
            root: serde_json::from_str(SCHEMA_FILE).expect("schema file is JSON"),
        }
    }

    fn check(&self, schema: &Value, value: &Value, path: &str) -> Result<(), String> {
        let Some(rules) = schema.as_object() else {
            return Err(format!("{path}: schema is not an object"));
        };
        for (keyword, rule) in rules {
            self.keyword(keyword, rule, schema, value, path)?;
        }
        Ok(())
    }

    fn keyword(
        &self,
        keyword: &str,
        rule: &Value,
        schema: &Value,
        value: &Value,
        path: &str,
    ) -> Result<(), String> {
        match keyword {
            "$schema" | "title" | "description" | "$defs" | "minItems" | "maxItems" => Ok(()),
            "$ref" => self.check(self.resolve(rule)?, value, path),
            "type" => check_type(rule, value, path),
            "const" | "enum" => check_const(keyword, rule, value, path),
            "minimum" => match (value.as_f64(), rule.as_f64()) {
                (Some(v), Some(min)) if v < min => Err(format!("{path}: {v} < {min}")),
                _ => Ok(()),
            },
            "required" => check_required(rule, value, path),
            "properties" => self.check_properties(rule, value, path),
            "additionalProperties" => self.check_additional(rule, schema, value, path),
            "items" => self.check_items(rule, schema, value, path),
            "prefixItems" => self.check_prefix_items(rule, schema, value, path),
            "oneOf" | "anyOf" => self.check_alternatives(keyword, rule, value, path),
            other => Err(format!("{path}: validator does not know keyword {other:?}")),
        }
    }

    fn resolve(&self, reference: &Value) -> Result<&Value, String> {
        let name = reference
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .ok_or_else(|| format!("unsupported $ref {reference}"))?;
        self.root["$defs"]
            .get(name)
            .ok_or_else(|| format!("$ref to missing definition {name:?}"))
    }

    fn check_properties(&self, rule: &Value, value: &Value, path: &str) -> Result<(), String> {
        let (Some(props), Some(object)) = (rule.as_object(), value.as_object()) else {
            return Ok(());
        };
        for (key, item) in object {
            let sub = props
                .get(key)
                .ok_or_else(|| format!("{path}.{key}: not in the schema"))?;
            self.check(sub, item, &format!("{path}.{key}"))?;
        }
        Ok(())
    }

    /// The members of an object its `properties` do not list (a map's entries).
    fn check_additional(
        &self,
        rule: &Value,
        schema: &Value,
        value: &Value,
        path: &str,
    ) -> Result<(), String> {
        let Some(object) = value.as_object() else {
            return Ok(());
        };
        for (key, item) in object {
            if schema["properties"].get(key).is_none() {
                self.check(rule, item, &format!("{path}.{key}"))?;
            }
        }
        Ok(())
    }

    fn check_items(
        &self,
        rule: &Value,
        schema: &Value,
        value: &Value,
        path: &str,
    ) -> Result<(), String> {
        let Some(array) = value.as_array() else {
            return Ok(());
        };
        let skip = schema["prefixItems"].as_array().map_or(0, Vec::len);
        for (i, item) in array.iter().enumerate().skip(skip) {
            self.check(rule, item, &format!("{path}[{i}]"))?;
        }
        Ok(())
    }

    fn check_prefix_items(
        &self,
        rule: &Value,
        schema: &Value,
        value: &Value,
        path: &str,
    ) -> Result<(), String> {
        let (Some(prefix), Some(array)) = (rule.as_array(), value.as_array()) else {
            return Ok(());
        };
        let min = schema["minItems"].as_u64().unwrap_or(0) as usize;
        let max = schema["maxItems"]
            .as_u64()
            .map_or(usize::MAX, |m| m as usize);
        if array.len() < min || array.len() > max {
            return Err(format!("{path}: {} items, want {min}..={max}", array.len()));
        }
        for (i, (sub, item)) in prefix.iter().zip(array).enumerate() {
            self.check(sub, item, &format!("{path}[{i}]"))?;
        }
        Ok(())
    }

    fn check_alternatives(
        &self,
        keyword: &str,
        rule: &Value,
        value: &Value,
        path: &str,
    ) -> Result<(), String> {
        let alternatives = rule
            .as_array()
            .ok_or(format!("{path}: {keyword} not an array"))?;
        let matched = alternatives
            .iter()
            .filter(|alt| self.check(alt, value, path).is_ok())
            .count();
        match (keyword, matched) {
            ("oneOf", 1) => Ok(()),
            ("anyOf", n) if n > 0 => Ok(()),
            _ => Err(format!(
                "{path}: {matched} alternatives of {keyword} matched"
            )),
        }
    }
}

fn check_type(rule: &Value, value: &Value, path: &str) -> Result<(), String> {
    let allowed: Vec<&str> = match rule {
        Value::String(s) => vec![s.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(format!("{path}: bad type rule {rule}")),
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let ok = allowed
        .iter()
        .any(|&t| t == actual || (t == "number" && actual == "integer"));
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: {actual}, want {allowed:?}"))
    }
}

fn check_const(keyword: &str, rule: &Value, value: &Value, path: &str) -> Result<(), String> {
    let ok = match keyword {
        "const" => rule == value,
        _ => rule.as_array().is_some_and(|list| list.contains(value)),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: {value} not allowed by {keyword} {rule}"))
    }
}

fn check_required(rule: &Value, value: &Value, path: &str) -> Result<(), String> {
    let Some(object) = value.as_object() else {
        return Ok(());
    };
    for key in rule
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !object.contains_key(key) {
            return Err(format!("{path}: required {key:?} missing"));
        }
    }
    Ok(())
}

fn document(findings: &[Finding]) -> String {
    let mut sink = JsonSink::new(Vec::new());
    fixtures::run(&mut sink, findings);
    String::from_utf8(sink.into_inner()).expect("utf-8")
}

fn both_findings() -> Vec<Finding> {
    vec![fixtures::n_plus_one(), fixtures::repeated_identical()]
}

#[test]
fn document_round_trips_into_the_core_types() {
    let findings = both_findings();
    let parsed = parse_document(&document(&findings)).expect("parses back");
    assert_eq!(parsed.schema, SCHEMA);
    assert_eq!(
        parsed.sources,
        [
            "logs/postgresql-15-main.log",
            "/var/log/postgresql/csv log.csv"
        ]
    );
    assert_eq!(parsed.findings, findings);
    assert_eq!(parsed.summary, fixtures::summary());
}

#[test]
fn document_matches_the_published_schema() {
    let validator = Validator::new();
    let value: Value = serde_json::from_str(&document(&both_findings())).unwrap();
    validator
        .check(&validator.root, &value, "$")
        .unwrap_or_else(|e| panic!("{e}"));
    // The units are in the names, the optional fields really are optional.
    let first = &value["findings"][0];
    assert_eq!(first["total_duration_us"], 12_400);
    assert_eq!(
        first["proof"],
        serde_json::json!({"status": "proven", "matched": 50})
    );
    assert_eq!(
        first["children"][0]["stack_tags"],
        serde_json::json!({"framework": "django:5.2.19"})
    );
    let second = &value["findings"][1];
    assert!(second.get("waterfall").is_none());
    assert!(second["children"][0].get("example_params").is_none());
    assert_eq!(second["parent"], Value::Null);
    assert_eq!(
        value["summary"]["findings_by_kind"][0],
        serde_json::json!(["n_plus_one", 1])
    );
}

#[test]
fn validator_rejects_what_the_schema_does_not_allow() {
    let validator = Validator::new();
    let good: Value = serde_json::from_str(&document(&both_findings())).unwrap();
    let mut undocumented = good.clone();
    undocumented["findings"][0]["surprise"] = Value::Bool(true);
    let mut missing = good.clone();
    missing["summary"]
        .as_object_mut()
        .unwrap()
        .remove("wasted_us");
    let mut wrong_kind = good.clone();
    wrong_kind["findings"][0]["kind"] = "n_plus_two".into();
    let mut wrong_tag = good.clone();
    wrong_tag["findings"][0]["children"][0]["stack_tags"]["framework"] = 5.into();
    let mut wrong_type = good;
    wrong_type["findings"][0]["count"] = "50".into();
    for bad in [undocumented, missing, wrong_kind, wrong_tag, wrong_type] {
        assert!(validator.check(&validator.root, &bad, "$").is_err());
    }
}

#[test]
fn every_schema_field_is_documented_in_prose() {
    let validator = Validator::new();
    let mut names = Vec::new();
    collect_property_names(&validator.root, &mut names);
    assert!(names.len() > 50, "{names:?}");
    for name in names {
        assert!(
            SCHEMA_DOC.contains(&format!("`{name}`")),
            "docs/json-schema.md does not describe `{name}`"
        );
    }
}

fn collect_property_names(schema: &Value, names: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                names.extend(props.keys().cloned());
            }
            map.values().for_each(|v| collect_property_names(v, names));
        }
        Value::Array(list) => list.iter().for_each(|v| collect_property_names(v, names)),
        _ => {}
    }
}

#[test]
fn rejects_other_schemas_and_non_documents_with_a_clear_message() {
    let other = r#"{"schema": "querycomb.findings/v2", "findings": []}"#;
    let err = parse_document(other).unwrap_err();
    assert!(matches!(err, DocumentError::Schema(ref s) if s == "querycomb.findings/v2"));
    assert!(err.to_string().contains("querycomb.findings/v1"), "{err}");

    let err = parse_document("[1, 2").unwrap_err().to_string();
    assert!(
        err.starts_with("not a querycomb findings document"),
        "{err}"
    );
    let err = parse_document(r#"{"schema": "querycomb.findings/v1"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing field `sources`"), "{err}");
}

#[test]
fn later_v1_additions_are_ignored_by_readers() {
    let mut value: Value = serde_json::from_str(&document(&both_findings())).unwrap();
    value["generator"] = "querycomb 0.9".into();
    value["findings"][0]["new_optional_field"] = 1.into();
    let parsed = parse_document(&value.to_string()).expect("additive change still reads");
    assert_eq!(parsed.findings.len(), 2);
}

#[test]
fn json_lines_are_one_valid_object_per_line_flushed_as_they_come() {
    let findings = both_findings();
    let mut sink = JsonLinesSink::new(Vec::new());
    sink.begin(&fixtures::sources()).unwrap();
    sink.finding(&findings[0]).unwrap();
    // Written at once, before the run ends: the proxy's consumers tail the file.
    let so_far = String::from_utf8(sink.out.clone()).unwrap();
    assert_eq!(so_far.lines().count(), 2);
    sink.finding(&findings[1]).unwrap();
    sink.finish(&fixtures::summary()).unwrap();
    let text = String::from_utf8(sink.into_inner()).unwrap();
    assert!(text.ends_with('\n'));

    let validator = Validator::new();
    let line_schema = &validator.root["$defs"]["line"];
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    for (i, line) in lines.iter().enumerate() {
        let value: Value = serde_json::from_str(line).expect("each line is JSON");
        validator
            .check(line_schema, &value, &format!("line {}", i + 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let parsed: Vec<Line> = lines.iter().map(|l| parse_line(l).unwrap()).collect();
    assert_eq!(
        parsed[0],
        Line::Sources(fixtures::sources().names().to_vec())
    );
    assert_eq!(parsed[1], Line::Finding(Box::new(findings[0].clone())));
    assert_eq!(parsed[2], Line::Finding(Box::new(findings[1].clone())));
    assert_eq!(parsed[3], Line::Summary(Box::new(fixtures::summary())));
    assert!(matches!(
        parse_line(r#"{"schema":"querycomb.findings/v1"}"#),
        Err(DocumentError::EmptyLine)
    ));
}

#[test]
fn the_document_sink_keeps_the_latest_update_of_a_signature() {
    let first = fixtures::n_plus_one();
    let mut grown = first.clone();
    grown.occurrences = 40;
    grown.total_count = 2_000;
    let parsed = parse_document(&document(&[first, grown.clone()])).unwrap();
    assert_eq!(parsed.findings, vec![grown]);
}

#[test]
fn write_errors_reach_the_caller() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut sink = JsonSink::new(Broken);
    sink.begin(&fixtures::sources()).unwrap();
    let err = sink.finish(&fixtures::summary()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    let mut lines = JsonLinesSink::new(Broken);
    assert!(lines.begin(&fixtures::sources()).is_err());
}
