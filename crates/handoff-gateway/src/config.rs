//! The gateway configuration: one TOML file, every key optional with a documented default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The whole gateway configuration (`docs/gateway.md` documents each key and its default).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Rule files and folders to serve. Default `["rules"]`.
    pub rules: Vec<PathBuf>,
    /// Reload the rules when their files change. Default `true`.
    pub watch: bool,
    /// Let a reload leave no rules (otherwise it is refused: the previous rules keep serving
    /// and `/health` says degraded). Starting with no rules is an error either way.
    /// Default `false`.
    pub allow_empty_rules: bool,
    /// Let a reload drop a rule that `[forward]` names (otherwise it is refused like
    /// `allow_empty_rules`). Default `false`.
    pub allow_dropping_forwarded_rules: bool,
    /// Largest request body in bytes, checked before it is read. Default 262144 (256 KiB, the
    /// engine's default `payload_bytes`).
    pub max_body_bytes: usize,
    /// How long a shutdown waits for in-flight requests and deliveries. Default `30s`.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// Serve without a webhook secret on an address that is not loopback. Default `false`.
    pub allow_unsigned: bool,
    /// Webhook signature verification.
    pub signature: SignatureConfig,
    /// The dead-letter file of deliveries that exhausted their retries.
    pub dead_letter: DeadLetterConfig,
    /// Forward mode, by rule name: the output is POSTed to an upstream instead of returned.
    pub forward: BTreeMap<String, ForwardConfig>,
    /// The log's format, the access log and the audit file.
    pub log: LogConfig,
    /// Connection and request limits (`[limits]`).
    pub limits: LimitsConfig,
    /// Where the admin endpoints are served, and their token (`[admin]`).
    pub admin: AdminConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rules: vec![PathBuf::from("rules")],
            watch: true,
            allow_empty_rules: false,
            allow_dropping_forwarded_rules: false,
            max_body_bytes: 256 * 1024,
            shutdown_timeout: Duration::from_secs(30),
            allow_unsigned: false,
            signature: SignatureConfig::default(),
            dead_letter: DeadLetterConfig::default(),
            forward: BTreeMap::new(),
            log: LogConfig::default(),
            limits: LimitsConfig::default(),
            admin: AdminConfig::default(),
        }
    }
}

/// How webhooks are signed: HMAC-SHA256 of the raw body (or of `TIMESTAMP.BODY` when a
/// timestamp header is configured), hex, in a header.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignatureConfig {
    /// Environment variable holding the secret(s), one per line, the newest first. Default
    /// `HANDOFF_WEBHOOK_SECRET`.
    pub secret_env: String,
    /// File holding the secret(s), one per line, the newest first (surrounding whitespace and
    /// blank lines are dropped); used when the environment variable is not set, and watched
    /// for changes. Default: none.
    pub secret_file: Option<PathBuf>,
    /// The signature header. Default `x-cognigy-signature`.
    pub header: String,
    /// A header with the signing time (see `timestamp_unit`). When set, it is required,
    /// checked against `tolerance`, and a signature is accepted only once. Default: none.
    pub timestamp_header: Option<String>,
    /// The replay window around the gateway's clock. Default `5m`.
    #[serde(with = "duration")]
    pub tolerance: Duration,
    /// The shortest secret accepted, in bytes; a shorter one is a start-up error (and a
    /// refused reload). Default 32.
    pub min_secret_bytes: usize,
    /// The unit of the timestamp header: Unix seconds or milliseconds. Default `s`.
    pub timestamp_unit: TimestampUnit,
    /// What is signed: `TIMESTAMP.BODY` or the body alone. Default: `timestamp.body` when
    /// `timestamp_header` is set, `body` otherwise.
    pub signed: Option<Signed>,
    /// The secret(s) themselves (one per line, the newest first), for embedding and tests;
    /// take precedence over the environment and the file. Never read from the TOML file.
    #[serde(skip)]
    pub secret: Option<Secret>,
    /// Read `secret_file` before the environment variable (`--webhook-secret-file`). Never
    /// read from the TOML file.
    #[serde(skip)]
    pub prefer_file: bool,
}

impl Default for SignatureConfig {
    fn default() -> Self {
        SignatureConfig {
            secret_env: "HANDOFF_WEBHOOK_SECRET".to_owned(),
            secret_file: None,
            header: "x-cognigy-signature".to_owned(),
            timestamp_header: None,
            tolerance: Duration::from_secs(300),
            min_secret_bytes: 32,
            timestamp_unit: TimestampUnit::default(),
            signed: None,
            secret: None,
            prefer_file: false,
        }
    }
}

/// The unit of a signed timestamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum TimestampUnit {
    /// Unix seconds (`1767225600`).
    #[default]
    #[serde(rename = "s")]
    Seconds,
    /// Unix milliseconds (`1767225600000`).
    #[serde(rename = "ms")]
    Milliseconds,
}

/// What a webhook's signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Signed {
    /// The timestamp header's value, a dot, then the raw body.
    #[serde(rename = "timestamp.body")]
    TimestampBody,
    /// The raw body alone (a timestamp, if required, is only checked for freshness).
    #[serde(rename = "body")]
    Body,
}

/// Logging: the format of the log on stderr, what the access log shows, and an audit file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (human-readable) or `json` (one JSON object a line). Default `text`.
    pub format: LogFormat,
    /// Put each request's body in its access-log line. Default `false`.
    pub bodies: bool,
    /// A JSONL file with one audit record per webhook (the shape of `handoff run --audit`).
    /// Default: none.
    pub audit: Option<PathBuf>,
}

/// The log's format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Where failed deliveries are kept, and how often they are tried again.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// The JSONL file. Default `handoff-dead-letter.jsonl`.
    pub path: PathBuf,
    /// How often its entries are delivered again (also once at start); `0s` turns replay off
    /// and only keeps them. Default `60s`.
    #[serde(with = "duration")]
    pub replay_interval: Duration,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            path: PathBuf::from("handoff-dead-letter.jsonl"),
            replay_interval: Duration::from_secs(60),
        }
    }
}

/// One rule's upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    /// The URL the output is POSTed to (required).
    pub url: String,
    /// Timeout of one attempt. Default `10s`.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Attempts before the delivery goes to the dead-letter file. Default 4.
    pub max_attempts: u32,
    /// The first retry's backoff; it doubles per attempt, with jitter. Default `200ms`.
    #[serde(with = "duration")]
    pub backoff_initial: Duration,
    /// The longest backoff; a `Retry-After` longer than this ends the retries. Default `5s`.
    #[serde(with = "duration")]
    pub backoff_max: Duration,
    /// OAuth2 client credentials for the upstream. Default: none (no `Authorization`).
    pub oauth: Option<OAuthConfig>,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            url: String::new(),
            timeout: Duration::from_secs(10),
            max_attempts: 4,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            oauth: None,
        }
    }
}

/// An OAuth2 token grant for the upstream, the client authenticated with HTTP Basic: client
/// credentials (RFC 6749 section 4.4), or the password grant (section 4.3) that CXone uses with
/// an access key id and secret as username and password.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    /// The token endpoint (required).
    pub token_url: String,
    /// `client_credentials` or `password`. Default `client_credentials`.
    pub grant_type: String,
    /// The client id (required).
    pub client_id: String,
    /// Environment variable holding the client secret. Default `HANDOFF_OAUTH_CLIENT_SECRET`.
    pub client_secret_env: String,
    /// File holding the client secret; used when the variable is not set. Default: none.
    pub client_secret_file: Option<PathBuf>,
    /// The `scope` parameter. Default: none.
    pub scope: Option<String>,
    /// The password grant's username (a CXone access key id). Default: none.
    pub username: Option<String>,
    /// Environment variable holding the password grant's password (a CXone access key
    /// secret). Default `HANDOFF_OAUTH_PASSWORD`.
    pub password_env: String,
    /// File holding the password; used when the variable is not set. Default: none.
    pub password_file: Option<PathBuf>,
    /// A token is renewed this long before its `expires_in` ends (a short-lived token no
    /// earlier than half-way through its life). Default `60s`.
    #[serde(with = "duration")]
    pub refresh_before: Duration,
    /// The client secret itself, for embedding and tests. Never read from the TOML file.
    #[serde(skip)]
    pub client_secret: Option<Secret>,
    /// The password itself, for embedding and tests. Never read from the TOML file.
    #[serde(skip)]
    pub password: Option<Secret>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            token_url: String::new(),
            grant_type: "client_credentials".to_owned(),
            client_id: String::new(),
            client_secret_env: "HANDOFF_OAUTH_CLIENT_SECRET".to_owned(),
            client_secret_file: None,
            scope: None,
            username: None,
            password_env: "HANDOFF_OAUTH_PASSWORD".to_owned(),
            password_file: None,
            refresh_before: Duration::from_secs(60),
            client_secret: None,
            password: None,
        }
    }
}

impl GatewayConfig {
    /// Reads a config file; relative paths in it are relative to the file's folder.
    pub fn load(path: &Path) -> anyhow::Result<GatewayConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let mut config: GatewayConfig =
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        config.rules.iter_mut().for_each(rebase);
        rebase(&mut config.dead_letter.path);
        if let Some(p) = &mut config.signature.secret_file {
            rebase(p);
        }
        if let Some(p) = &mut config.log.audit {
            rebase(p);
        }
        if let Some(p) = &mut config.admin.token_file {
            rebase(p);
        }
        for o in config.forward.values_mut().filter_map(|f| f.oauth.as_mut()) {
            [&mut o.client_secret_file, &mut o.password_file]
                .into_iter()
                .flatten()
                .for_each(rebase);
        }
        Ok(config)
    }
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(Arc::from(secret.into()))
    }

    /// Reads a secret from a file, trimming surrounding whitespace.
    pub fn from_file(path: &Path) -> anyhow::Result<Secret> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the secret file {}", path.display()))?;
        Ok(Secret::new(text.trim()))
    }

    /// The secret: explicit, else from the environment variable `env`, else from `file`.
    /// An empty secret is an error.
    pub(crate) fn resolve(
        explicit: Option<&Secret>,
        env: &str,
        file: Option<&Path>,
    ) -> anyhow::Result<Option<Secret>> {
        let secret = match (explicit, std::env::var(env).ok(), file) {
            (Some(s), _, _) => Some(s.clone()),
            (None, Some(v), _) => Some(Secret::new(v.trim())),
            (None, None, Some(f)) => Some(Secret::from_file(f)?),
            (None, None, None) => None,
        };
        if secret.as_ref().is_some_and(|s| s.0.is_empty()) {
            bail!("the secret from {env} or its file is empty");
        }
        Ok(secret)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Connection and request limits: what a slow or flooding client can hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// The whole request head (request line and headers) must arrive within this, counted from
    /// when the connection opens or, on a kept-alive connection, from its last response (so it
    /// is also the idle keep-alive timeout); otherwise the connection is closed. Default `10s`.
    #[serde(with = "duration")]
    pub header_read_timeout: Duration,
    /// The whole body must arrive within this, counted from the end of the head; otherwise the
    /// answer is 408 G112 and the connection is closed (also for a body shorter than its
    /// `Content-Length`). Default `10s`.
    #[serde(with = "duration")]
    pub body_read_timeout: Duration,
    /// Keep connections open between requests (HTTP/1.1 keep-alive). Default `true`.
    pub keep_alive: bool,
    /// Open connections on the public listener; one more is accepted and closed at once.
    /// Default: half the process's file-descriptor limit (`ulimit -n`), between 64 and 10,000.
    pub max_connections: Option<usize>,
    /// Webhook and transform requests handled at once; one more is answered 503 G131 with
    /// `Retry-After` at once (load shedding). Default 256.
    pub max_concurrent_requests: usize,
    /// The `Retry-After` of that 503, in whole seconds. Default `1s`.
    #[serde(with = "duration")]
    pub retry_after: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            keep_alive: true,
            max_connections: None,
            max_concurrent_requests: 256,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// The admin endpoints (`/health` in detail, `/metrics`, `/rules`): on a listener of their
/// own, or on the public one behind a bearer token (docs/gateway.md, "Admin endpoints").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// A separate listener for the admin endpoints; the public listener then serves only the
    /// webhook routes, `/livez` and a minimal `/health`. Default: none.
    pub listen: Option<SocketAddr>,
    /// Environment variable holding the admin bearer token. Default `HANDOFF_ADMIN_TOKEN`.
    pub token_env: String,
    /// File holding the token; used when the variable is not set. Default: none.
    pub token_file: Option<PathBuf>,
    /// Open connections on the admin listener. Default 64.
    pub max_connections: usize,
    /// The token itself, for embedding and tests. Never read from the TOML file.
    #[serde(skip)]
    pub token: Option<Secret>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: None,
            token_env: "HANDOFF_ADMIN_TOKEN".to_owned(),
            token_file: None,
            max_connections: 64,
            token: None,
        }
    }
}

impl LimitsConfig {
    /// `max_connections`, or its default from the file-descriptor limit.
    pub(crate) fn connections(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
            soft.map_or(10_000, |n| usize::try_from(n / 2).unwrap_or(10_000))
                .clamp(64, 10_000)
        })
    }
}

/// Durations as humantime strings: `"250ms"`, `"10s"`, `"5m"`.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| de::Error::custom(format!("`{text}` is not a duration: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_all_defaults_and_durations_are_read() {
        let c: GatewayConfig = toml::from_str("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.signature.header, "x-cognigy-signature");
        let c: GatewayConfig = toml::from_str(
            "[forward.cxone-handoff]\nurl = \"http://x/\"\nbackoff_initial = \"25ms\"\n",
        )
        .unwrap();
        let f = &c.forward["cxone-handoff"];
        assert_eq!(f.backoff_initial, Duration::from_millis(25));
        assert_eq!(f.max_attempts, 4);
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_errors() {
        let e = toml::from_str::<GatewayConfig>("listne = \"x\"").unwrap_err();
        assert!(e.to_string().contains("unknown field `listne`"), "{e}");
        let e = toml::from_str::<GatewayConfig>("shutdown_timeout = \"soon\"").unwrap_err();
        assert!(e.to_string().contains("`soon` is not a duration"), "{e}");
    }

    #[test]
    fn the_example_file_parses_with_its_forward_block_commented_and_not() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../gateway.example.toml"
        ));
        let c = GatewayConfig::load(path).unwrap();
        assert!(c.forward.is_empty());
        assert_eq!(c.rules, [path.parent().unwrap().join("rules")]);
        let text = std::fs::read_to_string(path).unwrap();
        let (head, tail) = text.split_at(text.find("# [forward").unwrap());
        let tail: String = tail
            .lines()
            .map(|l| {
                format!(
                    "{}\n",
                    l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#'))
                )
            })
            .collect();
        let c: GatewayConfig = toml::from_str(&format!("{head}{tail}")).unwrap();
        let oauth = c.forward["cxone-handoff"].oauth.as_ref().unwrap();
        assert_eq!(oauth.grant_type, "password");
    }

    #[test]
    fn secrets_do_not_show_and_an_explicit_one_wins() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let r = Secret::resolve(Some(&s), "HANDOFF_TEST_UNSET_VARIABLE", None).unwrap();
        assert_eq!(r.unwrap().expose(), "hunter2");
        let r = Secret::resolve(None, "HANDOFF_TEST_UNSET_VARIABLE", None).unwrap();
        assert!(r.is_none());
    }
}
