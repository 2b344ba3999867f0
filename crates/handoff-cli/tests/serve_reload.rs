//! Issue 15, findings 10 and 11, against the real `handoff serve` process: a real SIGHUP
//! reloads the secret file (the old secret refused, the new one accepted), the log is one JSON
//! object a line with one access line per request and no secret or body, the audit file has a
//! record per webhook, and a short secret stops the start with a clear message.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const OLD: &str = "old-webhook-secret-for-the-cli-test-0123";
const NEW: &str = "new-webhook-secret-for-the-cli-test-4567";
const MARKER: &str = "marker-cli-body-5e2c";
/// Only guards against a hang; the events awaited come within a second normally.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn serve(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--config")
        .arg(config)
        .env_remove("HANDOFF_WEBHOOK_SECRET")
        .env_remove("HANDOFF_CONFIG")
        .env_remove("HANDOFF_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("handoff starts")
}

/// A config in `dir`: the shipped rule, the secret in `dir/secret`, no watching (so that only
/// the signal reloads), an audit file.
fn write_config(dir: &Path) -> PathBuf {
    let rules = root().join("rules/cxone_handoff.toml");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "rules = [{rules:?}]\nwatch = false\n[signature]\nsecret_file = \"secret\"\n\
             [dead_letter]\npath = \"dead.jsonl\"\n[log]\naudit = \"audit.jsonl\"\n"
        ),
    )
    .unwrap();
    config
}

/// The stderr lines, each sent on as it comes (JSON objects; anything else fails the test).
fn lines(child: &mut Child) -> mpsc::Receiver<Value> {
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let line = line.unwrap();
            let value = serde_json::from_str::<Value>(&line)
                .unwrap_or_else(|e| Value::String(format!("NOT JSON ({e}): {line}")));
            if tx.send(value).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for the first line that `wanted` accepts, keeping every line seen in `seen`.
fn wait_for(
    rx: &mpsc::Receiver<Value>,
    seen: &mut Vec<Value>,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let line = rx
            .recv_timeout(HANG_GUARD)
            .unwrap_or_else(|e| panic!("no awaited log line ({e}); seen: {seen:#?}"));
        seen.push(line.clone());
        if wanted(&line) {
            return line;
        }
    }
}

fn request(addr: &str, req: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

fn webhook(addr: &str, id: &str, secret: &str) -> String {
    let body = format!(r#"{{"sessionId": "{MARKER}", "channel": "voice"}}"#);
    let sig = handoff_gateway::sign(secret, None, body.as_bytes());
    request(
        addr,
        &format!(
            "POST /v1/webhooks/cognigy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             x-request-id: {id}\r\nx-cognigy-signature: {sig}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn kill(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sighup_reloads_the_secret_and_the_log_is_json_with_one_access_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), format!("{OLD}\n")).unwrap();
    let mut child = serve(&write_config(dir.path()));
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    let listening = wait_for(&rx, &mut seen, |l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.contains("listening"))
    });
    let addr = listening["addr"].as_str().unwrap().to_owned();

    let answer = webhook(&addr, "before-reload", OLD);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    std::fs::write(dir.path().join("secret"), format!("{NEW}\n")).unwrap();
    kill(&child, "-HUP");
    wait_for(&rx, &mut seen, |l| l["message"] == "config reloaded");

    let answer = webhook(&addr, "old-after-reload", OLD);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("G101"), "{answer}");
    let answer = webhook(&addr, "new-after-reload", NEW);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let health = request(
        &addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(health.contains("\"reloads\":1"), "{health}");

    kill(&child, "-TERM");
    assert!(child.wait().unwrap().success(), "{seen:#?}");
    seen.extend(rx.iter());

    let not_json: Vec<&Value> = seen.iter().filter(|l| !l.is_object()).collect();
    assert!(
        not_json.is_empty(),
        "every log line is a JSON object: {not_json:#?}"
    );
    let access: Vec<&Value> = seen
        .iter()
        .filter(|l| l["target"] == "handoff::access")
        .collect();
    let ids: Vec<&str> = access
        .iter()
        .map(|l| l["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["before-reload", "old-after-reload", "new-after-reload"]
    );
    for l in &access {
        for field in [
            "rule_set_hash",
            "outcome",
            "status",
            "latency_ms",
            "timestamp",
            "level",
        ] {
            assert!(!l[field].is_null(), "{field} in {l}");
        }
    }
    assert_eq!(
        (&access[1]["code"], &access[1]["status"]),
        (&"G101".into(), &403.into())
    );
    let text = format!("{seen:?}");
    for hidden in [OLD, NEW, MARKER] {
        assert!(!text.contains(hidden), "{hidden} in the log: {text}");
    }
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 3, "{audit}");
}

#[test]
fn a_short_secret_stops_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "hunt2\n").unwrap();
    let child = serve(&write_config(dir.path()));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the webhook secret is 5 bytes long; at least 32 are required"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunt2"), "{stderr}");
}
