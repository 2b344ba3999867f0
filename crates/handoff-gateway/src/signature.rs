//! Webhook signatures: HMAC-SHA256 of the raw body, compared in constant time, with an optional
//! signed timestamp, a replay window and a cache of the signatures seen in it.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::http::{HeaderMap, HeaderName};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{Secret, SignatureConfig};
use crate::reply::{ApiError, GatewayCode};

/// Most signatures remembered for replay detection; the oldest is forgotten first.
const SEEN_CAPACITY: usize = 100_000;

/// Checks the signature of each webhook.
pub(crate) struct Verifier {
    /// Keyed once; cloned per request.
    mac: Hmac<Sha256>,
    header: HeaderName,
    timestamp: Option<Timestamps>,
}

struct Timestamps {
    header: HeaderName,
    tolerance: Duration,
    seen: Mutex<Seen>,
}

/// The signatures accepted within the last two tolerances, oldest first.
#[derive(Default)]
struct Seen {
    set: HashSet<[u8; 32]>,
    order: VecDeque<(Instant, [u8; 32])>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("header", &self.header)
            .field("timestamp", &self.timestamp.as_ref().map(|t| &t.header))
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub(crate) fn new(secret: &Secret, config: &SignatureConfig) -> anyhow::Result<Verifier> {
        let header = HeaderName::try_from(config.header.as_str())
            .with_context(|| format!("`{}` is not a header name", config.header))?;
        let timestamp = match &config.timestamp_header {
            None => None,
            Some(h) => Some(Timestamps {
                header: HeaderName::try_from(h.as_str())
                    .with_context(|| format!("`{h}` is not a header name"))?,
                tolerance: config.tolerance,
                seen: Mutex::default(),
            }),
        };
        Ok(Verifier {
            mac: Hmac::new_from_slice(secret.expose().as_bytes()).context("an unusable secret")?,
            header,
            timestamp,
        })
    }

    /// Accepts a signed request or says why not: 401 when the signature (or a required
    /// timestamp) is missing, 403 when it is wrong, stale or seen before.
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
        let mut mac = self.mac.clone();
        if let Some((text, _)) = &stamp {
            mac.update(text.as_bytes());
            mac.update(b".");
        }
        mac.update(body);
        mac.verify_slice(&signature).map_err(|_| {
            ApiError::gateway(
                GatewayCode::SignatureInvalid,
                "the signature does not match the body",
            )
        })?;
        if let (Some(t), Some((_, secs))) = (&self.timestamp, stamp) {
            let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            if now_secs.abs_diff(secs) > t.tolerance.as_secs() {
                return Err(ApiError::gateway(
                    GatewayCode::TimestampStale,
                    format!(
                        "the timestamp is {}s away from the gateway's clock, the window is {}s",
                        now_secs.abs_diff(secs),
                        t.tolerance.as_secs()
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

/// The Unix-seconds timestamp header, as text (it is signed as sent) and as a number.
fn timestamp(headers: &HeaderMap, t: &Timestamps) -> Result<(String, u64), ApiError> {
    headers
        .get(&t.header)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| Some((s.to_owned(), s.parse::<u64>().ok()?)))
        .ok_or_else(|| {
            ApiError::gateway(
                GatewayCode::TimestampMissing,
                format!("the request has no `{}` header in Unix seconds", t.header),
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
        Verifier::new(&Secret::new("s3cret"), &config).unwrap()
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
}
