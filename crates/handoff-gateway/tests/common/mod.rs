//! Test harness: the real gateway on an ephemeral loopback port, a mock upstream with an OAuth2
//! token endpoint, and a client that signs requests.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post as on_post;
use handoff_gateway::{Gateway, GatewayConfig, Secret};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) const SECRET: &str = "test-webhook-secret-0123456789abcdef";

/// The canonical rule file, alone (other rule files in rules/ are not relied on).
pub(crate) fn canonical() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rules/cxone_handoff.toml"
    ))
}

/// The first canonical payload.
pub(crate) fn payload() -> Vec<u8> {
    let all = include_str!("../../../../fixtures/cxone_handoff/payloads.ndjson");
    all.lines().next().unwrap().as_bytes().to_vec()
}

/// Its expected output.
pub(crate) fn expected() -> Value {
    let all = include_str!("../../../../fixtures/cxone_handoff/expected.ndjson");
    serde_json::from_str(all.lines().next().unwrap()).unwrap()
}

/// A config for tests: the given rules, no watching, the test secret (never from the
/// environment), short backoffs.
pub(crate) fn config(rules: Vec<PathBuf>) -> GatewayConfig {
    let mut c = GatewayConfig {
        rules,
        watch: false,
        shutdown_timeout: Duration::from_secs(5),
        ..GatewayConfig::default()
    };
    c.signature.secret = Some(Secret::new(SECRET));
    c.signature.secret_env = "HANDOFF_GATEWAY_TEST_NO_SUCH_VARIABLE".to_owned();
    c
}

/// A gateway serving on 127.0.0.1 at an ephemeral port.
pub(crate) struct Server {
    pub(crate) base: String,
    /// A clone of the gateway serving, for its reload handle.
    pub(crate) gateway: Gateway,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub(crate) async fn start(config: GatewayConfig) -> Server {
        Server::serve(Gateway::new(config).expect("the gateway starts")).await
    }

    pub(crate) async fn serve(gateway: Gateway) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let gateway_handle = gateway.clone();
        let task = tokio::spawn(gateway.serve(listener, async {
            let _ = rx.await;
        }));
        Server {
            base,
            gateway: gateway_handle,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// The gateway with a separate admin listener (also at an ephemeral port); returns the
    /// server and the admin listener's base URL.
    pub(crate) async fn start_with_admin(config: GatewayConfig) -> (Server, String) {
        let gateway = Gateway::new(config).expect("the gateway starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let admin_base = format!("http://{}", admin.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let gateway_handle = gateway.clone();
        let task = tokio::spawn(gateway.serve_with_admin(listener, Some(admin), async {
            let _ = rx.await;
        }));
        let server = Server {
            base,
            gateway: gateway_handle,
            stop: Some(tx),
            task: Some(task),
        };
        (server, admin_base)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Graceful shutdown; returns what `serve` returned.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }

    pub(crate) async fn health(&self) -> Value {
        get_json(&self.url("/health")).await
    }

    /// Reloads the config and the rules through the gateway's handle, off the async threads
    /// (a reload reads files and compiles), as SIGHUP does.
    pub(crate) async fn reload(&self) -> anyhow::Result<()> {
        let g = self.gateway.clone();
        tokio::task::spawn_blocking(move || g.reload())
            .await
            .unwrap()
    }

    /// The `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        let answer = reqwest::get(self.url("/metrics")).await.unwrap();
        answer.text().await.unwrap()
    }
}

/// How a test request is signed.
#[derive(Clone, Copy)]
pub(crate) enum Sign<'a> {
    Yes,
    No,
    With(&'a str),
    Timestamp(&'a str),
}

/// POSTs `body` as JSON, signed as asked.
pub(crate) async fn post(url: &str, body: &[u8], sign: Sign<'_>) -> reqwest::Response {
    post_as(url, body, sign, "application/json").await
}

pub(crate) async fn post_as(
    url: &str,
    body: &[u8],
    sign: Sign<'_>,
    content_type: &str,
) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(url)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.to_vec());
    match sign {
        Sign::Yes => {
            r = r.header(
                "x-cognigy-signature",
                handoff_gateway::sign(SECRET, None, body),
            )
        }
        Sign::No => {}
        Sign::With(s) => r = r.header("x-cognigy-signature", s),
        Sign::Timestamp(ts) => {
            r = r
                .header(
                    "x-cognigy-signature",
                    handoff_gateway::sign(SECRET, Some(ts), body),
                )
                .header("x-cognigy-timestamp", ts)
        }
    }
    r.send().await.unwrap()
}

/// GETs a JSON document.
pub(crate) async fn get_json(url: &str) -> Value {
    answer(reqwest::get(url).await.unwrap()).await.1
}

/// The status and JSON body of a response.
pub(crate) async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, body)
}

/// A request the mock upstream received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) authorization: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) at: Instant,
}

/// A scripted answer: a status and an optional `Retry-After`.
pub(crate) type Scripted = (u16, Option<&'static str>);

/// The mock upstream's state.
#[derive(Default)]
pub(crate) struct MockState {
    pub(crate) received: Mutex<Vec<Received>>,
    /// Answers to give, in order; 200 once it runs out (or `fallback` when set).
    pub(crate) script: Mutex<VecDeque<Scripted>>,
    pub(crate) fallback: Mutex<Option<u16>>,
    pub(crate) tokens_issued: AtomicUsize,
    pub(crate) expires_in: Mutex<u64>,
}

/// A mock CXone: `POST /deliver` records and answers per the script; `POST /token` issues
/// `tok-1`, `tok-2`, ... to the client `gw` with secret `cs` (client credentials, or the
/// password grant for the access key `ak` with secret `ak/secret`).
pub(crate) struct Mock {
    pub(crate) base: String,
    pub(crate) state: Arc<MockState>,
    _task: JoinHandle<()>,
}

impl Mock {
    pub(crate) async fn start() -> Mock {
        let state = Arc::new(MockState::default());
        *state.expires_in.lock().unwrap() = 3600;
        let app = Router::new()
            .route("/deliver", on_post(deliver))
            .route("/token", on_post(token))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Mock {
            base,
            state,
            _task: task,
        }
    }

    pub(crate) fn script(&self, answers: &[Scripted]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(answers.iter().copied());
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub(crate) fn tokens_issued(&self) -> usize {
        self.state.tokens_issued.load(Ordering::SeqCst)
    }
}

async fn deliver(State(s): State<Arc<MockState>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    s.received.lock().unwrap().push(Received {
        authorization,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let next = s.script.lock().unwrap().pop_front();
    let fallback = (*s.fallback.lock().unwrap()).unwrap_or(200);
    let (status, retry_after) = next.unwrap_or((fallback, None));
    let mut r = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(ra) = retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, ra.parse().unwrap());
    }
    r
}

async fn token(State(s): State<Arc<MockState>>, headers: HeaderMap, body: String) -> Response {
    // `gw:cs` in HTTP Basic.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let grants = [
        "grant_type=client_credentials",
        "grant_type=password&username=ak&password=ak%2Fsecret",
    ];
    if basic != Some("Basic Z3c6Y3M=") || !grants.contains(&body.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let n = s.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let expires_in = *s.expires_in.lock().unwrap();
    axum::Json(serde_json::json!({
        "access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": expires_in,
    }))
    .into_response()
}

/// Polls `check` every 20 ms until it holds. The 120 s bound only guards against a hang: what is
/// awaited normally comes within a second, but a loaded machine must not fail the test.
pub(crate) async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
