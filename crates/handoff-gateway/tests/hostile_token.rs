//! A hostile token endpoint through the real gateway: an `expires_in` of 2^63 used to panic the
//! delivery (every forwarded webhook answered 503 G130, nothing dead-lettered); now the
//! lifetime is clamped and the delivery goes through, and a token answer that is no token
//! (an HTML page) fails the delivery into the dead-letter file like any upstream error.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post as on_post;
use common::{Server, Sign, answer, canonical, config, eventually, payload, post};
use handoff_gateway::{ForwardConfig, GatewayConfig, OAuthConfig, Secret};
use serde_json::Value;
use tokio::net::TcpListener;

/// A CXone stand-in whose token endpoint answers `token_body` (as `content_type`) and whose
/// delivery endpoint records the `Authorization` of each request. Returns its base URL.
async fn upstream(
    content_type: &'static str,
    token_body: &'static str,
    delivered: Arc<Mutex<Vec<String>>>,
) -> String {
    let app = Router::new()
        .route(
            "/token",
            on_post(move || async move {
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, content_type)],
                    token_body,
                )
            }),
        )
        .route(
            "/deliver",
            on_post(move |headers: HeaderMap| async move {
                let auth = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                delivered.lock().unwrap().push(auth);
                StatusCode::OK
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn forwarding(base: &str, dir: &std::path::Path) -> GatewayConfig {
    let mut c = config(vec![canonical()]);
    c.dead_letter.path = dir.join("dl.jsonl");
    c.dead_letter.replay_interval = Duration::ZERO;
    c.forward.insert(
        "cxone-handoff".to_owned(),
        ForwardConfig {
            url: format!("{base}/deliver"),
            max_attempts: 2,
            backoff_initial: Duration::from_millis(1),
            oauth: Some(OAuthConfig {
                token_url: format!("{base}/token"),
                client_id: "gw".to_owned(),
                client_secret_env: "HANDOFF_GATEWAY_TEST_NO_SUCH_VARIABLE".to_owned(),
                client_secret: Some(Secret::new("cs")),
                ..OAuthConfig::default()
            }),
            ..ForwardConfig::default()
        },
    );
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expires_in_of_2_to_the_63_is_clamped_and_the_webhook_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let body =
        r#"{"access_token": "tok", "token_type": "Bearer", "expires_in": 9223372036854775808}"#;
    let base = upstream("application/json", body, delivered.clone()).await;
    let s = Server::start(forwarding(&base, dir.path())).await;
    for _ in 0..2 {
        let (status, reply) =
            answer(post(&s.url("/v1/webhooks/cognigy"), &payload(), Sign::Yes).await).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["outcome"], "delivered", "{reply}");
    }
    assert_eq!(*delivered.lock().unwrap(), ["Bearer tok", "Bearer tok"]);
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_token_page_dead_letters_the_delivery_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let html = "<!DOCTYPE html><html><body>Sign in</body></html>";
    let base = upstream("text/html", html, delivered.clone()).await;
    let s = Server::start(forwarding(&base, dir.path())).await;
    let (status, reply) =
        answer(post(&s.url("/v1/webhooks/cognigy"), &payload(), Sign::Yes).await).await;
    assert_ne!(status, 503, "{reply}");
    let path = dir.path().join("dl.jsonl");
    eventually("the dead letter", async || {
        std::fs::read_to_string(&path).is_ok_and(|t| t.lines().count() == 1)
    })
    .await;
    let entry: Value =
        serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
    let error = entry["error"].as_str().unwrap();
    assert!(
        error.contains("not a token response (content type text/html)"),
        "{error}"
    );
    assert!(
        delivered.lock().unwrap().is_empty(),
        "nothing reached the upstream"
    );
    s.stop().await.unwrap();
}
