//! The [`Gateway`]: the runner, the signature check, the upstreams and the dead-letter file,
//! served with graceful shutdown, hot reload and a background replay of dead letters.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::Router;
use handoff_runner::watch::Watcher;
use handoff_runner::{Guard, Runner};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};

use crate::access::AuditFile;
use crate::admin;
use crate::config::{AdminConfig, GatewayConfig, LimitsConfig, Secret};
use crate::deadletter::DeadLetter;
use crate::forward::Forwarder;
use crate::listen::{self, ConnLimits};
use crate::live::{ConfigSource, Reloader, watch_secret_file};
use crate::metrics::Metrics;
use crate::routes;
use crate::tasks::{RESTART_DELAY, replay_loop, supervised};

/// An HTTP gateway around a [`Runner`]. Cheap to clone; every clone serves the same rules.
///
/// ```no_run
/// # async fn run() -> anyhow::Result<()> {
/// use handoff_gateway::{Gateway, GatewayConfig};
///
/// let config = GatewayConfig { rules: vec!["rules/".into()], ..GatewayConfig::default() };
/// let gateway = Gateway::new(config)?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Gateway {
    state: Arc<State>,
}

/// What every request handler sees.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) runner: Arc<Runner>,
    /// The settings a config reload replaces (secrets, body limit, ...).
    pub(crate) reloader: Reloader,
    pub(crate) forwarder: Forwarder,
    pub(crate) dead_letter: Option<Arc<DeadLetter>>,
    /// The audit file (`[log] audit`), one record per webhook.
    pub(crate) audit: Option<Arc<AuditFile>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) started: Instant,
    pub(crate) deliveries: InFlight,
    /// `[limits]`, and a permit per request handled (`max_concurrent_requests` of them).
    pub(crate) limits: LimitsConfig,
    pub(crate) requests: Arc<Semaphore>,
    /// `[admin]`: the bearer token of the admin endpoints, if any.
    pub(crate) admin_token: Option<Secret>,
    admin: AdminConfig,
    shutdown_timeout: Duration,
    allow_unsigned: bool,
    pub(crate) replay_interval: Duration,
    id_prefix: String,
    next_id: AtomicU64,
    /// Kept alive for hot reload; dropped with the gateway.
    _watcher: Mutex<Option<Watcher>>,
    /// Reloads the config when the secret file changes; dropped with the gateway.
    secret_watcher: Mutex<Option<Watcher>>,
}

impl Gateway {
    /// Loads the rules, resolves the secrets (explicit, else environment, else file), checks
    /// the upstreams, opens the dead-letter file when a rule forwards, and starts watching the
    /// rules (and the secret file) when `watch` is on. [`Gateway::reload`] reads the secrets
    /// again from the same config.
    pub fn new(config: GatewayConfig) -> anyhow::Result<Gateway> {
        Gateway::build(config, None)
    }

    /// Like [`Gateway::new`], but [`Gateway::reload`] (SIGHUP for `handoff serve`) reads the
    /// config again from `source`, for example the config file with the flags applied.
    pub fn with_source(
        config: GatewayConfig,
        source: impl Fn() -> anyhow::Result<GatewayConfig> + Send + Sync + 'static,
    ) -> anyhow::Result<Gateway> {
        Gateway::build(config, Some(Box::new(source)))
    }

    fn build(config: GatewayConfig, source: Option<ConfigSource>) -> anyhow::Result<Gateway> {
        let guard = Guard {
            named: config.forward.keys().cloned().collect(),
            allow_empty: config.allow_empty_rules,
            allow_dropping_named: config.allow_dropping_forwarded_rules,
        };
        let runner = Runner::load(&config.rules)
            .map_err(|d| anyhow::anyhow!("cannot load the rules:\n{d}"))?
            .with_guard(guard);
        let runner = Arc::new(runner);
        let metrics = Arc::new(Metrics::new());
        check_limits(&config.limits, &config.admin)?;
        let admin = &config.admin;
        let admin_token = Secret::resolve(
            admin.token.as_ref(),
            &admin.token_env,
            admin.token_file.as_deref(),
        )
        .context("the admin token")?;
        let forwarder = Forwarder::new(&config.forward)?;
        let plan = runner.plan();
        for up in forwarder.upstreams() {
            if !plan.has_rule(&up.rule) {
                tracing::warn!(rule = %up.rule, "[forward] names a rule that is not loaded");
            }
        }
        let dead_letter = if forwarder.is_empty() {
            None
        } else {
            let dl = DeadLetter::open(&config.dead_letter.path).with_context(|| {
                format!(
                    "cannot open the dead-letter file {}",
                    config.dead_letter.path.display()
                )
            })?;
            if dl.len() > 0 {
                tracing::warn!(entries = dl.len(), path = %dl.path().display(), "undelivered dead letters");
            }
            Some(Arc::new(dl))
        };
        let watcher = if config.watch {
            let (m, r) = (metrics.clone(), Arc::downgrade(&runner));
            let w = runner
                .watch(move |result| {
                    m.reload(result.is_ok());
                    match result {
                        Ok(()) => {
                            let hash = r.upgrade().map(|r| r.plan().hash().to_owned());
                            tracing::info!(rule_set_hash = ?hash, "rules reloaded");
                        }
                        Err(d) => tracing::error!(
                            "a rule edit does not compile or was refused; the previous rules \
                             keep serving:\n{d}"
                        ),
                    }
                })
                .context("cannot watch the rules")?;
            Some(w)
        } else {
            None
        };
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let audit = config
            .log
            .audit
            .as_deref()
            .map(AuditFile::open)
            .transpose()?;
        let shutdown_timeout = config.shutdown_timeout;
        let allow_unsigned = config.allow_unsigned;
        let replay_interval = config.dead_letter.replay_interval;
        let watch_secret = config.watch;
        let (limits, admin_config) = (config.limits.clone(), config.admin.clone());
        let gateway = Gateway {
            state: Arc::new(State {
                runner,
                reloader: Reloader::new(config, source)?,
                forwarder,
                dead_letter,
                audit,
                metrics,
                started: Instant::now(),
                deliveries: InFlight::default(),
                requests: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
                admin_token,
                limits,
                admin: admin_config,
                shutdown_timeout,
                allow_unsigned,
                replay_interval,
                id_prefix: format!("{:x}", started.as_secs()),
                next_id: AtomicU64::new(0),
                _watcher: Mutex::new(watcher),
                secret_watcher: Mutex::new(None),
            }),
        };
        if let Some(file) = gateway
            .state
            .reloader
            .secret_file()
            .filter(|_| watch_secret)
        {
            let state = Arc::downgrade(&gateway.state);
            let w = watch_secret_file(file, move || {
                if let Some(s) = state.upgrade() {
                    let _ = s.reloader.reload(&s.metrics);
                }
            })
            .with_context(|| format!("cannot watch the secret file {}", file.display()))?;
            *gateway
                .state
                .secret_watcher
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(w);
        }
        Ok(gateway)
    }

    /// Reloads the config (the secrets and the other settings a reload applies; see
    /// docs/gateway.md) and the rules, as SIGHUP does for `handoff serve`. Requests running
    /// finish with the settings and the plan they started with. A config that cannot be read
    /// or used keeps the previous one serving and is reported in `/health` (degraded) and the
    /// log; so is a rule set that does not compile. Blocking: it reads files and compiles.
    pub fn reload(&self) -> anyhow::Result<()> {
        let s = &self.state;
        let config = s.reloader.reload(&s.metrics);
        let rules = s.runner.reload();
        s.metrics.reload(rules.is_ok());
        match (config, rules) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(d)) => {
                tracing::error!(
                    "the rules do not compile or were refused; the previous rules keep serving:\n{d}"
                );
                Err(anyhow::anyhow!("the rules did not reload:\n{d}"))
            }
            (Ok(()), Ok(())) => {
                tracing::info!(rule_set_hash = s.runner.plan().hash(), "rules reloaded");
                Ok(())
            }
        }
    }

    /// The runner serving the rules.
    pub fn runner(&self) -> &Arc<Runner> {
        &self.state.runner
    }

    /// The routes: `POST /v1/transform/{rule}`, `POST /v1/webhooks/cognigy` (with load
    /// shedding), `GET /livez`, and the admin endpoints `GET /health`, `GET /metrics`,
    /// `GET /rules` (behind the admin token when one is set). Nest or merge it into a larger
    /// application as needed; the connection limits are `serve`'s.
    pub fn router(&self) -> Router {
        routes::public(self.state.clone(), true)
    }

    /// Serves until `shutdown` completes, then lets in-flight requests and deliveries finish
    /// (for at most `shutdown_timeout`). Binds `admin.listen` when it is set (see
    /// [`Gateway::serve_with_admin`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let admin = match self.state.admin.listen {
            Some(addr) => Some({
                // Checked before it is bound: nothing listens on a public address unguarded.
                check_admin_addr(addr, self.state.admin_token.is_some())?;
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (admin.listen)"))?
            }),
            None => None,
        };
        self.serve_with_admin(listener, admin, shutdown).await
    }

    /// Serves the webhook routes on `listener` and, when `admin` is given, the admin endpoints
    /// on it alone; each listener with the `[limits]` on its connections. Replays the
    /// dead-letter file in the background. Refuses to serve without a webhook secret on a
    /// non-loopback address unless `allow_unsigned` is set, and the admin endpoints on a
    /// non-loopback admin listener without a token.
    pub async fn serve_with_admin(
        self,
        listener: TcpListener,
        admin: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let addr = listener.local_addr()?;
        let admin_addr = admin.as_ref().map(TcpListener::local_addr).transpose()?;
        let token = state.admin_token.is_some();
        if let Some(a) = admin_addr {
            check_admin_addr(a, token)?;
        }
        let admin_on_public = admin::on_public(addr.ip().is_loopback(), admin.is_some(), token);
        match admin_addr {
            Some(a) => tracing::info!(admin = %a, token, "admin endpoints on their own listener"),
            None if admin_on_public => tracing::info!(token, "admin endpoints on {addr}"),
            None => tracing::warn!(
                "admin endpoints (/health in detail, /metrics, /rules) are off: {addr} is not \
                 loopback and no admin token is set; set admin.listen or HANDOFF_ADMIN_TOKEN"
            ),
        }
        if state.reloader.live().verifier.is_none() {
            if !addr.ip().is_loopback() && !state.allow_unsigned {
                bail!(
                    "refusing to serve unsigned webhooks on {addr}: set HANDOFF_WEBHOOK_SECRET \
                     (or signature.secret_file), or allow_unsigned = true"
                );
            }
            tracing::warn!(
                "webhook signatures are OFF: anyone who can reach {addr} can post payloads; \
                 set HANDOFF_WEBHOOK_SECRET to turn them on"
            );
        }
        let plan = state.runner.plan();
        tracing::info!(%addr, rules = plan.rule_names().count(), rule_set_hash = plan.hash(), "handoff gateway listening");
        let (stop_tx, stop_rx) = watch::channel(false);
        let replay = {
            let (state, stop) = (state.clone(), stop_rx.clone());
            tokio::spawn(supervised(
                "dead-letter replay",
                RESTART_DELAY,
                stop_rx.clone(),
                move || replay_loop(state.clone(), stop.clone()),
            ))
        };
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests and deliveries");
            let _ = stop_tx.send(true);
        };
        let public = listen::serve(
            "public",
            listener,
            routes::public(state.clone(), admin_on_public),
            state.conn_limits(state.limits.connections()),
            stop_rx.clone(),
        );
        let admin = async {
            if let Some(l) = admin {
                let limits = state.conn_limits(state.admin.max_connections);
                let app = routes::admin_only(state.clone());
                listen::serve("admin", l, app, limits, stop_rx.clone()).await;
            }
        };
        let servers = async { tokio::join!(signal, public, admin) };
        let timeout = state.shutdown_timeout;
        let mut stopped = stop_rx.clone();
        let deadline = async move {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(timeout).await;
        };
        tokio::select! {
            _ = servers => {}
            () = deadline => tracing::warn!("shutdown timeout: in-flight requests were abandoned"),
        }
        let finish = async {
            state.deliveries.wait_idle().await;
            let _ = replay.await;
        };
        if tokio::time::timeout(timeout, finish).await.is_err() {
            tracing::warn!("shutdown timeout: deliveries still running were abandoned");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

impl State {
    /// `degraded` while the last rule reload or config reload failed (or was refused), else
    /// `ok`: what `/health` and `/livez` say.
    pub(crate) fn status(&self) -> &'static str {
        if self.runner.last_reload_error().is_some() || self.reloader.degraded() {
            "degraded"
        } else {
            "ok"
        }
    }

    fn conn_limits(&self, max_connections: usize) -> ConnLimits {
        ConnLimits {
            header_read_timeout: self.limits.header_read_timeout,
            keep_alive: self.limits.keep_alive,
            max_connections,
        }
    }

    /// The caller's `x-request-id` if usable, else a new one.
    pub(crate) fn request_id(&self, given: Option<&str>) -> String {
        match given {
            Some(id)
                if !id.is_empty()
                    && id.len() <= 128
                    && id.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                id.to_owned()
            }
            _ => format!(
                "{}-{}",
                self.id_prefix,
                self.next_id.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }
}

/// Refuses an admin listener on a non-loopback address without a token.
fn check_admin_addr(addr: std::net::SocketAddr, token: bool) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && !token {
        bail!(
            "refusing to serve the admin endpoints on {addr} without a token: set \
             HANDOFF_ADMIN_TOKEN (or admin.token_file), or listen on loopback"
        );
    }
    Ok(())
}

/// Refuses limits that would serve nothing or time out at once.
fn check_limits(limits: &LimitsConfig, admin: &AdminConfig) -> anyhow::Result<()> {
    let zero = [
        (
            "limits.header_read_timeout",
            limits.header_read_timeout.is_zero(),
        ),
        (
            "limits.body_read_timeout",
            limits.body_read_timeout.is_zero(),
        ),
        ("limits.max_connections", limits.max_connections == Some(0)),
        (
            "limits.max_concurrent_requests",
            limits.max_concurrent_requests == 0,
        ),
        ("admin.max_connections", admin.max_connections == 0),
    ];
    if let Some((key, _)) = zero.iter().find(|(_, z)| *z) {
        bail!("{key} must be more than 0");
    }
    Ok(())
}

/// Counts the deliveries running, so that a shutdown can wait for them.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    running: AtomicUsize,
    idle: Notify,
}

/// Held while a delivery runs.
#[derive(Debug)]
pub(crate) struct InFlightGuard<'a>(&'a InFlight);

impl InFlight {
    pub(crate) fn start(&self) -> InFlightGuard<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self)
    }

    async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
