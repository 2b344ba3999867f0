//! The embeddable runner: a hot-swappable plan, per-rule metrics, and a folder watcher.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use handoff_core::{Diagnostics, Error, Outcome, Plan, compile_paths};
use hdrhistogram::Histogram;
use notify::{RecursiveMode, Watcher};
use serde_json::Value;

/// A transform's result with what an audit record needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformed {
    /// The output JSON; `None` when no rule applied.
    pub output: Option<Vec<u8>>,
    /// The rule that applied.
    pub rule: Option<String>,
    /// Why no rule applied.
    pub no_rule_reason: Option<String>,
    /// The rule-set hash of the plan that ran.
    pub rule_set_hash: String,
    /// Time spent in the transform.
    pub latency: Duration,
}

/// Thread-safe: clone the `Arc` and call [`Runner::transform`] from many threads. The plan is
/// read through an `ArcSwap` (no lock on the hot path); a reload swaps it atomically, and a
/// reload that does not compile leaves the serving plan untouched.
pub struct Runner {
    paths: Vec<PathBuf>,
    plan: ArcSwap<Plan>,
    last_reload_error: Mutex<Option<Diagnostics>>,
    metrics: Mutex<BTreeMap<String, RuleMetrics>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("paths", &self.paths)
            .field("plan", &self.plan.load())
            .finish_non_exhaustive()
    }
}

/// Counts and latencies of one rule (or of `""` for "no rule applied" and early failures).
#[derive(Debug, Clone)]
pub struct RuleMetrics {
    /// Transforms that produced an output.
    pub ok: u64,
    /// Transforms where no rule applied.
    pub no_rule: u64,
    /// Failures by error code.
    pub failed: BTreeMap<String, u64>,
    /// Latency in nanoseconds.
    pub latency: Histogram<u64>,
}

impl Default for RuleMetrics {
    fn default() -> Self {
        RuleMetrics {
            ok: 0,
            no_rule: 0,
            failed: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Runner {
    /// Compiles the rule files and folders at `paths`.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Runner, Diagnostics> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let plan = compile_paths(&paths)?.plan;
        Ok(Runner {
            paths,
            plan: ArcSwap::from_pointee(plan),
            last_reload_error: Mutex::new(None),
            metrics: Mutex::new(BTreeMap::new()),
        })
    }

    /// The plan serving now.
    pub fn plan(&self) -> Arc<Plan> {
        self.plan.load_full()
    }

    /// Recompiles the rules; on success swaps the plan in, otherwise keeps serving the old one
    /// and returns (and remembers) the diagnostics.
    pub fn reload(&self) -> Result<(), Diagnostics> {
        let result = compile_paths(&self.paths);
        let mut last = self
            .last_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(c) => {
                self.plan.store(Arc::new(c.plan));
                *last = None;
                Ok(())
            }
            Err(d) => {
                *last = Some(d.clone());
                Err(d)
            }
        }
    }

    /// The diagnostics of the last reload, if it failed.
    pub fn last_reload_error(&self) -> Option<Diagnostics> {
        self.last_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Transforms a payload with the named rule, or by dispatch when `rule` is `None`.
    pub fn transform(
        &self,
        rule: Option<&str>,
        payload: &[u8],
        context: Option<&Value>,
    ) -> Result<Transformed, Error> {
        let plan = self.plan.load();
        let started = Instant::now();
        let mut out = Vec::with_capacity(payload.len() / 4 + 64);
        let result = match rule {
            Some(r) => plan.transform_rule(r, payload, context, &mut out),
            None => plan.transform(payload, context, &mut out),
        };
        let latency = started.elapsed();
        let (key, transformed) = match &result {
            Ok(Outcome::Transformed { rule }) => (rule.to_string(), true),
            Ok(Outcome::NoRule { .. }) => (String::new(), false),
            Err(e) => (e.rule().or(rule).unwrap_or("").to_owned(), false),
        };
        {
            let mut metrics = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
            let m = metrics.entry(key.clone()).or_default();
            m.latency
                .saturating_record((latency.as_nanos() as u64).max(1));
            match &result {
                Ok(Outcome::Transformed { .. }) => m.ok += 1,
                Ok(Outcome::NoRule { .. }) => m.no_rule += 1,
                Err(e) => *m.failed.entry(e.code().to_string()).or_default() += 1,
            }
        }
        let outcome = result?;
        Ok(Transformed {
            output: transformed.then_some(out),
            rule: transformed.then_some(key),
            no_rule_reason: match outcome {
                Outcome::NoRule { reason } => Some(reason),
                Outcome::Transformed { .. } => None,
            },
            rule_set_hash: plan.hash().to_owned(),
            latency,
        })
    }

    /// A copy of the metrics, by rule name (`""`: no rule applied, or failed before one was
    /// chosen).
    pub fn metrics(&self) -> BTreeMap<String, RuleMetrics> {
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Watches the rule paths and reloads on every change, until the returned watcher is
    /// dropped. `on_reload` hears each reload's result (the gateway logs or exports it).
    pub fn watch(
        self: &Arc<Self>,
        on_reload: impl Fn(Result<(), Diagnostics>) + Send + 'static,
    ) -> notify::Result<notify::RecommendedWatcher> {
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access()) {
                    let _ = tx.send(());
                }
            })?;
        for p in &self.paths {
            watcher.watch(p, RecursiveMode::Recursive)?;
        }
        let runner = Arc::downgrade(self);
        std::thread::spawn(move || {
            while rx.recv().is_ok() {
                // Let a burst of events (an editor's save) settle, then reload once.
                std::thread::sleep(Duration::from_millis(50));
                while rx.try_recv().is_ok() {}
                let Some(runner) = runner.upgrade() else {
                    return;
                };
                on_reload(runner.reload());
            }
        });
        Ok(watcher)
    }
}
