//! CLI tests: they run the real `handoff` binary.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use common::{handoff, root, text};
use serde_json::Value;

#[test]
fn check_accepts_the_shipped_rules() {
    let out = handoff(&["check", "rules/"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("0 error(s)"));
}

#[test]
fn check_reports_all_four_errors_with_positions() {
    let out = handoff(&["check", "fixtures/core/err_four_errors/rule.toml"], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for want in [
        "fixtures/core/err_four_errors/rule.toml:6:55: error[E200]",
        "fixtures/core/err_four_errors/rule.toml:7:35: error[E201]",
        "fixtures/core/err_four_errors/rule.toml:8:64: error[E105]",
        "fixtures/core/err_four_errors/rule.toml:9:81: error[E106]",
    ] {
        assert!(stderr.contains(want), "missing `{want}` in:\n{stderr}");
    }
    assert!(stderr.contains('^'), "a caret under the span");
}

#[test]
fn check_json_format_is_machine_readable() {
    let out = handoff(
        &[
            "check",
            "--format",
            "json",
            "fixtures/core/err_four_errors/rule.toml",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let codes: Vec<&str> = list.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E200", "E201", "E105", "E106"]);
    assert_eq!(list[1]["line"], 7);
}

#[test]
fn run_keeps_order_and_dead_letters_every_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let report = dir.path().join("report.json");
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"sessionId\": \"s1\", \"channel\": \"voice\"}\n");
    input.extend_from_slice(b"{\"sessionId\": \"s2\", \"cogn\n");
    input.extend_from_slice(b"{\"sessionId\": \"\xff\xfe\"}\n");
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"{\"sessionId\": \"s4\"} trailing\n");
    input.extend_from_slice(b"{\"sessionId\": \"s5\"}");
    let out = handoff(
        &[
            "run",
            "rules/cxone_handoff.toml",
            "--dead-letter",
            dead.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &input,
    );
    assert_eq!(out.status.code(), Some(1), "failures give a non-zero exit");
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sessions: Vec<&str> = lines
        .iter()
        .map(|l| l["interactionId"].as_str().unwrap())
        .collect();
    assert_eq!(sessions, ["s1", "s5"]);
    assert_eq!(lines[0]["requestType"], "voice");

    let records: Vec<Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    assert_eq!(
        records
            .iter()
            .map(|r| r["source"]["line"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [2, 3, 5]
    );
    assert!(
        records
            .iter()
            .all(|r| r["code"] == "E402" && r["source"]["file"] == "<stdin>")
    );
    assert_eq!(records[0]["raw"], "{\"sessionId\": \"s2\", \"cogn");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(records[1]["raw_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, b"{\"sessionId\": \"\xff\xfe\"}");
    assert_eq!(records[2]["raw"], "{\"sessionId\": \"s4\"} trailing");

    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("read 5 = ok 2 + no rule 0 + failed 3"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        (report["read"].as_u64(), report["failed"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(report["reconciles"], true);
    assert!(report["latency"]["p99_us"].as_f64().unwrap() > 0.0);
}

#[test]
fn run_over_the_shipped_fixtures_matches_the_oracle_line_count() {
    let out = handoff(
        &[
            "run",
            "rules/cxone_handoff.toml",
            "fixtures/cxone_handoff/payloads.ndjson",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 400);
    assert!(text(&out.stderr).contains("read 400 = ok 400 + no rule 0 + failed 0"));
}

#[test]
fn explain_describes_reads_writes_and_failures() {
    let out = handoff(&["explain", "rules/cxone_handoff.toml"], b"");
    assert!(out.status.success());
    let s = text(&out.stdout);
    for want in [
        "rule `cxone-handoff`",
        "reads: $.cognigy.intents[*]",
        "writes: requestType, interactionId, routingData.queueId",
        "take the node with the largest `confidence` (the first on a tie)",
        "look the value up in table `routes`",
        "cast leniently to boolean",
        "parses only the parts of a payload its rules read",
    ] {
        assert!(s.contains(want), "missing `{want}` in:\n{s}");
    }
}

#[test]
fn a_broken_rule_file_runs_nothing() {
    let out = handoff(&["run", "fixtures/core/err_four_errors/rule.toml"], b"{}\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("nothing was run"));
}

#[cfg(unix)]
#[test]
fn check_fails_on_a_template_that_is_a_symlink_out_of_the_rules_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, outside) = (dir.path().join("rules"), dir.path().join("outside.j2"));
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(&outside, "{\"secret\": 1}").unwrap();
    std::os::unix::fs::symlink(&outside, rules.join("t.json.j2")).unwrap();
    std::fs::write(
        rules.join("r.toml"),
        "[[rule]]\nname = \"r\"\n\n[rule.map]\n\"$\" = { template_file = \"t.json.j2\" }\n",
    )
    .unwrap();
    let out = handoff(&["check", rules.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let want = format!("{}:5:25: error[E118]:", rules.join("r.toml").display());
    assert!(printed.contains(&want), "{printed}");
    let out = handoff(&["run", rules.to_str().unwrap()], b"{}\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing of the outside file is written"
    );
}

#[test]
fn a_template_beside_a_rule_file_named_without_a_folder_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.json.j2"),
        "{\"a\": {% include \"part.j2\" %}}",
    )
    .unwrap();
    std::fs::write(dir.path().join("part.j2"), "1").unwrap();
    std::fs::write(
        dir.path().join("r.toml"),
        "[[rule]]\nname = \"r\"\n\n[rule.map]\n\"$\" = { template_file = \"t.json.j2\" }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["run", "r.toml"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = handoff(&["check", dir.path().join("r.toml").to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn usage_errors_exit_2() {
    let out = handoff(
        &[
            "run",
            "rules/cxone_handoff.toml",
            "/nonexistent/input.ndjson",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot open"));
}

#[test]
fn test_runs_the_rule_tests_and_shows_a_diff() {
    let out = handoff(&["test", "rules/"], b"");
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .ends_with(" passed, 0 failed")
    );

    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("r.toml");
    std::fs::write(
        &rule,
        r#"
[[rule]]
name = "r"
[rule.map]
tier = { path = "$.tier", fallback = "standard" }
[[rule.test]]
name = "wrong expectation"
input = { tier = "gold" }
expect = { tier = "silver" }
[[rule.test]]
name = "right expectation"
input = {}
expect = { tier = "standard" }
[[rule.test]]
name = "expects an error that does not happen"
input = {}
expect_error = "E502"
"#,
    )
    .unwrap();
    let out = handoff(&["test", rule.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(s.contains("FAILED  r :: wrong expectation"), "{s}");
    assert!(
        s.contains("-   \"tier\": \"silver\"") && s.contains("+   \"tier\": \"gold\""),
        "{s}"
    );
    assert!(
        s.contains("expected the error E502 cast_failed, got the output"),
        "{s}"
    );
    assert!(s.ends_with("1 passed, 2 failed\n"), "{s}");
}

#[test]
fn an_interrupted_run_writes_what_it_read_and_says_how_far_it_got() {
    use std::io::{BufRead, BufReader, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["run", "rules/cxone_handoff.toml"])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("handoff starts");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stdin.write_all(b"{\"sessionId\": \"s1\"}\n").unwrap();
    stdin.flush().unwrap();
    // The first output arrives while stdin is still open: lines are written as they come.
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"interactionId\":\"s1\""), "{first}");
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The run says at once that it saw the signal; it is waiting for its next input then.
    let mut notice = String::new();
    stderr.read_line(&mut notice).unwrap();
    assert!(
        notice.contains("interrupted: stopping after the input being read"),
        "{notice}"
    );
    // If the run was waiting in a read, that input ends the wait: it is still transformed, and
    // the run stops after it. If the signal came before the run went back to reading, it stops
    // at once and never reads it (the pipe may then be closed: the write may fail). Which of the
    // two happens is up to the scheduler; in both, what was read is written and the summary
    // says exactly how far the run got.
    let _ = stdin.write_all(b"{\"sessionId\": \"s2\"}\n");
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut log = String::new();
    stderr.read_to_string(&mut log).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130), "{log}");
    let want = if rest.is_empty() {
        "read 1 = ok 1 + no rule 0 + failed 0 [interrupted after <stdin>:1]"
    } else {
        assert!(rest.contains("\"interactionId\":\"s2\""), "{rest}");
        "read 2 = ok 2 + no rule 0 + failed 0 [interrupted after <stdin>:2]"
    };
    assert!(log.contains(want), "{log}");
}

#[test]
fn schema_prints_the_shipped_schema() {
    let out = handoff(&["schema"], b"");
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let shipped: Value =
        serde_json::from_slice(&std::fs::read(root().join("docs/rule-file.schema.json")).unwrap())
            .unwrap();
    assert_eq!(printed, shipped);
    assert_eq!(printed["title"], "handoff rule file");
}

/// `handoff serve` starts on loopback with the shipped rule and no secret (warning that
/// signatures are off), answers /health and a webhook, and stops cleanly on SIGTERM. It listens
/// on port 0 and the test reads the bound address from its log (no port is picked and released,
/// no polling until it answers).
#[test]
fn serve_starts_answers_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--rules", "rules/cxone_handoff.toml", "--no-watch"])
        .arg("--dead-letter")
        .arg(dir.path().join("dead.jsonl"))
        .current_dir(root())
        .env_remove("HANDOFF_WEBHOOK_SECRET")
        .env_remove("HANDOFF_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("handoff starts");
    // The log line `handoff gateway listening addr=127.0.0.1:PORT ...` comes once the socket is
    // bound; what came before it is kept for the assertions below.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "the gateway ended before listening:\n{log}");
        log.push_str(&line);
        if let Some(rest) = line
            .split("addr=")
            .nth(1)
            .filter(|_| line.contains("listening"))
        {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let request = |req: &str| -> String {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    let health = request("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body = r#"{"sessionId": "s1", "channel": "voice"}"#;
    let answer = request(&format!(
        "POST /v1/transform/cxone-handoff HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"interactionId\":\"s1\""), "{answer}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    stderr.read_to_string(&mut log).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{log}");
    assert!(log.to_lowercase().contains("signatures are off"), "{log}");
}
