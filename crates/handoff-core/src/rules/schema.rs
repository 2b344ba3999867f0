//! The JSON Schema of the rule-file format, derived from the rule model (`handoff schema`).
//!
//! Editors (Taplo / Even Better TOML) use it for completion, hover docs and validation as you
//! type. It checks the shape of a file only; `handoff check` also checks what a schema cannot
//! (paths, templates, names, lookups).

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::RawFile;
use crate::plan::{Cast, Policy};

/// Names of `select`.
pub const SELECTS: &[&str] = &["one", "first", "last", "all"];
/// Formats of `now`.
pub const NOW_FORMATS: &[&str] = &["rfc3339", "unix_ms", "unix"];
/// Values of `cast_mode`.
pub const CAST_MODES: &[&str] = &["lenient", "strict"];
/// Values of a rule's `output`.
pub const OUTPUT_MODES: &[&str] = &["strict", "passthrough"];

/// The JSON Schema (draft 2020-12) of a rule file.
pub fn rule_file_schema() -> Value {
    let mut schema = schemars::schema_for!(RawFile);
    schema.insert("title".into(), "handoff rule file".into());
    schema.insert(
        "$id".into(),
        "https://handoff.dev/schemas/rule-file.schema.json".into(),
    );
    schema.to_value()
}

fn names(description: &str, lists: &[&[&str]]) -> Schema {
    let names: Vec<&str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    json_schema!({ "type": "string", "enum": names, "description": description })
}

pub(crate) fn policy(_: &mut SchemaGenerator) -> Schema {
    names(
        "fallback (the fallback, or skip without one), skip, fail, null",
        &[Policy::NAMES, Policy::ALIASES],
    )
}

pub(crate) fn cast(_: &mut SchemaGenerator) -> Schema {
    names(
        "Convert the value: keep, string, number, integer, boolean, object, array, null, json",
        &[Cast::NAMES, Cast::ALIASES],
    )
}

pub(crate) fn cast_mode(_: &mut SchemaGenerator) -> Schema {
    names(
        "lenient (coerce, see the coercion table) or strict (only values of the type)",
        &[CAST_MODES],
    )
}

pub(crate) fn select(_: &mut SchemaGenerator) -> Schema {
    names(
        "Which node(s) of a path that can select several: one (several is an error), first, last, all",
        &[SELECTS],
    )
}

pub(crate) fn now(_: &mut SchemaGenerator) -> Schema {
    names(
        "The current time: rfc3339 (UTC, milliseconds), unix_ms or unix (seconds)",
        &[NOW_FORMATS],
    )
}

pub(crate) fn output(_: &mut SchemaGenerator) -> Schema {
    names(
        "strict (only the mapped targets, the default) or passthrough (the input with the targets written over it)",
        &[OUTPUT_MODES],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile_text;

    fn compiles(rule: &str) -> bool {
        compile_text("r.toml", format!("[[rule]]\nname = \"r\"\n{rule}")).is_ok()
    }

    /// Every name the schema offers is one the compiler accepts, so an editor never suggests
    /// something `handoff check` rejects.
    #[test]
    fn every_name_in_the_schema_compiles() {
        for p in Policy::NAMES.iter().chain(Policy::ALIASES) {
            assert!(
                compiles(&format!(
                    "on_null = \"{p}\"\n[rule.map]\na = {{ path = \"$.a\", on_missing = \"{p}\", fallback = 1 }}"
                )),
                "{p}"
            );
        }
        for c in Cast::NAMES.iter().chain(Cast::ALIASES) {
            assert!(
                compiles(&format!(
                    "[rule.map]\na = {{ path = \"$.a\", cast = \"{c}\" }}"
                )),
                "{c}"
            );
        }
        for m in CAST_MODES {
            assert!(
                compiles(&format!(
                    "cast_mode = \"{m}\"\n[rule.map]\na = {{ path = \"$.a\", cast_mode = \"{m}\" }}"
                )),
                "{m}"
            );
        }
        for s in SELECTS {
            assert!(
                compiles(&format!(
                    "[rule.map]\na = {{ path = \"$.a[*]\", select = \"{s}\" }}"
                )),
                "{s}"
            );
        }
        for n in NOW_FORMATS {
            assert!(
                compiles(&format!("[rule.map]\na = {{ now = \"{n}\" }}")),
                "{n}"
            );
        }
        for o in OUTPUT_MODES {
            assert!(
                compiles(&format!(
                    "output = \"{o}\"\n[rule.map]\na = {{ path = \"$.a\" }}"
                )),
                "{o}"
            );
        }
        assert!(!compiles(
            "[rule.map]\na = { path = \"$.a\", cast = \"text\" }"
        ));
    }

    #[test]
    fn the_schema_names_every_section_and_forbids_unknown_keys() {
        let schema = rule_file_schema();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["additionalProperties"], false);
        for key in ["rule", "lookup", "limits"] {
            assert!(schema["properties"].get(key).is_some(), "{key}");
        }
        let mapping = &schema["$defs"]["Mapping"];
        assert_eq!(mapping["additionalProperties"], false);
        assert!(
            mapping["properties"]["cast"]["enum"]
                .as_array()
                .unwrap()
                .contains(&"boolean".into())
        );
        assert!(
            schema["$defs"]["Rule"]["required"]
                .as_array()
                .unwrap()
                .contains(&"name".into())
        );
    }
}
