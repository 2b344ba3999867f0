//! Hostile payloads through `Plan::transform`: every class has one defined, exact outcome.

use std::path::Path;

use handoff_core::{Code, Outcome, Plan, compile_text};
use serde_json::{Value, json};

/// 32 MiB: large enough that the parser, not the size check, meets the payload.
const BIG: usize = 32 << 20;

fn compile(name: &str, text: String) -> Plan {
    match compile_text(name, text) {
        Ok(c) => c.plan,
        Err(d) => panic!("{name} does not compile:\n{}", d.render(false)),
    }
}

fn canonical_text() -> String {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    std::fs::read_to_string(root.join("rules/cxone_handoff.toml")).expect("canonical rule")
}

/// The canonical rule with its default limits (256 KiB, depth 64).
fn canonical() -> Plan {
    compile("cxone_handoff.toml", canonical_text())
}

/// The canonical rule with `payload_bytes` raised to 32 MiB.
fn canonical_big() -> Plan {
    let text = format!("[limits]\npayload_bytes = {BIG}\n\n{}", canonical_text());
    compile("cxone_handoff_big.toml", text)
}

/// A rule whose descendant path (`$..name`) makes the engine build the whole payload, plus a
/// filter; `payload_bytes` raised to 32 MiB.
fn whole() -> Plan {
    let text = format!(
        r#"
[limits]
payload_bytes = {BIG}

[[rule]]
name = "whole"
[rule.map]
names = {{ path = "$..name", select = "all" }}
confident = {{ path = "$.cognigy.intents[?@.confidence > 0.5].name", select = "first", on_missing = "null" }}
"#
    );
    compile("whole.toml", text)
}

/// Casts that fail rather than fall back.
fn casts() -> Plan {
    let text = r#"
[[rule]]
name = "casts"
on_missing = "skip"
[rule.map]
number = { path = "$.n", cast = "number" }
integer = { path = "$.i", cast = "integer" }
boolean = { path = "$.b", cast = "boolean" }
"#;
    compile("casts.toml", text.into())
}

/// The output text, or the error code.
fn run(plan: &Plan, payload: &[u8]) -> Result<String, Code> {
    let mut out = Vec::new();
    match plan.transform(payload, None, &mut out) {
        Ok(Outcome::Transformed { .. } | Outcome::Ignored { .. }) => {
            Ok(String::from_utf8(out).expect("output is UTF-8"))
        }
        Ok(Outcome::NoRule { reason }) => panic!("no rule applies: {reason}"),
        Err(e) => Err(e.code()),
    }
}

/// The canonical rule's output for a payload without intents, entities or profile.
fn canonical_out(interaction_id: Value, sentiment: Value) -> String {
    json!({
        "requestType": "chat",
        "interactionId": interaction_id,
        "routingData": {"queueId": "q-default", "skillIds": [], "priority": 5},
        "attributes": {
            "botIntent": "unknown", "botConfidence": 0.0, "userId": "unknown", "language": "en",
            "customerTier": "standard", "vip": false, "sentimentScore": sentiment, "entities": {}
        }
    })
    .to_string()
}

fn empty_out() -> String {
    canonical_out(Value::Null, json!(0))
}

/// `{"sessionId":"s","filler":"xxx…"}` of exactly `len` bytes.
fn padded(len: usize) -> Vec<u8> {
    let head = br#"{"sessionId":"s","filler":""#;
    let mut p = head.to_vec();
    p.resize(len - 2, b'x');
    p.extend_from_slice(br#""}"#);
    assert_eq!(p.len(), len);
    p
}

fn array_bomb(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn object_bomb(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

#[test]
fn size_at_the_limit_is_transformed_and_one_byte_over_is_e400() {
    let plan = canonical();
    assert_eq!(
        run(&plan, &padded(256 * 1024)),
        Ok(canonical_out(json!("s"), json!(0)))
    );
    let mut out = Vec::new();
    let e = plan
        .transform(&padded(256 * 1024 + 1), None, &mut out)
        .unwrap_err();
    assert_eq!(e.code(), Code::PayloadTooLarge);
    assert_eq!(
        e.to_string(),
        "E400 payload_too_large: payload is 262145 bytes, the limit is 262144"
    );
    assert!(out.is_empty(), "nothing is written on failure");
}

#[test]
fn a_million_deep_array_is_e400_by_default_and_e401_when_read() {
    let bomb = array_bomb(1_000_000);
    assert_eq!(
        run(&canonical(), bomb.as_bytes()),
        Err(Code::PayloadTooLarge)
    );
    assert_eq!(run(&whole(), bomb.as_bytes()), Err(Code::PayloadTooDeep));
    // Unbalanced: a million `[` and nothing else.
    let open = "[".repeat(1_000_000);
    assert_eq!(run(&whole(), open.as_bytes()), Err(Code::PayloadTooDeep));
}

#[test]
fn a_million_deep_top_level_array_is_skipped_by_a_rule_that_reads_only_members() {
    // The canonical rule reads members of an object; an array's elements are skipped unbuilt,
    // so the payload has none of the members and every target falls back.
    let bomb = array_bomb(1_000_000);
    assert_eq!(run(&canonical_big(), bomb.as_bytes()), Ok(empty_out()));
    let open = "[".repeat(1_000_000);
    assert_eq!(
        run(&canonical_big(), open.as_bytes()),
        Err(Code::InvalidJson)
    );
}

#[test]
fn a_million_deep_array_in_a_read_field_is_e401() {
    // Selected intents are built in full.
    let p = format!(
        r#"{{"sessionId":"s","cognigy":{{"intents":[{}]}}}}"#,
        array_bomb(1_000_000)
    );
    assert_eq!(
        run(&canonical_big(), p.as_bytes()),
        Err(Code::PayloadTooDeep)
    );
    assert_eq!(run(&whole(), p.as_bytes()), Err(Code::PayloadTooDeep));
}

#[test]
fn a_million_deep_array_in_a_skipped_field_is_transformed() {
    let p = format!(r#"{{"sessionId":"s","noise":{}}}"#, array_bomb(1_000_000));
    assert_eq!(
        run(&canonical_big(), p.as_bytes()),
        Ok(canonical_out(json!("s"), json!(0)))
    );
    // Truncated: the skipping scan reaches the end of the input.
    let p = format!(r#"{{"sessionId":"s","noise":{}"#, "[".repeat(1_000_000));
    assert_eq!(run(&canonical_big(), p.as_bytes()), Err(Code::InvalidJson));
}

#[test]
fn a_100k_deep_object_is_e401_when_read_and_transformed_when_skipped() {
    let bomb = object_bomb(100_000);
    assert_eq!(
        run(&canonical(), bomb.as_bytes()),
        Err(Code::PayloadTooLarge)
    );
    let read = format!(r#"{{"cognigy":{{"entities":[{bomb}]}}}}"#);
    assert_eq!(
        run(&canonical_big(), read.as_bytes()),
        Err(Code::PayloadTooDeep)
    );
    assert_eq!(run(&whole(), bomb.as_bytes()), Err(Code::PayloadTooDeep));
    let skipped = format!(r#"{{"sessionId":"s","user":{{"profile":{{"extra":{bomb}}}}}}}"#);
    assert_eq!(
        run(&canonical_big(), skipped.as_bytes()),
        Ok(canonical_out(json!("s"), json!(0)))
    );
}

/// A rule that copies the whole payload, with the maximum `payload_depth`.
fn deepest() -> Plan {
    let text = "[limits]\npayload_depth = 128\n[[rule]]\nname = \"copy\"\n[rule.map]\nall = { from = \"input\" }\n";
    compile("deepest.toml", text.into())
}

#[test]
fn depth_127_is_transformed_under_the_maximum_limit() {
    let p = array_bomb(127);
    assert_eq!(
        run(&deepest(), p.as_bytes()),
        Ok(format!(r#"{{"all":{p}}}"#))
    );
}

#[test]
fn depth_at_the_maximum_limit_is_transformed_and_one_over_is_e401() {
    // rules.md: `payload_depth` ranges 1-128, the top-level value is depth 1.
    let p = array_bomb(128);
    assert_eq!(
        run(&deepest(), p.as_bytes()),
        Ok(format!(r#"{{"all":{p}}}"#))
    );
    assert_eq!(
        run(&deepest(), array_bomb(129).as_bytes()),
        Err(Code::PayloadTooDeep)
    );
    let p = object_bomb(128);
    assert_eq!(
        run(&deepest(), p.as_bytes()),
        Ok(format!(r#"{{"all":{p}}}"#))
    );
}

#[test]
fn a_200k_element_array_is_transformed() {
    let mut intents: Vec<Value> = (0..200_000)
        .map(|i| json!({"name": format!("intent_{i}"), "confidence": 0.1}))
        .collect();
    intents[199_999] = json!({"name": "intent_billing", "confidence": 0.99});
    let entities: Vec<Value> = (0..200_000)
        .map(|i| json!({"name": "k", "value": format!("v{i}")}))
        .collect();
    let noise: Vec<u32> = (0..200_000).collect();
    let payload = json!({"sessionId": "s", "cognigy": {"intents": intents, "entities": entities}, "noise": noise});
    let want = json!({
        "requestType": "chat",
        "interactionId": "s",
        "routingData": {"queueId": null, "skillIds": ["sk-billing"], "priority": 3},
        "attributes": {
            "botIntent": "intent_billing", "botConfidence": 0.99, "userId": "unknown",
            "language": "en", "customerTier": "standard", "vip": false, "sentimentScore": 0,
            "entities": {"k": "v199999"}
        }
    });
    let text = payload.to_string();
    assert_eq!(
        run(&canonical(), text.as_bytes()),
        Err(Code::PayloadTooLarge)
    );
    assert_eq!(run(&canonical_big(), text.as_bytes()), Ok(want.to_string()));

    let out: Value = serde_json::from_str(&run(&whole(), text.as_bytes()).unwrap()).unwrap();
    let names = out["names"].as_array().unwrap();
    assert_eq!(
        names.len(),
        400_000,
        "200k intent names and 200k entity names"
    );
    assert_eq!(out["confident"], "intent_billing");
}

#[test]
fn a_10_mb_string_is_e400_by_default_and_kept_whole_when_allowed() {
    let big = "é".repeat(5 << 20);
    assert_eq!(big.len(), 10 << 20);
    let read = format!(r#"{{"sessionId":"{big}"}}"#);
    assert_eq!(
        run(&canonical(), read.as_bytes()),
        Err(Code::PayloadTooLarge)
    );
    assert_eq!(
        run(&canonical_big(), read.as_bytes()),
        Ok(canonical_out(json!(big), json!(0)))
    );
    let skipped = format!(r#"{{"sessionId":"s","transcript":"{big}"}}"#);
    assert_eq!(
        run(&canonical_big(), skipped.as_bytes()),
        Ok(canonical_out(json!("s"), json!(0)))
    );
    let escaped = format!(r#"{{"name":"{}"}}"#, r"\u00e9".repeat(1 << 20));
    let out = run(&whole(), escaped.as_bytes()).unwrap();
    assert_eq!(
        out,
        json!({"names": ["é".repeat(1 << 20)], "confident": null}).to_string()
    );
}

#[test]
fn invalid_utf8_in_a_read_field_is_e402() {
    for p in [
        &b"{\"sessionId\":\"\xff\"}"[..],
        b"{\"sessionId\":\"\xc3\x28\"}",
        b"{\"sessionId\":\"\xed\xa0\x80\"}", // an encoded surrogate
        b"{\"sessionId\":\"\xf8\x88\x80\x80\x80\"}", // a five-byte form
        b"{\"\xff\":1}",                     // in a member name
        b"\xff",
    ] {
        assert_eq!(run(&canonical(), p), Err(Code::InvalidJson), "{p:?}");
        assert_eq!(run(&whole(), p), Err(Code::InvalidJson), "{p:?}");
    }
}

#[test]
fn invalid_utf8_in_a_skipped_field_is_e402() {
    // docs/errors.md: E402 is raised for a payload that is not UTF-8, read or not.
    let p = b"{\"sessionId\":\"s\",\"transcript\":\"\xff\xfe\"}";
    assert_eq!(run(&canonical(), p), Err(Code::InvalidJson));
    let p = b"{\"sessionId\":\"s\",\"noise\":[{\"\xc3\x28\":1}]}";
    assert_eq!(run(&canonical(), p), Err(Code::InvalidJson));
}

#[test]
fn a_leading_utf8_bom_is_skipped_and_other_boms_are_e402() {
    let plan = canonical();
    assert_eq!(
        run(&plan, b"\xEF\xBB\xBF{\"sessionId\":\"s\"}"),
        Ok(canonical_out(json!("s"), json!(0)))
    );
    // U+FEFF inside a string is an ordinary character.
    assert_eq!(
        run(&plan, "{\"sessionId\":\"\u{feff}s\"}".as_bytes()),
        Ok(canonical_out(json!("\u{feff}s"), json!(0)))
    );
    for p in [
        &b"\xEF\xBB\xBF\xEF\xBB\xBF{}"[..], // two BOMs
        b"\xFF\xFE{\x00}\x00",              // UTF-16 LE
        b"\xFE\xFF\x00{\x00}",              // UTF-16 BE
        b"\xEF\xBB\xBF",                    // a BOM and nothing else
        b" \xEF\xBB\xBF{}",                 // a BOM after whitespace
    ] {
        assert_eq!(run(&plan, p), Err(Code::InvalidJson), "{p:?}");
    }
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let plan = canonical();
    assert_eq!(
        run(&plan, br#"{"sessionId":"a","sessionId":"b"}"#),
        Ok(canonical_out(json!("b"), json!(0)))
    );
    // The later object replaces the earlier one whole; they are not merged.
    let p = br#"{"cognigy":{"intents":[{"name":"intent_billing","confidence":0.9}]},"cognigy":{"sentiment":{"score":0.5}}}"#;
    assert_eq!(run(&plan, p), Ok(canonical_out(Value::Null, json!(0.5))));
    let out = run(&whole(), br#"{"name":"a","x":{"name":"b","name":"c"}}"#).unwrap();
    assert_eq!(out, r#"{"names":["a","c"],"confident":null}"#);
}

#[test]
fn numbers_beyond_f64_are_e402_when_read_and_skipped_otherwise() {
    let plan = canonical();
    for n in ["1e400", "-1e400", "1e309"] {
        let p = format!(r#"{{"sessionId":{n}}}"#);
        assert_eq!(run(&plan, p.as_bytes()), Err(Code::InvalidJson), "{n}");
        let p = format!(r#"{{"sessionId":"s","noise":{n}}}"#);
        assert_eq!(
            run(&plan, p.as_bytes()),
            Ok(canonical_out(json!("s"), json!(0))),
            "{n}"
        );
    }
    // Underflow rounds to zero rather than failing.
    assert_eq!(
        run(&plan, br#"{"sessionId":1e-400}"#),
        Ok(canonical_out(json!(0.0), json!(0)))
    );
}

#[test]
fn integers_beyond_i64_become_the_nearest_f64() {
    let plan = canonical();
    let cases = [
        ("123456789012345678901234567890", "1.2345678901234568e+29"),
        ("-123456789012345678901234567890", "-1.2345678901234568e+29"),
        ("18446744073709551615", "18446744073709551615"), // u64::MAX stays exact
        ("18446744073709551616", "1.8446744073709552e+19"),
        ("-9223372036854775809", "-9.223372036854776e+18"),
    ];
    for (n, written) in cases {
        let p = format!(r#"{{"sessionId":{n}}}"#);
        let want = empty_out().replace(
            r#""interactionId":null"#,
            &format!(r#""interactionId":{written}"#),
        );
        assert_eq!(run(&plan, p.as_bytes()), Ok(want), "{n}");
    }
    let casts = casts();
    assert_eq!(
        run(&casts, br#"{"i":123456789012345678901234567890}"#),
        Err(Code::CastFailed)
    );
    assert_eq!(
        run(&casts, br#"{"i":"123456789012345678901234567890"}"#),
        Err(Code::CastFailed)
    );
    assert_eq!(
        run(&casts, br#"{"n":"123456789012345678901234567890"}"#),
        Ok(r#"{"number":1.2345678901234568e+29}"#.into())
    );
}

#[test]
fn nan_like_strings_fail_number_casts() {
    let plan = canonical();
    let casts = casts();
    for s in [
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
    ] {
        // The canonical rule falls back to 0 for a sentiment score that is not a number.
        let p = json!({"cognigy": {"sentiment": {"score": s}}}).to_string();
        assert_eq!(run(&plan, p.as_bytes()), Ok(empty_out()), "{s}");
        for key in ["n", "i"] {
            let p = json!({ key: s }).to_string();
            let mut out = Vec::new();
            let e = casts.transform(p.as_bytes(), None, &mut out).unwrap_err();
            assert_eq!(e.code(), Code::CastFailed, "{key}: {s}");
            assert_eq!(e.path(), Some(format!("$.{key}").as_str()));
        }
        let p = json!({ "b": s }).to_string();
        assert_eq!(run(&casts, p.as_bytes()), Err(Code::CastFailed), "{s}");
    }
    // NaN and Infinity are not JSON literals.
    for p in [
        &br#"{"cognigy":{"sentiment":{"score":NaN}}}"#[..],
        br#"{"cognigy":{"sentiment":{"score":-Infinity}}}"#,
    ] {
        assert_eq!(run(&plan, p), Err(Code::InvalidJson));
    }
}

/// The diagnostic codes of compiling one mapping that reads `path`.
fn path_codes(path: &str) -> Vec<Code> {
    let text = format!(
        "[[rule]]\nname = \"p\"\n[rule.map]\nx = {{ path = {}, select = \"all\" }}\n",
        serde_json::to_string(path).unwrap()
    );
    match compile_text("p.toml", text) {
        Ok(_) => Vec::new(),
        Err(d) => d.errors().map(|e| e.code).collect(),
    }
}

// Found by the `path` fuzz target; reproducer: fuzz/regressions/path/unterminated-unicode-escape.
#[test]
fn a_path_ending_in_a_unicode_escape_is_e200() {
    for path in [r"$['\u", r#"$["\u"#, r"$[?@.a=='\u", r"$['a\u"] {
        assert_eq!(path_codes(path), [Code::PathSyntax], "{path}");
    }
}

/// Two rules: one reads `data` whole through a template, the other never reads it, so a plan
/// of both defers `data` and builds it only for the first.
fn deferred() -> Plan {
    let text = r#"
[[rule]]
name = "reads-data"
when = { path = "$.kind", eq = "rest" }
[rule.limits]
payload_depth = 4
[rule.map]
"entities" = { template = "{{ input.data | tojson }}" }

[[rule]]
name = "reads-id"
[rule.map]
"id" = { path = "$.id" }
"#;
    compile("deferred.toml", text.to_owned())
}

#[test]
fn a_deferred_part_that_cannot_be_built_fails_only_the_rule_that_reads_it() {
    let plan = deferred();
    let filler = "x".repeat(300);
    for (data, code) in [
        // A lone surrogate passes the skipping scan, not a string's decoding.
        (format!(r#"["\ud800", "{filler}"]"#), Code::InvalidJson),
        // Deeper than the rule's own limit, though not than the plan's.
        (format!(r#"[[[[["{filler}"]]]]]"#), Code::PayloadTooDeep),
    ] {
        for kind in ["rest", "other"] {
            let payload = format!(r#"{{"kind": "{kind}", "id": 7, "data": {data}}}"#);
            let mut out = b"kept ".to_vec();
            let result = plan.transform(payload.as_bytes(), None, &mut out);
            if kind == "rest" {
                assert_eq!(result.unwrap_err().code(), code, "{payload}");
                assert_eq!(out, b"kept ", "nothing written on failure");
            } else {
                assert_eq!(result.unwrap(), Outcome::Transformed { rule: "reads-id" });
                assert_eq!(out, br#"kept {"id":7}"#);
            }
        }
    }
    let fine = format!(r#"{{"kind": "rest", "data": {{"a": "{filler}"}}}}"#);
    let (_, value) = plan.transform_value(None, fine.as_bytes(), None).unwrap();
    assert_eq!(value, Some(json!({"entities": {"a": filler}})));
}
