//! OAuth 2 client credentials (RFC 6749 §4.4) for the school information systems
//! (PowerSchool, Infinite Campus), which hand out short-lived bearer tokens instead
//! of the long-lived ones the work trackers take.
//!
//! ```text
//!  OAuthClient::get(url) ──token cached and unexpired?──no──▶ POST token_url (basic auth,
//!        │                                                  grant_type=client_credentials)
//!        ▼                                                        │ access_token, expires_in
//!  HttpClient (Bearer token: retries, backoff, rate limits) ◀─────┘
//!        │ 401 (the token expired early or was revoked)
//!        └──▶ forget the token, fetch a new one, send the request again, once
//! ```
//!
//! A token is kept until shortly before `expires_in` (which PowerSchool sends as a
//! string) runs out. The token request itself is tried again on connection
//! failures, `429` (after `Retry-After`) and `5xx`, like any other request; a
//! refused client (`401`) fails the run at once. Each token gets its own [`HttpClient`], because the client's
//! headers are fixed; tokens last hours, so that costs a handful of clients a day.
//! The client secret is a [`Secret`]: it goes into one header and never into a log
//! or an error.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, RETRY_AFTER};
use reqwest::{Method, Url};
use serde_json::Value;

use crate::config::{CommonConfig, CommonFields, ConfigError, Secret, common};
use crate::http::{Fetched, HttpClient, HttpError, HttpStats, RetryPolicy, basic_auth};
use crate::run::RunError;

/// How long before its stated expiry a token is no longer used, so a request does
/// not leave with a token that dies on the way (capped at a tenth of its life).
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// How much of a refused token answer goes into the error.
const ERROR_BODY_LIMIT: usize = 300;

/// Where and as whom to ask for tokens.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The token endpoint, query included (Infinite Campus names the app there).
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
}

/// A source's HTTP client behind client-credentials tokens.
#[derive(Debug)]
pub struct OAuthClient {
    /// Builds URLs below the base URL and names the host; it carries no token.
    plain: HttpClient,
    base_url: String,
    headers: Vec<(HeaderName, String)>,
    policy: RetryPolicy,
    credentials: Credentials,
    token_http: reqwest::Client,
    current: Mutex<Option<Token>>,
}

#[derive(Clone, Debug)]
struct Token {
    client: Arc<HttpClient>,
    /// `None` when the source did not say: used until it answers 401.
    use_until: Option<Instant>,
}

impl OAuthClient {
    /// A client for the API at `base_url` that sends `headers` and a bearer token
    /// fetched with `credentials` on every request.
    pub fn new(
        base_url: &str,
        headers: &[(HeaderName, String)],
        credentials: Credentials,
        policy: RetryPolicy,
    ) -> Result<OAuthClient, HttpError> {
        let plain = HttpClient::new(base_url, headers, &[], policy)?;
        let token_http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .build()
            .map_err(HttpError::Client)?;
        Ok(OAuthClient {
            plain,
            base_url: base_url.to_owned(),
            headers: headers.to_vec(),
            policy,
            credentials,
            token_http,
            current: Mutex::new(None),
        })
    }

    /// The URL of `path` below the base URL, with `query`.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        self.plain.url(path, query)
    }

    pub fn host(&self) -> &str {
        self.plain.host()
    }

    /// GETs `url` with a valid token.
    pub async fn get(&self, url: &Url, stats: &mut HttpStats) -> Result<Fetched, RunError> {
        self.send(url, None, stats).await
    }

    /// POSTs `body` as JSON to `url` with a valid token.
    pub async fn post_json(
        &self,
        url: &Url,
        body: &Value,
        stats: &mut HttpStats,
    ) -> Result<Fetched, RunError> {
        self.send(url, Some(body), stats).await
    }

    async fn send(
        &self,
        url: &Url,
        body: Option<&Value>,
        stats: &mut HttpStats,
    ) -> Result<Fetched, RunError> {
        let mut refreshed = false;
        loop {
            let token = self.token(stats).await?;
            let answer = match body {
                None => token.client.get(url, stats).await,
                Some(body) => token.client.post_json(url, body, stats).await,
            };
            match answer {
                Err(HttpError::Status { status: 401, .. }) if !refreshed => {
                    tracing::info!(host = %self.host(), "token refused: fetching a new one");
                    self.forget(&token);
                    refreshed = true;
                }
                answer => return Ok(answer?),
            }
        }
    }

    /// The cached token, or a new one when there is none or it is about to expire.
    async fn token(&self, stats: &mut HttpStats) -> Result<Token, RunError> {
        let cached = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(token) = cached
            && token.use_until.is_none_or(|until| Instant::now() < until)
        {
            return Ok(token);
        }
        let (access_token, lifetime) = self.fetch_token(stats).await?;
        let bearer = [(AUTHORIZATION, format!("Bearer {access_token}"))];
        let client = HttpClient::new(&self.base_url, &self.headers, &bearer, self.policy)?;
        let use_until = lifetime.map(|lifetime| {
            let margin = EXPIRY_MARGIN.min(lifetime / 10);
            Instant::now() + lifetime.saturating_sub(margin)
        });
        let token = Token {
            client: Arc::new(client),
            use_until,
        };
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(token.clone());
        Ok(token)
    }

    /// Drops `token` unless another request has already replaced it.
    fn forget(&self, token: &Token) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current
            .as_ref()
            .is_some_and(|cached| Arc::ptr_eq(&cached.client, &token.client))
        {
            *current = None;
        }
    }

    /// `POST token_url` with `grant_type=client_credentials` and the client as
    /// basic auth: the access token and how long it lives, if the source says.
    /// Connection failures, `429` and `5xx` are tried again (after `Retry-After`
    /// when the source gives one), up to the policy's attempts; a refusal is not.
    async fn fetch_token(
        &self,
        stats: &mut HttpStats,
    ) -> Result<(String, Option<Duration>), RunError> {
        let url = &self.credentials.token_url;
        let path = url.path().to_owned();
        let host = url.host_str().unwrap_or_default().to_owned();
        let max_attempts = self.policy.max_attempts.max(1);
        let mut backoff = self.policy.backoff_initial;
        let mut attempts = 0;
        loop {
            attempts += 1;
            stats.attempts += 1;
            if attempts > 1 {
                stats.retries += 1;
            }
            tracing::debug!(%host, %path, attempt = attempts, "fetching an access token");
            let failure = match self.request_token().await {
                Ok(body) => {
                    let value: Value = serde_json::from_slice(&body).map_err(|error| {
                        HttpError::MalformedJson {
                            path: path.clone(),
                            error,
                        }
                    })?;
                    return parse_token(&value).map_err(|reason| RunError::Shape { path, reason });
                }
                Err(failure) => failure,
            };
            let retry = match &failure {
                TokenFailure::Status { status, .. } => {
                    *status == 429 || (500..600).contains(status)
                }
                TokenFailure::Timeout | TokenFailure::Transport(_) => true,
            };
            if !retry || attempts >= max_attempts {
                return Err(failure
                    .into_error(host, path, self.policy.timeout, attempts)
                    .into());
            }
            let wait = match &failure {
                TokenFailure::Status {
                    retry_after: Some(wait),
                    ..
                } => (*wait).min(self.policy.max_rate_limit_wait),
                TokenFailure::Status { .. }
                | TokenFailure::Timeout
                | TokenFailure::Transport(_) => backoff,
            };
            tracing::warn!(%host, %path, attempt = attempts, ?wait, "token request failed, trying again");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.policy.backoff_max);
        }
    }

    /// One token request: the body of a successful answer.
    async fn request_token(&self) -> Result<bytes::Bytes, TokenFailure> {
        let sent = self
            .token_http
            .request(Method::POST, self.credentials.token_url.clone())
            .header(
                AUTHORIZATION,
                basic_auth(
                    &self.credentials.client_id,
                    self.credentials.client_secret.expose(),
                ),
            )
            .header(ACCEPT, "application/json")
            .header(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=UTF-8",
            )
            .body("grant_type=client_credentials")
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) if error.is_timeout() => return Err(TokenFailure::Timeout),
            Err(error) => return Err(TokenFailure::Transport(error.without_url().to_string())),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) if error.is_timeout() => return Err(TokenFailure::Timeout),
            Err(error) => return Err(TokenFailure::Transport(error.without_url().to_string())),
        };
        if status.is_success() {
            return Ok(body);
        }
        let text = String::from_utf8_lossy(&body);
        let text: String = text.trim().chars().take(ERROR_BODY_LIMIT).collect();
        Err(TokenFailure::Status {
            status: status.as_u16(),
            detail: if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            },
            retry_after,
        })
    }
}

/// Why one token request failed.
enum TokenFailure {
    Status {
        status: u16,
        /// `: ` and the start of the answer's body, or empty.
        detail: String,
        retry_after: Option<Duration>,
    },
    Timeout,
    Transport(String),
}

impl TokenFailure {
    fn into_error(self, host: String, path: String, timeout: Duration, attempts: u32) -> HttpError {
        let method = Method::POST;
        match self {
            TokenFailure::Status { status, detail, .. } => HttpError::Status {
                method,
                host,
                path,
                status,
                detail,
                attempts,
            },
            TokenFailure::Timeout => HttpError::Timeout {
                method,
                host,
                path,
                timeout,
                attempts,
            },
            TokenFailure::Transport(message) => HttpError::Transport {
                method,
                host,
                path,
                message,
                attempts,
            },
        }
    }
}

/// The access token and lifetime of a token answer; `expires_in` may be a number
/// or a string of one (PowerSchool).
pub fn parse_token(value: &Value) -> Result<(String, Option<Duration>), String> {
    let token = value
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| "the token answer has no access_token".to_owned())?;
    let seconds = match value.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => number.as_f64(),
        Some(Value::String(text)) => Some(
            text.trim()
                .parse::<f64>()
                .map_err(|_| format!("expires_in {text:?} is not a number of seconds"))?,
        ),
        Some(other) => return Err(format!("expires_in {other} is not a number of seconds")),
    };
    let lifetime = match seconds {
        None => None,
        Some(seconds) => Some(
            Duration::try_from_secs_f64(seconds)
                .map_err(|_| format!("expires_in {seconds} is not a number of seconds"))?,
        ),
    };
    Ok((token.to_owned(), lifetime))
}

/// The common fields of a client-credentials source, whose `token` is the client
/// secret: required, and named `client_secret` in messages.
pub(crate) fn client_common(
    origin: &str,
    fields: CommonFields,
    env: impl Fn(&str) -> Option<String>,
) -> Result<CommonConfig, ConfigError> {
    let common = common(origin, fields, env).map_err(|error| match error {
        ConfigError::Invalid {
            origin,
            field,
            reason,
        } => ConfigError::Invalid {
            origin,
            field: match field {
                "token" => "client_secret",
                "token_env" => "client_secret_env",
                other => other,
            },
            reason: reason.replace(
                "set token or token_env",
                "set client_secret or client_secret_env",
            ),
        },
        other @ (ConfigError::Read { .. } | ConfigError::Parse { .. }) => other,
    })?;
    if common.token.is_none() {
        return Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            field: "client_secret",
            reason: "set client_secret or client_secret_env".to_owned(),
        });
    }
    Ok(common)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expires_in_may_be_a_string() {
        assert_eq!(
            parse_token(&json!({"access_token": "a", "expires_in": "2504956"})),
            Ok(("a".to_owned(), Some(Duration::from_secs(2_504_956))))
        );
        assert_eq!(
            parse_token(&json!({"access_token": "b", "expires_in": 3600})),
            Ok(("b".to_owned(), Some(Duration::from_secs(3600))))
        );
        assert_eq!(
            parse_token(&json!({"access_token": "c"})),
            Ok(("c".to_owned(), None))
        );
        assert_eq!(
            parse_token(&json!({"access_token": "d", "expires_in": "soon"})),
            Err("expires_in \"soon\" is not a number of seconds".to_owned())
        );
        assert_eq!(
            parse_token(&json!({"expires_in": 1})),
            Err("the token answer has no access_token".to_owned())
        );
        assert!(parse_token(&json!({"access_token": "e", "expires_in": -1})).is_err());
    }
}
