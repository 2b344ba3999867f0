//! `match()` and `search()` in rules: handoff's own functions (each pattern compiled once per
//! thread) replace serde_json_path's. Prints the time of 1000-item filters for `--nocapture`.

use std::time::Instant;

use handoff_core::compile_text;
use serde_json::{Value, json};

/// The nodes `path` selects from `input`, through a rule.
fn select(path: &str, input: &Value) -> Value {
    let path = toml::Value::String(path.to_owned());
    let text = format!(
        "[[rule]]\nname = \"r\"\n[rule.map]\nout = {{ path = {path}, select = \"all\" }}\n"
    );
    let plan = match compile_text("r.toml", text) {
        Ok(c) => c.plan,
        Err(d) => panic!("{}", d.render(false)),
    };
    let (_, out) = plan
        .transform_value(None, input.to_string().as_bytes(), None)
        .unwrap();
    out.expect("an output")["out"].take()
}

fn count(path: &str, input: &Value) -> usize {
    select(path, input).as_array().map_or(0, Vec::len)
}

#[test]
fn are_handoffs_own() {
    // serde_json_path's built-ins compile `^(a)|(b)$`, which selects all three; the pattern is
    // not a valid I-Regexp, so handoff's select none.
    let input = json!({"v": ["a", "b", "xb"]});
    assert_eq!(select("$.v[?match(@, 'a)|(b')]", &input), json!([]));
    assert_eq!(select("$.v[?search(@, 'a)|(b')]", &input), json!([]));
    assert_eq!(
        select("$.v[?search(@, 'a|b')]", &input),
        json!(["a", "b", "xb"])
    );
}

#[test]
fn filter_1000_items() {
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"id": format!("AB-{i:04}"), "name": format!("customer_{i}_{}", "x".repeat(i % 60))}))
        .collect();
    let input = json!({ "items": items });
    for (path, n) in [
        (r"$.items[?match(@.id, '[A-Z]{2}-[0-9]{4}')]", 1000),
        (r"$.items[?search(@.name, '\\w')]", 1000),
        (r"$.items[?match(@.name, '\\w{20}.*')]", 878),
        // Over the 1 MiB compiled-size limit: matches nothing, like an invalid pattern.
        (r"$.items[?search(@.name, '\\w{50}')]", 0),
        (r"$.items[?match(@.id, '(a')]", 0),
    ] {
        let start = Instant::now();
        assert_eq!(count(path, &input), n, "{path}");
        // Printed for `--nocapture`; never asserted.
        println!(
            "{path}: {:?} for 1000 items (compile and transform)",
            start.elapsed()
        );
    }
}
