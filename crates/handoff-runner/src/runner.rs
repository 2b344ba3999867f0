//! The embeddable runner: a hot-swappable plan, per-rule metrics, and reload on change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use handoff_core::{
    Code, Diagnostic, Diagnostics, Error, Outcome, Plan, SourceFile, compile_paths,
};
use hdrhistogram::Histogram;
use serde_json::Value;

use crate::watch::{Watcher, watch_paths};

/// Number of metric shards (threads map onto them round-robin).
const METRIC_SHARDS: usize = 16;
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// A transform's result with what an audit record needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformed {
    /// The output JSON; `None` when no rule applied.
    pub output: Option<Vec<u8>>,
    /// The rule that applied.
    pub rule: Option<String>,
    /// Why no rule applied.
    pub no_rule_reason: Option<String>,
    /// The `[[rule.ignore]]` reason that held: `output` is the ignored body, not a request to
    /// deliver.
    pub ignored: Option<String>,
    /// The rule-set hash of the plan that ran.
    pub rule_set_hash: String,
    /// Time spent in the transform.
    pub latency: Duration,
}

/// What a reload may not do to the rule set unless allowed: leave no rules (a rule file moved
/// out for a moment), or drop a rule that traffic names (a gateway's forward targets). Such a
/// reload is refused like one that does not compile.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// The rules traffic names.
    pub named: Vec<String>,
    /// Let a reload leave no rules.
    pub allow_empty: bool,
    /// Let a reload drop a rule of `named`.
    pub allow_dropping_named: bool,
}

/// Thread-safe: clone the `Arc` and call [`Runner::transform`] from many threads. The plan is
/// read through an `ArcSwap` (no lock on the hot path); a reload swaps it atomically, and a
/// reload that does not compile, or that its [`Guard`] refuses, leaves the serving plan
/// untouched.
pub struct Runner {
    paths: Vec<PathBuf>,
    guard: Guard,
    plan: ArcSwap<Plan>,
    last_reload_error: Mutex<Option<Diagnostics>>,
    /// Metrics in shards, one picked per thread, so that threads seldom wait for each other;
    /// a snapshot merges them.
    metrics: Box<[Mutex<BTreeMap<String, RuleMetrics>>]>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("paths", &self.paths)
            .field("plan", &self.plan.load())
            .finish_non_exhaustive()
    }
}

/// A reload refused (or a load with nothing to serve), as a diagnostic naming the rule paths.
fn refusal(paths: &[PathBuf], code: Code, message: String) -> Diagnostics {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let file = Arc::new(SourceFile::new(names.join(", "), String::new()));
    let hint = if code == Code::NoRules {
        "put the rule files back; to let a reload empty the rules, allow it (the gateway's \
         allow_empty_rules)"
    } else {
        "put the rule back, or remove its [forward] entry; to let a reload drop it, allow it \
         (the gateway's allow_dropping_forwarded_rules)"
    };
    Diagnostics(vec![
        Diagnostic::error(code, &file, 0..0, message).with_hint(hint),
    ])
}

/// Counts and latencies of one rule (or of `""` for "no rule applied" and early failures).
#[derive(Debug, Clone)]
pub struct RuleMetrics {
    /// Transforms that produced an output.
    pub ok: u64,
    /// Transforms that wrote the rule's ignored body (`[[rule.ignore]]`).
    pub ignored: u64,
    /// Transforms where no rule applied.
    pub no_rule: u64,
    /// Failures by error code.
    pub failed: BTreeMap<Code, u64>,
    /// Latency in nanoseconds.
    pub latency: Histogram<u64>,
}

impl Default for RuleMetrics {
    fn default() -> Self {
        RuleMetrics {
            ok: 0,
            ignored: 0,
            no_rule: 0,
            failed: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Runner {
    /// Compiles the rule files and folders at `paths`; rules that define no rule at all (an
    /// empty folder) are E112.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Runner, Diagnostics> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let plan = compile_paths(&paths)?.plan;
        if plan.rule_names().next().is_none() {
            return Err(refusal(
                &paths,
                Code::NoRules,
                "the rules define no rule".to_owned(),
            ));
        }
        Ok(Runner {
            paths,
            guard: Guard::default(),
            plan: ArcSwap::from_pointee(plan),
            last_reload_error: Mutex::new(None),
            metrics: (0..METRIC_SHARDS).map(|_| Mutex::default()).collect(),
        })
    }

    /// The runner with `guard` checking every reload.
    #[must_use]
    pub fn with_guard(mut self, guard: Guard) -> Runner {
        self.guard = guard;
        self
    }

    /// The plan serving now.
    pub fn plan(&self) -> Arc<Plan> {
        self.plan.load_full()
    }

    /// Recompiles the rules; when they compile and the [`Guard`] lets the new rule set in,
    /// swaps the plan in, otherwise keeps serving the old one and returns (and remembers) the
    /// diagnostics: the compile errors, or E112 (no rules left) or E120 (a named rule dropped).
    pub fn reload(&self) -> Result<(), Diagnostics> {
        let result = compile_paths(&self.paths).and_then(|c| {
            let refused = self.refuses(&self.plan.load(), &c.plan);
            refused.map_or(Ok(c.plan), Err)
        });
        let mut last = self
            .last_reload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(plan) => {
                self.plan.store(Arc::new(plan));
                *last = None;
                Ok(())
            }
            Err(d) => {
                *last = Some(d.clone());
                Err(d)
            }
        }
    }

    /// Why the guard refuses to replace `old` with `new`, if it does.
    fn refuses(&self, old: &Plan, new: &Plan) -> Option<Diagnostics> {
        let guard = &self.guard;
        if !guard.allow_empty && new.rule_names().next().is_none() {
            let message = format!(
                "the reload would leave no rules (the {} serving are kept)",
                old.rule_names().count()
            );
            return Some(refusal(&self.paths, Code::NoRules, message));
        }
        if guard.allow_dropping_named {
            return None;
        }
        let dropped: Vec<&str> = guard
            .named
            .iter()
            .filter(|r| old.has_rule(r) && !new.has_rule(r))
            .map(String::as_str)
            .collect();
        (!dropped.is_empty()).then(|| {
            let message = format!(
                "the reload would drop the rule(s) `{}`, which traffic names (the previous \
                 rules are kept)",
                dropped.join("`, `")
            );
            refusal(&self.paths, Code::NamedRuleDropped, message)
        })
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
        let key = match &result {
            Ok(Outcome::Transformed { rule } | Outcome::Ignored { rule, .. }) => rule,
            Ok(Outcome::NoRule { .. }) => "",
            Err(e) => e.rule().or(rule).unwrap_or(""),
        };
        self.record(key, latency, &result);
        let outcome = result?;
        let (output, rule, no_rule_reason, ignored) = match outcome {
            Outcome::Transformed { rule } => (Some(out), Some(rule.to_owned()), None, None),
            Outcome::Ignored { rule, reason } => (
                Some(out),
                Some(rule.to_owned()),
                None,
                Some(reason.to_owned()),
            ),
            Outcome::NoRule { reason } => (None, None, Some(reason), None),
        };
        Ok(Transformed {
            output,
            rule,
            no_rule_reason,
            ignored,
            rule_set_hash: plan.hash().to_owned(),
            latency,
        })
    }

    fn record(&self, key: &str, latency: Duration, result: &Result<Outcome<'_>, Error>) {
        thread_local! {
            static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % METRIC_SHARDS;
        }
        let shard = &self.metrics[SHARD.with(|s| *s)];
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        if !shard.contains_key(key) {
            shard.insert(key.to_owned(), RuleMetrics::default());
        }
        let m = shard.get_mut(key).expect("inserted above");
        m.latency
            .saturating_record((latency.as_nanos() as u64).max(1));
        match result {
            Ok(Outcome::Transformed { .. }) => m.ok += 1,
            Ok(Outcome::Ignored { .. }) => m.ignored += 1,
            Ok(Outcome::NoRule { .. }) => m.no_rule += 1,
            Err(e) => *m.failed.entry(e.code()).or_default() += 1,
        }
    }

    /// A snapshot of the metrics, by rule name (`""`: no rule applied, or failed before one
    /// was chosen).
    pub fn metrics(&self) -> BTreeMap<String, RuleMetrics> {
        let mut merged: BTreeMap<String, RuleMetrics> = BTreeMap::new();
        for shard in &self.metrics {
            for (name, m) in shard.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let into = merged.entry(name.clone()).or_default();
                into.ok += m.ok;
                into.ignored += m.ignored;
                into.no_rule += m.no_rule;
                for (code, n) in &m.failed {
                    *into.failed.entry(*code).or_default() += n;
                }
                // Both histograms have the same bounds, so adding cannot fail.
                let _ = into.latency.add(&m.latency);
            }
        }
        merged
    }

    /// Watches the rule paths and reloads once a burst of changes has settled (an editor's
    /// save, a deploy's copy; see [`watch_paths`]), until the returned [`Watcher`] is dropped.
    /// `on_reload` hears each reload's result (the gateway logs or exports it).
    pub fn watch(
        self: &Arc<Self>,
        on_reload: impl Fn(Result<(), Diagnostics>) + Send + 'static,
    ) -> notify::Result<Watcher> {
        let runner = Arc::downgrade(self);
        watch_paths(
            &self.paths,
            true,
            |_| true,
            move || {
                if let Some(runner) = runner.upgrade() {
                    on_reload(runner.reload());
                }
            },
        )
    }
}
