//! A slow-client attack on a running gateway (issue 15, finding 1), driven by
//! `benches/slow_clients.sh`: CONNECTIONS connections, half holding half-sent headers and half
//! sending a body, each trickling one byte every 2 s and opening again (after 1 s) when the
//! server closes it; meanwhile `/health` is timed on the admin listener (a new connection per
//! probe) and `/livez` on the public one (a kept-alive connection, and a new one per probe),
//! and the server's file descriptors are counted in /proc/PID/fd. A report, never a pass/fail.
//!
//! Usage: slow_clients --public ADDR --admin ADDR --pid PID [--connections 5000] [--duration 30]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// How long a probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const PROBE_EVERY: Duration = Duration::from_millis(100);
const TRICKLE_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Counters {
    /// Attack connections open now (connected, not yet seen closed).
    open: AtomicU64,
    opened: AtomicU64,
    closed_by_server: AtomicU64,
    connect_failed: AtomicU64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = HashMap::new();
    for pair in args.chunks(2) {
        match pair {
            [k, v] if k.starts_with("--") => {
                opts.insert(k.trim_start_matches("--").to_owned(), v.clone());
            }
            _ => {
                eprintln!(
                    "usage: slow_clients --public ADDR --admin ADDR --pid PID [--connections N] [--duration S]"
                );
                std::process::exit(2);
            }
        }
    }
    let get = |k: &str| opts.get(k).cloned();
    let public = get("public").expect("--public ADDR");
    let admin = get("admin").expect("--admin ADDR");
    let pid = get("pid").expect("--pid PID");
    let connections: usize = get("connections").map_or(5000, |v| v.parse().unwrap());
    let duration = Duration::from_secs(get("duration").map_or(30, |v| v.parse().unwrap()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(public, admin, pid, connections, duration));
}

async fn run(public: String, admin: String, pid: String, connections: usize, duration: Duration) {
    let counters = Arc::new(Counters::default());
    let end = Instant::now() + duration;
    // The kept-alive probe connection is opened before the attack.
    let kept = TcpStream::connect(&public).await.ok();
    // At most 500 connects in flight, so that the client's own SYNs are not what fails.
    let connecting = Arc::new(Semaphore::new(500));
    let attack_started = Instant::now();
    for i in 0..connections {
        let (public, counters, connecting) = (public.clone(), counters.clone(), connecting.clone());
        tokio::spawn(attacker(i % 2 == 0, public, counters, connecting, end));
    }
    let probes = (
        tokio::spawn(probe_fresh(admin.clone(), "/health", end)),
        tokio::spawn(probe_fresh(public.clone(), "/livez", end)),
        tokio::spawn(probe_kept(kept, public.clone(), end)),
    );
    let mut fds_max = (0usize, 0usize);
    let mut held_max = 0u64;
    let mut samples = Vec::new();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let fds = server_fds(&pid);
        fds_max = (fds_max.0.max(fds.0), fds_max.1.max(fds.1));
        let held = counters.open.load(Ordering::Relaxed);
        held_max = held_max.max(held);
        samples.push((attack_started.elapsed().as_secs(), fds.0, fds.1, held));
    }
    let (admin_health, public_fresh, public_kept) = (
        probes.0.await.unwrap(),
        probes.1.await.unwrap(),
        probes.2.await.unwrap(),
    );
    println!("attack: {connections} slow connections (half headers, half bodies), {duration:?}");
    println!("second | server fds | server sockets | attack connections open (client side)");
    for (t, fds, sockets, held) in &samples {
        println!("{t:>6} | {fds:>10} | {sockets:>14} | {held:>6}");
    }
    println!(
        "server fds max {} (sockets {}); attack connections open max {held_max}; opened {}, closed by the server {}, connects failed {}",
        fds_max.0,
        fds_max.1,
        counters.opened.load(Ordering::Relaxed),
        counters.closed_by_server.load(Ordering::Relaxed),
        counters.connect_failed.load(Ordering::Relaxed),
    );
    admin_health.print("admin /health, new connection each");
    public_kept.print("public /livez, kept-alive connection");
    public_fresh.print("public /livez, new connection each");
}

/// One slow client, again and again until `end`: half-sent headers, or a body, one byte every
/// 2 s; reconnects 1 s after the server closes it.
async fn attacker(
    headers: bool,
    public: String,
    counters: Arc<Counters>,
    connecting: Arc<Semaphore>,
    end: Instant,
) {
    while Instant::now() < end {
        let stream = {
            let _permit = connecting.acquire().await.unwrap();
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&public)).await
        };
        let Ok(Ok(mut stream)) = stream else {
            counters.connect_failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        counters.opened.fetch_add(1, Ordering::Relaxed);
        counters.open.fetch_add(1, Ordering::Relaxed);
        let head: &[u8] = if headers {
            b"POST /v1/webhooks/cognigy HTTP/1.1\r\nHost: x\r\nx-slow: "
        } else {
            b"POST /v1/webhooks/cognigy HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"
        };
        let mut alive = stream.write_all(head).await.is_ok();
        let mut buf = [0u8; 1024];
        while alive && Instant::now() < end {
            tokio::select! {
                r = stream.read(&mut buf) => alive = matches!(r, Ok(n) if n > 0),
                () = tokio::time::sleep(TRICKLE_EVERY) => {
                    alive = stream.write_all(b"a").await.is_ok();
                }
            }
        }
        counters.open.fetch_sub(1, Ordering::Relaxed);
        if !alive {
            counters.closed_by_server.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Latencies of successful probes, and failures.
struct Probes {
    latency_us: Histogram<u64>,
    failed: u64,
}

impl Probes {
    fn new() -> Probes {
        Probes {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
            failed: 0,
        }
    }

    fn record(&mut self, started: Instant, ok: bool) {
        if ok {
            let us = started.elapsed().as_micros().max(1) as u64;
            let _ = self.latency_us.record(us.min(60_000_000));
        } else {
            self.failed += 1;
        }
    }

    fn print(&self, what: &str) {
        let h = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "{what}: {} ok, {} failed; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; over 100 ms: {}",
            h.len(),
            self.failed,
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            h.len() - h.count_between(0, 100_000),
        );
    }
}

/// A GET on a new connection every 100 ms.
async fn probe_fresh(addr: String, path: &'static str, end: Instant) -> Probes {
    let mut probes = Probes::new();
    while Instant::now() < end {
        let started = Instant::now();
        let ok = tokio::time::timeout(PROBE_TIMEOUT, async {
            let mut s = TcpStream::connect(&addr).await.ok()?;
            get(&mut s, path, true).await
        })
        .await
        .ok()
        .flatten()
        .is_some();
        probes.record(started, ok);
        tokio::time::sleep(PROBE_EVERY).await;
    }
    probes
}

/// A GET /livez every 100 ms on one kept-alive connection (opened again if it is closed).
async fn probe_kept(mut conn: Option<TcpStream>, addr: String, end: Instant) -> Probes {
    let mut probes = Probes::new();
    while Instant::now() < end {
        let started = Instant::now();
        let ok = tokio::time::timeout(PROBE_TIMEOUT, async {
            if conn.is_none() {
                conn = TcpStream::connect(&addr).await.ok();
            }
            get(conn.as_mut()?, "/livez", false).await
        })
        .await
        .ok()
        .flatten()
        .is_some();
        if !ok {
            conn = None;
        }
        probes.record(started, ok);
        tokio::time::sleep(PROBE_EVERY).await;
    }
    probes
}

/// Sends a GET and reads a 200 with its `Content-Length` body; `None` on anything else.
async fn get(s: &mut TcpStream, path: &str, close: bool) -> Option<()> {
    let connection = if close { "close" } else { "keep-alive" };
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\n\r\n");
    s.write_all(request.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())?;
        if buf.len() >= end + 4 + length {
            return head.starts_with("http/1.1 200").then_some(());
        }
    }
}

/// The server's open file descriptors, and how many of them are sockets.
fn server_fds(pid: &str) -> (usize, usize) {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (0, 0);
    };
    let mut all = 0;
    let mut sockets = 0;
    for entry in dir.flatten() {
        all += 1;
        if std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        {
            sockets += 1;
        }
    }
    (all, sockets)
}
