//! Error replies: a status and the JSON body `{"error": {code, kind, message, rule, target, path, node}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use handoff_core::Code;
use serde::Serialize;

/// A request the gateway refuses or a transform that failed, ready to be answered. Boxed, so
/// that results stay small.
#[derive(Debug, Clone)]
pub(crate) struct ApiError(Box<Repr>);

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Repr {
    #[serde(skip)]
    pub(crate) status: StatusCode,
    /// `E…` for the engine's codes (docs/errors.md), `G…` for the gateway's (docs/gateway.md).
    pub(crate) code: String,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) rule: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) path: Option<String>,
    /// The normalized path of the node that failed (a cast or a null), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
}

/// The gateway's own error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GatewayCode {
    SignatureMissing,
    SignatureInvalid,
    TimestampMissing,
    TimestampStale,
    Replayed,
    UnsupportedMediaType,
    BodyUnreadable,
    NotFound,
    DeadLetterFailed,
    // Connection limits and admin endpoints (issue 15, findings 1 and 9).
    BodyTimeout,
    AdminUnauthorized,
    Overloaded,
}

impl GatewayCode {
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use GatewayCode::*;
        match self {
            SignatureMissing => (StatusCode::UNAUTHORIZED, "G100", "signature_missing"),
            SignatureInvalid => (StatusCode::FORBIDDEN, "G101", "signature_invalid"),
            TimestampMissing => (StatusCode::UNAUTHORIZED, "G102", "timestamp_missing"),
            TimestampStale => (StatusCode::FORBIDDEN, "G103", "timestamp_stale"),
            Replayed => (StatusCode::FORBIDDEN, "G104", "replayed"),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "G110",
                "unsupported_media_type",
            ),
            BodyUnreadable => (StatusCode::BAD_REQUEST, "G111", "body_unreadable"),
            NotFound => (StatusCode::NOT_FOUND, "G120", "not_found"),
            DeadLetterFailed => (
                StatusCode::SERVICE_UNAVAILABLE,
                "G130",
                "dead_letter_failed",
            ),
            BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "G112", "body_timeout"),
            AdminUnauthorized => (StatusCode::UNAUTHORIZED, "G121", "admin_unauthorized"),
            Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "G131", "overloaded"),
        }
    }
}

impl ApiError {
    /// One of the gateway's own errors.
    pub(crate) fn gateway(code: GatewayCode, message: impl Into<String>) -> ApiError {
        let (status, code, kind) = code.parts();
        ApiError(Box::new(Repr {
            status,
            code: code.to_owned(),
            kind,
            message: message.into(),
            rule: None,
            target: None,
            path: None,
            node: None,
        }))
    }

    /// A body over the gateway's limit: the engine's E400, answered before the body is read.
    pub(crate) fn too_large(size: Option<u64>, limit: usize) -> ApiError {
        let message = match size {
            Some(n) => format!("payload is {n} bytes, the limit is {limit}"),
            None => format!("payload is larger than the limit of {limit} bytes"),
        };
        ApiError::from(handoff_core::Error::new(Code::PayloadTooLarge, message))
    }
}

/// The HTTP status of an engine error: 413 too large, 400 not JSON or too deep, 404 unknown
/// rule, 422 for everything a rule can fail on.
pub(crate) fn status_of(code: Code) -> StatusCode {
    match code {
        Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Code::PayloadTooDeep | Code::InvalidJson | Code::InvalidContext => StatusCode::BAD_REQUEST,
        Code::UnknownRule => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<handoff_core::Error> for ApiError {
    fn from(e: handoff_core::Error) -> ApiError {
        ApiError(Box::new(Repr {
            status: status_of(e.code()),
            code: e.code().to_string(),
            kind: e.code().slug(),
            message: e.message().to_owned(),
            rule: e.rule().map(str::to_owned),
            target: e.target().map(str::to_owned),
            path: e.path().map(str::to_owned),
            node: e.node().map(str::to_owned),
        }))
    }
}

impl std::ops::Deref for ApiError {
    type Target = Repr;

    fn deref(&self) -> &Repr {
        &self.0
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a Repr,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(Body { error: &self.0 })).into_response()
    }
}

/// The JSON 404 of a path the gateway does not serve.
pub(crate) async fn not_found() -> ApiError {
    ApiError::gateway(GatewayCode::NotFound, "no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_codes_map_to_their_statuses() {
        assert_eq!(status_of(Code::InvalidJson), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(Code::PayloadTooDeep), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(Code::UnknownRule), StatusCode::NOT_FOUND);
        assert_eq!(
            status_of(Code::CastFailed),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status_of(Code::OutputSchema),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let e = ApiError::too_large(Some(10), 5);
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "E400")
        );
    }
}
