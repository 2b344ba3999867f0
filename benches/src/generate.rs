//! Rules and payloads generated in memory for the scaling series and the phase benches.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// The top-level members of a canonical payload that `rules/cxone_handoff.toml` reads.
const READ_MEMBERS: [&str; 5] = ["sessionId", "userId", "channel", "cognigy", "user"];

/// Only the members of a canonical payload that the canonical rule reads (862 bytes for the
/// first fixture payload), so that padding can take a payload down to 1 KiB.
pub fn read_members(payload: &Value) -> Value {
    let mut kept = Map::new();
    for key in READ_MEMBERS {
        if let Some(v) = payload.get(key) {
            kept.insert(key.to_owned(), v.clone());
        }
    }
    Value::Object(kept)
}

/// `base` (an object) with a `data` member that no rule reads, serialized to exactly `target`
/// bytes; when `base` alone is larger, it is returned as it is. The padding is order records
/// (strings, numbers, booleans, arrays, nested objects), like a CRM blob riding along.
pub fn padded(base: &Value, target: usize) -> Vec<u8> {
    let mut payload = base.clone();
    let Some(obj) = payload.as_object_mut() else {
        return serde_json::to_vec(base).unwrap_or_default();
    };
    obj.insert("data".to_owned(), json!({"records": [], "pad": ""}));
    let empty = serde_json::to_vec(&payload).unwrap_or_default().len();
    if empty >= target {
        return serde_json::to_vec(base).unwrap_or_default();
    }
    let mut room = target - empty;
    let mut records = Vec::new();
    for i in 0.. {
        let record = record(i);
        let len = serde_json::to_vec(&record).unwrap_or_default().len();
        let comma = usize::from(!records.is_empty());
        if len + comma > room {
            break;
        }
        room -= len + comma;
        records.push(record);
    }
    let data = json!({"records": records, "pad": "x".repeat(room)});
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("data".to_owned(), data);
    }
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// One padding record, varied by `i`.
fn record(i: usize) -> Value {
    json!({
        "seq": i,
        "sku": format!("SKU-{:06}", i * 7919 % 1_000_000),
        "title": "Wireless noise-cancelling headphones, \"pro\" edition",
        "qty": i % 5 + 1,
        "price": 19.99 + (i % 100) as f64,
        "gift": i % 3 == 0,
        "tags": ["audio", "bluetooth", "returnable"],
        "shipping": {"carrier": "DHL", "eta": "2026-11-25T10:00:00Z", "tracking": null},
    })
}

/// A rule file's text with `payload_bytes` raised to `bytes` for the whole file (prepended as a
/// `[limits]` table, so it must not have one already).
pub fn with_payload_limit(rule_text: &str, bytes: usize) -> String {
    format!("[limits]\npayload_bytes = {bytes}\n\n{rule_text}")
}

/// The mappings that [`mappings_rule`] cycles through: the canonical payload's fields with the
/// steps the canonical rule uses (fallbacks, casts, an error policy, a multi-node select).
const MAPPINGS: [&str; 10] = [
    r#"{ path = "$.sessionId", on_missing = "null" }"#,
    r#"{ path = "$.userId", fallback = "unknown" }"#,
    r#"{ path = "$.channel" }"#,
    r#"{ path = "$.user.profile.tier", fallback = "standard" }"#,
    r#"{ path = "$.user.profile.preferences.language", fallback = "en" }"#,
    r#"{ path = "$.cognigy.intents[0].name", fallback = "unknown" }"#,
    r#"{ path = "$.cognigy.intents[0].confidence", cast = "number", fallback = 0.0 }"#,
    r#"{ path = "$.cognigy.sentiment.score", cast = "number", fallback = 0, on_error = "fallback" }"#,
    r#"{ path = "$.user.profile.vip", cast = "boolean", fallback = false, on_error = "fallback" }"#,
    r#"{ path = "$.cognigy.entities[*].name", select = "all" }"#,
];

/// One rule with `n` mappings over the canonical payload, targets `attributes.m0000`...
pub fn mappings_rule(n: usize) -> String {
    let mut s =
        String::from("[[rule]]\nname = \"mappings\"\ntruthy = [\"true\", \"yes\"]\n\n[rule.map]\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "\"attributes.m{i:04}\" = {}",
            MAPPINGS[i % MAPPINGS.len()]
        );
    }
    s
}

/// `n` rules dispatched by the first intent's name: rule `route-I` applies when it is
/// `intent_I`, and writes four targets.
pub fn dispatch_rules(n: usize) -> String {
    let mut s = String::with_capacity(n * 400);
    for i in 0..n {
        let _ = write!(
            s,
            r#"[[rule]]
name = "route-{i}"
when = {{ path = "$.cognigy.intents[0].name", eq = "intent_{i}" }}

[rule.map]
"requestType" = {{ value = "chat" }}
"interactionId" = {{ path = "$.sessionId", on_missing = "null" }}
"routingData.queueId" = {{ value = "q-{i}" }}
"attributes.botIntent" = {{ path = "$.cognigy.intents[0].name" }}

"#
        );
    }
    s
}

/// `n` rules like [`dispatch_rules`] whose condition and two of whose targets are minijinja
/// expressions: the series that showed compile time growing with the square of the number of
/// rules (each expression's name asked for its line, and finding a line scanned the file).
pub fn expression_rules(n: usize) -> String {
    let mut s = String::with_capacity(n * 420);
    for i in 0..n {
        let _ = write!(
            s,
            r#"[[rule]]
name = "route-{i}"
when = {{ expr = "input.cognigy.intents[0].name == 'intent_{i}'" }}

[rule.map]
"interactionId" = {{ path = "$.sessionId", on_missing = "null" }}
"routingData.queueId" = {{ expr = "'q-' ~ {i}" }}
"attributes.greeting" = {{ expr = "'Hi ' ~ (input.user.profile.firstName | default('there'))" }}

"#
        );
    }
    s
}

/// `payload` with its first intent renamed to `name`.
pub fn with_intent(payload: &Value, name: &str) -> Vec<u8> {
    let mut p = payload.clone();
    if let Some(intent) = p.pointer_mut("/cognigy/intents/0/name") {
        *intent = Value::from(name);
    }
    serde_json::to_vec(&p).unwrap_or_default()
}

/// The cast kinds of [`casts_rule`]: a source member of [`casts_payload`] and a cast.
const CASTS: [(&str, &str); 5] = [
    ("amount", "number"), // "49.90" -> 49.9
    ("flag", "boolean"),  // "yes" -> true
    ("score", "string"),  // 0.7684 -> "0.7684"
    ("count", "integer"), // "42" -> 42
    ("whole", "integer"), // 7.0 -> 7
];

/// One rule with `n` mappings cycling through string->number, string->boolean,
/// number->string, string->integer and number->integer; with `cast = false` the same mappings
/// with `cast = "keep"`, the baseline that isolates the cost of the casts.
pub fn casts_rule(n: usize, cast: bool) -> String {
    let mut s =
        String::from("[[rule]]\nname = \"casts\"\ntruthy = [\"true\", \"yes\"]\n\n[rule.map]\n");
    for i in 0..n {
        let (member, kind) = CASTS[i % CASTS.len()];
        let kind = if cast { kind } else { "keep" };
        let _ = writeln!(
            s,
            "\"c{i:03}\" = {{ path = \"$.{member}\", cast = \"{kind}\" }}"
        );
    }
    s
}

/// The payload [`casts_rule`] reads.
pub fn casts_payload() -> Vec<u8> {
    br#"{"amount": "49.90", "flag": "yes", "score": 0.7684, "count": "42", "whole": 7.0}"#.to_vec()
}

/// Compiles one generated rule file.
pub fn plan(text: String) -> handoff_core::Plan {
    handoff_core::compile_text("generated.toml", text)
        .expect("the generated rule compiles")
        .plan
}

#[cfg(test)]
mod tests {
    use handoff_core::{Outcome, Plan, SourceFile, compile_sources};
    use serde_json::{Value, json};

    use super::*;
    use crate::fixtures;

    fn plan(text: String) -> Plan {
        let file = SourceFile::new("generated.toml", text);
        match compile_sources(vec![file], None) {
            Ok(c) => {
                assert!(c.warnings.is_empty(), "{:?}", c.warnings);
                c.plan
            }
            Err(d) => panic!("{}", d.render(false)),
        }
    }

    fn run(plan: &Plan, payload: &[u8]) -> (String, Value) {
        let (outcome, value) = plan
            .transform_value(None, payload, None)
            .expect("transforms");
        match outcome {
            Outcome::Transformed { rule } => (rule.to_owned(), value.expect("an output")),
            other => panic!("not transformed: {other:?}"),
        }
    }

    fn canonical_text() -> String {
        std::fs::read_to_string(fixtures::repo_path("rules/cxone_handoff.toml")).expect("rule")
    }

    #[test]
    fn padding_hits_the_size_and_leaves_the_output_alone() {
        let base = read_members(&fixtures::canonical_value().expect("payload"));
        let plan = plan(with_payload_limit(&canonical_text(), 1 << 21));
        let plain = serde_json::to_vec(&base).expect("json");
        let (_, expected) = run(&plan, &plain);
        for target in [1 << 10, 100_000, 1 << 20] {
            let p = padded(&base, target);
            assert_eq!(p.len(), target);
            assert_eq!(run(&plan, &p).1, expected, "at {target} bytes");
        }
        assert_eq!(
            padded(&base, 10),
            plain,
            "too small a target leaves the payload as it is"
        );
    }

    #[test]
    fn every_mapping_writes_a_target() {
        let payload = fixtures::canonical_payloads().expect("payloads").remove(0);
        for n in [10, 100] {
            let (_, out) = run(&plan(mappings_rule(n)), &payload);
            let attrs = out["attributes"].as_object().expect("attributes");
            assert_eq!(attrs.len(), n);
            assert_eq!(attrs["m0006"], json!(0.7684));
            assert_eq!(attrs["m0008"], json!(true));
        }
    }

    #[test]
    fn dispatch_picks_the_rule_of_the_intent() {
        let base = fixtures::canonical_value().expect("payload");
        let plan = plan(dispatch_rules(100));
        let (rule, out) = run(&plan, &with_intent(&base, "intent_57"));
        assert_eq!(rule, "route-57");
        assert_eq!(out["routingData"]["queueId"], json!("q-57"));
        let (outcome, _) = plan
            .transform_value(None, &with_intent(&base, "intent_100"), None)
            .expect("no error");
        assert!(matches!(outcome, Outcome::NoRule { .. }));
    }

    #[test]
    fn expression_rules_dispatch_by_their_expression() {
        let base = fixtures::canonical_value().expect("payload");
        let plan = plan(expression_rules(50));
        let (rule, out) = run(&plan, &with_intent(&base, "intent_42"));
        assert_eq!(rule, "route-42");
        assert_eq!(out["routingData"]["queueId"], json!("q-42"));
        assert!(
            out["attributes"]["greeting"]
                .as_str()
                .expect("a greeting")
                .starts_with("Hi ")
        );
    }

    #[test]
    fn casts_convert_and_keep_does_not() {
        let (_, cast) = run(&plan(casts_rule(5, true)), &casts_payload());
        assert_eq!(
            cast,
            json!({"c000": 49.9, "c001": true, "c002": "0.7684", "c003": 42, "c004": 7})
        );
        let (_, kept) = run(&plan(casts_rule(5, false)), &casts_payload());
        assert_eq!(
            kept,
            json!({"c000": "49.90", "c001": "yes", "c002": 0.7684, "c003": "42", "c004": 7.0})
        );
    }
}
