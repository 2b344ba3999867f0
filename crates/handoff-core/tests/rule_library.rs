//! The routing, enrichment and webhook rules of `rules/` next to the canonical rule: their
//! fixtures, folder-wide dispatch, and the language features they brought (`[[rule.ignore]]`,
//! `pad_input_to`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use handoff_core::{
    Call, Clock, Code, Outcome, Plan, SourceFile, compile_paths, compile_sources, compile_text,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).to_path_buf()
}

/// The canonical rule and the rules of this library, in the order a folder load gives them.
fn library() -> Plan {
    let files = [
        "cxone_handoff.toml",
        "cxone_routing.toml",
        "enrichment.toml",
        "webhook_templates.toml",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| root().join("rules").join(f)).collect();
    match compile_paths(&paths) {
        Ok(c) => c.plan,
        Err(d) => panic!("the library compiles:\n{}", d.render(false)),
    }
}

fn lines(path: &str) -> Vec<String> {
    fs::read_to_string(root().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn folder_dispatch_still_gives_every_canonical_payload_to_the_canonical_rule() {
    let plan = library();
    let canonical = compile_paths(&[root().join("rules/cxone_handoff.toml")])
        .expect("compiles")
        .plan;
    for (i, p) in lines("fixtures/cxone_handoff/payloads.ndjson")
        .iter()
        .enumerate()
    {
        let (mut got, mut want) = (Vec::new(), Vec::new());
        let outcome = plan.transform(p.as_bytes(), None, &mut got).unwrap();
        canonical.transform(p.as_bytes(), None, &mut want).unwrap();
        assert_eq!(
            outcome,
            Outcome::Transformed {
                rule: "cxone-handoff"
            },
            "payload {}",
            i + 1
        );
        assert_eq!(got, want, "payload {}", i + 1);
    }
}

/// Runs `rule` over a fixture file and compares the outputs (no-rule outcomes write nothing)
/// with the expected file; returns how many inputs no rule applied to.
fn check_fixture(rule: &str, payloads: &str, context: Option<&str>, expected: &str) -> usize {
    let plan = library();
    let context: Option<Value> = context
        .map(|c| serde_json::from_str(&fs::read_to_string(root().join(c)).unwrap()).unwrap());
    let mut outputs = Vec::new();
    let mut no_rule = 0;
    for p in lines(payloads) {
        match plan.transform_value(Some(rule), p.as_bytes(), context.as_ref()) {
            Ok((Outcome::Transformed { .. } | Outcome::Ignored { .. }, Some(v))) => outputs.push(v),
            Ok((Outcome::NoRule { .. }, _)) => no_rule += 1,
            other => panic!("{rule}: {other:?}"),
        }
    }
    let want: Vec<Value> = lines(expected)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(outputs.len(), want.len(), "{rule}: number of outputs");
    for (i, (got, want)) in outputs.iter().zip(&want).enumerate() {
        assert_eq!(got, want, "{rule}: output {}", i + 1);
    }
    no_rule
}

#[test]
fn routing_fixtures() {
    let payloads = "fixtures/cxone-routing/payloads.ndjson";
    let strict = check_fixture(
        "cxone-routing",
        payloads,
        None,
        "fixtures/cxone-routing/expected.ndjson",
    );
    let default = check_fixture(
        "cxone-routing-default-queue",
        payloads,
        None,
        "fixtures/cxone-routing/expected-default-queue.ndjson",
    );
    assert_eq!((strict, default), (0, 0));
}

#[test]
fn enrichment_fixtures() {
    let no_rule = check_fixture(
        "conversation-enrichment",
        "fixtures/conversation-enrichment/payloads.ndjson",
        Some("fixtures/conversation-enrichment/crm.json"),
        "fixtures/conversation-enrichment/expected.ndjson",
    );
    assert_eq!(no_rule, 0);
}

#[test]
fn webhook_fixtures() {
    // A `typing` event and an Interaction Panel event send nothing.
    let no_rule = check_fixture(
        "webhook-payload",
        "fixtures/webhook-payload/events.ndjson",
        None,
        "fixtures/webhook-payload/expected.ndjson",
    );
    assert_eq!(no_rule, 2);
}

#[test]
fn enrichment_timestamp_falls_back_to_the_enrichment_time() {
    let plan = library();
    let payload = br#"{"userId": "usr_1", "cognigy": {"conversationId": "conv_1"}}"#;
    let rule = Some("conversation-enrichment");
    let at = |time: &str| {
        let call = Call::new(None)
            .rule(rule)
            .clock(Clock::parse_rfc3339(time).unwrap());
        let (_, out) = plan.execute_value(call, payload).unwrap();
        out.unwrap()["timestamp"].clone()
    };
    assert_eq!(
        at("2026-11-20T10:15:30.250+01:00"),
        "2026-11-20T09:15:30.250Z"
    );
    assert_eq!(at("2026-11-20T09:15:31Z"), "2026-11-20T09:15:31.000Z");
    // On the system clock the time is today's.
    let (_, out) = plan.transform_value(rule, payload, None).unwrap();
    let stamp = out.unwrap()["timestamp"].as_str().unwrap().to_owned();
    let stamp: std::time::SystemTime = stamp
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("not RFC 3339: {stamp}: {e}"))
        .into();
    let age = std::time::SystemTime::now().duration_since(stamp).unwrap();
    assert!(age.as_secs() < 3600, "{age:?} old");
}

fn compile(text: &str) -> Plan {
    match compile_text("r.toml", text) {
        Ok(c) => c.plan,
        Err(d) => panic!("compiles:\n{}", d.render(false)),
    }
}

#[test]
fn an_ignored_body_is_not_checked_against_the_output_schema() {
    // Named as if beside the shipped rules, so that the conversation schema is found.
    let file = SourceFile::new(
        root().join("rules/ignore_case.toml").display().to_string(),
        r#"
[[rule]]
name = "enrich"
output_schema = "schemas/conversation.schema.json"
[[rule.ignore]]
when = { path = "$.userId", exists = false }
reason = "anonymous"
[rule.map]
user_id = { path = "$.userId" }
"#,
    );
    let plan = compile_sources(vec![file], None).expect("compiles").plan;
    let (_, out) = plan.transform_value(None, b"{}", None).unwrap();
    assert_eq!(
        out,
        Some(json!({"outcome": "ignored", "reason": "anonymous", "rule": "enrich"}))
    );
    // The mappings' output is checked: it lacks most required fields.
    let err = plan
        .transform_value(None, br#"{"userId": "usr_1"}"#, None)
        .unwrap_err();
    assert_eq!(err.code(), Code::OutputSchema);
}

#[test]
fn an_ignored_body_replaces_a_passthrough_output() {
    let plan = compile(
        r#"
[[rule]]
name = "route"
output = "passthrough"
[rule.let]
queue = { path = "$.queue" }
[[rule.ignore]]
when = { from = "queue", exists = false }
reason = "no_queue"
[rule.map]
"routing.queue" = { from = "queue" }
"#,
    );
    let run = |p: &str| plan.transform_value(None, p.as_bytes(), None).unwrap().1;
    assert_eq!(
        run(r#"{"text": "hi"}"#),
        Some(json!({"outcome": "ignored", "reason": "no_queue", "rule": "route"}))
    );
    assert_eq!(
        run(r#"{"text": "hi", "queue": "q-1"}"#),
        Some(json!({"text": "hi", "queue": "q-1", "routing": {"queue": "q-1"}}))
    );
}

#[test]
fn a_failing_ignore_condition_names_its_reason() {
    let plan = compile(
        r#"
[[rule]]
name = "route"
[[rule.ignore]]
when = { expr = "input.intent.name == 'x'" }
reason = "not_routable"
[rule.map]
queue = { path = "$.queue" }
"#,
    );
    let err = plan
        .transform_value(None, br#"{"queue": "q"}"#, None)
        .unwrap_err();
    assert_eq!(err.code(), Code::ExprFailed);
    assert_eq!(err.target(), Some("ignore not_routable"));
    assert_eq!(err.rule(), Some("route"));
}

#[test]
fn pad_input_to_pads_a_test_input_with_spaces() {
    let plan = compile(
        r#"
[[rule]]
name = "ids"
[rule.limits]
payload_bytes = 99
[rule.map]
id = { path = "$.sessionId" }
[[rule.test]]
name = "one byte over"
input = { sessionId = "s" }
pad_input_to = 100
expect_error = "payload_too_large"
"#,
    );
    let (_, test) = plan.tests().next().unwrap();
    assert_eq!(test.input.len(), 100);
    assert!(test.input.starts_with(r#"{"sessionId":"s"}"#));
    assert!(test.input.ends_with("  "));
    let err = plan
        .transform_value(Some("ids"), test.input.as_bytes(), None)
        .unwrap_err();
    assert_eq!(err.code(), Code::PayloadTooLarge);
    let fits = test.input.trim_end();
    assert!(
        plan.transform_value(Some("ids"), fits.as_bytes(), None)
            .is_ok()
    );
}

/// Turn-shaped JSON: the members these rules read, with values of every type.
fn turn() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0.0f64..1.5).prop_map(Value::from),
        prop_oneof![
            Just("intent"),
            Just("entity"),
            Just("flow_end"),
            Just("voice"),
            Just(""),
            Just("intent_billing"),
            Just("2026-11-20T10:15:30Z"),
            Just("\"}{"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        let key = prop_oneof![
            Just("eventType"),
            Just("sessionId"),
            Just("userId"),
            Just("timestamp"),
            Just("cognigy"),
            Just("conversationId"),
            Just("intents"),
            Just("entities"),
            Just("flow"),
            Just("id"),
            Just("name"),
            Just("value"),
            Just("confidence"),
            Just("channel"),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn shared_library() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(library)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn library_rules_never_panic_and_write_json(v in turn()) {
        let text = v.to_string();
        let crm = json!({"crm": {"tier": "gold", "email": "kim@example.com"}});
        for rule in ["cxone-routing", "cxone-routing-default-queue", "conversation-enrichment", "webhook-payload"] {
            let mut out = Vec::new();
            if shared_library().transform_rule(rule, text.as_bytes(), Some(&crm), &mut out).is_ok() && !out.is_empty() {
                prop_assert!(serde_json::from_slice::<Value>(&out).is_ok(), "{rule}: output is JSON");
            }
        }
    }
}
