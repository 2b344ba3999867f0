//! Issue 15, finding 11: one JSON access-log line per request (request id, rule, rule-set
//! hash, outcome, status, latency, upstream status, attempts), never a secret or a body unless
//! `[log] bodies` is on, and an audit file with one record per webhook in the CLI's shape. The
//! log is captured by a JSON subscriber installed for this test binary (its only test).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Mock, SECRET, Server, canonical, config};
use handoff_gateway::ForwardConfig;
use serde_json::Value;

/// The log, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The access-log lines, each parsed (every one must be JSON).
    fn access(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .filter(|v| v["target"] == "handoff::access")
            .collect()
    }
}

/// A marker only the request bodies carry.
const MARKER: &str = "marker-body-7f3a91";

async fn send(s: &Server, id: &str, body: &[u8], signed: bool) -> u16 {
    let mut r = reqwest::Client::new()
        .post(s.url("/v1/webhooks/cognigy"))
        .header("content-type", "application/json")
        .header("x-request-id", id)
        .body(body.to_vec());
    if signed {
        r = r.header(
            "x-cognigy-signature",
            handoff_gateway::sign(SECRET, None, body),
        );
    }
    r.send().await.unwrap().status().as_u16()
}

fn line<'a>(lines: &'a [Value], id: &str) -> &'a Value {
    let found: Vec<&Value> = lines.iter().filter(|l| l["request_id"] == id).collect();
    assert_eq!(found.len(), 1, "one access line for {id}: {lines:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_json_access_line_per_request_and_one_audit_record_per_webhook() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .with_env_filter("info")
        .init();

    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut c = config(vec![canonical()]);
    c.forward.insert(
        "cxone-handoff".to_owned(),
        ForwardConfig {
            url: format!("{}/deliver", mock.base),
            max_attempts: 2,
            backoff_initial: Duration::from_millis(1),
            ..ForwardConfig::default()
        },
    );
    c.dead_letter.path = dir.path().join("dead.jsonl");
    c.dead_letter.replay_interval = Duration::ZERO;
    c.log.audit = Some(audit.clone());
    let s = Server::start(c.clone()).await;
    let hash = s.health().await["rule_set_hash"].clone();

    let body = format!(r#"{{"sessionId": "{MARKER}", "channel": "voice"}}"#);
    let body = body.as_bytes();
    assert_eq!(send(&s, "req-delivered", body, true).await, 200);
    mock.script(&[(503, None), (503, None)]);
    assert_eq!(send(&s, "req-dead", body, true).await, 202);
    assert_eq!(send(&s, "req-unsigned", body, false).await, 401);
    assert_eq!(
        send(&s, "req-bad-json", b"{\"sessionId\": ", true).await,
        400
    );
    s.stop().await.unwrap();

    let lines = log.access();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    for l in &lines {
        for field in [
            "request_id",
            "endpoint",
            "rule_set_hash",
            "outcome",
            "status",
            "latency_ms",
        ] {
            assert!(!l[field].is_null(), "{field} in {l}");
        }
        assert_eq!(l["rule_set_hash"], hash);
        assert!(l["latency_ms"].as_f64().unwrap() >= 0.0);
    }
    let l = line(&lines, "req-delivered");
    assert_eq!(
        (
            &l["rule"],
            &l["outcome"],
            &l["status"],
            &l["upstream_status"],
            &l["attempts"]
        ),
        (
            &"cxone-handoff".into(),
            &"delivered".into(),
            &200.into(),
            &200.into(),
            &1.into()
        ),
        "{l}"
    );
    let l = line(&lines, "req-dead");
    assert_eq!(
        (
            &l["outcome"],
            &l["status"],
            &l["upstream_status"],
            &l["attempts"]
        ),
        (&"dead_lettered".into(), &202.into(), &503.into(), &2.into()),
        "{l}"
    );
    let l = line(&lines, "req-unsigned");
    assert_eq!(
        (&l["outcome"], &l["code"], &l["status"]),
        (&"error".into(), &"G100".into(), &401.into())
    );
    let l = line(&lines, "req-bad-json");
    assert_eq!(
        (&l["outcome"], &l["status"]),
        (&"error".into(), &400.into())
    );
    assert!(l["code"].as_str().unwrap().starts_with('E'), "{l}");

    // Nothing logged shows the secret or a body.
    let text = log.text();
    assert!(!text.contains(SECRET) && !text.contains(MARKER), "{text}");

    // One audit record per webhook, in the CLI's shape, in the order answered.
    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = records
        .iter()
        .map(|r| r["source"]["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["req-delivered", "req-dead", "req-unsigned", "req-bad-json"]
    );
    let keys: Vec<&str> = records[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "time",
            "source",
            "rule",
            "rule_set_hash",
            "outcome",
            "reason",
            "code",
            "latency_us"
        ]
    );
    assert_eq!(records[0]["outcome"], "delivered");
    assert_eq!(records[0]["source"]["endpoint"], "webhook");
    assert_eq!(records[2]["code"], "G100");
    assert!(!std::fs::read_to_string(&audit).unwrap().contains(MARKER));

    // With `[log] bodies = true`, the body is in the access line.
    c.forward.clear();
    c.log = Default::default();
    c.log.bodies = true;
    let s = Server::start(c).await;
    assert_eq!(send(&s, "req-with-body", body, true).await, 200);
    s.stop().await.unwrap();
    let lines = log.access();
    let l = line(&lines, "req-with-body");
    assert!(l["body"].as_str().unwrap().contains(MARKER), "{l}");
    assert!(!log.text().contains(SECRET));
}
