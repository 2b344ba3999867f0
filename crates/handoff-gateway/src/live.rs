//! The settings a config reload swaps in (secrets, signature checks, body limit, access-log bodies) and the reload itself.
//!
//! Each request loads the [`Live`] settings once and finishes with them, so a reload never
//! changes a request half-way. A reload that fails (a config file that does not parse, a secret
//! too short, signatures turned off) keeps the previous settings and is reported in `/health`;
//! a changed setting that only a restart applies (`listen`, `rules`, `[forward]`, ...) is
//! reported as needing one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::bail;
use arc_swap::ArcSwap;
use handoff_runner::watch::{Watcher, watch_paths};
use serde_json::{Value, json};

use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use crate::signature::{self, Verifier};

/// Where a reload reads the config from: the config file and the flags, for `handoff serve`.
pub(crate) type ConfigSource = Box<dyn Fn() -> anyhow::Result<GatewayConfig> + Send + Sync>;

/// The settings that a reload replaces.
#[derive(Debug)]
pub(crate) struct Live {
    /// `None`: signatures are off.
    pub(crate) verifier: Option<Verifier>,
    pub(crate) max_body_bytes: usize,
    /// Request bodies in the access log.
    pub(crate) log_bodies: bool,
}

impl Live {
    /// The settings of `config`; the replay cache of `previous` is kept.
    pub(crate) fn new(config: &GatewayConfig, previous: Option<&Live>) -> anyhow::Result<Live> {
        let sig = &config.signature;
        let secrets = signature::secrets(sig)?;
        let verifier = if secrets.is_empty() {
            if previous.is_some_and(|p| p.verifier.is_some()) {
                bail!(
                    "the reloaded config has no webhook secret: a reload does not turn signatures \
                     off (restart to do that)"
                );
            }
            None
        } else {
            let seen = previous.and_then(|p| p.verifier.as_ref()?.seen());
            Some(Verifier::new(&secrets, sig, seen)?)
        };
        Ok(Live {
            verifier,
            max_body_bytes: config.max_body_bytes,
            log_bodies: config.log.bodies,
        })
    }
}

/// What `/health` says about config reloads.
#[derive(Debug, Default)]
struct Status {
    failed: u64,
    last_error: Option<String>,
    restart_required: Vec<&'static str>,
}

/// The live settings, and how to reload them.
pub(crate) struct Reloader {
    live: ArcSwap<Live>,
    /// The config the gateway started with: a changed restart-only setting is compared to it.
    started: GatewayConfig,
    source: Option<ConfigSource>,
    status: Mutex<Status>,
    /// Reloads finished, ok or not (tests and operators wait on it).
    reloads: AtomicU64,
    /// One reload at a time (a SIGHUP and a secret-file change may come together).
    running: Mutex<()>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("live", &self.live.load())
            .field("reloads", &self.reloads)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    pub(crate) fn new(config: GatewayConfig, source: Option<ConfigSource>) -> anyhow::Result<Self> {
        let live = Live::new(&config, None)?;
        Ok(Reloader {
            live: ArcSwap::from_pointee(live),
            started: config,
            source,
            status: Mutex::default(),
            reloads: AtomicU64::new(0),
            running: Mutex::new(()),
        })
    }

    /// The settings serving now; a request keeps the ones it loaded.
    pub(crate) fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The secret file to watch, if any.
    pub(crate) fn secret_file(&self) -> Option<&Path> {
        self.started.signature.secret_file.as_deref()
    }

    /// Reads the config again (from the source, or the start-up config with its secrets read
    /// again) and swaps the live settings in; on an error keeps the old ones and reports it.
    pub(crate) fn reload(&self, metrics: &Metrics) -> anyhow::Result<()> {
        let _one = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.try_reload();
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        metrics.config_reload(result.is_ok());
        match &result {
            Ok(restart) => {
                status.last_error = None;
                status.restart_required.clone_from(restart);
                let secrets = self
                    .live()
                    .verifier
                    .as_ref()
                    .map_or(0, |v| v.secret_count());
                tracing::info!(secrets, "config reloaded");
                if !restart.is_empty() {
                    tracing::warn!(
                        settings = %restart.join(", "),
                        "changed settings need a restart to apply; they keep their old values"
                    );
                }
            }
            Err(e) => {
                status.failed += 1;
                status.last_error = Some(format!("{e:#}"));
                tracing::error!(
                    "the config reload failed; the previous config keeps serving: {e:#}"
                );
            }
        }
        drop(status);
        self.reloads.fetch_add(1, Ordering::SeqCst);
        result.map(|_| ())
    }

    fn try_reload(&self) -> anyhow::Result<Vec<&'static str>> {
        let config = match &self.source {
            Some(source) => source()?,
            None => self.started.clone(),
        };
        let live = Live::new(&config, Some(&self.live()))?;
        self.live.store(Arc::new(live));
        Ok(restart_required(&self.started, &config))
    }

    /// True while the last config reload failed.
    pub(crate) fn degraded(&self) -> bool {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_error
            .is_some()
    }

    /// The `config` object of `/health`.
    pub(crate) fn health(&self) -> Value {
        let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        json!({
            "reloads": self.reloads.load(Ordering::SeqCst),
            "reloads_failed": status.failed,
            "last_reload_error": status.last_error,
            "restart_required": status.restart_required,
            "secrets": self.live().verifier.as_ref().map_or(0, |v| v.secret_count()),
        })
    }
}

/// The settings that differ between `running` and `new` and that only a restart applies.
fn restart_required(running: &GatewayConfig, new: &GatewayConfig) -> Vec<&'static str> {
    // Compared through their Debug text: the configs hold no float, and secrets show as `***`
    // (an OAuth secret read at start is, like the rest of `[forward]`, applied by a restart).
    fn differs<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
        format!("{a:?}") != format!("{b:?}")
    }
    let (a, b) = (running, new);
    let checks = [
        ("listen", a.listen != b.listen),
        ("rules", a.rules != b.rules),
        ("watch", a.watch != b.watch),
        (
            "allow_empty_rules",
            a.allow_empty_rules != b.allow_empty_rules,
        ),
        (
            "allow_dropping_forwarded_rules",
            a.allow_dropping_forwarded_rules != b.allow_dropping_forwarded_rules,
        ),
        ("shutdown_timeout", a.shutdown_timeout != b.shutdown_timeout),
        ("allow_unsigned", a.allow_unsigned != b.allow_unsigned),
        ("dead_letter", differs(&a.dead_letter, &b.dead_letter)),
        ("forward", differs(&a.forward, &b.forward)),
        ("log.format", a.log.format != b.log.format),
        ("log.audit", a.log.audit != b.log.audit),
        ("limits", differs(&a.limits, &b.limits)),
        ("admin", differs(&a.admin, &b.admin)),
    ];
    checks
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
}

/// Watches a secret file (its folder, so that a file replaced by a rename, or a Kubernetes
/// secret's `..data` link swapped, is seen) and calls `on_change` once a burst of changes has
/// settled; dropping the watcher stops the watching.
pub(crate) fn watch_secret_file(
    file: &Path,
    on_change: impl Fn() + Send + 'static,
) -> notify::Result<Watcher> {
    let folder = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = file.file_name().map(ToOwned::to_owned);
    // The secret file itself, or a Kubernetes secret's `..data` links; not the other files of
    // its folder (a dead-letter or audit file kept beside it must not reload).
    let concerns = move |p: &Path| {
        let n = p.file_name();
        n == name.as_deref() || n.is_some_and(|n| n.to_string_lossy().starts_with(".."))
    };
    watch_paths(&[folder], false, concerns, on_change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_settings_are_named_and_the_others_are_not() {
        let a = GatewayConfig::default();
        let mut b = a.clone();
        b.max_body_bytes = 1;
        b.signature.min_secret_bytes = 8;
        b.log.bodies = true;
        assert!(restart_required(&a, &b).is_empty());
        b.listen = "127.0.0.1:9".parse().unwrap();
        b.forward.insert("r".to_owned(), Default::default());
        b.log.format = crate::config::LogFormat::Json;
        assert_eq!(
            restart_required(&a, &b),
            ["listen", "forward", "log.format"]
        );
    }
}
