//! The canonical rule against the oracle (`shared/peers/reference.py`): every payload of
//! `fixtures/cxone_handoff/payloads.ndjson` (made by `gen_payloads.py --n 400 --seed 2026`)
//! must give the oracle's output, numbers within 1e-9, key order free.

use std::path::Path;

use handoff_core::{Outcome, compile_paths};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `None` when equal, else where they differ.
fn diff(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            ((x - y).abs() > 1e-9).then(|| format!("{at}: {x} != {y}"))
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() || x.keys().any(|k| !y.contains_key(k)) {
                return Some(format!(
                    "{at}: keys {:?} != {:?}",
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>()
                ));
            }
            x.iter()
                .find_map(|(k, v)| diff(v, &y[k], &format!("{at}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| diff(v, w, &format!("{at}[{i}]"))),
        _ => (a != b).then(|| format!("{at}: {a} != {b}")),
    }
}

#[test]
fn canonical_rule_equals_the_oracle() {
    let plan = compile_paths(&[root().join("rules/cxone_handoff.toml")])
        .expect("compiles")
        .plan;
    let payloads =
        std::fs::read_to_string(root().join("fixtures/cxone_handoff/payloads.ndjson")).unwrap();
    let expected =
        std::fs::read_to_string(root().join("fixtures/cxone_handoff/expected.ndjson")).unwrap();
    let (payloads, expected): (Vec<&str>, Vec<&str>) =
        (payloads.lines().collect(), expected.lines().collect());
    assert_eq!(payloads.len(), 400);
    assert_eq!(payloads.len(), expected.len());
    for (i, (p, e)) in payloads.iter().zip(&expected).enumerate() {
        let (outcome, got) = plan.transform_value(None, p.as_bytes(), None).unwrap();
        assert_eq!(
            outcome,
            Outcome::Transformed {
                rule: "cxone-handoff"
            }
        );
        let want: Value = serde_json::from_str(e).unwrap();
        if let Some(d) = diff(&got.unwrap(), &want, "$") {
            panic!("payload {} differs from the oracle: {d}", i + 1);
        }
    }
}

/// Edge cases the semantics fix, written out (README "Semantics" of the peers).
#[test]
fn canonical_edge_cases() {
    let plan = compile_paths(&[root().join("rules/cxone_handoff.toml")])
        .expect("compiles")
        .plan;
    let run = |payload: &str| {
        plan.transform_value(None, payload.as_bytes(), None)
            .unwrap()
            .1
            .unwrap()
    };
    let intents = |list: &str| format!(r#"{{"sessionId": "s", "cognigy": {{"intents": {list}}}}}"#);

    // A tie: the first in array order wins.
    let out = run(&intents(
        r#"[{"name": "intent_billing", "confidence": 0.8}, {"name": "intent_tech_support", "confidence": 0.8}]"#,
    ));
    assert_eq!(out["attributes"]["botIntent"], "intent_billing");
    assert_eq!(
        out["routingData"]["skillIds"],
        serde_json::json!(["sk-billing"])
    );
    assert_eq!(out["routingData"]["queueId"], Value::Null);
    // Exactly 0.5 routes normally; just below falls back but still reports the intent.
    let out = run(&intents(
        r#"[{"name": "intent_refund_request", "confidence": 0.5}]"#,
    ));
    assert_eq!(out["routingData"]["queueId"], "q-refunds");
    let out = run(&intents(
        r#"[{"name": "intent_refund_request", "confidence": 0.4999}]"#,
    ));
    assert_eq!(out["routingData"]["queueId"], "q-default");
    assert_eq!(out["attributes"]["botIntent"], "intent_refund_request");
    // No intents at all, and no session: defaults everywhere, interactionId null.
    let out = run("{}");
    assert_eq!(out["attributes"]["botIntent"], "unknown");
    assert_eq!(out["attributes"]["botConfidence"], 0.0);
    assert_eq!(out["interactionId"], Value::Null);
    assert_eq!(out["requestType"], "chat");
    assert_eq!(out["routingData"]["priority"], 5);
    assert_eq!(out["attributes"]["entities"], serde_json::json!({}));
    // vip: JSON true and "yes" are true; "false", 1 and null are false.
    for (vip, want) in [
        ("true", true),
        (r#""yes""#, true),
        (r#""false""#, false),
        ("1", false),
        ("null", false),
        (r#""TRUE""#, false),
    ] {
        let out = run(&format!(r#"{{"user": {{"profile": {{"vip": {vip}}}}}}}"#));
        assert_eq!(out["attributes"]["vip"], want, "vip {vip}");
    }
    // Entities: empty names and values dropped, null dropped, the last duplicate wins, 0 kept.
    let out = run(
        r#"{"cognigy": {"entities": [{"name": "a", "value": "1"}, {"name": "", "value": "x"}, {"value": "y"},
            {"name": "b", "value": ""}, {"name": "c", "value": null}, {"name": "a", "value": "2"}, {"name": "z", "value": 0}]}}"#,
    );
    assert_eq!(
        out["attributes"]["entities"],
        serde_json::json!({"a": "2", "z": 0})
    );
    // Sentiment score: string parsed, number kept, garbage falls back to 0.
    for (score, want) in [(r#""-0.62""#, -0.62), ("0.3", 0.3), (r#""n/a""#, 0.0)] {
        let out = run(&format!(
            r#"{{"cognigy": {{"sentiment": {{"score": {score}}}}}}}"#
        ));
        assert_eq!(
            out["attributes"]["sentimentScore"].as_f64(),
            Some(want),
            "score {score}"
        );
    }
    // Voice channel; user.id is not userId.
    let out = run(r#"{"channel": "voice", "user": {"id": "u1"}}"#);
    assert_eq!(out["requestType"], "voice");
    assert_eq!(out["attributes"]["userId"], "unknown");
}
