//! Fuzz target: an arbitrary string as a JSONPath in a mapping. When the rule compiles, the
//! path must select the same nodes from the projected payload as from the same document
//! given whole as the context (which is never projected).

#![no_main]

use handoff_core::{Outcome, Plan, SourceFile, compile_sources};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// The rule, reading `PATH` from `BASE` (`path = …` reads the input, `from = "context"` the
/// context).
fn rule(base: &str, path: &str) -> String {
    format!(
        r#"
[limits]
path_depth = 1024
[[rule]]
name = "p"
[rule.map]
all = {{ {base} path = {path}, select = "all" }}
last = {{ {base} path = {path}, select = "last", on_missing = "null" }}
max = {{ {base} path = {path}, max_by = "n", on_missing = "null" }}
exists = {{ value = true, when = {{ {base} path = {path}, exists = true }}, on_missing = "null" }}
"#
    )
}

fn compile(text: String) -> Option<Plan> {
    let file = SourceFile::new("path.toml", text);
    match compile_sources(vec![file], None) {
        Ok(c) => Some(c.plan),
        Err(d) => {
            let _ = d.render(false);
            None
        }
    }
}

fn run(plan: &Plan, payload: &[u8], context: Option<&Value>) -> Value {
    let mut out = Vec::new();
    match plan.transform(payload, context, &mut out) {
        Ok(Outcome::Transformed { .. }) => serde_json::from_slice(&out).expect("output is JSON"),
        other => panic!("the fixed document must transform: {other:?}"),
    }
}

fn document() -> Value {
    json!({
        "sessionId": "s", "channel": "voice", "n": 3,
        "cognigy": {
            "intents": [{"name": "a", "n": 0.9}, {"name": "b", "n": 0.2}, {"name": "c"}],
            "entities": [{"name": "zip", "value": "71525"}, {"name": "", "value": null}],
        },
        "user": {"profile": {"tier": "gold", "vip": true, "tags": ["x", "y", 1, 2.5, false, null]}},
        "weird": {"": 0, "a'b": 1, "a\"b": 2, "a\\b": 3, "\u{1}": 4, "é": 5, "0": 6, "$": 7},
        "deep": [[[{"n": 1}], {"n": -1}], [], {}],
    })
}

fuzz_target!(|path: &str| {
    let quoted = toml::Value::String(path.to_owned()).to_string();
    let projected = compile(rule("", &quoted));
    let whole = compile(rule(r#"from = "context","#, &quoted));
    assert_eq!(
        projected.is_some(),
        whole.is_some(),
        "the path compiles against the input but not the context, or the other way round"
    );
    if let (Some(projected), Some(whole)) = (projected, whole) {
        let doc = document();
        let text = doc.to_string();
        assert_eq!(
            run(&projected, text.as_bytes(), None),
            run(&whole, b"{}", Some(&doc)),
            "the projected payload and the whole document disagree"
        );
    }
});
