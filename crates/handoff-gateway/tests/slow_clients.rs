//! Issue 15, finding 1: slow and flooding clients against the real server on raw TCP, with a
//! test-sized `[limits]`. Half-sent headers and idle kept-alive connections are closed after the
//! header timeout; a body sent a byte at a time, or shorter than its `Content-Length`, is
//! answered 408 after the body timeout; one connection over the cap is closed at once while an
//! admitted one keeps working; one request over the concurrency cap gets 503 with
//! `Retry-After`. Outcomes are asserted (closed, status), never durations: the 60 s bound
//! only guards against a hang.

mod common;

use std::io;
use std::time::Duration;

use common::{SECRET, Server, canonical, config, payload};
use handoff_gateway::GatewayConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Only a hang guard: every awaited outcome comes far sooner.
const GUARD: Duration = Duration::from_secs(60);

/// A test config with the given limits changed by `f`; everything not under test is far
/// longer than the guard, so that it cannot be what closes a connection.
fn limited(f: impl FnOnce(&mut GatewayConfig)) -> GatewayConfig {
    let mut c = config(vec![canonical()]);
    c.limits.header_read_timeout = Duration::from_secs(600);
    c.limits.body_read_timeout = Duration::from_secs(600);
    f(&mut c);
    c
}

/// A raw HTTP/1.1 connection and what was read past the last response.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One response: its status, its head as text, its body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Conn {
    async fn open(server: &Server) -> Conn {
        let addr = server.base.trim_start_matches("http://");
        Conn {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads more; `false` when the server closed the connection (end of stream or reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match timeout(GUARD, self.stream.read(&mut chunk)).await {
            Err(_) => panic!("the server neither answered nor closed within {GUARD:?}"),
            Ok(Ok(0)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Ok(Err(e)) if closed(&e) => false,
            Ok(Err(e)) => panic!("{e}"),
        }
    }

    /// The next response (head, then a `Content-Length` body).
    async fn answer(&mut self) -> Answer {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                self.fill().await,
                "closed before a response: {:?}",
                self.text()
            );
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end);
        let status = head[9..12].parse().unwrap();
        let length = header(&head, "content-length").map_or(0, |v| v.parse().unwrap());
        while self.buf.len() < length {
            assert!(self.fill().await, "closed within a body");
        }
        let body = String::from_utf8_lossy(&self.buf[..length]).into_owned();
        self.buf.drain(..length);
        Answer { status, head, body }
    }

    /// Reads until the server closes the connection; returns everything it sent.
    async fn until_closed(&mut self) -> String {
        while self.fill().await {}
        self.text()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

fn closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The head of a signed webhook POST whose body is `length` bytes.
fn webhook_head(length: usize, extra: &str) -> String {
    format!(
        "POST /v1/webhooks/cognigy HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn half_sent_headers_and_silent_connections_are_closed_after_the_header_timeout() {
    let s = Server::start(limited(|c| {
        c.limits.header_read_timeout = Duration::from_millis(200);
    }))
    .await;
    let mut half = Conn::open(&s).await;
    half.send(b"POST /v1/webhooks/cognigy HTTP/1.1\r\nHost: x\r\ncontent-ty")
        .await;
    let mut silent = Conn::open(&s).await;
    assert_eq!(half.until_closed().await, "", "closed without an answer");
    assert_eq!(silent.until_closed().await, "");
    // A whole request is still served.
    let mut ok = Conn::open(&s).await;
    ok.send(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(ok.answer().await.status, 200);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let s = Server::start(limited(|c| {
        c.limits.header_read_timeout = Duration::from_millis(200);
    }))
    .await;
    let mut c = Conn::open(&s).await;
    c.send(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let a = c.answer().await;
    assert_eq!((a.status, a.body.as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(header(&a.head, "connection"), None, "kept alive");
    assert_eq!(c.until_closed().await, "", "then closed while idle");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_with_408() {
    let s = Server::start(limited(|c| {
        c.limits.body_read_timeout = Duration::from_millis(300);
    }))
    .await;
    let body = payload();
    let mut c = Conn::open(&s).await;
    let sig = handoff_gateway::sign(SECRET, None, &body);
    c.send(webhook_head(body.len(), &format!("x-cognigy-signature: {sig}\r\n")).as_bytes())
        .await;
    // The drip: a byte every 20 ms, the whole body in about 70 s, unless it is cut off.
    let (mut read, mut write) = c.stream.into_split();
    let drip = tokio::spawn(async move {
        for b in body {
            if write.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = timeout(GUARD, read.read_to_end(&mut answer))
        .await
        .expect("an answer within the guard");
    drip.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"G112\""), "{answer}");
    assert_eq!(header(&answer, "connection"), Some("close"));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_answered_408() {
    let s = Server::start(limited(|c| {
        c.limits.body_read_timeout = Duration::from_millis(300);
    }))
    .await;
    let mut c = Conn::open(&s).await;
    c.send(webhook_head(100, "").as_bytes()).await;
    c.send(b"{\"short\":").await;
    let a = c.answer().await;
    assert_eq!(a.status, 408, "{}", a.body);
    assert!(a.body.contains("body_timeout"), "{}", a.body);
    assert_eq!(c.until_closed().await, "", "and the connection is closed");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn beyond_the_connection_cap_new_connections_are_closed_while_admitted_ones_work() {
    let s = Server::start(limited(|c| c.limits.max_connections = Some(4))).await;
    // One admitted connection, kept alive: it has been answered, so it was accepted first.
    let mut admitted = Conn::open(&s).await;
    admitted
        .send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(admitted.answer().await.status, 200);
    // Three slow ones fill the cap (accepted in the order they connected, before the next).
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut c = Conn::open(&s).await;
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
        slow.push(c);
    }
    // One more is closed at once, unanswered (a header timeout would take 600 s).
    let mut over = Conn::open(&s).await;
    let _ = over
        .stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(over.until_closed().await, "");
    // The admitted connection still works.
    admitted
        .send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let a = admitted.answer().await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("\"rules_loaded\":1"), "{}", a.body);
    // A slow one that completes its request is answered too.
    slow[0].send(b"\r\n").await;
    assert_eq!(slow[0].answer().await.status, 200);
    drop(slow);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn beyond_the_request_cap_requests_get_503_with_retry_after() {
    let s = Server::start(limited(|c| {
        c.limits.max_concurrent_requests = 2;
        c.limits.retry_after = Duration::from_secs(3);
    }))
    .await;
    // Two requests held in their handlers: `100 Continue` says the handler reads the body.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = Conn::open(&s).await;
        c.send(webhook_head(16, "expect: 100-continue\r\n").as_bytes())
            .await;
        assert_eq!(c.answer().await.status, 100);
        held.push(c);
    }
    let body = payload();
    let sig = handoff_gateway::sign(SECRET, None, &body);
    let third = common::post(&s.url("/v1/webhooks/cognigy"), &body, common::Sign::Yes).await;
    assert_eq!(third.status(), 503);
    assert_eq!(third.headers()["retry-after"], "3");
    let (_, error) = common::answer(third).await;
    assert_eq!(error["error"]["code"], "G131");
    // Health is not a webhook: it is not shed.
    assert_eq!(s.health().await["status"], "ok");
    // One held request finishes; then a new one is served again.
    held[0].send(b"{\"unsigned\":1}\r\n").await;
    assert_eq!(held[0].answer().await.status, 401, "it was unsigned");
    let mut next = Conn::open(&s).await;
    next.send(webhook_head(body.len(), &format!("x-cognigy-signature: {sig}\r\n")).as_bytes())
        .await;
    next.send(&body).await;
    assert_eq!(next.answer().await.status, 200);
    drop(held);
    s.stop().await.unwrap();
}
