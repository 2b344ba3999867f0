//! OAuth2 client-credentials tokens, fetched once and cached until shortly before they expire.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{OAuthConfig, Secret};

/// Used when a token response has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

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
    expires_in: Option<u64>,
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
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("token endpoint: {}", describe(&e)))?;
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("token endpoint: not a token response: {e}"))?;
        if let Some(kind) = t.token_type.as_deref()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(format!("token endpoint: token_type `{kind}` is not Bearer"));
        }
        let lifetime = t.expires_in.map_or(DEFAULT_LIFETIME, Duration::from_secs);
        // Renew `refresh_before` ahead of expiry, but a short-lived token no earlier than
        // half-way through its life.
        let ahead = self.refresh_before.min(lifetime / 2);
        Ok(Cached {
            token: t.access_token,
            renew_at: started + (lifetime - ahead),
        })
    }
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
