//! The shipped JSON Schema of the rule-file format: current, and true to the rule files.

use std::path::{Path, PathBuf};

use handoff_core::rules::schema::rule_file_schema;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

fn as_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let table: toml::Table = toml::from_str(&text).ok()?;
    Some(serde_json::to_value(table).unwrap())
}

#[test]
fn the_shipped_schema_file_is_current() {
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/rule-file.schema.json")).unwrap(),
    )
    .unwrap();
    assert!(
        shipped == rule_file_schema(),
        "docs/rule-file.schema.json is stale: run `handoff schema > docs/rule-file.schema.json`"
    );
}

/// Every rule file that compiles is valid against the schema, and every file the compiler
/// rejects for an unknown key or a wrong type is invalid against it too.
#[test]
fn rule_files_agree_with_the_schema() {
    let validator = jsonschema::draft202012::new(&rule_file_schema()).unwrap();
    let mut files = Vec::new();
    toml_files(&root().join("rules"), &mut files);
    toml_files(&root().join("fixtures/core"), &mut files);
    files.sort();
    let (mut valid, mut invalid) = (0, 0);
    for file in &files {
        let Some(doc) = as_json(file) else { continue };
        let compiles = handoff_core::compile_paths(&[file]).is_ok();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if compiles {
            assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
            valid += 1;
        }
        if !errors.is_empty() {
            invalid += 1;
        }
    }
    assert!(valid >= 20, "only {valid} compiling rule files found");
    let unknown_key = root().join("fixtures/core/err_unknown_key/rule.toml");
    let doc = as_json(&unknown_key).expect("valid TOML");
    assert!(!validator.is_valid(&doc), "an unknown key is invalid");
    assert!(invalid >= 1);
}
