//! The RFC 9535 JSONPath Compliance Test Suite (all 703 cases, vendored in
//! `fixtures/jsonpath-cts/`) through handoff's own path compilation and evaluators.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use handoff_core::plan::path::conformance_run;
use handoff_core::{Code, SourceFile, compile_sources};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Suite {
    tests: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    selector: String,
    #[serde(default)]
    document: Value,
    result: Option<Vec<Value>>,
    result_paths: Option<Vec<String>>,
    /// Non-deterministic cases: any one of these (with the paths of the same index).
    results: Option<Vec<Vec<Value>>>,
    results_paths: Option<Vec<Vec<String>>>,
    #[serde(default)]
    invalid_selector: bool,
}

fn suite() -> Vec<Case> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/jsonpath-cts/cts.json");
    let text = std::fs::read_to_string(&file).expect("the vendored suite is in the repository");
    serde_json::from_str::<Suite>(&text)
        .expect("cts.json parses")
        .tests
}

/// A one-mapping rule reading `selector` with every node selected and the depth limit lifted.
fn rule(selector: &str) -> SourceFile {
    let path = toml::Value::String(selector.to_owned());
    SourceFile::new(
        "cts.toml",
        format!(
            "[limits]\npath_depth = 1024\n\n[[rule]]\nname = \"cts\"\n\n[rule.map]\n\
             \"out\" = {{ path = {path}, select = \"all\" }}\n"
        ),
    )
}

/// The valid selectors that a rule rejects with E203 for their evaluation cost: an absolute
/// query inside a filter that is not singular. Their nodes are still checked, with the
/// ceilings lifted (`conformance_run` does not apply them, as it does not apply `path_depth`).
const COSTLY: [&str; 5] = [
    "$[?$.*.a]",
    "$.values[?length(@.a) == value($..c)]",
    "$.values[?length(@.a)==length(value($..c))]",
    "$.values[?match(@.a, value($..['regex']))]",
    "$.values[?search(@, value($..['regex']))]",
];

/// Whether a valid selector compiled in a rule.
#[derive(Debug, PartialEq)]
enum InRule {
    Compiled,
    /// Rejected with E203 (the selectors in [`COSTLY`]).
    TooCostly,
}

/// Checks one case; `Err` says what is wrong.
fn check(case: &Case) -> Result<InRule, String> {
    let compiled = compile_sources(vec![rule(&case.selector)], None);
    let run = conformance_run(&case.selector, &case.document);
    if case.invalid_selector {
        let Err(diags) = compiled else {
            return Err("invalid selector compiled in a rule".into());
        };
        if !diags.errors().any(|d| d.code == Code::PathSyntax) {
            return Err(format!("no E200 diagnostic: {}", diags.render(false)));
        }
        return match run {
            Err(_) => Ok(InRule::Compiled),
            Ok(_) => Err("invalid selector accepted by Path::compile".into()),
        };
    }
    let in_rule = match compiled {
        Ok(_) => InRule::Compiled,
        Err(diags) if diags.errors().any(|d| d.code == Code::PathTooComplex) => InRule::TooCostly,
        Err(diags) => return Err(format!("does not compile: {}", diags.render(false))),
    };
    let run = run.map_err(|e| format!("rejected: {e}"))?;
    let expected: Vec<(&Vec<Value>, &Vec<String>)> = match (
        &case.result,
        &case.result_paths,
        &case.results,
        &case.results_paths,
    ) {
        (Some(r), Some(p), None, None) => vec![(r, p)],
        (None, None, Some(r), Some(p)) if r.len() == p.len() => r.iter().zip(p).collect(),
        _ => return Err("malformed case".into()),
    };
    let nodes: Vec<Value> = run.nodes.iter().map(|v| (*v).clone()).collect();
    let located: Vec<Value> = run.located.iter().map(|(v, _)| (*v).clone()).collect();
    let paths: Vec<String> = run.located.iter().map(|(_, p)| p.clone()).collect();
    if expected
        .iter()
        .any(|(r, p)| **r == nodes && **r == located && **p == paths && **r == run.projected)
    {
        return Ok(in_rule);
    }
    let evaluator = if run.fast { "fast" } else { "serde_json_path" };
    Err(format!(
        "{evaluator} evaluator: nodes {nodes:?}, located {located:?} at {paths:?}, \
         through the projection {:?}; expected {:?}",
        run.projected, expected[0]
    ))
}

#[test]
fn rfc9535_compliance_suite() {
    let cases = suite();
    assert_eq!(cases.len(), 703, "the vendored suite is complete");
    let mut failures = Vec::new();
    let mut costly = Vec::new();
    for case in &cases {
        let outcome = catch_unwind(AssertUnwindSafe(|| check(case)))
            .unwrap_or_else(|_| Err("panicked".into()));
        match outcome {
            Ok(InRule::Compiled) => {}
            Ok(InRule::TooCostly) => costly.push(case.selector.as_str()),
            Err(why) => failures.push(format!(
                "{} `{}`: {why}",
                case.name,
                case.selector.escape_debug()
            )),
        }
    }
    for f in failures.iter().take(40) {
        println!("FAIL {f}");
    }
    println!(
        "cts: {} passed, {} failed ({} valid selectors rejected in a rule by the evaluation-cost \
         ceilings, E203, and checked with them lifted)",
        cases.len() - failures.len(),
        failures.len(),
        costly.len(),
    );
    assert!(failures.is_empty(), "{} CTS cases failed", failures.len());
    assert_eq!(costly, COSTLY, "the selectors the cost ceilings reject");
}

#[test]
fn both_evaluators_are_exercised() {
    let cases = suite();
    let fast = cases
        .iter()
        .filter(|c| !c.invalid_selector)
        .filter(|c| conformance_run(&c.selector, &c.document).is_ok_and(|r| r.fast))
        .count();
    let valid = cases.iter().filter(|c| !c.invalid_selector).count();
    println!("cts: {fast} of {valid} valid selectors ran on the fast evaluator");
    assert!(fast > 20 && fast < valid, "{fast} of {valid}");
}
