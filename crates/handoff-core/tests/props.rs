//! Property tests: execution never panics, whatever the payload.

use std::path::Path;

use handoff_core::{Plan, compile_paths, compile_text};
use proptest::prelude::*;
use serde_json::Value;

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9 .\\-]{0,8}".prop_map(Value::String),
        prop_oneof![
            Just("true"),
            Just("yes"),
            Just("0.5"),
            Just("voice"),
            Just(""),
            Just("intent_billing")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("cognigy"),
                        Just("intents"),
                        Just("entities"),
                        Just("name"),
                        Just("value"),
                        Just("confidence"),
                        Just("user"),
                        Just("profile"),
                        Just("vip"),
                        Just("channel"),
                        Just("sessionId"),
                        Just("items"),
                        Just("x"),
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn canonical() -> Plan {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    compile_paths(&[root.join("rules/cxone_handoff.toml")])
        .expect("compiles")
        .plan
}

fn general() -> Plan {
    let rule = r#"
[[rule]]
name = "general"
on_error = "skip"
[rule.let]
top = { path = "$..intents[*]", max_by = "confidence" }
[rule.map]
a = { path = "$..name", select = "all" }
b = { path = "$.items[?@.x > 1 && length(@.name) > 0]", select = "first", cast = "string" }
c = { expr = "top.name ~ '!' if top is defined and top.name is string else 'none'" }
d = { template = '{"t": {{ input | tojson }}, "n": {{ (input.items or []) | length }}}' }
e = { path = "$.cognigy.entities[*]", select = "all", to_object = { key = "name", value = "value" } }
f = { path = "$.user.profile.vip", cast = "boolean" }
g = { path = "$.x", cast = "integer" }
"#;
    compile_text("general.toml", rule).expect("compiles").plan
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn never_panics_on_any_json(v in json()) {
        let text = v.to_string();
        for plan in [canonical(), general()] {
            let mut out = Vec::new();
            if plan.transform(text.as_bytes(), None, &mut out).is_ok() && !out.is_empty() {
                prop_assert!(serde_json::from_slice::<Value>(&out).is_ok(), "output is JSON");
            }
        }
    }

    #[test]
    fn never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut out = Vec::new();
        let _ = canonical().transform(&bytes, None, &mut out);
    }
}
