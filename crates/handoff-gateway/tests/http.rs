//! The HTTP contract against the real server: signed requests are transformed; unsigned, wrongly
//! signed, replayed, stale, oversized, too deep, malformed and mistyped ones get their status
//! and error body; health, rules and metrics describe what is served.

mod common;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Server, Sign, answer, canonical, config, expected, payload, post, post_as};
use serde_json::Value;

/// A rule that fails without `$.id`.
const STRICT: &str = r#"
[[rule]]
name = "strict-id"
[rule.map]
id = { path = "$.id", required = true }
"#;

/// A rule that applies only to VIPs.
const VIP: &str = r#"
[[rule]]
name = "vip-only"
when = { path = "$.vip", eq = true }
[rule.map]
vip = { value = true }
"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    file
}

fn extra_rules(dir: &tempfile::TempDir) -> PathBuf {
    write(dir, "extra.toml", &format!("{STRICT}\n{VIP}"))
}

/// The canonical rule first (so that the webhook dispatches to it), then the extra rules.
async fn server(dir: &tempfile::TempDir) -> Server {
    Server::start(config(vec![canonical(), extra_rules(dir)])).await
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_is_transformed_by_dispatch_and_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    for path in ["/v1/webhooks/cognigy", "/v1/transform/cxone-handoff"] {
        let r = post(&s.url(path), &payload(), Sign::Yes).await;
        assert_eq!(
            r.headers()["x-handoff-rule"].to_str().unwrap(),
            "cxone-handoff"
        );
        assert!(r.headers().contains_key("x-request-id"));
        let (status, body) = answer(r).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body, expected(), "{path}");
    }
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_wrongly_signed_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let url = s.url("/v1/webhooks/cognigy");
    let (status, body) = answer(post(&url, &payload(), Sign::No).await).await;
    assert_eq!((status, error_code(&body)), (401, "G100"), "{body}");

    let other = handoff_gateway::sign("another secret", None, &payload());
    let (status, body) = answer(post(&url, &payload(), Sign::With(&other)).await).await;
    assert_eq!((status, error_code(&body)), (403, "G101"), "{body}");
    assert_eq!(body["error"]["kind"], "signature_invalid");

    // Signed for one body, sent with another.
    let sig = handoff_gateway::sign(common::SECRET, None, b"{}");
    let (status, _) = answer(post(&url, &payload(), Sign::With(&sig)).await).await;
    assert_eq!(status, 403);

    // A bare hex signature is accepted as well as `sha256=<hex>`.
    let bare = handoff_gateway::sign(common::SECRET, None, &payload());
    let bare = bare.trim_start_matches("sha256=");
    let (status, _) = answer(post(&url, &payload(), Sign::With(bare)).await).await;
    assert_eq!(status, 200);
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_timestamp_header_stale_and_replayed_requests_are_refused() {
    let mut c = config(vec![canonical()]);
    c.signature.timestamp_header = Some("x-cognigy-timestamp".to_owned());
    let s = Server::start(c).await;
    let url = s.url("/v1/webhooks/cognigy");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let ts = now.to_string();
    let (status, body) = answer(post(&url, &payload(), Sign::Timestamp(&ts)).await).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = answer(post(&url, &payload(), Sign::Timestamp(&ts)).await).await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "G104"),
        "a replay: {body}"
    );

    let stale = (now - 3600).to_string();
    let (status, body) = answer(post(&url, &payload(), Sign::Timestamp(&stale)).await).await;
    assert_eq!((status, error_code(&body)), (403, "G103"), "{body}");

    // Signed without the timestamp: the header is required.
    let (status, body) = answer(post(&url, &payload(), Sign::Yes).await).await;
    assert_eq!((status, error_code(&body)), (401, "G102"), "{body}");
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_get_their_status_and_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(vec![canonical(), extra_rules(&dir)]);
    c.max_body_bytes = 4096;
    let s = Server::start(c).await;
    let url = s.url("/v1/webhooks/cognigy");

    // Oversized: refused before the body is read.
    let big = format!("{{\"sessionId\": \"{}\"}}", "x".repeat(5000));
    let (status, body) = answer(post(&url, big.as_bytes(), Sign::Yes).await).await;
    assert_eq!((status, error_code(&body)), (413, "E400"), "{body}");
    assert_eq!(body["error"]["kind"], "payload_too_large");

    // Too deep, in a part the rule reads.
    let deep = format!(
        "{{\"user\": {{\"profile\": {{\"tier\": {}1{}}}}}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let (status, body) = answer(post(&url, deep.as_bytes(), Sign::Yes).await).await;
    assert_eq!((status, error_code(&body)), (400, "E401"), "{body}");

    let (status, body) = answer(post(&url, b"{\"sessionId\": ", Sign::Yes).await).await;
    assert_eq!((status, error_code(&body)), (400, "E402"), "{body}");
    assert_eq!(body["error"]["rule"], Value::Null);

    let r = post_as(&url, &payload(), Sign::Yes, "text/plain").await;
    let (status, body) = answer(r).await;
    assert_eq!((status, error_code(&body)), (415, "G110"), "{body}");

    let (status, body) = answer(post(&s.url("/v1/transform/nope"), b"{}", Sign::Yes).await).await;
    assert_eq!((status, error_code(&body)), (404, "E404"), "{body}");

    let r = post(
        &s.url("/v1/transform/strict-id"),
        b"{\"other\": 1}",
        Sign::Yes,
    )
    .await;
    let (status, body) = answer(r).await;
    assert_eq!((status, error_code(&body)), (422, "E500"), "{body}");
    assert_eq!(body["error"]["rule"], "strict-id");
    assert_eq!(body["error"]["target"], "id");
    assert_eq!(body["error"]["path"], "$.id");

    let (status, body) = answer(post(&s.url("/nowhere"), b"{}", Sign::Yes).await).await;
    assert_eq!((status, error_code(&body)), (404, "G120"), "{body}");
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_no_rule_applies_the_answer_is_ignored_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let (status, body) = answer(
        post(
            &s.url("/v1/transform/vip-only"),
            b"{\"vip\": false}",
            Sign::Yes,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["outcome"], "ignored", "{body}");
    assert!(body["reason"].as_str().unwrap().contains("vip-only"));
    let (status, body) = answer(
        post(
            &s.url("/v1/transform/vip-only"),
            b"{\"vip\": true}",
            Sign::Yes,
        )
        .await,
    )
    .await;
    assert_eq!((status, body), (200, serde_json::json!({"vip": true})));
    s.stop().await.unwrap();

    // By dispatch, with only the conditional rule loaded.
    let s = Server::start(config(vec![write(&dir, "vip.toml", VIP)])).await;
    let (status, body) =
        answer(post(&s.url("/v1/webhooks/cognigy"), b"{\"vip\": 1}", Sign::Yes).await).await;
    assert_eq!((status, &body["outcome"]), (200, &Value::from("ignored")));
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_rules_and_metrics_describe_what_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let _ = post(&s.url("/v1/webhooks/cognigy"), &payload(), Sign::Yes).await;
    let _ = post(&s.url("/v1/webhooks/cognigy"), b"nope", Sign::Yes).await;
    let _ = post(&s.url("/v1/transform/no-such-rule"), b"{}", Sign::Yes).await;

    let health = s.health().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["rules_loaded"], 3);
    assert_eq!(health["signatures"], "on");
    assert_eq!(health["last_reload_error"], Value::Null);
    let hash = health["rule_set_hash"].as_str().unwrap().to_owned();

    let rules = common::get_json(&s.url("/rules")).await;
    assert_eq!(rules["rule_set_hash"], hash.as_str());
    let names: Vec<&str> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cxone-handoff", "strict-id", "vip-only"]);
    assert_eq!(rules["rules"][0]["file_sha256"].as_str().unwrap().len(), 64);
    assert!(rules["rules"][2]["condition"].is_string());

    let r = reqwest::get(s.url("/metrics")).await.unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    for want in [
        "handoff_gateway_requests_total{endpoint=\"webhook\",rule=\"cxone-handoff\",outcome=\"transformed\",code=\"\"} 1",
        "handoff_gateway_requests_total{endpoint=\"webhook\",rule=\"\",outcome=\"error\",code=\"E402\"} 1",
        // An unknown rule name from the URL does not become a label.
        "handoff_gateway_requests_total{endpoint=\"transform\",rule=\"\",outcome=\"error\",code=\"E404\"} 1",
        "handoff_gateway_transform_seconds_count{rule=\"cxone-handoff\"} 1",
        "handoff_gateway_rules_loaded 3",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    assert!(!text.contains("no-such-rule"));
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_loopback_serves_unsigned_and_other_addresses_are_refused() {
    let mut c = config(vec![canonical()]);
    c.signature.secret = None;
    let s = Server::start(c.clone()).await;
    let (status, body) =
        answer(post(&s.url("/v1/webhooks/cognigy"), &payload(), Sign::No).await).await;
    assert_eq!((status, body), (200, expected()));
    assert_eq!(s.health().await["signatures"], "off");
    s.stop().await.unwrap();

    let gateway = handoff_gateway::Gateway::new(c).unwrap();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let e = gateway.serve(listener, async {}).await.unwrap_err();
    assert!(e.to_string().contains("refusing to serve unsigned"), "{e}");
}
