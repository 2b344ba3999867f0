//! Webhook signatures: HMAC-SHA256 with any of the active secrets (rotation), compared in
//! constant time, with an optional signed timestamp (s or ms), a replay window and a cache of
//! the signatures seen in it.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::http::{HeaderMap, HeaderName};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{Secret, SignatureConfig, Signed, TimestampUnit};
use crate::reply::{ApiError, GatewayCode};

/// Most signatures remembered for replay detection; the oldest is forgotten first.
const SEEN_CAPACITY: usize = 100_000;

/// Checks the signature of each webhook.
pub(crate) struct Verifier {
    /// One per active secret, the newest first; keyed once, cloned per request.
    macs: Vec<Hmac<Sha256>>,
    header: HeaderName,
    timestamp: Option<Timestamps>,
    signed: Signed,
}

struct Timestamps {
    header: HeaderName,
    tolerance: Duration,
    unit: TimestampUnit,
    /// Shared with the verifier a config reload replaces, so that a reload opens no replay
    /// window.
    seen: Arc<Mutex<Seen>>,
}

/// The signatures accepted within the last two tolerances, oldest first.
#[derive(Default)]
pub(crate) struct Seen {
    set: HashSet<[u8; 32]>,
    order: VecDeque<(Instant, [u8; 32])>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.macs.len())
            .field("header", &self.header)
            .field("timestamp", &self.timestamp.as_ref().map(|t| &t.header))
            .field("signed", &self.signed)
            .finish_non_exhaustive()
    }
}

/// The webhook secrets the config names (explicit, else the file with `prefer_file`, else the
/// environment variable, else the file), one per line, the newest first; none when none is
/// set. A secret shorter than `min_secret_bytes` is an error that says how long it is, never
/// what it is.
pub(crate) fn secrets(config: &SignatureConfig) -> anyhow::Result<Vec<Secret>> {
    let file = config.secret_file.as_deref();
    let text = match (&config.secret, file) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(f)) if config.prefer_file => Some(Secret::from_file(f)?),
        (None, _) => Secret::resolve(None, &config.secret_env, file)?,
    };
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let secrets: Vec<Secret> = text
        .expose()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Secret::new)
        .collect();
    if secrets.is_empty() {
        bail!("the webhook secret is empty");
    }
    let count = secrets.len();
    for (i, s) in secrets.iter().enumerate() {
        let len = s.expose().len();
        if len < config.min_secret_bytes {
            let which = if count == 1 {
                "the webhook secret".to_owned()
            } else {
                format!("webhook secret {} of {count}", i + 1)
            };
            bail!(
                "{which} is {len} bytes long; at least {} are required (use a random secret \
                 of 32 bytes or more, or lower signature.min_secret_bytes)",
                config.min_secret_bytes
            );
        }
    }
    Ok(secrets)
}

impl Verifier {
    /// A verifier of `secrets` (the newest first, at least one), remembering the signatures
    /// seen in `seen` (pass the previous verifier's [`Verifier::seen`] on a reload).
    pub(crate) fn new(
        secrets: &[Secret],
        config: &SignatureConfig,
        seen: Option<Arc<Mutex<Seen>>>,
    ) -> anyhow::Result<Verifier> {
        anyhow::ensure!(!secrets.is_empty(), "no webhook secret");
        let header = HeaderName::try_from(config.header.as_str())
            .with_context(|| format!("`{}` is not a header name", config.header))?;
        let timestamp = match &config.timestamp_header {
            None => None,
            Some(h) => Some(Timestamps {
                header: HeaderName::try_from(h.as_str())
                    .with_context(|| format!("`{h}` is not a header name"))?,
                tolerance: config.tolerance,
                unit: config.timestamp_unit,
                seen: seen.unwrap_or_default(),
            }),
        };
        let signed = match (config.signed, &timestamp) {
            (Some(Signed::TimestampBody), None) => {
                bail!("signature.signed = \"timestamp.body\" needs a signature.timestamp_header")
            }
            (Some(s), _) => s,
            (None, Some(_)) => Signed::TimestampBody,
            (None, None) => Signed::Body,
        };
        let macs = secrets
            .iter()
            .map(|s| Hmac::new_from_slice(s.expose().as_bytes()).context("an unusable secret"))
            .collect::<anyhow::Result<_>>()?;
        Ok(Verifier {
            macs,
            header,
            timestamp,
            signed,
        })
    }

    /// The cache of signatures seen, to hand to the verifier that replaces this one.
    pub(crate) fn seen(&self) -> Option<Arc<Mutex<Seen>>> {
        self.timestamp.as_ref().map(|t| t.seen.clone())
    }

    /// How many secrets are active.
    pub(crate) fn secret_count(&self) -> usize {
        self.macs.len()
    }

    /// Accepts a request signed with any active secret or says why not: 401 when the
    /// signature (or a required timestamp) is missing, 403 when it is wrong, stale or seen
    /// before.
    pub(crate) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), ApiError> {
        let Some(value) = headers.get(&self.header) else {
            return Err(ApiError::gateway(
                GatewayCode::SignatureMissing,
                format!("the request has no `{}` header", self.header),
            ));
        };
        let signature = value
            .to_str()
            .ok()
            .and_then(parse_signature)
            .ok_or_else(|| {
                ApiError::gateway(
                    GatewayCode::SignatureInvalid,
                    "the signature is not hex HMAC-SHA256 (`<hex>` or `sha256=<hex>`)",
                )
            })?;
        let stamp = match &self.timestamp {
            None => None,
            Some(t) => Some(timestamp(headers, t)?),
        };
        let prefix = match (&stamp, self.signed) {
            (Some((text, _)), Signed::TimestampBody) => Some(text.as_str()),
            _ => None,
        };
        // Every secret is tried (each comparison in constant time), so the time taken does not
        // say which one matched.
        let matched = self.macs.iter().fold(false, |ok, mac| {
            let mut mac = mac.clone();
            if let Some(text) = prefix {
                mac.update(text.as_bytes());
                mac.update(b".");
            }
            mac.update(body);
            mac.verify_slice(&signature).is_ok() | ok
        });
        if !matched {
            return Err(ApiError::gateway(
                GatewayCode::SignatureInvalid,
                "the signature does not match the body",
            ));
        }
        if let (Some(t), Some((_, stamp))) = (&self.timestamp, stamp) {
            let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            let (now, tolerance, unit) = match t.unit {
                TimestampUnit::Seconds => (since_epoch.as_secs(), t.tolerance.as_secs(), "s"),
                TimestampUnit::Milliseconds => (
                    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX),
                    u64::try_from(t.tolerance.as_millis()).unwrap_or(u64::MAX),
                    "ms",
                ),
            };
            if now.abs_diff(stamp) > tolerance {
                return Err(ApiError::gateway(
                    GatewayCode::TimestampStale,
                    format!(
                        "the timestamp is {}{unit} away from the gateway's clock, the window is \
                         {tolerance}{unit}",
                        now.abs_diff(stamp),
                    ),
                ));
            }
            // A signature is 32 bytes once it verified.
            let key: [u8; 32] = signature.try_into().unwrap_or([0; 32]);
            if !t.first_sight(key) {
                return Err(ApiError::gateway(
                    GatewayCode::Replayed,
                    "this signed request was already accepted",
                ));
            }
        }
        Ok(())
    }
}

impl Timestamps {
    /// Remembers a signature; false if it was already seen within the window.
    fn first_sight(&self, signature: [u8; 32]) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // A timestamp is accepted for `tolerance` on either side of the clock, so a signature
        // must be remembered for twice that.
        let keep = self.tolerance * 2;
        while let Some(&(at, sig)) = seen.order.front() {
            if now.duration_since(at) <= keep && seen.order.len() < SEEN_CAPACITY {
                break;
            }
            seen.order.pop_front();
            seen.set.remove(&sig);
        }
        if !seen.set.insert(signature) {
            return false;
        }
        seen.order.push_back((now, signature));
        true
    }
}

/// The Unix timestamp header, as text (it is signed as sent) and as a number.
fn timestamp(headers: &HeaderMap, t: &Timestamps) -> Result<(String, u64), ApiError> {
    let unit = match t.unit {
        TimestampUnit::Seconds => "seconds",
        TimestampUnit::Milliseconds => "milliseconds",
    };
    headers
        .get(&t.header)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| Some((s.to_owned(), s.parse::<u64>().ok()?)))
        .ok_or_else(|| {
            ApiError::gateway(
                GatewayCode::TimestampMissing,
                format!("the request has no `{}` header in Unix {unit}", t.header),
            )
        })
}

/// `<hex>` or `sha256=<hex>`, surrounding whitespace allowed.
fn parse_signature(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let hex = match text.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("sha256=") => &text[7..],
        _ => text,
    };
    hex::decode(hex).ok()
}

/// The signature a sender computes, as `sha256=<hex>` (for tests and clients).
pub fn sign(secret: &str, timestamp: Option<&str>, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    if let Some(t) = timestamp {
        mac.update(t.as_bytes());
        mac.update(b".");
    }
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn verifier(timestamp: bool) -> Verifier {
        let config = SignatureConfig {
            timestamp_header: timestamp.then(|| "x-cognigy-timestamp".to_owned()),
            ..SignatureConfig::default()
        };
        Verifier::new(&[Secret::new("s3cret")], &config, None).unwrap()
    }

    fn config(secret: &str) -> SignatureConfig {
        SignatureConfig {
            secret: Some(Secret::new(secret)),
            secret_env: "HANDOFF_TEST_UNSET_VARIABLE".to_owned(),
            ..SignatureConfig::default()
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn code(r: Result<(), ApiError>) -> String {
        r.err().map(|e| e.code.clone()).unwrap_or_default()
    }

    #[test]
    fn bare_and_prefixed_hex_are_accepted_and_a_changed_body_is_not() {
        let v = verifier(false);
        let sig = sign("s3cret", None, b"{}");
        let now = SystemTime::now();
        let sig_header = "x-cognigy-signature";
        assert!(
            v.verify(&headers(&[(sig_header, &sig)]), b"{}", now)
                .is_ok()
        );
        let bare = sig.trim_start_matches("sha256=").to_uppercase();
        assert!(
            v.verify(&headers(&[(sig_header, &bare)]), b"{}", now)
                .is_ok()
        );
        assert_eq!(
            code(v.verify(&headers(&[(sig_header, &sig)]), b"{ }", now)),
            "G101"
        );
        assert_eq!(
            code(v.verify(&headers(&[(sig_header, "zz")]), b"{}", now)),
            "G101"
        );
        assert_eq!(code(v.verify(&headers(&[]), b"{}", now)), "G100");
    }

    #[test]
    fn timestamps_are_signed_windowed_and_used_once() {
        let v = verifier(true);
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let ts = secs.to_string();
        let sig = sign("s3cret", Some(&ts), b"{}");
        let h = headers(&[("x-cognigy-signature", &sig), ("x-cognigy-timestamp", &ts)]);
        assert!(v.verify(&h, b"{}", now).is_ok());
        assert_eq!(code(v.verify(&h, b"{}", now)), "G104", "a replay");

        let old = (secs - 301).to_string();
        let sig = sign("s3cret", Some(&old), b"{}");
        let h = headers(&[("x-cognigy-signature", &sig), ("x-cognigy-timestamp", &old)]);
        assert_eq!(code(v.verify(&h, b"{}", now)), "G103");

        // The timestamp is part of what is signed: moving it breaks the signature.
        let h = headers(&[("x-cognigy-signature", &sig), ("x-cognigy-timestamp", &ts)]);
        assert_eq!(code(v.verify(&h, b"{}", now)), "G101");
        let h = headers(&[("x-cognigy-signature", &sig)]);
        assert_eq!(code(v.verify(&h, b"{}", now)), "G102");
    }

    const NEW: &str = "new-secret-0123456789abcdef-0123456789";
    const OLD: &str = "old-secret-0123456789abcdef-0123456789";

    #[test]
    fn any_active_secret_is_accepted_the_first_being_the_newest() {
        let c = config(&format!("{NEW}\n\n  {OLD}  \n"));
        let all = secrets(&c).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].expose(), NEW, "the first line is the newest");
        let v = Verifier::new(&all, &c, None).unwrap();
        assert_eq!(v.secret_count(), 2);
        let now = SystemTime::now();
        for secret in [NEW, OLD] {
            let h = headers(&[("x-cognigy-signature", &sign(secret, None, b"{}"))]);
            assert!(v.verify(&h, b"{}", now).is_ok(), "signed with {secret}");
        }
        let h = headers(&[("x-cognigy-signature", &sign("another", None, b"{}"))]);
        assert_eq!(code(v.verify(&h, b"{}", now)), "G101");
    }

    #[test]
    fn a_short_secret_is_refused_with_its_length_and_not_its_value() {
        let e = secrets(&config("hunt2")).unwrap_err().to_string();
        assert!(e.contains("the webhook secret is 5 bytes long"), "{e}");
        assert!(e.contains("at least 32"), "{e}");
        assert!(!e.contains("hunt2"), "{e}");
        let e = secrets(&config(&format!("{NEW}\nshort")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("webhook secret 2 of 2 is 5 bytes long"), "{e}");
        let lowered = SignatureConfig {
            min_secret_bytes: 5,
            ..config("hunt2")
        };
        assert_eq!(secrets(&lowered).unwrap().len(), 1);
        assert!(secrets(&config(" \n ")).is_err(), "blank");
    }

    #[test]
    fn millisecond_timestamps_are_windowed_in_milliseconds() {
        let c = SignatureConfig {
            timestamp_header: Some("x-cognigy-timestamp".to_owned()),
            timestamp_unit: TimestampUnit::Milliseconds,
            ..SignatureConfig::default()
        };
        let v = Verifier::new(&[Secret::new("s3cret")], &c, None).unwrap();
        let now = SystemTime::now();
        let ms = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let fresh = (ms - 1500).to_string();
        let sig = sign("s3cret", Some(&fresh), b"{}");
        let h = headers(&[
            ("x-cognigy-signature", &sig),
            ("x-cognigy-timestamp", &fresh),
        ]);
        assert!(v.verify(&h, b"{}", now).is_ok());
        let stale = (ms - 300_001).to_string();
        let sig = sign("s3cret", Some(&stale), b"{}");
        let h = headers(&[
            ("x-cognigy-signature", &sig),
            ("x-cognigy-timestamp", &stale),
        ]);
        assert_eq!(code(v.verify(&h, b"{}", now)), "G103");
        // Read as seconds, a millisecond timestamp is far in the future: stale.
        let v = verifier(true);
        let sig = sign("s3cret", Some(&fresh), b"{}");
        let h = headers(&[
            ("x-cognigy-signature", &sig),
            ("x-cognigy-timestamp", &fresh),
        ]);
        assert_eq!(code(v.verify(&h, b"{}", now)), "G103");
    }

    #[test]
    fn a_body_only_signature_still_checks_the_timestamp_when_one_is_required() {
        let c = SignatureConfig {
            timestamp_header: Some("x-cognigy-timestamp".to_owned()),
            signed: Some(Signed::Body),
            ..SignatureConfig::default()
        };
        let v = Verifier::new(&[Secret::new("s3cret")], &c, None).unwrap();
        let now = SystemTime::now();
        let ts = now
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let body_only = sign("s3cret", None, b"{}");
        let h = headers(&[
            ("x-cognigy-signature", &body_only),
            ("x-cognigy-timestamp", &ts),
        ]);
        assert!(v.verify(&h, b"{}", now).is_ok());
        let h = headers(&[("x-cognigy-signature", &body_only)]);
        assert_eq!(code(v.verify(&h, b"{}", now)), "G102");
        let with_ts = sign("s3cret", Some(&ts), b"{}");
        let h = headers(&[
            ("x-cognigy-signature", &with_ts),
            ("x-cognigy-timestamp", &ts),
        ]);
        assert_eq!(code(v.verify(&h, b"{}", now)), "G101");

        let no_header = SignatureConfig {
            signed: Some(Signed::TimestampBody),
            ..SignatureConfig::default()
        };
        let e = Verifier::new(&[Secret::new("s3cret")], &no_header, None).unwrap_err();
        assert!(
            e.to_string().contains("needs a signature.timestamp_header"),
            "{e}"
        );
    }

    #[test]
    fn the_settings_parse_from_toml() {
        let c: SignatureConfig =
            toml::from_str("timestamp_unit = \"ms\"\nsigned = \"body\"\nmin_secret_bytes = 16\n")
                .unwrap();
        assert_eq!(c.timestamp_unit, TimestampUnit::Milliseconds);
        assert_eq!(c.signed, Some(Signed::Body));
        assert_eq!(c.min_secret_bytes, 16);
        assert!(toml::from_str::<SignatureConfig>("timestamp_unit = \"us\"").is_err());
    }
}
