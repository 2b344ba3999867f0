//! Dispatch among many rules: a run of rules keyed on one value is looked up in a table, and
//! must pick exactly the rule that testing every `when` in order picks.

use handoff_core::{Outcome, compile_text};
use proptest::prelude::*;

/// Rule `k{i}` matches intent `intent_{key}`; `keys` may repeat (the first rule wins).
fn rules(keys: &[u8], catch_all: bool) -> String {
    let mut text = String::from(
        "[[rule]]\nname = \"voice\"\nwhen = { path = \"$.channel\", eq = \"voice\" }\n[rule.map]\nr = { value = \"voice\" }\n",
    );
    for (i, k) in keys.iter().enumerate() {
        text.push_str(&format!(
            "[[rule]]\nname = \"k{i}\"\nwhen = {{ path = \"$.cognigy.intents[0].name\", eq = \"intent_{k}\" }}\n[rule.map]\nr = {{ value = \"k{i}\" }}\n"
        ));
    }
    if catch_all {
        text.push_str("[[rule]]\nname = \"rest\"\n[rule.map]\nr = { value = \"rest\" }\n");
    }
    text
}

fn run(text: &str, payload: &str) -> Option<String> {
    let plan = compile_text("r.toml", text).unwrap().plan;
    let mut out = Vec::new();
    match plan.transform(payload.as_bytes(), None, &mut out).unwrap() {
        Outcome::Transformed { rule } => Some(rule.to_owned()),
        Outcome::NoRule { .. } => None,
        Outcome::Ignored { .. } => unreachable!(),
    }
}

/// What testing every rule in order selects.
fn reference(keys: &[u8], catch_all: bool, channel: &str, intent: Option<&str>) -> Option<String> {
    if channel == "voice" {
        return Some("voice".into());
    }
    let keyed = intent.and_then(|name| keys.iter().position(|k| format!("intent_{k}") == name));
    if let Some(i) = keyed {
        return Some(format!("k{i}"));
    }
    catch_all.then(|| "rest".into())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn keyed_dispatch_picks_the_first_rule_whose_condition_holds(
        keys in prop::collection::vec(0u8..20, 0..40),
        catch_all in any::<bool>(),
        voice in any::<bool>(),
        intent in prop::option::of(0u8..25),
    ) {
        let text = rules(&keys, catch_all);
        let channel = if voice { "voice" } else { "chat" };
        let name = intent.map(|k| format!("intent_{k}"));
        let payload = match &name {
            Some(n) => format!(r#"{{"channel": "{channel}", "cognigy": {{"intents": [{{"name": "{n}"}}]}}}}"#),
            None => format!(r#"{{"channel": "{channel}"}}"#),
        };
        prop_assert_eq!(run(&text, &payload), reference(&keys, catch_all, channel, name.as_deref()));
    }
}

#[test]
fn a_key_that_is_not_a_string_matches_no_keyed_rule() {
    let text = rules(&[1, 2, 3, 4, 5], true);
    for payload in [
        r#"{"cognigy": {"intents": [{"name": 1}]}}"#,
        r#"{"cognigy": {"intents": [{"name": null}]}}"#,
        r#"{"cognigy": {"intents": [{"name": ["intent_1"]}]}}"#,
        r#"{"cognigy": {"intents": []}}"#,
    ] {
        assert_eq!(run(&text, payload).as_deref(), Some("rest"), "{payload}");
    }
    assert_eq!(
        run(&text, r#"{"cognigy": {"intents": [{"name": "intent_4"}]}}"#).as_deref(),
        Some("k3")
    );
}
