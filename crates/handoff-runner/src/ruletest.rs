//! Rule tests (`[[rule.test]]`): run each against its rule, report a readable diff on failure.

use handoff_core::plan::{Expect, TestCase};
use handoff_core::{Call, Outcome, Plan};
use serde_json::Value;

/// The result of one rule test.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// `rule :: test name`.
    pub name: String,
    /// `file:line` of the test.
    pub location: String,
    /// `None` when it passed, else what went wrong (with a diff for outputs).
    pub failure: Option<String>,
}

/// Runs every test of the plan, in order.
pub fn run_tests(plan: &Plan) -> Vec<TestResult> {
    plan.tests()
        .map(|(rule, t)| TestResult {
            name: format!("{rule} :: {}", t.name),
            location: format!("{}:{}", t.location.0, t.location.1),
            failure: check(plan, rule, t),
        })
        .collect()
}

fn check(plan: &Plan, rule: &str, t: &TestCase) -> Option<String> {
    let call = Call::new(t.context.as_ref())
        .rule(Some(rule))
        .clock(t.clock);
    let got = plan.execute_value(call, t.input.as_bytes());
    match (&t.expect, got) {
        (
            Expect::Output(want),
            Ok((Outcome::Transformed { .. } | Outcome::Ignored { .. }, Some(out))),
        ) => (want != &out).then(|| {
            format!(
                "output differs (- expected, + actual):\n{}",
                diff(want, &out)
            )
        }),
        (Expect::Error(code), Err(e)) if e.code() == *code => None,
        (Expect::NoRule, Ok((Outcome::NoRule { .. }, _))) => None,
        (expect, Ok((Outcome::Transformed { .. } | Outcome::Ignored { .. }, Some(out)))) => Some(
            format!("expected {}, got the output {out}", describe(expect)),
        ),
        (expect, Ok((Outcome::NoRule { reason }, _))) => Some(format!(
            "expected {}, but no rule applied: {reason}",
            describe(expect)
        )),
        (expect, Ok((_, None))) => Some(format!("expected {}, got no output", describe(expect))),
        (expect, Err(e)) => Some(format!("expected {}, got the error {e}", describe(expect))),
    }
}

fn describe(e: &Expect) -> String {
    match e {
        Expect::Output(_) => "an output".to_owned(),
        Expect::Error(code) => format!("the error {code} {}", code.slug()),
        Expect::NoRule => "no rule to apply".to_owned(),
    }
}

/// A line diff of two values' pretty JSON.
fn diff(want: &Value, got: &Value) -> String {
    let (a, b) = (pretty(want), pretty(got));
    similar::TextDiff::from_lines(&a, &b)
        .iter_all_changes()
        .map(|c| {
            let sign = match c.tag() {
                similar::ChangeTag::Delete => "-",
                similar::ChangeTag::Insert => "+",
                similar::ChangeTag::Equal => " ",
            };
            format!("  {sign} {c}")
        })
        .collect()
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
