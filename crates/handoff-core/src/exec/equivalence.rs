//! The projection changes how much of a payload is built, never a result: every shipped rule
//! on every shipped payload gives the same outcome, output and error as with the whole payload.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::compile_paths;
use crate::plan::projection::Projection;
use crate::{Call, Clock, Plan};

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).to_path_buf()
}

/// Every payload of the rule fixtures: NDJSON lines and whole `.json` files (the expected
/// outputs and the contexts are not payloads).
fn payloads() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root().join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| {
            !["core", "cli", "jsonpath-cts"]
                .iter()
                .any(|n| d.ends_with(n))
        })
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("expected") || name.starts_with("crm") {
                continue;
            }
            let text = fs::read(&f).unwrap();
            if name.ends_with(".ndjson") {
                for (i, line) in text.split(|b| *b == b'\n').enumerate() {
                    if !line.is_empty() {
                        out.push((format!("{}:{}", f.display(), i + 1), line.to_vec()));
                    }
                }
            } else if name.ends_with(".json") {
                out.push((f.display().to_string(), text));
            }
        }
    }
    out
}

/// The outcome, output and error code of one transform, comparable across plans (the clock
/// is pinned, so a rule that writes the time gives the same output twice).
fn run(plan: &Plan, rule: Option<&str>, payload: &[u8], context: Option<&Value>) -> String {
    let clock = Clock::parse_rfc3339("2026-11-11T06:25:16.250Z").unwrap();
    match plan.execute_value(Call::new(context).rule(rule).clock(clock), payload) {
        Ok((outcome, value)) => format!("{outcome:?} {value:?}"),
        Err(e) => format!("error {:?}: {e}", e.code()),
    }
}

#[test]
fn the_projection_never_changes_a_result() {
    let planned = compile_paths(&[root().join("rules")]).unwrap().plan;
    let mut whole = compile_paths(&[root().join("rules")]).unwrap().plan;
    assert!(
        !planned.projection.whole,
        "the shipped rules do not read every payload whole"
    );
    assert!(
        planned
            .projection
            .member("data")
            .is_some_and(|d| d.deferred),
        "the shipped folder defers `data` (only the REST rule's template reads it whole)"
    );
    whole.projection = Projection::everything();
    let contexts = [
        None,
        Some(
            serde_json::json!({"crm": {"tier": "gold", "email": "a@example.com"}, "receivedAt": "2026-11-11T06:25:16Z"}),
        ),
    ];
    let mut rules: Vec<Option<&str>> = vec![None];
    rules.extend(planned.rules.iter().map(|r| Some(r.name.as_str())));
    let payloads = payloads();
    assert!(payloads.len() > 400, "{} payloads", payloads.len());
    for (at, payload) in &payloads {
        for context in &contexts {
            for rule in &rules {
                let got = run(&planned, *rule, payload, context.as_ref());
                let want = run(&whole, *rule, payload, context.as_ref());
                assert_eq!(got, want, "{at}, rule {rule:?}, context {context:?}");
            }
        }
    }
}
