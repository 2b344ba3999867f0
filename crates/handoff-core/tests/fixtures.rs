//! Data-driven tests: every `fixtures/core/<case>/rule.toml` with its `input.json` (and optional
//! `context.json`) is compiled and run; the snapshot is the output, the outcome, or, for
//! `err_` cases, the rendered diagnostics or the run-time error.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use handoff_core::{Outcome, SourceFile, compile_sources};
use serde_json::Value;

fn run_case(rule: &Path) -> String {
    let dir = rule.parent().expect("case folder");
    let case = dir.file_name().and_then(|n| n.to_str()).expect("case name");
    let text = fs::read_to_string(rule).expect("rule.toml");
    // A stable, relative name, so that snapshots do not depend on the checkout's location.
    let name = format!("fixtures/core/{case}/rule.toml");
    let mut report = String::new();
    let root = format!("fixtures/core/{case}").into();
    let compiled = match compile_sources(vec![SourceFile::new(name, text)], Some(root)) {
        Ok(c) => c,
        Err(diags) => {
            assert!(
                case.starts_with("err_"),
                "{case} should compile:\n{}",
                diags.render(false)
            );
            return diags.render(false);
        }
    };
    for w in &compiled.warnings {
        writeln!(report, "{}", w.render(false)).unwrap();
    }
    let input = fs::read(dir.join("input.json")).unwrap_or_else(|_| panic!("{case}: input.json"));
    let context: Option<Value> = fs::read(dir.join("context.json"))
        .ok()
        .map(|c| serde_json::from_slice(&c).expect("context.json"));
    match compiled
        .plan
        .transform_value(None, &input, context.as_ref())
    {
        Ok((Outcome::Transformed { rule }, Some(out))) => {
            assert!(
                !case.starts_with("err_"),
                "{case} should fail but rule {rule} transformed it"
            );
            writeln!(
                report,
                "rule: {rule}\n{}",
                serde_json::to_string_pretty(&out).unwrap()
            )
            .unwrap();
        }
        Ok((Outcome::Ignored { rule, reason }, Some(out))) => writeln!(
            report,
            "rule: {rule}, ignored: {reason}\n{}",
            serde_json::to_string_pretty(&out).unwrap()
        )
        .unwrap(),
        Ok((Outcome::NoRule { reason }, _)) => writeln!(report, "no rule: {reason}").unwrap(),
        Ok((outcome, None)) => panic!("{case}: {outcome:?} without output"),
        Err(e) => {
            assert!(case.starts_with("err_"), "{case} failed: {e}");
            writeln!(report, "error: {e}").unwrap();
        }
    }
    report
}

#[test]
fn core_fixtures() {
    // Rule files are named relative to the workspace (stable snapshots), and the files they
    // name (schemas, templates) are read relative to them. This binary has one test, so
    // changing the directory races with nothing.
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).unwrap();
    insta::glob!("../../../fixtures/core", "*/rule.toml", |path| {
        insta::assert_snapshot!(run_case(path));
    });
}
