//! OAuth2 client-credentials tokens, fetched once and cached until shortly before they expire.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{OAuthConfig, Secret};

/// Used when a token response has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// The longest lifetime believed: a longer `expires_in` (up to 2^64 - 1 seconds, which would
/// overflow the clock) is taken as this, so the token is renewed at least daily.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The largest token response read; a longer one is an error (a token is a few KiB).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// One upstream's token cache. Concurrent callers wait for a single fetch.
pub(crate) struct TokenSource {
    url: reqwest::Url,
    client_id: String,
    secret: Secret,
    /// `(username, password)` for the password grant; client credentials without.
    password: Option<(String, Secret)>,
    scope: Option<String>,
    refresh_before: Duration,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    token: String,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: Option<String>,
    /// Seconds, as a JSON integer (or, as some providers send it, a string of one).
    expires_in: Option<serde_json::Value>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token source; the secrets are resolved from the config (explicit, else environment,
    /// else file).
    pub(crate) fn new(config: &OAuthConfig) -> anyhow::Result<TokenSource> {
        let url = reqwest::Url::parse(&config.token_url).map_err(|e| {
            anyhow::anyhow!("oauth token_url `{}` is not a URL: {e}", config.token_url)
        })?;
        anyhow::ensure!(!config.client_id.is_empty(), "oauth client_id is empty");
        let secret = Secret::resolve(
            config.client_secret.as_ref(),
            &config.client_secret_env,
            config.client_secret_file.as_deref(),
        )?
        .with_context(|| {
            format!(
                "no oauth client secret: set {} or client_secret_file",
                config.client_secret_env
            )
        })?;
        let password = match config.grant_type.as_str() {
            "client_credentials" => None,
            "password" => {
                let username = config
                    .username
                    .clone()
                    .context("the password grant needs a username")?;
                let password = Secret::resolve(
                    config.password.as_ref(),
                    &config.password_env,
                    config.password_file.as_deref(),
                )?
                .with_context(|| {
                    format!(
                        "no oauth password: set {} or password_file",
                        config.password_env
                    )
                })?;
                Some((username, password))
            }
            other => bail!("oauth grant_type `{other}` is not client_credentials or password"),
        };
        Ok(TokenSource {
            url,
            client_id: config.client_id.clone(),
            secret,
            password,
            scope: config.scope.clone(),
            refresh_before: config.refresh_before,
            cached: Mutex::new(None),
        })
    }

    /// A valid token: the cached one, or a new one. `Ok((token, fetched))`.
    pub(crate) async fn get(
        &self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<(String, bool), String> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok((c.token.clone(), false));
        }
        let fresh = self.fetch(client, timeout).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok((token, true))
    }

    /// Forgets `token` (the upstream refused it), unless a newer one replaced it already.
    pub(crate) async fn invalidate(&self, token: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == token) {
            *cached = None;
        }
    }

    async fn fetch(&self, client: &reqwest::Client, timeout: Duration) -> Result<Cached, String> {
        let mut form = match &self.password {
            None => vec![("grant_type", "client_credentials")],
            Some((user, password)) => vec![
                ("grant_type", "password"),
                ("username", user.as_str()),
                ("password", password.expose()),
            ],
        };
        if let Some(s) = &self.scope {
            form.push(("scope", s));
        }
        let started = Instant::now();
        let response = client
            .post(self.url.clone())
            .basic_auth(&self.client_id, Some(self.secret.expose()))
            .form(&form)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| format!("token endpoint: {}", describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("token endpoint answered {status}"));
        }
        let kind = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .chars()
            .take(64)
            .collect::<String>();
        let body = read_bounded(response).await?;
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            format!("token endpoint: not a token response (content type {kind}): {e}")
        })?;
        if t.access_token.is_empty() {
            return Err("token endpoint: the access_token is empty".to_owned());
        }
        if let Some(kind) = t.token_type.as_deref()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(format!("token endpoint: token_type `{kind}` is not Bearer"));
        }
        let lifetime = lifetime(t.expires_in.as_ref())?;
        // Renew `refresh_before` ahead of expiry, but a short-lived token no earlier than
        // half-way through its life.
        let ahead = self.refresh_before.min(lifetime / 2);
        Ok(Cached {
            token: t.access_token,
            renew_at: started
                .checked_add(lifetime.saturating_sub(ahead))
                .unwrap_or(started),
        })
    }
}

/// The body of a token response, at most [`MAX_RESPONSE_BYTES`].
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("token endpoint: {}", describe(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "token endpoint: the response is longer than {MAX_RESPONSE_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A token's lifetime from its `expires_in`: absent or null is [`DEFAULT_LIFETIME`]; a whole
/// number of seconds (`3600`, `3600.0`, `1e30`, or a string of digits, as some providers send
/// it) is taken up to [`MAX_LIFETIME`]; anything else (negative, a fraction, not a number) is
/// an error.
fn lifetime(expires_in: Option<&serde_json::Value>) -> Result<Duration, String> {
    use serde_json::Value;
    let whole = |f: f64| f.is_finite() && f >= 0.0 && f.fract() == 0.0;
    let seconds = match expires_in {
        None | Some(Value::Null) => return Ok(DEFAULT_LIFETIME),
        Some(Value::Number(n)) => n.as_u64().or_else(|| {
            // Beyond u64 (or written with a fraction part of zero): saturates below.
            n.as_f64().filter(|f| whole(*f)).map(|f| f as u64)
        }),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    let Some(seconds) = seconds else {
        let shown = expires_in.map(Value::to_string).unwrap_or_default();
        let shown: String = shown.chars().take(64).collect();
        return Err(format!(
            "token endpoint: expires_in {shown} is not a whole number of seconds"
        ));
    };
    Ok(Duration::from_secs(seconds).min(MAX_LIFETIME))
}

/// An HTTP client error in words, without the URL's query (which might carry secrets).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the response body failed"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    //! Hostile token answers, each from a real token endpoint on 127.0.0.1: none may panic,
    //! each bad one is a clear error, and a huge lifetime is clamped.

    use axum::Router;
    use axum::http::{StatusCode, header};
    use axum::routing::post;

    use super::*;

    /// A token endpoint on 127.0.0.1 that gives every request this answer, and the source
    /// that asks it.
    async fn endpoint(content_type: &'static str, body: String) -> TokenSource {
        let app = Router::new().route(
            "/token",
            post(move || {
                let body = body.clone();
                async move { (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TokenSource::new(&OAuthConfig {
            token_url: url,
            client_id: "gw".to_owned(),
            client_secret: Some(Secret::new("cs")),
            ..OAuthConfig::default()
        })
        .unwrap()
    }

    async fn get(source: &TokenSource) -> Result<(String, bool), String> {
        source
            .get(&reqwest::Client::new(), Duration::from_secs(30))
            .await
    }

    /// The answer to a JSON body with this `expires_in` (raw JSON text).
    async fn with_expires_in(expires_in: &str) -> (TokenSource, Result<(String, bool), String>) {
        let body = format!(
            r#"{{"access_token": "tok", "token_type": "Bearer", "expires_in": {expires_in}}}"#
        );
        let source = endpoint("application/json", body).await;
        let got = get(&source).await;
        (source, got)
    }

    /// How long from now the cached token is renewed.
    async fn renews_in(source: &TokenSource) -> Duration {
        let cached = source.cached.lock().await;
        let at = cached.as_ref().expect("a cached token").renew_at;
        at.saturating_duration_since(Instant::now())
    }

    async fn assert_clamped(expires_in: &str) {
        let (source, got) = with_expires_in(expires_in).await;
        assert_eq!(got, Ok(("tok".to_owned(), true)), "expires_in {expires_in}");
        let renew = renews_in(&source).await;
        assert!(
            renew <= MAX_LIFETIME && renew > MAX_LIFETIME - Duration::from_secs(3600),
            "expires_in {expires_in}: renewed in {renew:?}"
        );
        // Cached: the second call does not fetch.
        assert_eq!(get(&source).await, Ok(("tok".to_owned(), false)));
    }

    async fn assert_refused(content_type: &'static str, body: &str, says: &str) {
        let source = endpoint(content_type, body.to_owned()).await;
        let error = get(&source)
            .await
            .expect_err("a bad token answer is an error");
        assert!(error.starts_with("token endpoint"), "{error}");
        assert!(error.contains(says), "`{error}` does not say `{says}`");
        assert!(source.cached.lock().await.is_none(), "nothing is cached");
    }

    #[tokio::test]
    async fn expires_in_of_2_to_the_63_is_clamped() {
        assert_clamped("9223372036854775808").await;
    }

    #[tokio::test]
    async fn expires_in_of_u64_max_and_beyond_is_clamped() {
        assert_clamped("18446744073709551615").await;
        assert_clamped("1e300").await;
    }

    #[tokio::test]
    async fn an_ordinary_or_string_expires_in_is_believed() {
        for expires_in in ["3600", "\"3600\"", "3600.0"] {
            let (source, got) = with_expires_in(expires_in).await;
            assert_eq!(got, Ok(("tok".to_owned(), true)));
            let renew = renews_in(&source).await;
            // 3600 s less the 60 s refresh margin.
            assert!(
                renew <= Duration::from_secs(3540),
                "{expires_in}: {renew:?}"
            );
            assert!(renew > Duration::from_secs(3000), "{expires_in}: {renew:?}");
        }
    }

    #[tokio::test]
    async fn expires_in_of_zero_or_null_never_panics() {
        let (source, got) = with_expires_in("0").await;
        assert_eq!(got, Ok(("tok".to_owned(), true)));
        // Expired at once: the next call fetches again.
        assert_eq!(get(&source).await, Ok(("tok".to_owned(), true)));
        let (source, got) = with_expires_in("null").await;
        assert!(got.is_ok());
        assert!(renews_in(&source).await <= DEFAULT_LIFETIME);
    }

    #[tokio::test]
    async fn a_negative_expires_in_is_an_error() {
        let body = r#"{"access_token": "tok", "expires_in": -1}"#;
        assert_refused(
            "application/json",
            body,
            "expires_in -1 is not a whole number",
        )
        .await;
    }

    #[tokio::test]
    async fn a_fractional_expires_in_is_an_error() {
        let body = r#"{"access_token": "tok", "expires_in": 3600.5}"#;
        assert_refused("application/json", body, "expires_in 3600.5 is not a whole").await;
    }

    #[tokio::test]
    async fn a_non_numeric_expires_in_is_an_error() {
        let body = r#"{"access_token": "tok", "expires_in": "soon"}"#;
        assert_refused("application/json", body, r#"expires_in "soon" is not"#).await;
        let body = r#"{"access_token": "tok", "expires_in": {"s": 1}}"#;
        assert_refused("application/json", body, "is not a whole number").await;
    }

    #[tokio::test]
    async fn a_missing_or_empty_access_token_is_an_error() {
        let body = r#"{"token_type": "Bearer", "expires_in": 3600}"#;
        assert_refused("application/json", body, "missing field `access_token`").await;
        let body = r#"{"access_token": "", "expires_in": 3600}"#;
        assert_refused("application/json", body, "the access_token is empty").await;
        let body = r#"{"access_token": 42}"#;
        assert_refused("application/json", body, "not a token response").await;
    }

    #[tokio::test]
    async fn an_html_page_is_an_error_that_names_its_content_type() {
        let body = "<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>";
        assert_refused("text/html; charset=utf-8", body, "content type text/html").await;
    }

    #[tokio::test]
    async fn a_huge_answer_is_an_error_not_read_whole() {
        let body = format!(
            r#"{{"access_token": "{}"}}"#,
            "x".repeat(MAX_RESPONSE_BYTES)
        );
        assert_refused("application/json", &body, "longer than 65536 bytes").await;
    }
}
