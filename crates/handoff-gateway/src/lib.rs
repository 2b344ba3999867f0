//! handoff-gateway: the runner embedded in an HTTP gateway. Cognigy posts a webhook; the
//! gateway checks its signature, transforms it with the rules, and answers with the result or
//! delivers it upstream (CXone) with an OAuth2 token, retries and a durable dead-letter file.
//!
//! - [`Gateway`]: build it from a [`GatewayConfig`], then [`Gateway::serve`] it on a listener
//!   or mount [`Gateway::router`] in an axum application;
//! - [`ServeArgs`] and [`serve_blocking`]: `handoff serve` (flags, runtime, logging, signals);
//! - [`sign`]: the signature a webhook sender computes.
//!
//! Endpoints: `POST /v1/transform/{rule}`, `POST /v1/webhooks/cognigy` (dispatch by the rules'
//! conditions), `GET /livez`, and the admin endpoints `GET /health`, `GET /metrics`,
//! `GET /rules` (on their own listener, or behind a bearer token). docs/gateway.md has the
//! status codes, the connection limits, the configuration reference and an embedding guide.
//!
//! ```no_run
//! use handoff_gateway::{GatewayConfig, Gateway};
//!
//! # async fn run() -> anyhow::Result<()> {
//! let mut config = GatewayConfig::default();
//! config.rules = vec!["rules/cxone_handoff.toml".into()];
//! let app = axum::Router::new().nest("/handoff", Gateway::new(config)?.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod access;
mod admin;
mod config;
mod deadletter;
mod forward;
mod gateway;
mod listen;
mod live;
mod metrics;
mod reply;
mod routes;
mod serve;
mod signature;
mod tasks;
mod token;

pub use config::{
    AdminConfig, DeadLetterConfig, ForwardConfig, GatewayConfig, LimitsConfig, LogConfig,
    LogFormat, OAuthConfig, Secret, SignatureConfig, Signed, TimestampUnit,
};
pub use gateway::Gateway;
pub use serve::{ServeArgs, serve_blocking};
pub use signature::sign;
