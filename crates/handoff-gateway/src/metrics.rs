//! Prometheus metrics (OpenMetrics text): requests by rule and outcome, transform and delivery
//! latency, delivery attempts, token fetches, reloads and the dead-letter backlog.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s output.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    rule: String,
    outcome: &'static str,
    code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    rule: String,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric the gateway exports, registered once.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    transform_seconds: Histograms<RuleLabels>,
    delivery_seconds: Histograms<ResultLabels>,
    delivery_attempts: Family<ResultLabels, Counter>,
    token_fetches: Family<ResultLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    config_reloads: Family<ReloadLabels, Counter>,
    rules_loaded: Gauge,
    dead_letter_entries: Gauge,
}

/// 10 µs to about 5 s.
fn transform_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 2.0, 20))
}

/// 1 ms to about 65 s.
fn delivery_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("handoff_gateway");
        let m = Metrics {
            requests: Family::default(),
            transform_seconds: Family::new_with_constructor(transform_buckets),
            delivery_seconds: Family::new_with_constructor(delivery_buckets),
            delivery_attempts: Family::default(),
            token_fetches: Family::default(),
            reloads: Family::default(),
            config_reloads: Family::default(),
            rules_loaded: Gauge::default(),
            dead_letter_entries: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Webhook and transform requests by endpoint, rule, outcome and error code",
            m.requests.clone(),
        );
        registry.register(
            "transform_seconds",
            "Time spent in the rule engine per request",
            m.transform_seconds.clone(),
        );
        registry.register(
            "delivery_seconds",
            "Time from the first delivery attempt to the last, by rule and result",
            m.delivery_seconds.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Upstream delivery attempts by rule and result (2xx, 4xx, 429, 5xx, error)",
            m.delivery_attempts.clone(),
        );
        registry.register(
            "token_fetches",
            "OAuth2 token requests by rule and result",
            m.token_fetches.clone(),
        );
        registry.register("rule_reloads", "Rule reloads by result", m.reloads.clone());
        registry.register(
            "config_reloads",
            "Config reloads (SIGHUP, a secret file changed) by result",
            m.config_reloads.clone(),
        );
        registry.register(
            "rules_loaded",
            "Rules in the serving plan",
            m.rules_loaded.clone(),
        );
        registry.register(
            "dead_letter_entries",
            "Deliveries waiting in the dead-letter file",
            m.dead_letter_entries.clone(),
        );
        Metrics { registry, ..m }
    }

    pub(crate) fn request(
        &self,
        endpoint: &'static str,
        rule: &str,
        outcome: &'static str,
        code: &str,
    ) {
        let labels = RequestLabels {
            endpoint,
            rule: rule.to_owned(),
            outcome,
            code: code.to_owned(),
        };
        self.requests.get_or_create(&labels).inc();
    }

    pub(crate) fn transform(&self, rule: &str, took: Duration) {
        let labels = RuleLabels {
            rule: rule.to_owned(),
        };
        self.transform_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub(crate) fn delivery(&self, rule: &str, result: &'static str, took: Duration) {
        let labels = ResultLabels {
            rule: rule.to_owned(),
            result,
        };
        self.delivery_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub(crate) fn attempt(&self, rule: &str, result: &'static str) {
        let labels = ResultLabels {
            rule: rule.to_owned(),
            result,
        };
        self.delivery_attempts.get_or_create(&labels).inc();
    }

    pub(crate) fn token_fetch(&self, rule: &str, result: &'static str) {
        let labels = ResultLabels {
            rule: rule.to_owned(),
            result,
        };
        self.token_fetches.get_or_create(&labels).inc();
    }

    pub(crate) fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads.get_or_create(&ReloadLabels { result }).inc();
    }

    pub(crate) fn config_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.config_reloads
            .get_or_create(&ReloadLabels { result })
            .inc();
    }

    /// The text exposition, with the gauges set to the values given.
    pub(crate) fn encode(&self, rules_loaded: usize, dead_letter_entries: u64) -> String {
        self.rules_loaded.set(rules_loaded as i64);
        self.dead_letter_entries
            .set(i64::try_from(dead_letter_entries).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_rules_outcomes_and_buckets() {
        let m = Metrics::new();
        m.request("webhook", "cxone-handoff", "transformed", "");
        m.request("webhook", "", "error", "E402");
        m.transform("cxone-handoff", Duration::from_micros(30));
        m.reload(false);
        let text = m.encode(1, 3);
        for want in [
            "handoff_gateway_requests_total{endpoint=\"webhook\",rule=\"cxone-handoff\",outcome=\"transformed\",code=\"\"} 1",
            "handoff_gateway_requests_total{endpoint=\"webhook\",rule=\"\",outcome=\"error\",code=\"E402\"} 1",
            "handoff_gateway_transform_seconds_count{rule=\"cxone-handoff\"} 1",
            "handoff_gateway_rule_reloads_total{result=\"error\"} 1",
            "handoff_gateway_dead_letter_entries 3",
            "# EOF",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
    }
}
