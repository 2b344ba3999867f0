//! Forward mode: POST a rule's output upstream, with a bearer token, a timeout, and retries with
//! exponential backoff and jitter on 408, 429 and 5xx that honour `Retry-After`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};

use crate::config::ForwardConfig;
use crate::metrics::Metrics;
use crate::token::{TokenSource, describe};

/// One rule's upstream.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) rule: String,
    pub(crate) url: reqwest::Url,
    config: ForwardConfig,
    token: Option<TokenSource>,
}

/// The upstreams by rule, sharing one connection pool.
#[derive(Debug)]
pub(crate) struct Forwarder {
    client: reqwest::Client,
    upstreams: HashMap<String, Upstream>,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
enum Attempt {
    Delivered(u16),
    /// Worth another try, after `after` if the upstream said so.
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    /// The upstream refused the request itself (a 4xx other than 408 and 429).
    Permanent {
        status: u16,
        error: String,
    },
}

/// How a delivery (all its attempts) went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Delivery {
    pub(crate) delivered: bool,
    pub(crate) attempts: u32,
    /// The upstream's last status, if it answered.
    pub(crate) status: Option<u16>,
    /// Why the last attempt failed.
    pub(crate) error: Option<String>,
}

impl Forwarder {
    pub(crate) fn new(configs: &BTreeMap<String, ForwardConfig>) -> anyhow::Result<Forwarder> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the HTTP client")?;
        let mut upstreams = HashMap::new();
        for (rule, config) in configs {
            let up = Upstream::new(rule, config).with_context(|| format!("in [forward.{rule}]"))?;
            upstreams.insert(rule.clone(), up);
        }
        Ok(Forwarder { client, upstreams })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.upstreams.is_empty()
    }

    /// The upstream of a rule, if it forwards.
    pub(crate) fn upstream(&self, rule: &str) -> Option<&Upstream> {
        self.upstreams.get(rule)
    }

    pub(crate) fn upstreams(&self) -> impl Iterator<Item = &Upstream> {
        self.upstreams.values()
    }

    /// Delivers `body`, retrying up to `max_attempts` times.
    pub(crate) async fn deliver(
        &self,
        up: &Upstream,
        body: &Bytes,
        request_id: &str,
        metrics: &Metrics,
    ) -> Delivery {
        self.deliver_with(up, body, request_id, metrics, up.config.max_attempts)
            .await
    }

    /// Delivers `body` with at most `max_attempts` attempts.
    pub(crate) async fn deliver_with(
        &self,
        up: &Upstream,
        body: &Bytes,
        request_id: &str,
        metrics: &Metrics,
        max_attempts: u32,
    ) -> Delivery {
        let started = Instant::now();
        let mut attempts = 0;
        let (status, error) = loop {
            attempts += 1;
            let (status, error, after) = match self.attempt(up, body, request_id, metrics).await {
                Attempt::Delivered(status) => {
                    metrics.delivery(&up.rule, "delivered", started.elapsed());
                    return Delivery {
                        delivered: true,
                        attempts,
                        status: Some(status),
                        error: None,
                    };
                }
                Attempt::Permanent { status, error } => break (Some(status), error),
                Attempt::Retry {
                    status,
                    error,
                    after,
                } => (status, error, after),
            };
            if attempts >= max_attempts {
                break (status, error);
            }
            let wait = match after {
                Some(d) if d > up.config.backoff_max => {
                    let error = format!(
                        "{error}; Retry-After {}s is longer than backoff_max",
                        d.as_secs()
                    );
                    break (status, error);
                }
                Some(d) => d,
                None => backoff(&up.config, attempts),
            };
            tracing::debug!(rule = %up.rule, attempts, ?wait, %error, "delivery retry");
            tokio::time::sleep(wait).await;
        };
        metrics.delivery(&up.rule, "failed", started.elapsed());
        Delivery {
            delivered: false,
            attempts,
            status,
            error: Some(error),
        }
    }

    async fn attempt(
        &self,
        up: &Upstream,
        body: &Bytes,
        request_id: &str,
        metrics: &Metrics,
    ) -> Attempt {
        let mut request = self
            .client
            .post(up.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header("x-request-id", request_id)
            .timeout(up.config.timeout)
            .body(body.clone());
        let mut token = None;
        if let Some(source) = &up.token {
            match source.get(&self.client, up.config.timeout).await {
                Ok((t, fetched)) => {
                    if fetched {
                        metrics.token_fetch(&up.rule, "ok");
                    }
                    request = request.bearer_auth(&t);
                    token = Some(t);
                }
                Err(error) => {
                    metrics.token_fetch(&up.rule, "error");
                    return Attempt::Retry {
                        status: None,
                        error,
                        after: None,
                    };
                }
            }
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                metrics.attempt(&up.rule, "error");
                return Attempt::Retry {
                    status: None,
                    error: format!("upstream: {}", describe(&e)),
                    after: None,
                };
            }
        };
        let status = response.status();
        let after = retry_after(response.headers(), SystemTime::now());
        // Read the answer to the end so that the connection can be reused.
        let _ = response.bytes().await;
        metrics.attempt(&up.rule, class(status));
        let error = format!("upstream answered {status}");
        match status {
            s if s.is_success() => Attempt::Delivered(s.as_u16()),
            StatusCode::UNAUTHORIZED if token.is_some() => {
                // The token was revoked or expired early: fetch a new one right away.
                if let (Some(source), Some(t)) = (&up.token, &token) {
                    source.invalidate(t).await;
                }
                Attempt::Retry {
                    status: Some(401),
                    error,
                    after: Some(Duration::ZERO),
                }
            }
            s if s == StatusCode::TOO_MANY_REQUESTS
                || s == StatusCode::REQUEST_TIMEOUT
                || s.is_server_error() =>
            {
                Attempt::Retry {
                    status: Some(s.as_u16()),
                    error,
                    after,
                }
            }
            s => Attempt::Permanent {
                status: s.as_u16(),
                error,
            },
        }
    }
}

impl Upstream {
    fn new(rule: &str, config: &ForwardConfig) -> anyhow::Result<Upstream> {
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| anyhow::anyhow!("url `{}` is not a URL: {e}", config.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("url `{}` is not http or https", config.url);
        }
        if config.max_attempts == 0 {
            bail!("max_attempts must be at least 1");
        }
        let token = config.oauth.as_ref().map(TokenSource::new).transpose()?;
        Ok(Upstream {
            rule: rule.to_owned(),
            url,
            config: config.clone(),
            token,
        })
    }
}

/// Exponential backoff with equal jitter: half the step, plus up to another half at random.
fn backoff(config: &ForwardConfig, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let step = config
        .backoff_initial
        .saturating_mul(factor)
        .min(config.backoff_max);
    step / 2 + (step / 2).mul_f64(fastrand::f64())
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

fn class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        429 => "429",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_the_cap() {
        let c = ForwardConfig {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(350),
            ..ForwardConfig::default()
        };
        for _ in 0..50 {
            let b1 = backoff(&c, 1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&b1));
            let b2 = backoff(&c, 2);
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&b2));
            let b9 = backoff(&c, 40);
            assert!((Duration::from_millis(175)..=Duration::from_millis(350)).contains(&b9));
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }
}
