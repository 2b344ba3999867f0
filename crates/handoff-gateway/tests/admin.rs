//! Issue 15, finding 9: `/rules`, the detailed `/health` and `/metrics` answer only with the
//! admin token when one is set, and only on the admin listener when there is one; the public
//! listener then answers the webhook routes, `/livez` and a minimal `/health`, and never shows
//! the dead-letter path.

mod common;

use common::{Server, Sign, answer, canonical, config, payload, post};
use handoff_gateway::{ForwardConfig, GatewayConfig, Secret};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests";

/// The canonical rule, forwarding (to an upstream never called here), so that a dead-letter
/// file is open and `/health` in detail names its path.
fn forwarding(dir: &tempfile::TempDir) -> GatewayConfig {
    let mut c = config(vec![canonical()]);
    c.forward.insert(
        "cxone-handoff".to_owned(),
        ForwardConfig {
            url: "http://127.0.0.1:9/never-called".to_owned(),
            ..ForwardConfig::default()
        },
    );
    c.dead_letter.path = dir.path().join("secret-place-dead-letter.jsonl");
    c.admin.token_env = "HANDOFF_GATEWAY_TEST_NO_SUCH_VARIABLE".to_owned();
    c
}

async fn get(url: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    let mut r = reqwest::Client::new().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let auth = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), auth, r.text().await.unwrap())
}

#[tokio::test]
async fn with_a_token_the_admin_endpoints_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = forwarding(&dir);
    c.admin.token = Some(Secret::new(TOKEN));
    let s = Server::start(c).await;
    for path in ["/rules", "/health", "/metrics"] {
        for token in [None, Some("wrong"), Some("admin-token-for-test")] {
            let (status, auth, body) = get(&s.url(path), token).await;
            assert_eq!(
                (status, auth.as_deref()),
                (401, Some("Bearer")),
                "{path} {token:?}"
            );
            let error: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(error["error"]["code"], "G121", "{path}");
            assert!(!body.contains("secret-place"), "{body}");
        }
        let (status, _, body) = get(&s.url(path), Some(TOKEN)).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let health: Value = serde_json::from_str(&get(&s.url("/health"), Some(TOKEN)).await.2).unwrap();
    let path = health["dead_letter"]["path"].as_str().unwrap();
    assert!(path.ends_with("secret-place-dead-letter.jsonl"), "{path}");
    let rules: Value = serde_json::from_str(&get(&s.url("/rules"), Some(TOKEN)).await.2).unwrap();
    assert_eq!(
        rules["rules"][0]["forward"],
        "http://127.0.0.1:9/never-called"
    );
    // Liveness needs no token and says nothing else.
    let (status, _, body) = get(&s.url("/livez"), None).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    // The webhook routes need their signature, not the admin token.
    let r = post(&s.url("/v1/transform/cxone-handoff"), &payload(), Sign::No).await;
    assert_eq!(answer(r).await.1["error"]["code"], "G100");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn with_an_admin_listener_the_public_one_serves_only_webhooks_and_liveness() {
    let dir = tempfile::tempdir().unwrap();
    let (s, admin) = Server::start_with_admin(forwarding(&dir)).await;
    // Public: a minimal /health, /livez, and no admin endpoint.
    for path in ["/health", "/livez"] {
        let (status, _, body) = get(&s.url(path), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"status": "ok"})
        );
    }
    for path in ["/rules", "/metrics"] {
        let (status, _, body) = get(&s.url(path), None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("never-called") && !body.contains("secret-place"));
    }
    // Admin (loopback, no token): the details, and no webhook route.
    let (status, _, body) = get(&format!("{admin}/health"), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("secret-place-dead-letter.jsonl"), "{body}");
    for path in ["/rules", "/metrics", "/livez"] {
        assert_eq!(get(&format!("{admin}{path}"), None).await.0, 200, "{path}");
    }
    let r = post(
        &format!("{admin}/v1/webhooks/cognigy"),
        &payload(),
        Sign::Yes,
    )
    .await;
    assert_eq!(r.status(), 404);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn an_admin_listener_on_a_public_address_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = forwarding(&dir);
    c.admin.listen = Some("0.0.0.0:0".parse().unwrap());
    let gateway = handoff_gateway::Gateway::new(c).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = gateway.serve(listener, async {}).await.unwrap_err();
    assert!(e.to_string().contains("without a token"), "{e}");
}
