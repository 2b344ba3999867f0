//! The dispatch order: rules tried one by one, and runs of rules keyed on one value looked up
//! in a table, so that choosing among thousands of rules does not test them all.

use std::collections::HashMap;

use serde_json::Value;

use super::{Base, CmpOp, Cond, Rule};

/// Consecutive rules keyed on the same value that are worth a table.
const MIN_KEYED: usize = 4;

/// One step of dispatch, in rule order.
pub(crate) enum Step {
    /// Test this rule's `when` (or take it when it has none).
    Rule(usize),
    /// Rules `first..end` all have `when = { path = P, eq = "constant" }` with the same base and
    /// path: read P once and take the first of them whose constant equals it.
    Keyed(Keyed),
}

/// A run of rules keyed on one value.
pub(crate) struct Keyed {
    /// The first rule of the run (its condition says what to read).
    pub(crate) first: usize,
    /// Constant -> the first rule of the run with it.
    pub(crate) index: HashMap<String, usize>,
}

/// The key of a rule whose whole condition is `path == "string"`.
fn key(rule: &Rule) -> Option<(Base, &str, &str)> {
    match &rule.when {
        Some(Cond::Cmp {
            base: base @ (Base::Input | Base::Context),
            path: Some(path),
            op: CmpOp::Eq,
            value: Value::String(s),
        }) if path.is_singular() => Some((*base, path.text.as_str(), s.as_str())),
        _ => None,
    }
}

/// The dispatch steps of `rules`. Tried in order they select the same rule as testing every
/// `when` in order: within a run, a string equals at most the constants that equal it, and
/// the table keeps the first rule of each constant.
pub(crate) fn steps(rules: &[Rule]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut i = 0;
    while i < rules.len() {
        let Some((base, path, _)) = key(&rules[i]) else {
            steps.push(Step::Rule(i));
            i += 1;
            continue;
        };
        let end = (i..rules.len())
            .find(|&j| key(&rules[j]).is_none_or(|(b, p, _)| b != base || p != path))
            .unwrap_or(rules.len());
        if end - i < MIN_KEYED {
            steps.extend((i..end).map(Step::Rule));
        } else {
            let mut index = HashMap::with_capacity(end - i);
            for (j, rule) in rules.iter().enumerate().take(end).skip(i) {
                if let Some((_, _, constant)) = key(rule) {
                    index.entry(constant.to_owned()).or_insert(j);
                }
            }
            steps.push(Step::Keyed(Keyed { first: i, index }));
        }
        i = end;
    }
    steps
}
