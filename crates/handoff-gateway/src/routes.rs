//! The HTTP endpoints: transform and webhook (read, verify, transform, answer or forward), with
//! load shedding and a body read timeout; the admin endpoints are in `admin.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Path, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use tower::limit::GlobalConcurrencyLimitLayer;

use crate::access::{self, Ending, Trace};
use crate::admin;
use crate::deadletter::Entry;
use crate::gateway::State;
use crate::reply::{ApiError, GatewayCode, not_found};

/// The public listener's routes: the webhook routes, `/livez`, and either the admin
/// endpoints (`admin_here`) or a minimal `/health`.
pub(crate) fn public(state: Arc<State>, admin_here: bool) -> Router {
    let router = webhooks(state.clone()).merge(admin::liveness(state.clone(), !admin_here));
    let router = if admin_here {
        router.merge(admin::routes(state))
    } else {
        router
    };
    router.fallback(not_found)
}

/// The admin listener's routes: the admin endpoints and `/livez`.
pub(crate) fn admin_only(state: Arc<State>) -> Router {
    admin::routes(state.clone())
        .merge(admin::liveness(state, false))
        .fallback(not_found)
}

/// `POST /v1/transform/{rule}` and `POST /v1/webhooks/cognigy`, at most
/// `max_concurrent_requests` at once: one more is shed at once with 503 G131 and `Retry-After`.
fn webhooks(state: Arc<State>) -> Router {
    let retry_after = state.limits.retry_after.as_secs().max(1);
    let shed = move |_: tower::BoxError| async move {
        let mut r = ApiError::gateway(
            GatewayCode::Overloaded,
            "too many requests are being handled; try again after Retry-After seconds",
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        r
    };
    let limit = tower::ServiceBuilder::new()
        .layer(HandleErrorLayer::new(shed))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(
            state.requests.clone(),
        ));
    Router::new()
        .route("/v1/transform/{rule}", post(transform))
        .route("/v1/webhooks/cognigy", post(webhook))
        .route_layer(limit)
        .with_state(state)
}

async fn transform(
    AxState(state): AxState<Arc<State>>,
    Path(rule): Path<String>,
    request: Request,
) -> Response {
    handle(state, "transform", Some(rule), request).await
}

async fn webhook(AxState(state): AxState<Arc<State>>, request: Request) -> Response {
    handle(state, "webhook", None, request).await
}

/// A successful answer.
enum Reply {
    /// The transformed JSON itself.
    Output {
        rule: String,
        hash: String,
        body: Bytes,
        /// The reason when it is the rule's ignored body (`[[rule.ignore]]`): counted as
        /// `ignored`.
        ignored: Option<String>,
    },
    Ignored {
        reason: String,
        hash: String,
    },
    Delivered {
        rule: String,
        status: Option<u16>,
        attempts: u32,
    },
    DeadLettered(Entry),
}

async fn handle(
    state: Arc<State>,
    endpoint: &'static str,
    rule: Option<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let given = request.headers().get("x-request-id");
    let request_id = state.request_id(given.and_then(|v| v.to_str().ok()));
    // A rule label only for rules that exist, so that request paths cannot grow the metrics.
    let label = rule
        .as_deref()
        .filter(|r| state.runner.plan().has_rule(r))
        .unwrap_or("")
        .to_owned();
    let mut trace = Trace {
        rule: label,
        ..Trace::default()
    };
    let result = process(&state, rule.as_deref(), request, &request_id, &mut trace).await;
    let (outcome, code, mut response) = match result {
        Ok(reply) => {
            let outcome = match &reply {
                Reply::Output { ignored: None, .. } => "transformed",
                Reply::Output {
                    ignored: Some(r), ..
                }
                | Reply::Ignored { reason: r, .. } => {
                    trace.reason = Some(r.clone());
                    "ignored"
                }
                Reply::Delivered {
                    status, attempts, ..
                } => {
                    (trace.upstream_status, trace.attempts) = (*status, Some(*attempts));
                    "delivered"
                }
                Reply::DeadLettered(e) => {
                    (trace.upstream_status, trace.attempts) = (e.status, Some(e.attempts));
                    "dead_lettered"
                }
            };
            state.metrics.request(endpoint, &trace.rule, outcome, "");
            (outcome, None, reply.into_response())
        }
        Err(e) => {
            state
                .metrics
                .request(endpoint, &trace.rule, "error", &e.code);
            tracing::debug!(%request_id, code = %e.code, rule = ?e.rule, target = ?e.target, path = ?e.path, status = e.status.as_u16(), "request refused");
            let code = e.code.clone();
            ("error", Some(code), e.into_response())
        }
    };
    let ending = Ending {
        endpoint,
        request_id: &request_id,
        outcome,
        code: code.as_deref(),
        status: response.status().as_u16(),
        latency: started.elapsed(),
    };
    access::record(&state, &trace, &ending).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        // The rest of the body is never read: the connection cannot carry another request.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn process(
    state: &Arc<State>,
    rule: Option<&str>,
    request: Request,
    request_id: &str,
    trace: &mut Trace,
) -> Result<Reply, ApiError> {
    // Loaded once: a config reload does not change a request half-way.
    let live = state.reloader.live();
    let (parts, body) = request.into_parts();
    let bytes = read_body(
        &parts.headers,
        body,
        live.max_body_bytes,
        state.limits.body_read_timeout,
    )
    .await?;
    if live.log_bodies {
        trace.body = Some(bytes.clone());
    }
    if let Some(v) = &live.verifier {
        v.verify(&parts.headers, &bytes, SystemTime::now())?;
    }
    check_content_type(&parts.headers)?;
    let started = Instant::now();
    let result = state.runner.transform(rule, &bytes, None);
    let took = started.elapsed();
    match &result {
        Ok(t) => {
            trace.rule = t.rule.clone().unwrap_or_default();
            trace.hash = Some(t.rule_set_hash.clone());
        }
        Err(e) => {
            if let Some(r) = e.rule() {
                trace.rule = r.to_owned();
            }
        }
    }
    trace.transform = Some(took);
    state.metrics.transform(&trace.rule, took);
    let t = result?;
    let (Some(output), Some(rule)) = (t.output, t.rule) else {
        return Ok(Reply::Ignored {
            reason: t.no_rule_reason.unwrap_or_default(),
            hash: t.rule_set_hash,
        });
    };
    let body = Bytes::from(output);
    // An ignored body (`[[rule.ignore]]`) answers the caller; it is not a request to deliver.
    if t.ignored.is_some() || state.forwarder.upstream(&rule).is_none() {
        return Ok(Reply::Output {
            rule,
            hash: t.rule_set_hash,
            body,
            ignored: t.ignored,
        });
    }
    // The delivery runs in its own task, so that it finishes (or reaches the dead-letter file)
    // even when the caller hangs up; a shutdown waits for it.
    let task_state = state.clone();
    let request_id = request_id.to_owned();
    let hash = t.rule_set_hash;
    tokio::spawn(async move { deliver(&task_state, rule, body, request_id, hash).await })
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::gateway(
                GatewayCode::DeadLetterFailed,
                format!("the delivery task failed: {e}"),
            ))
        })
}

async fn deliver(
    state: &State,
    rule: String,
    body: Bytes,
    request_id: String,
    rule_set_hash: String,
) -> Result<Reply, ApiError> {
    let _running = state.deliveries.start();
    let Some(up) = state.forwarder.upstream(&rule) else {
        return Err(ApiError::gateway(
            GatewayCode::DeadLetterFailed,
            "no upstream",
        ));
    };
    let d = state
        .forwarder
        .deliver(up, &body, &request_id, &state.metrics)
        .await;
    if d.delivered {
        tracing::debug!(%request_id, %rule, attempts = d.attempts, "delivered");
        return Ok(Reply::Delivered {
            rule,
            status: d.status,
            attempts: d.attempts,
        });
    }
    let entry = Entry {
        id: state.request_id(None),
        rule,
        request_id,
        rule_set_hash,
        failed_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        attempts: d.attempts,
        replays: 0,
        status: d.status,
        error: d.error.unwrap_or_default(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let Some(dl) = state.dead_letter.clone() else {
        return Err(ApiError::gateway(
            GatewayCode::DeadLetterFailed,
            "no dead-letter file is open",
        ));
    };
    let written = entry.clone();
    let saved = tokio::task::spawn_blocking(move || dl.append(&written)).await;
    match saved {
        Ok(Ok(())) => {
            tracing::warn!(request_id = %entry.request_id, rule = %entry.rule, attempts = entry.attempts, error = %entry.error, "delivery failed; kept in the dead-letter file");
            Ok(Reply::DeadLettered(entry))
        }
        Ok(Err(e)) => {
            tracing::error!(request_id = %entry.request_id, "delivery failed and the dead-letter file cannot be written: {e}");
            Err(ApiError::gateway(
                GatewayCode::DeadLetterFailed,
                "the delivery failed and could not be kept; send it again",
            ))
        }
        Err(e) => Err(ApiError::gateway(
            GatewayCode::DeadLetterFailed,
            format!("the dead-letter write failed: {e}"),
        )),
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Output {
                rule, hash, body, ..
            } => {
                let mut r = Response::new(Body::from(body));
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                if let Ok(v) = HeaderValue::from_str(&rule) {
                    h.insert("x-handoff-rule", v);
                }
                if let Ok(v) = HeaderValue::from_str(&hash) {
                    h.insert("x-handoff-rule-set", v);
                }
                r
            }
            Reply::Ignored { reason, hash } => axum::Json(json!({
                "outcome": "ignored", "reason": reason, "rule_set_hash": hash,
            }))
            .into_response(),
            Reply::Delivered {
                rule,
                status,
                attempts,
            } => axum::Json(json!({
                "outcome": "delivered", "rule": rule, "status": status, "attempts": attempts,
            }))
            .into_response(),
            Reply::DeadLettered(e) => (
                StatusCode::ACCEPTED,
                axum::Json(json!({
                    "outcome": "dead_lettered", "rule": e.rule, "status": e.status,
                    "attempts": e.attempts, "error": e.error, "dead_letter_id": e.id,
                })),
            )
                .into_response(),
        }
    }
}

/// The body, refused with 413 before it is read when it declares a length over the limit, and
/// while it is read otherwise; 408 when it has not all arrived within `timeout` (a slow or
/// a short body).
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        return Err(ApiError::too_large(Some(n), limit));
    }
    let Ok(read) = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await else {
        return Err(ApiError::gateway(
            GatewayCode::BodyTimeout,
            format!(
                "the body did not arrive within {}",
                humantime::format_duration(timeout)
            ),
        ));
    };
    match read {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::too_large(None, limit))
        }
        Err(e) => Err(ApiError::gateway(
            GatewayCode::BodyUnreadable,
            format!("the body could not be read: {e}"),
        )),
    }
}

/// `application/json` or `application/<anything>+json`, parameters allowed.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = given.split(';').next().unwrap_or("").trim();
    let json = essence.eq_ignore_ascii_case("application/json")
        || essence
            .get(..12)
            .is_some_and(|p| p.eq_ignore_ascii_case("application/"))
            && essence.to_ascii_lowercase().ends_with("+json");
    if json {
        Ok(())
    } else {
        Err(ApiError::gateway(
            GatewayCode::UnsupportedMediaType,
            format!("the content type must be application/json, not `{given}`"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_type(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn json_content_types_are_accepted_and_others_refused() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.cognigy+json",
        ] {
            assert!(check_content_type(&content_type(ok)).is_ok(), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", "json", "text/x+json"] {
            let e = check_content_type(&content_type(bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bad}");
        }
        assert!(check_content_type(&HeaderMap::new()).is_err());
    }
}
