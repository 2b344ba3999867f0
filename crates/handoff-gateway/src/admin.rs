//! The admin endpoints (`/health` in detail, `/metrics`, `/rules`) behind their bearer token,
//! and the minimal liveness answer (`/livez`, and `/health` where admin is not served).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::gateway::State;
use crate::metrics;
use crate::reply::{ApiError, GatewayCode};

/// `/health`, `/metrics` and `/rules`; with an admin token, each needs
/// `Authorization: Bearer TOKEN` (401 G121 otherwise).
pub(crate) fn routes(state: Arc<State>) -> Router {
    let router = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/rules", get(rules));
    let router = if state.admin_token.is_some() {
        router.route_layer(middleware::from_fn_with_state(state.clone(), require_token))
    } else {
        router
    };
    router.with_state(state)
}

/// `/livez`, and `/health` too when `with_health` (on a listener that does not serve the
/// admin endpoints): `{"status": "ok"}` or `"degraded"`, nothing else.
pub(crate) fn liveness(state: Arc<State>, with_health: bool) -> Router {
    let router = Router::new().route("/livez", get(livez));
    let router = if with_health {
        router.route("/health", get(livez))
    } else {
        router
    };
    router.with_state(state)
}

/// Whether the public listener serves the admin endpoints: not when they have a listener of
/// their own; otherwise when a token guards them, or when the public listener is loopback
/// (reachable from this machine only).
pub(crate) fn on_public(public_is_loopback: bool, separate: bool, token: bool) -> bool {
    !separate && (token || public_is_loopback)
}

async fn require_token(
    AxState(state): AxState<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    match &state.admin_token {
        Some(token) if !bearer_matches(request.headers(), token.expose()) => {
            let mut r = ApiError::gateway(
                GatewayCode::AdminUnauthorized,
                "this endpoint needs `Authorization: Bearer` with the admin token",
            )
            .into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
        _ => next.run(request).await,
    }
}

/// Whether the request carries `Authorization: Bearer TOKEN`. The digests are compared, so
/// that the time taken tells nothing about the token.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
    else {
        return false;
    };
    Sha256::digest(given.as_bytes()) == Sha256::digest(token.as_bytes())
}

async fn livez(AxState(state): AxState<Arc<State>>) -> Response {
    axum::Json(json!({ "status": state.status() })).into_response()
}

async fn health(AxState(state): AxState<Arc<State>>) -> Response {
    let plan = state.runner.plan();
    let reload_error = state.runner.last_reload_error().map(|d| d.to_string());
    let signatures = state.reloader.live().verifier.is_some();
    let dead_letter = state.dead_letter.as_ref().map(|dl| {
        json!({
            "path": dl.path().display().to_string(),
            "entries": dl.len(),
            "bytes": dl.bytes(),
        })
    });
    axum::Json(json!({
        "status": state.status(),
        "rules_loaded": plan.rule_names().count(),
        "rule_set_hash": plan.hash(),
        "last_reload_error": reload_error,
        "signatures": if signatures { "on" } else { "off" },
        "config": state.reloader.health(),
        "dead_letter": dead_letter,
        "uptime_seconds": state.started.elapsed().as_secs(),
    }))
    .into_response()
}

async fn metrics(AxState(state): AxState<Arc<State>>) -> Response {
    let rules = state.runner.plan().rule_names().count();
    let backlog = state.dead_letter.as_ref().map_or(0, |dl| dl.len());
    let text = state.metrics.encode(rules, backlog);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

async fn rules(AxState(state): AxState<Arc<State>>) -> Response {
    let plan = state.runner.plan();
    let file_hash = |name: &str| {
        plan.files()
            .iter()
            .find(|f| f.name == name)
            .map(|f| hex::encode(Sha256::digest(f.text.as_bytes())))
    };
    let rules: Vec<_> = plan
        .info()
        .rules
        .into_iter()
        .map(|r| {
            json!({
                "name": r.name,
                "description": r.description,
                "file": r.file,
                "file_sha256": file_hash(&r.file),
                "condition": r.condition,
                "forward": state.forwarder.upstream(&r.name).map(|u| u.url.as_str()),
            })
        })
        .collect();
    axum::Json(json!({ "rule_set_hash": plan.hash(), "rules": rules })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_is_on_the_public_listener_only_with_a_token_or_on_loopback() {
        assert!(on_public(true, false, false));
        assert!(on_public(false, false, true));
        assert!(!on_public(false, false, false), "public address, no token");
        assert!(!on_public(true, true, true), "a listener of its own");
    }

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(bearer_matches(&with("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(&with("bearer s3cret"), "s3cret"));
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Basic s3cret",
            "s3cret",
            "Bearer ",
        ] {
            assert!(!bearer_matches(&with(bad), "s3cret"), "{bad}");
        }
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }
}
