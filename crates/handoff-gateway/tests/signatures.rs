//! Issue 15, finding 10, against the real server: secret rotation (several active secrets, a
//! removed one refused after a reload), a short secret refused at start, millisecond
//! timestamps, body-only signatures, the config reloaded through the reload handle and when the
//! secret file changes, a failed reload that keeps the old config, and restart-only settings.

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Server, answer, canonical, config, eventually, payload};
use handoff_gateway::{Gateway, GatewayConfig, Secret, Signed, TimestampUnit};
use serde_json::Value;

const NEW: &str = "new-webhook-secret-0123456789abcdef";
const OLD: &str = "old-webhook-secret-0123456789abcdef";
const WEBHOOK: &str = "/v1/webhooks/cognigy";

/// POSTs the canonical payload signed with `secret` (and the timestamp, if given, signed as
/// `TS.BODY` when `ts_signed`); returns the status and the error code, if any.
async fn send(s: &Server, secret: &str, ts: Option<&str>, ts_signed: bool) -> (u16, String) {
    let body = payload();
    let signed_ts = ts.filter(|_| ts_signed);
    let mut r = reqwest::Client::new()
        .post(s.url(WEBHOOK))
        .header("content-type", "application/json")
        .header(
            "x-cognigy-signature",
            handoff_gateway::sign(secret, signed_ts, &body),
        )
        .body(body);
    if let Some(ts) = ts {
        r = r.header("x-cognigy-timestamp", ts);
    }
    let (status, body) = answer(r.send().await.unwrap()).await;
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (status, code)
}

/// Replaces a file by a rename, as a deploy (or a secret manager) does.
fn replace(file: &Path, text: &str) {
    let mut staged = tempfile::NamedTempFile::new_in(file.parent().unwrap()).unwrap();
    std::io::Write::write_all(&mut staged, text.as_bytes()).unwrap();
    staged.persist(file).unwrap();
}

/// A config whose secrets come from `file` only.
fn from_file(file: &Path) -> GatewayConfig {
    let mut c = config(vec![canonical()]);
    c.signature.secret = None;
    c.signature.secret_file = Some(file.to_path_buf());
    c
}

fn reloads(health: &Value) -> u64 {
    health["config"]["reloads"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_secrets_are_accepted_while_rotating_and_a_removed_one_is_refused_after_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{NEW}\n{OLD}\n")).unwrap();
    let s = Server::start(from_file(&file)).await;
    assert_eq!(s.health().await["config"]["secrets"], 2);
    assert_eq!(send(&s, NEW, None, false).await, (200, String::new()));
    assert_eq!(send(&s, OLD, None, false).await, (200, String::new()));
    assert_eq!(send(&s, "other-secret", None, false).await.1, "G101");

    std::fs::write(&file, format!("{NEW}\n")).unwrap();
    assert_eq!(
        send(&s, OLD, None, false).await.0,
        200,
        "not before a reload"
    );
    s.reload().await.unwrap();
    let health = s.health().await;
    assert_eq!(
        (reloads(&health), &health["config"]["secrets"]),
        (1, &1.into())
    );
    assert_eq!(send(&s, OLD, None, false).await, (403, "G101".to_owned()));
    assert_eq!(send(&s, NEW, None, false).await.0, 200);
    s.stop().await.unwrap();
}

#[test]
fn a_short_secret_is_refused_at_start_without_showing_it() {
    let mut c = config(vec![canonical()]);
    c.signature.secret = Some(Secret::new("hunt2"));
    let e = format!("{:#}", Gateway::new(c.clone()).unwrap_err());
    assert!(e.contains("the webhook secret is 5 bytes long"), "{e}");
    assert!(
        e.contains("min_secret_bytes") && !e.contains("hunt2"),
        "{e}"
    );
    c.signature.min_secret_bytes = 5;
    assert!(Gateway::new(c).is_ok(), "explicitly lowered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn millisecond_timestamps_are_accepted_and_stale_ones_refused() {
    let mut c = config(vec![canonical()]);
    c.signature.timestamp_header = Some("x-cognigy-timestamp".to_owned());
    c.signature.timestamp_unit = TimestampUnit::Milliseconds;
    let s = Server::start(c).await;
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let secret = common::SECRET;
    let fresh = ms.to_string();
    assert_eq!(
        send(&s, secret, Some(&fresh), true).await,
        (200, String::new())
    );
    assert_eq!(
        send(&s, secret, Some(&fresh), true).await.1,
        "G104",
        "replayed"
    );
    let stale = (ms - 10 * 60 * 1000).to_string();
    assert_eq!(
        send(&s, secret, Some(&stale), true).await,
        (403, "G103".to_owned())
    );
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_only_signature_is_accepted_when_configured() {
    let secret = common::SECRET;
    let s = Server::start(config(vec![canonical()])).await;
    assert_eq!(send(&s, secret, None, false).await.0, 200, "the default");
    s.stop().await.unwrap();

    // With a timestamp header that Cognigy sends but does not sign.
    let mut c = config(vec![canonical()]);
    c.signature.timestamp_header = Some("x-cognigy-timestamp".to_owned());
    c.signature.signed = Some(Signed::Body);
    let s = Server::start(c).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    assert_eq!(
        send(&s, secret, Some(&now), false).await,
        (200, String::new())
    );
    assert_eq!(send(&s, secret, Some(&now), true).await.1, "G101");
    assert_eq!(send(&s, secret, None, false).await.1, "G102");
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_secret_file_is_picked_up_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, OLD).unwrap();
    let mut c = from_file(&file);
    c.watch = true;
    let s = Server::start(c).await;
    assert_eq!(send(&s, OLD, None, false).await.0, 200);
    replace(&file, &format!("{NEW}\n{OLD}\n"));
    eventually("the secret file reloaded with two secrets", async || {
        s.health().await["config"]["secrets"] == 2
    })
    .await;
    assert_eq!(send(&s, NEW, None, false).await.0, 200);
    replace(&file, NEW);
    eventually("the secret file reloaded with one secret", async || {
        s.health().await["config"]["secrets"] == 1
    })
    .await;
    assert_eq!(send(&s, OLD, None, false).await, (403, "G101".to_owned()));
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reload_keeps_the_old_config_and_shows_in_health() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, OLD).unwrap();
    let s = Server::start(from_file(&file)).await;
    for (bad, why) in [("short", "5 bytes long"), ("", "empty")] {
        std::fs::write(&file, bad).unwrap();
        let e = format!("{:#}", s.reload().await.unwrap_err());
        assert!(e.contains(why), "{e}");
        let health = s.health().await;
        assert_eq!(health["status"], "degraded");
        let error = health["config"]["last_reload_error"].as_str().unwrap();
        assert!(error.contains(why) && !error.contains(OLD), "{error}");
        assert_eq!(
            send(&s, OLD, None, false).await.0,
            200,
            "the old secret serves"
        );
    }
    std::fs::remove_file(&file).unwrap();
    assert!(s.reload().await.is_err(), "a missing file");
    assert_eq!(send(&s, OLD, None, false).await.0, 200);

    std::fs::write(&file, NEW).unwrap();
    s.reload().await.unwrap();
    let health = s.health().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["config"]["reloads_failed"], 3);
    assert_eq!(health["config"]["last_reload_error"], Value::Null);
    assert_eq!(send(&s, NEW, None, false).await.0, 200);
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("handoff_gateway_config_reloads_total{result=\"error\"} 3"),
        "{metrics}"
    );
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_what_it_can_and_names_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, OLD).unwrap();
    let start = from_file(&file);
    let next = std::sync::Arc::new(std::sync::Mutex::new(start.clone()));
    let source = next.clone();
    let gateway =
        Gateway::with_source(start.clone(), move || Ok(source.lock().unwrap().clone())).unwrap();
    let s = Server::serve(gateway).await;
    {
        let mut c = next.lock().unwrap();
        c.listen = "127.0.0.1:1".parse().unwrap();
        c.max_body_bytes = 16;
    }
    s.reload().await.unwrap();
    let health = s.health().await;
    assert_eq!(
        health["config"]["restart_required"],
        serde_json::json!(["listen"])
    );
    assert_eq!(health["status"], "ok");
    let (status, _) = send(&s, OLD, None, false).await;
    assert_eq!(status, 413, "the new body limit applies");

    // Signatures cannot be turned off by a reload.
    next.lock().unwrap().signature.secret_file = None;
    let e = s.reload().await.unwrap_err();
    assert!(
        format!("{e:#}").contains("does not turn signatures off"),
        "{e:#}"
    );
    assert_eq!(s.health().await["signatures"], "on");
    s.stop().await.unwrap();
}
