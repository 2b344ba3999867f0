//! The accept loop: HTTP/1 connections with a header read timeout, a cap on open connections
//! (one more is closed at once), accept errors backed off, and a graceful shutdown.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// What one listener allows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// hyper's header read timeout: from the connection's start, and from each response on a
    /// kept-alive connection, to the end of the next request head.
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive: bool,
    /// Connections open at once; one more is accepted and closed.
    pub(crate) max_connections: usize,
}

/// The first wait after an accept error (EMFILE, ENFILE, ENOBUFS...); it doubles while the
/// errors go on, up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Refused connections and accept errors are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `stop` is set, then closes the listener and waits for the
/// open connections to finish their requests (idle ones are closed at once). The caller bounds
/// that wait.
pub(crate) async fn serve(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(limits.keep_alive);
    let mut backoff = MIN_BACKOFF;
    let mut refused = Throttled::default();
    let mut failed = Throttled::default();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                backoff = MIN_BACKOFF;
                stream
            }
            // The peer gave up before it was accepted: nothing to wait for.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors or buffers: the waiting connections stay in the
                // kernel's queue; wait for some to close instead of spinning.
                if let Some(n) = failed.tick() {
                    tracing::warn!(
                        listener = name,
                        errors = n,
                        "accept error: {e}; backing off"
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over the cap: closed at once, so that it holds no descriptor.
            if let Some(n) = refused.tick() {
                tracing::warn!(
                    listener = name,
                    refused = n,
                    max_connections = limits.max_connections,
                    "connection limit reached: new connections are closed"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(listener = name, "connection closed: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Errors of one connection that `accept` reports; the listener itself is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Counts events, and says how many there were since it last said so, at most every
/// [`LOG_EVERY`].
#[derive(Debug, Default)]
struct Throttled {
    count: u64,
    last: Option<Instant>,
}

impl Throttled {
    fn tick(&mut self) -> Option<u64> {
        self.count += 1;
        if self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.count))
    }
}
