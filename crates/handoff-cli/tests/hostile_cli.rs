//! Hostile payloads through the real `handoff run` binary: every line is transformed or lands
//! in the dead-letter file with its exact code and raw bytes.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use common::{handoff, root};
use serde_json::{Value, json};

/// What a run produced: outputs, dead-letter records, the exit code and the stderr summary.
struct Run {
    outputs: Vec<Value>,
    dead: Vec<Value>,
    code: Option<i32>,
    stderr: String,
}

/// `handoff run RULE --dead-letter FILE [INPUT]` with `stdin` on standard input.
fn run(rule: &Path, input: Option<&Path>, stdin: &[u8]) -> Run {
    run_with(rule, input, stdin, &[])
}

/// [`run`] with extra arguments.
fn run_with(rule: &Path, input: Option<&Path>, stdin: &[u8], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let mut args = vec![
        "run",
        rule.to_str().unwrap(),
        "--dead-letter",
        dead.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    if let Some(input) = input {
        args.push(input.to_str().unwrap());
    }
    let out = handoff(&args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let parse = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).expect("one JSON value per line"))
            .collect()
    };
    Run {
        outputs: parse(std::str::from_utf8(&out.stdout).expect("stdout is UTF-8")),
        dead: parse(&std::fs::read_to_string(&dead).unwrap_or_default()),
        code: out.status.code(),
        stderr,
    }
}

/// The raw bytes a dead-letter record kept.
fn raw(record: &Value) -> Vec<u8> {
    match (&record["raw"], &record["raw_base64"]) {
        (Value::String(s), Value::Null) => s.as_bytes().to_vec(),
        (Value::Null, Value::String(b)) => {
            base64::engine::general_purpose::STANDARD.decode(b).unwrap()
        }
        _ => panic!("a record has exactly one of raw and raw_base64: {record}"),
    }
}

/// `(line, code)` of every record.
fn codes(dead: &[Value]) -> Vec<(u64, &str)> {
    dead.iter()
        .map(|r| {
            (
                r["source"]["line"].as_u64().unwrap(),
                r["code"].as_str().unwrap(),
            )
        })
        .collect()
}

fn ndjson(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// The canonical rule with `payload_bytes` raised to 32 MiB, so the parser meets the payload.
fn big_rules(dir: &Path) -> (PathBuf, PathBuf) {
    let canonical = std::fs::read_to_string(root().join("rules/cxone_handoff.toml")).unwrap();
    let big = dir.join("canonical_big.toml");
    std::fs::write(
        &big,
        format!("[limits]\npayload_bytes = 33554432\n\n{canonical}"),
    )
    .unwrap();
    let whole = dir.join("whole.toml");
    std::fs::write(
        &whole,
        "[limits]\npayload_bytes = 33554432\n[[rule]]\nname = \"whole\"\n[rule.map]\nnames = { path = \"$..name\", select = \"all\" }\n",
    )
    .unwrap();
    (big, whole)
}

fn session(v: &Value) -> &Value {
    &v["interactionId"]
}

#[test]
fn every_hostile_line_under_default_limits_gets_its_outcome() {
    let mut over = br#"{"sessionId":"s2","filler":""#.to_vec();
    over.resize(256 * 1024 - 1, b'x');
    over.extend_from_slice(br#""}"#);
    let ten_mb = format!(r#"{{"sessionId":"{}"}}"#, "x".repeat(10 << 20));
    let lines: Vec<Vec<u8>> = vec![
        br#"{"sessionId":"s1"}"#.to_vec(),
        over,
        format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000)).into_bytes(),
        b"{\"sessionId\":\"\xff\"}".to_vec(),
        b"\xEF\xBB\xBF{\"sessionId\":\"s5\"}".to_vec(),
        br#"{"sessionId":"dup","sessionId":"s6"}"#.to_vec(),
        br#"{"sessionId":1e400}"#.to_vec(),
        br#"{"sessionId":123456789012345678901234567890}"#.to_vec(),
        br#"{"sessionId":"s9","cognigy":{"sentiment":{"score":"-Infinity"}}}"#.to_vec(),
        ten_mb.clone().into_bytes(),
        b"{\"sessionId\":\"s11\"}\r".to_vec(),
        b"\xFF\xFE{\x00}\x00".to_vec(),
    ];
    let canonical = root().join("rules/cxone_handoff.toml");
    for jobs in ["1", "3"] {
        let r = run_with(&canonical, None, &ndjson(&lines), &["--jobs", jobs]);
        assert_eq!(r.code, Some(1), "failures give exit 1: {}", r.stderr);
        let sessions: Vec<&Value> = r.outputs.iter().map(session).collect();
        assert_eq!(
            sessions,
            [
                &json!("s1"),
                &json!("s5"),
                &json!("s6"),
                &json!(1.2345678901234568e29),
                &json!("s9"),
                &json!("s11"),
            ]
        );
        assert_eq!(r.outputs[4]["attributes"]["sentimentScore"], json!(0));
        assert_eq!(
            codes(&r.dead),
            [
                (2, "E400"),
                (3, "E400"),
                (4, "E402"),
                (7, "E402"),
                (10, "E400"),
                (12, "E402"),
            ]
        );
        for record in &r.dead {
            let line = record["source"]["line"].as_u64().unwrap() as usize;
            let want = &lines[line - 1];
            if record["truncated"] == true {
                // Too long to be read whole: its length and first 4096 bytes.
                assert_eq!(record["length"], json!(want.len()), "length of line {line}");
                assert_eq!(raw(record), want[..4096], "first bytes of line {line}");
            } else {
                assert_eq!(raw(record), *want, "raw bytes of line {line}");
            }
            assert_eq!(record["source"]["file"], "<stdin>");
        }
        // The 2 MB and 10 MB lines are cut; the one just over 256 KiB is kept whole.
        let cut: Vec<bool> = r.dead.iter().map(|d| d["truncated"] == true).collect();
        assert_eq!(cut, [false, true, false, false, true, false]);
        assert_eq!(
            r.dead[4]["error"],
            format!(
                "E400 payload_too_large: payload is {} bytes, the limit is 262144; it was not \
                 read whole, and only its first 4096 bytes are kept",
                ten_mb.len()
            )
        );
        assert!(r.dead[2]["raw_base64"].is_string() && r.dead[5]["raw_base64"].is_string());
        assert!(
            r.stderr.contains("read 12 = ok 6 + no rule 0 + failed 6"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn with_raised_limits_nesting_bombs_are_e401_when_read_and_skipped_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (big, whole) = big_rules(dir.path());
    let array = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    let object = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    let lines: Vec<Vec<u8>> = vec![
        format!(r#"{{"sessionId":"s1","cognigy":{{"intents":[{array}]}}}}"#).into_bytes(),
        format!(r#"{{"sessionId":"s2","noise":{array}}}"#).into_bytes(),
        format!(r#"{{"sessionId":"s3","cognigy":{{"entities":[{object}]}}}}"#).into_bytes(),
        format!(r#"{{"sessionId":"s4","noise":{object}}}"#).into_bytes(),
        format!(r#"{{"sessionId":"s5","noise":{}"#, "[".repeat(1_000_000)).into_bytes(),
        array.clone().into_bytes(),
    ];
    let input = ndjson(&lines);

    let r = run(&big, None, &input);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let sessions: Vec<&Value> = r.outputs.iter().map(session).collect();
    // The canonical rule reads members only: a top-level array gives the all-fallback output.
    assert_eq!(sessions, [&json!("s2"), &json!("s4"), &Value::Null]);
    assert_eq!(codes(&r.dead), [(1, "E401"), (3, "E401"), (5, "E402")]);
    for record in &r.dead {
        let line = record["source"]["line"].as_u64().unwrap() as usize;
        assert_eq!(raw(record), lines[line - 1]);
    }
    assert!(
        r.stderr.contains("read 6 = ok 3 + no rule 0 + failed 3"),
        "{}",
        r.stderr
    );

    // A descendant path builds the whole payload: every bomb is read.
    let r = run(&whole, None, &input);
    assert_eq!(r.outputs, Vec::<Value>::new());
    assert_eq!(
        codes(&r.dead),
        [
            (1, "E401"),
            (2, "E401"),
            (3, "E401"),
            (4, "E401"),
            (5, "E401"),
            (6, "E401"),
        ]
    );
}

#[test]
fn with_raised_limits_wide_arrays_and_long_strings_are_transformed() {
    let dir = tempfile::tempdir().unwrap();
    let (big, whole) = big_rules(dir.path());
    let mut intents: Vec<Value> = (0..200_000)
        .map(|i| json!({"name": format!("i{i}"), "confidence": 0.1}))
        .collect();
    intents[123_456] = json!({"name": "intent_refund_request", "confidence": 0.97});
    let wide = json!({"sessionId": "wide", "cognigy": {"intents": intents}}).to_string();
    let long = "\u{1F600}".repeat(10 << 18);
    assert_eq!(long.len(), 10 << 20);
    let lines: Vec<Vec<u8>> = vec![
        wide.into_bytes(),
        json!({"sessionId": long}).to_string().into_bytes(),
        json!({"sessionId": "s3", "transcript": long})
            .to_string()
            .into_bytes(),
    ];
    let input = ndjson(&lines);

    let r = run(&big, None, &input);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.dead.is_empty());
    let sessions: Vec<&Value> = r.outputs.iter().map(session).collect();
    assert_eq!(sessions, [&json!("wide"), &json!(long), &json!("s3")]);
    assert_eq!(
        r.outputs[0]["routingData"],
        json!({"queueId": "q-refunds", "skillIds": [], "priority": 1})
    );
    assert_eq!(
        r.outputs[0]["attributes"]["botIntent"],
        "intent_refund_request"
    );

    let r = run(&whole, None, &input);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.outputs[0]["names"].as_array().unwrap().len(), 200_000);
    assert_eq!(r.outputs[1]["names"], json!([]));
}

#[test]
fn a_whole_json_file_keeps_its_bom_and_reports_bad_bytes_as_base64() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("turn.json");
    std::fs::write(
        &good,
        b"\xEF\xBB\xBF{\n  \"sessionId\": \"s1\",\n  \"channel\": \"voice\"\n}\n",
    )
    .unwrap();
    let r = run(&root().join("rules/cxone_handoff.toml"), Some(&good), b"");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.outputs.len(), 1);
    assert_eq!(
        (&r.outputs[0]["interactionId"], &r.outputs[0]["requestType"]),
        (&json!("s1"), &json!("voice"))
    );

    let bad = dir.path().join("bad.json");
    let bytes = b"{\n  \"sessionId\": \"\xC0\xAF\"\n}";
    std::fs::write(&bad, bytes).unwrap();
    let r = run(&root().join("rules/cxone_handoff.toml"), Some(&bad), b"");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.dead.len(), 1);
    assert_eq!(r.dead[0]["code"], "E402");
    assert_eq!(r.dead[0]["source"]["line"], Value::Null);
    assert_eq!(raw(&r.dead[0]), bytes);
}

#[test]
fn nan_like_strings_in_strict_casts_are_dead_lettered_with_rule_target_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("casts.toml");
    std::fs::write(
        &rule,
        "[[rule]]\nname = \"casts\"\n[rule.map]\nscore = { path = \"$.score\", cast = \"number\" }\n",
    )
    .unwrap();
    let values = ["NaN", "inf", "-Infinity", "1e400", "0.5"];
    let lines: Vec<Vec<u8>> = values
        .iter()
        .map(|v| json!({ "score": v }).to_string().into_bytes())
        .collect();
    let r = run(&rule, None, &ndjson(&lines));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.outputs, [json!({"score": 0.5})]);
    assert_eq!(
        codes(&r.dead),
        [(1, "E502"), (2, "E502"), (3, "E502"), (4, "E502")]
    );
    // The message after the context; the context itself is checked field by field below.
    let message = |i: usize| {
        let error = r.dead[i]["error"].as_str().unwrap();
        error[error.find("): ").expect("a context") + 3..].to_owned()
    };
    assert_eq!(
        message(0),
        "cannot cast string \"NaN\" to number: the string is not a number"
    );
    assert_eq!(
        message(3),
        "cannot cast string \"1e400\" to number: the number is out of range"
    );
    for record in &r.dead {
        assert_eq!(
            (&record["rule"], &record["target"], &record["path"]),
            (&json!("casts"), &json!("score"), &json!("$.score"))
        );
    }
}
