//! Run-time errors name the node whose value failed (`Error::node`), for every kind of source.

use handoff_core::{Code, compile_text};
use serde_json::{Value, json};

/// Compiles a rule with `[rule.let]` bindings and one `[rule.map]` target `out`, runs it on
/// `input` (and `context`), and returns the error's code and node.
fn fail(lets: &str, out: &str, input: &Value, context: Option<&Value>) -> (Code, Option<String>) {
    let text = format!("[[rule]]\nname = \"r\"\n[rule.let]\n{lets}\n[rule.map]\nout = {out}\n");
    let plan = match compile_text("r.toml", text) {
        Ok(c) => c.plan,
        Err(d) => panic!("{}", d.render(false)),
    };
    let e = plan
        .transform_value(None, input.to_string().as_bytes(), context)
        .expect_err("the transform fails");
    (e.code(), e.node().map(str::to_owned))
}

fn intents() -> Value {
    json!({"cognigy": {"intents": [
        {"name": "intent_cancel_order", "confidence": 0.77},
        {"name": "intent_speak_to_agent", "confidence": "high"},
        {"name": "it's", "confidence": null},
    ]}})
}

fn node(n: &str) -> Option<String> {
    Some(n.to_owned())
}

#[test]
fn names_the_node_a_path_selected() {
    let input = intents();
    let cases = [
        (
            r#"{ path = "$.cognigy.intents[?@.confidence == 'high'].confidence", select = "one", cast = "number" }"#,
            (
                Code::CastFailed,
                node("$['cognigy']['intents'][1]['confidence']"),
            ),
        ),
        (
            r#"{ path = "$.cognigy.intents[-2].confidence", cast = "number" }"#,
            (
                Code::CastFailed,
                node("$['cognigy']['intents'][1]['confidence']"),
            ),
        ),
        (
            r#"{ path = "$..confidence", select = "last", required = true }"#,
            (Code::Null, node("$['cognigy']['intents'][2]['confidence']")),
        ),
        (
            r#"{ path = "$.cognigy.intents[*]", select = "last", cast = "string", cast_mode = "strict" }"#,
            (Code::CastFailed, node("$['cognigy']['intents'][2]")),
        ),
        (
            r#"{ path = "$.cognigy.intents[*].name", max_by = "x", cast = "number", on_missing = "fail" }"#,
            (Code::Missing, None),
        ),
    ];
    for (out, expected) in cases {
        assert_eq!(fail("", out, &input, None), expected, "{out}");
    }
}

#[test]
fn is_relative_to_a_binding_or_the_context() {
    let input = intents();
    // A binding that borrows from the input, and one the frame owns (a copy of the nodes).
    let top = r#"top = { path = "$.cognigy.intents[*]", max_by = "confidence" }"#;
    let all = r#"all = { path = "$.cognigy.intents[*]", select = "all" }"#;
    assert_eq!(
        fail(
            top,
            r#"{ from = "top", path = "$.name", cast = "number" }"#,
            &input,
            None
        ),
        (Code::CastFailed, node("$['name']"))
    );
    assert_eq!(
        fail(
            all,
            r#"{ from = "all", path = "$[*].confidence", select = "one", cast = "number" }"#,
            &input,
            None
        ),
        (Code::Cardinality, None)
    );
    assert_eq!(
        fail(
            all,
            r#"{ from = "all", path = "$[1]['confidence']", cast = "number" }"#,
            &input,
            None
        ),
        (Code::CastFailed, node("$[1]['confidence']"))
    );
    assert_eq!(
        fail(
            all,
            r#"{ from = "all", path = "$[*]['name']", select = "last", cast = "number" }"#,
            &input,
            None
        ),
        (Code::CastFailed, node(r"$[2]['name']"))
    );
    let context = json!({"agent": {"it's": ["x", "busy"]}});
    assert_eq!(
        fail(
            "",
            r#"{ from = "context", path = "$.agent[\"it's\"][1]", cast = "boolean" }"#,
            &json!({}),
            Some(&context)
        ),
        (Code::CastFailed, node(r"$['agent']['it\'s'][1]"))
    );
}

#[test]
fn is_not_set_for_values_that_are_not_one_node() {
    let input = intents();
    let all = r#"all = { path = "$.cognigy.intents[*]", select = "all" }"#;
    for (lets, out) in [
        // The array of all nodes, a lookup entry, a `to_object` result, a binding as a whole,
        // a template.
        (
            "",
            r#"{ path = "$.cognigy.intents[*].name", select = "all", cast = "number" }"#,
        ),
        (
            "",
            r#"{ path = "$.cognigy.intents[0].name", lookup = "t", cast = "number" }"#,
        ),
        (
            "",
            r#"{ path = "$.cognigy.intents[*]", select = "all", to_object = { key = "name", value = "confidence" }, cast = "number" }"#,
        ),
        (all, r#"{ from = "all", cast = "number" }"#),
        (
            "",
            r#"{ template = "{{ input.cognigy.intents[1].confidence | tojson }}", cast = "number" }"#,
        ),
    ] {
        let lets = format!("{lets}\n[lookup.t]\ndefault = \"x\"");
        let (code, node) = fail(&lets, out, &input, None);
        assert_eq!((code, node), (Code::CastFailed, None), "{out}");
    }
}
