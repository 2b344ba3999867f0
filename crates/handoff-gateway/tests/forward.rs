//! Forward mode against a mock upstream: retries that honour `Retry-After`, a down upstream
//! (dead letters kept across a restart and replayed), OAuth2 tokens cached, renewed on expiry
//! and on a 401, and a shutdown that lets a running delivery finish.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Mock, Server, Sign, answer, canonical, config, eventually, expected, payload, post};
use handoff_gateway::{ForwardConfig, GatewayConfig, OAuthConfig, Secret};
use serde_json::Value;

const WEBHOOK: &str = "/v1/webhooks/cognigy";

/// The canonical rule forwarding to `url`, with millisecond backoffs.
fn forwarding(url: &str, dead_letter: &Path) -> GatewayConfig {
    let mut c = config(vec![canonical()]);
    c.forward.insert(
        "cxone-handoff".to_owned(),
        ForwardConfig {
            url: url.to_owned(),
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_secs(3),
            oauth: None,
        },
    );
    c.dead_letter.path = dead_letter.to_path_buf();
    c
}

fn with_oauth(mut c: GatewayConfig, mock: &Mock, refresh_before: Duration) -> GatewayConfig {
    let f = c.forward.get_mut("cxone-handoff").unwrap();
    f.oauth = Some(OAuthConfig {
        token_url: format!("{}/token", mock.base),
        client_id: "gw".to_owned(),
        client_secret_env: "HANDOFF_GATEWAY_TEST_NO_SUCH_VARIABLE".to_owned(),
        client_secret: Some(Secret::new("cs")),
        refresh_before,
        ..OAuthConfig::default()
    });
    c
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn dead_letter_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An address where nothing listens.
/// An upstream that refuses connections: a socket bound but never listening holds its port (so
/// no other test can take it, as a bound-then-dropped port could be) and refuses every connect.
fn closed_port() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, format!("http://{addr}/deliver"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_then_200_is_delivered_after_the_retry_after_wait() {
    let mock = Mock::start().await;
    mock.script(&[(429, Some("1"))]);
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl.jsonl");
    let s = Server::start(forwarding(&format!("{}/deliver", mock.base), &dl)).await;

    let (status, body) = answer(post(&s.url(WEBHOOK), &payload(), Sign::Yes).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "delivered");
    assert_eq!(body["attempts"], 2);
    assert_eq!(body["status"], 200);
    let got = mock.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        json(&got[1].body),
        expected(),
        "the transformed output is posted"
    );
    // The second attempt came no sooner than Retry-After said (the backoff alone is 1 ms).
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_secs(1));
    assert!(dead_letter_lines(&dl).is_empty());

    mock.script(&[(503, None), (502, None)]);
    let (status, body) = answer(post(&s.url(WEBHOOK), &payload(), Sign::Yes).await).await;
    assert_eq!(
        (status, &body["attempts"]),
        (200, &Value::from(3)),
        "{body}"
    );
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_upstream_dead_letters_and_a_restarted_gateway_keeps_then_replays_it() {
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl.jsonl");
    let (_held, down) = closed_port();

    let s = Server::start(forwarding(&down, &dl)).await;
    let (status, body) = answer(post(&s.url(WEBHOOK), &payload(), Sign::Yes).await).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["outcome"], "dead_lettered");
    assert_eq!(body["attempts"], 3);
    assert!(
        body["error"].as_str().unwrap().contains("cannot connect"),
        "{body}"
    );
    assert_eq!(s.health().await["dead_letter"]["entries"], 1);
    s.stop().await.unwrap();

    let lines = dead_letter_lines(&dl);
    assert_eq!(lines.len(), 1, "written before the answer, and kept");
    assert_eq!(lines[0]["rule"], "cxone-handoff");
    assert_eq!(
        json(lines[0]["body"].as_str().unwrap().as_bytes()),
        expected()
    );

    // Restarted, still down: the entry is still there and still counted.
    let mut c = forwarding(&down, &dl);
    c.dead_letter.replay_interval = Duration::from_millis(50);
    let s = Server::start(c).await;
    eventually("a failed replay round", async || {
        dead_letter_lines(&dl)
            .first()
            .is_some_and(|l| l["replays"].as_u64() >= Some(1))
    })
    .await;
    assert_eq!(s.health().await["dead_letter"]["entries"], 1);
    s.stop().await.unwrap();

    // Restarted with the upstream back: the replay delivers it and empties the file.
    let mock = Mock::start().await;
    let mut c = forwarding(&format!("{}/deliver", mock.base), &dl);
    c.dead_letter.replay_interval = Duration::from_millis(50);
    let s = Server::start(c).await;
    eventually("the replayed delivery", async || mock.received().len() == 1).await;
    assert_eq!(json(&mock.received()[0].body), expected());
    eventually("an empty dead-letter file", async || {
        s.health().await["dead_letter"]["entries"] == 0
    })
    .await;
    assert!(dead_letter_lines(&dl).is_empty());
    assert!(!dir.path().join("dl.jsonl.replaying").exists());
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_not_retried_but_kept() {
    let mock = Mock::start().await;
    mock.script(&[(400, None)]);
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl.jsonl");
    let s = Server::start(forwarding(&format!("{}/deliver", mock.base), &dl)).await;
    let (status, body) = answer(post(&s.url(WEBHOOK), &payload(), Sign::Yes).await).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (&body["attempts"], &body["status"]),
        (&Value::from(1), &Value::from(400))
    );
    assert_eq!(mock.received().len(), 1);
    assert_eq!(dead_letter_lines(&dl)[0]["status"], 400);
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_cached_and_renewed_after_a_401() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = forwarding(
        &format!("{}/deliver", mock.base),
        &dir.path().join("dl.jsonl"),
    );
    let s = Server::start(with_oauth(c, &mock, Duration::from_secs(60))).await;

    for _ in 0..2 {
        let (status, body) = answer(post(&s.url(WEBHOOK), &payload(), Sign::Yes).await).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(mock.tokens_issued(), 1, "one token for both deliveries");
    let auth: Vec<_> = mock
        .received()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(
        auth,
        [
            Some("Bearer tok-1".to_owned()),
            Some("Bearer tok-1".to_owned())
        ]
    );

    // The upstream stops accepting the token: a new one is fetched and the delivery retried.
    mock.script(&[(401, None)]);
    let (status, body) = answer(post(&s.url(WEBHOOK), &payload(), Sign::Yes).await).await;
    assert_eq!(
        (status, &body["attempts"]),
        (200, &Value::from(2)),
        "{body}"
    );
    assert_eq!(mock.tokens_issued(), 2);
    let last = mock.received().pop().unwrap();
    assert_eq!(last.authorization.as_deref(), Some("Bearer tok-2"));
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_grant_sends_the_access_key() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = forwarding(
        &format!("{}/deliver", mock.base),
        &dir.path().join("dl.jsonl"),
    );
    let mut c = with_oauth(c, &mock, Duration::from_secs(60));
    let o = c
        .forward
        .get_mut("cxone-handoff")
        .unwrap()
        .oauth
        .as_mut()
        .unwrap();
    o.grant_type = "password".to_owned();
    o.username = Some("ak".to_owned());
    o.password = Some(Secret::new("ak/secret"));
    let s = Server::start(c).await;
    let (status, body) = answer(post(&s.url(WEBHOOK), &payload(), Sign::Yes).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(mock.tokens_issued(), 1);
    let auth = mock.received().pop().unwrap().authorization;
    assert_eq!(auth.as_deref(), Some("Bearer tok-1"));
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_replaced() {
    let mock = Mock::start().await;
    *mock.state.expires_in.lock().unwrap() = 1;
    let dir = tempfile::tempdir().unwrap();
    let c = forwarding(
        &format!("{}/deliver", mock.base),
        &dir.path().join("dl.jsonl"),
    );
    let s = Server::start(with_oauth(c, &mock, Duration::ZERO)).await;

    let (status, _) = answer(post(&s.url(WEBHOOK), &payload(), Sign::Yes).await).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = answer(post(&s.url(WEBHOOK), &payload(), Sign::Yes).await).await;
    assert_eq!(status, 200);
    assert_eq!(mock.tokens_issued(), 2, "the first token expired after 1 s");
    let auth: Vec<_> = mock
        .received()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(
        auth,
        [
            Some("Bearer tok-1".to_owned()),
            Some("Bearer tok-2".to_owned())
        ]
    );

    let metrics = s.metrics().await;
    assert!(
        metrics.contains(
            "handoff_gateway_token_fetches_total{rule=\"cxone-handoff\",result=\"ok\"} 2"
        ),
        "{metrics}"
    );
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_lets_a_running_delivery_finish() {
    let mock = Mock::start().await;
    mock.script(&[(503, Some("1"))]);
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(forwarding(
        &format!("{}/deliver", mock.base),
        &dir.path().join("dl.jsonl"),
    ))
    .await;
    let url = s.url(WEBHOOK);
    let request =
        tokio::spawn(async move { answer(post(&url, &payload(), Sign::Yes).await).await });
    eventually("the first attempt", async || mock.received().len() == 1).await;
    // Shut down while the delivery waits for its retry.
    s.stop().await.unwrap();
    let (status, body) = request.await.unwrap();
    assert_eq!(
        (status, &body["outcome"]),
        (200, &Value::from("delivered")),
        "{body}"
    );
    assert_eq!(mock.received().len(), 2);
}

/// A `[[rule.ignore]]` body answers the caller and is never delivered upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignored_outcome_is_answered_not_forwarded() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("route.toml");
    std::fs::write(
        &rule,
        r#"
[[rule]]
name = "cxone-handoff"
[[rule.ignore]]
when = { path = "$.cognigy.intents[0].name", exists = false }
reason = "no_intent"
[rule.map]
interactionId = { path = "$.sessionId" }
"#,
    )
    .unwrap();
    let dl = dir.path().join("dl.jsonl");
    let mut c = forwarding(&format!("{}/deliver", mock.base), &dl);
    c.rules = vec![rule];
    let s = Server::start(c).await;

    let (status, body) =
        answer(post(&s.url(WEBHOOK), br#"{"sessionId": "s1"}"#, Sign::Yes).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"outcome": "ignored", "reason": "no_intent", "rule": "cxone-handoff"})
    );
    assert!(mock.received().is_empty(), "nothing was delivered");
    // Issue 15, finding 8: it was counted as `transformed`.
    let metrics = s.metrics().await;
    let line = "handoff_gateway_requests_total{endpoint=\"webhook\",rule=\"cxone-handoff\",\
                outcome=\"ignored\",code=\"\"} 1";
    assert!(metrics.contains(line), "{metrics}");
    assert!(!metrics.contains("outcome=\"transformed\""), "{metrics}");

    let turn = br#"{"sessionId": "s2", "cognigy": {"intents": [{"name": "intent_billing"}]}}"#;
    let (status, body) = answer(post(&s.url(WEBHOOK), turn, Sign::Yes).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "delivered");
    assert_eq!(mock.received().len(), 1);
    s.stop().await.unwrap();
}
