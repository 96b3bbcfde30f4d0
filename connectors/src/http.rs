//! The HTTP client every connector fetches through: retries, backoff, rate limits,
//! conditional requests and JSON checking in one place, so a source's transport only
//! says which URLs to fetch.
//!
//! One [`HttpClient`] per connector holds the connection pool (rustls), the source's
//! base URL and its headers (the token among them, marked sensitive). A request
//! ([`HttpClient::get`], [`HttpClient::post_json`]) is tried until it succeeds, fails
//! for good, or [`RetryPolicy::max_attempts`] is reached:
//!
//! - retried after jittered exponential backoff: connection failures, per-attempt
//!   timeouts, `408`, `429` and `5xx`;
//! - rate limits: `Retry-After` (seconds or an HTTP date) on `429`, `403` or `503`, and
//!   `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset` (epoch seconds) on `429` or
//!   `403` (GitHub's primary and secondary limits) are waited out, each wait capped at
//!   [`RetryPolicy::max_rate_limit_wait`]. A successful answer that spends the last
//!   request of the window makes the *next* request wait for the reset, so the
//!   source never has to refuse one;
//! - permanent: any other answer, `403` without rate-limit headers included.
//!
//! Every wait and retry is counted in the caller's [`HttpStats`], which the run
//! reports. A GET answered with an `ETag` is remembered (body included, for a bounded
//! number of URLs), so the next GET of that URL is conditional and a `304 Not
//! Modified` (free against GitHub's limit) returns the remembered body.
//!
//! URLs may carry secrets in their query and headers carry tokens, so logs and errors
//! name the host and path only.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use backon::BackoffBuilder;
use bytes::Bytes;
use reqwest::header::{
    CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue, IF_NONE_MATCH, LINK, RETRY_AFTER,
};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

const USER_AGENT: &str = concat!("vigil/", env!("CARGO_PKG_VERSION"));

/// How much of an error answer's body goes into the error message (sources explain a
/// refusal there).
const ERROR_BODY_LIMIT: usize = 300;

/// How many URLs' ETags and bodies a client remembers: a few runs' worth of list pages
/// and details for a handful of repositories or boards.
const ETAG_CACHE_ENTRIES: usize = 4096;

/// When and how often to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long one attempt may take, from connecting to the end of the body.
    pub timeout: Duration,
    /// Attempts per request in all, the first included (0 counts as 1).
    pub max_attempts: u32,
    /// The bound of the first backoff; it doubles after each failed attempt.
    pub backoff_initial: Duration,
    /// The largest backoff bound.
    pub backoff_max: Duration,
    /// The longest a single rate-limit wait may last; a source asking for more is
    /// asked again after this long.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            timeout: Duration::from_secs(30),
            max_attempts: 6,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// What the requests of one run cost; the run report carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Attempts sent, retries included.
    pub attempts: u32,
    /// Attempts after the first of their request.
    pub retries: u32,
    /// GETs answered `304 Not Modified` and served from the ETag cache.
    pub not_modified: u32,
    /// Waits imposed by rate limits.
    pub rate_limit_waits: u32,
    /// Their total length.
    pub rate_limit_wait: Duration,
}

/// Why a request failed. Messages name the host and path, never the query or headers.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot set up the http client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("invalid base url {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("invalid value for http header {name}")]
    HeaderValue { name: String },
    #[error("{method} {path} on {host} answered {status}{detail} ({})", attempts_text(.attempts))]
    Status {
        method: Method,
        host: String,
        path: String,
        status: u16,
        /// `: ` and the start of the answer's body, or empty.
        detail: String,
        attempts: u32,
    },
    #[error("{method} {path} on {host} did not answer within {timeout:?} ({})", attempts_text(.attempts))]
    Timeout {
        method: Method,
        host: String,
        path: String,
        timeout: Duration,
        attempts: u32,
    },
    #[error("cannot reach {host} for {method} {path}: {message} ({})", attempts_text(.attempts))]
    Transport {
        method: Method,
        host: String,
        path: String,
        message: String,
        attempts: u32,
    },
    #[error("{path} on {host} answered 304 not modified to a request that was not conditional")]
    UnexpectedNotModified { host: String, path: String },
    #[error("malformed json from {path}: {error}")]
    MalformedJson {
        path: String,
        #[source]
        error: serde_json::Error,
    },
}

fn attempts_text(attempts: &u32) -> String {
    match attempts {
        1 => "after 1 attempt".to_owned(),
        n => format!("after {n} attempts"),
    }
}

/// A successful answer.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The path of the URL asked for, for messages.
    pub path: String,
    pub headers: HeaderMap,
    /// The body as received (or as remembered, after a `304`).
    pub body: Bytes,
    /// Whether the source answered `304 Not Modified` and the body is the remembered one.
    pub not_modified: bool,
}

impl Fetched {
    /// The body as JSON; a syntax error names the path.
    pub fn json(&self) -> Result<Value, HttpError> {
        serde_json::from_slice(&self.body).map_err(|error| HttpError::MalformedJson {
            path: self.path.clone(),
            error,
        })
    }

    /// The `rel="next"` target of the `Link` header (RFC 8288), if any.
    pub fn next_link(&self) -> Option<Url> {
        let header = self.headers.get(LINK)?.to_str().ok()?;
        next_link(header).and_then(|target| Url::parse(&target).ok())
    }
}

/// One source's HTTP client.
#[derive(Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    base: Url,
    host: String,
    headers: HeaderMap,
    policy: RetryPolicy,
    etags: Mutex<EtagCache>,
    /// Set when an answer spent the last request of a rate-limit window: no request
    /// goes out before this time.
    paused_until: Mutex<Option<SystemTime>>,
}

/// An `Authorization` value for HTTP basic auth (RFC 7617): `Basic` and the
/// base64 of `user:password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

impl HttpClient {
    /// A client for the source at `base_url` (http or https) that sends `headers` on
    /// every request. Values of `sensitive` headers (tokens) are kept out of debug
    /// output.
    pub fn new(
        base_url: &str,
        headers: &[(HeaderName, String)],
        sensitive: &[(HeaderName, String)],
        policy: RetryPolicy,
    ) -> Result<HttpClient, HttpError> {
        let base_error = |reason: String| HttpError::BaseUrl {
            url: base_url.to_owned(),
            reason,
        };
        let base = Url::parse(base_url).map_err(|e| base_error(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(base_error(format!(
                "must be http or https, not {}",
                base.scheme()
            )));
        }
        let host = base
            .host_str()
            .ok_or_else(|| base_error("it names no host".to_owned()))?
            .to_owned();
        let mut map = HeaderMap::new();
        for (name, value, secret) in headers
            .iter()
            .map(|(n, v)| (n, v, false))
            .chain(sensitive.iter().map(|(n, v)| (n, v, true)))
        {
            let mut value = HeaderValue::from_str(value).map_err(|_| HttpError::HeaderValue {
                name: name.to_string(),
            })?;
            value.set_sensitive(secret);
            map.insert(name.clone(), value);
        }
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(policy.timeout)
            .build()
            .map_err(HttpError::Client)?;
        Ok(HttpClient {
            client,
            base,
            host,
            headers: map,
            policy,
            etags: Mutex::new(EtagCache::default()),
            paused_until: Mutex::new(None),
        })
    }

    /// The host requests go to: what logs and errors show of the source.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The URL of `path` below the base URL (whose own path, such as GitHub
    /// Enterprise's `/api/v3`, is kept), with `query` appended.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            self.base.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Whether `url` goes to the same scheme, host and port as the base URL: the
    /// only place the token may be sent, whatever a `Link` header says.
    pub fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.base.origin()
    }

    /// GETs `url`, conditionally if an ETag is remembered for it.
    pub async fn get(&self, url: &Url, stats: &mut HttpStats) -> Result<Fetched, HttpError> {
        self.execute(Method::GET, url, None, stats).await
    }

    /// POSTs `body` as JSON to `url` (Jira's search and Azure's WIQL are POSTs).
    pub async fn post_json(
        &self,
        url: &Url,
        body: &Value,
        stats: &mut HttpStats,
    ) -> Result<Fetched, HttpError> {
        let body = Bytes::from(body.to_string());
        self.execute(Method::POST, url, Some(body), stats).await
    }

    async fn execute(
        &self,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
        stats: &mut HttpStats,
    ) -> Result<Fetched, HttpError> {
        let path = url.path().to_owned();
        let cached = match method {
            Method::GET => self.cached(url),
            _ => None,
        };
        let max_attempts = self.policy.max_attempts.max(1);
        let mut backoff = backon::ExponentialBuilder::new()
            .with_min_delay(self.policy.backoff_initial)
            .with_max_delay(self.policy.backoff_max)
            .without_max_times()
            .build();
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.wait_for_window(stats).await;
            stats.attempts += 1;
            if attempts > 1 {
                stats.retries += 1;
            }
            tracing::debug!(host = %self.host, %path, %method, attempt = attempts, "request");
            let failure = match self
                .attempt(&method, url, body.clone(), cached.as_ref())
                .await
            {
                Ok(Answer::Fresh { headers, body }) => {
                    self.note_window(&headers, SystemTime::now());
                    if method == Method::GET {
                        self.remember(url, &headers, &body);
                    }
                    return Ok(Fetched {
                        path,
                        headers,
                        body,
                        not_modified: false,
                    });
                }
                Ok(Answer::NotModified { headers }) => {
                    self.note_window(&headers, SystemTime::now());
                    let Some(entry) = cached else {
                        return Err(HttpError::UnexpectedNotModified {
                            host: self.host.clone(),
                            path,
                        });
                    };
                    stats.not_modified += 1;
                    // A 304 need not repeat `Link` and the like: the remembered
                    // answer's headers go with its body.
                    return Ok(Fetched {
                        path,
                        headers: entry.headers,
                        body: entry.body,
                        not_modified: true,
                    });
                }
                Err(failure) => failure,
            };
            tracing::warn!(
                host = %self.host,
                %path,
                attempt = attempts,
                max_attempts,
                error = %failure.describe(),
                "request attempt failed"
            );
            if failure.wait == Wait::Never || attempts >= max_attempts {
                return Err(failure.into_error(method, self, path, attempts));
            }
            let delay = match failure.wait {
                Wait::RateLimit(wait) => {
                    let wait = wait.min(self.policy.max_rate_limit_wait);
                    stats.rate_limit_waits += 1;
                    stats.rate_limit_wait += wait;
                    tracing::info!(host = %self.host, %path, ?wait, "waiting out a rate limit");
                    wait
                }
                Wait::Backoff => full_jitter(backoff.next().unwrap_or(self.policy.backoff_max)),
                Wait::Never => Duration::ZERO,
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt: the answer, or why it failed and when to try again.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<Bytes>,
        cached: Option<&CachedBody>,
    ) -> Result<Answer, Failure> {
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .headers(self.headers.clone());
        if let Some(entry) = cached {
            request = request.header(IF_NONE_MATCH, entry.etag.clone());
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(transport_failure)?;
        let status = response.status();
        let headers = response.headers().clone();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Answer::NotModified { headers });
        }
        if status.is_success() {
            let body = response.bytes().await.map_err(transport_failure)?;
            return Ok(Answer::Fresh { headers, body });
        }
        let wait = classify(status, &headers, SystemTime::now());
        let detail = error_body(response).await;
        Err(Failure {
            wait,
            kind: FailureKind::Status {
                status: status.as_u16(),
                detail,
            },
        })
    }

    fn cached(&self, url: &Url) -> Option<CachedBody> {
        let cache = self.etags.lock().unwrap_or_else(PoisonError::into_inner);
        cache.entries.get(url.as_str()).cloned()
    }

    fn remember(&self, url: &Url, headers: &HeaderMap, body: &Bytes) {
        let Some(etag) = headers.get(ETAG) else {
            return;
        };
        let mut cache = self.etags.lock().unwrap_or_else(PoisonError::into_inner);
        cache.insert(
            url.as_str().to_owned(),
            CachedBody {
                etag: etag.clone(),
                headers: headers.clone(),
                body: body.clone(),
            },
        );
    }

    /// Remembers that the window is spent until its reset, if this answer says so.
    fn note_window(&self, headers: &HeaderMap, now: SystemTime) {
        if let Some(reset) = exhausted_until(headers)
            && reset > now
        {
            *self
                .paused_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(reset);
        }
    }

    /// Waits for the reset of a spent rate-limit window, if one is pending.
    async fn wait_for_window(&self, stats: &mut HttpStats) {
        let until = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(until) = until else {
            return;
        };
        let Ok(wait) = until.duration_since(SystemTime::now()) else {
            return;
        };
        let wait = wait.min(self.policy.max_rate_limit_wait);
        stats.rate_limit_waits += 1;
        stats.rate_limit_wait += wait;
        tracing::info!(host = %self.host, ?wait, "rate-limit window spent, waiting for its reset");
        tokio::time::sleep(wait).await;
    }
}

enum Answer {
    Fresh { headers: HeaderMap, body: Bytes },
    NotModified { headers: HeaderMap },
}

/// When a failed attempt may be tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// After the source's own rate-limit wait.
    RateLimit(Duration),
    /// After the next exponential backoff.
    Backoff,
    /// Never: the failure is permanent.
    Never,
}

struct Failure {
    wait: Wait,
    kind: FailureKind,
}

enum FailureKind {
    Status { status: u16, detail: String },
    Timeout,
    Transport(String),
}

impl Failure {
    fn describe(&self) -> String {
        match &self.kind {
            FailureKind::Status { status, detail } => format!("answered {status}{detail}"),
            FailureKind::Timeout => "timed out".to_owned(),
            FailureKind::Transport(message) => message.clone(),
        }
    }

    fn into_error(
        self,
        method: Method,
        client: &HttpClient,
        path: String,
        attempts: u32,
    ) -> HttpError {
        let host = client.host.clone();
        match self.kind {
            FailureKind::Status { status, detail } => HttpError::Status {
                method,
                host,
                path,
                status,
                detail,
                attempts,
            },
            FailureKind::Timeout => HttpError::Timeout {
                method,
                host,
                path,
                timeout: client.policy.timeout,
                attempts,
            },
            FailureKind::Transport(message) => HttpError::Transport {
                method,
                host,
                path,
                message,
                attempts,
            },
        }
    }
}

fn transport_failure(error: reqwest::Error) -> Failure {
    // A request that could not be built will not build next time either; refused,
    // reset, timed out and DNS failures may pass on a later try.
    let wait = if error.is_builder() {
        Wait::Never
    } else {
        Wait::Backoff
    };
    let kind = if error.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Transport(error_chain(&error.without_url()))
    };
    Failure { wait, kind }
}

/// Whether and when an error answer may be retried.
fn classify(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Wait {
    let limited = matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::FORBIDDEN | StatusCode::SERVICE_UNAVAILABLE
    );
    if limited && let Some(wait) = retry_after(headers, now) {
        return Wait::RateLimit(wait);
    }
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::FORBIDDEN
    ) && let Some(reset) = exhausted_until(headers)
    {
        return Wait::RateLimit(reset.duration_since(now).unwrap_or(Duration::ZERO));
    }
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        return Wait::Backoff;
    }
    Wait::Never
}

/// How long `Retry-After` asks to wait: delay-seconds, or an HTTP date (a date already
/// past means now). `None` when absent or unreadable.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// When the window resets, if `X-RateLimit-Remaining` says it is spent and
/// `X-RateLimit-Reset` says when (epoch seconds).
fn exhausted_until(headers: &HeaderMap) -> Option<SystemTime> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if header("x-ratelimit-remaining")?.parse::<u64>().ok()? != 0 {
        return None;
    }
    let reset = header("x-ratelimit-reset")?.parse::<u64>().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(reset))
}

/// The `rel="next"` target of a `Link` header value such as
/// `<https://…?page=2>; rel="next", <https://…?page=5>; rel="last"`.
fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let params_end = rest[end..].find('<').map_or(rest.len(), |next| end + next);
        let params = rest[end + 1..params_end].trim_end().trim_end_matches(',');
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &rest[params_end..];
    }
}

/// An error and its causes, `outer: inner: innermost` (reqwest's own message alone
/// says only "error sending request").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        text.push_str(": ");
        text.push_str(&current.to_string());
        cause = current.source();
    }
    text
}

/// `: ` and the start of an error answer's body as one line, or empty; whatever could
/// not be read in time is left out.
async fn error_body(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(ERROR_BODY_LIMIT);
    let text = String::from_utf8_lossy(&bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        text
    } else {
        format!(": {text}")
    }
}

/// A uniformly random wait in `[0, bound)` ("full jitter"), so connectors that failed
/// together do not retry together.
fn full_jitter(bound: Duration) -> Duration {
    bound.mul_f64(fastrand::f64())
}

#[derive(Clone, Debug)]
struct CachedBody {
    etag: HeaderValue,
    headers: HeaderMap,
    body: Bytes,
}

/// ETags and bodies by URL, forgetting the oldest URL first when full.
#[derive(Debug, Default)]
struct EtagCache {
    entries: HashMap<String, CachedBody>,
    order: VecDeque<String>,
}

impl EtagCache {
    fn insert(&mut self, url: String, entry: CachedBody) {
        if self.entries.insert(url.clone(), entry).is_none() {
            self.order.push_back(url);
        }
        while self.entries.len() > ETAG_CACHE_ENTRIES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_rfc_7617() {
        // RFC 7617's example, and an Azure DevOps token with an empty user.
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("", "pat"), "Basic OnBhdA==");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("valid"));
        }
        map
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn next_link_follows_rel_next_only() {
        let github = "<https://api.github.com/repositories/1/pulls?page=1>; rel=\"prev\", \
                      <https://api.github.com/repositories/1/pulls?page=3>; rel=\"next\", \
                      <https://api.github.com/repositories/1/pulls?page=5>; rel=\"last\"";
        assert_eq!(
            next_link(github).as_deref(),
            Some("https://api.github.com/repositories/1/pulls?page=3")
        );
        assert_eq!(
            next_link("<https://x/a?page=1>; rel=\"first\", <https://x/a?page=2>; rel=\"prev\""),
            None
        );
        // Several relation types in one parameter, unquoted values, odd spacing.
        assert_eq!(
            next_link("<https://x/b>;rel=\"last next\"").as_deref(),
            Some("https://x/b")
        );
        assert_eq!(
            next_link("<https://x/c?a=1,2>; title=\"x\"; rel=next").as_deref(),
            Some("https://x/c?a=1,2")
        );
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage; rel=\"next\""), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(
            retry_after(&headers(&[("retry-after", " 120 ")]), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn classify_tells_rate_limits_from_refusals() {
        let now = at(1_000);
        let spent = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1030"),
        ]);
        // GitHub's primary limit answers 403 (or 429) with a spent window.
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &spent, now),
            Wait::RateLimit(Duration::from_secs(30))
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &spent, now),
            Wait::RateLimit(Duration::from_secs(30))
        );
        // Secondary limits say Retry-After, which wins over the window.
        let mut secondary = spent.clone();
        secondary.insert(RETRY_AFTER, HeaderValue::from_static("60"));
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &secondary, now),
            Wait::RateLimit(Duration::from_secs(60))
        );
        assert_eq!(
            classify(
                StatusCode::SERVICE_UNAVAILABLE,
                &headers(&[("retry-after", "2")]),
                now
            ),
            Wait::RateLimit(Duration::from_secs(2))
        );
        // A reset already past means go now.
        let past = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "10")]);
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &past, now),
            Wait::RateLimit(Duration::ZERO)
        );
        // A window with requests left, or no headers: a plain refusal.
        let left = headers(&[
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "1030"),
        ]);
        assert_eq!(classify(StatusCode::FORBIDDEN, &left, now), Wait::Never);
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            Wait::Never
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), now),
            Wait::Backoff
        );
        for status in [502, 503, 504, 500, 408] {
            let status = StatusCode::from_u16(status).expect("status");
            assert_eq!(classify(status, &HeaderMap::new(), now), Wait::Backoff);
        }
        for status in [400, 401, 404, 410, 422] {
            let status = StatusCode::from_u16(status).expect("status");
            assert_eq!(classify(status, &HeaderMap::new(), now), Wait::Never);
        }
    }

    #[test]
    fn urls_keep_the_base_path_and_check_the_origin() {
        let client = HttpClient::new(
            "https://ghe.example.com/api/v3/",
            &[],
            &[],
            RetryPolicy::default(),
        )
        .expect("client");
        let url = client.url("/repos/o/r/pulls", &[("state", "all"), ("per_page", "100")]);
        assert_eq!(
            url.as_str(),
            "https://ghe.example.com/api/v3/repos/o/r/pulls?state=all&per_page=100"
        );
        assert!(client.same_origin(&url));
        let elsewhere = Url::parse("https://evil.example.com/api/v3/x").expect("url");
        assert!(!client.same_origin(&elsewhere));
        let downgraded = Url::parse("http://ghe.example.com/api/v3/x").expect("url");
        assert!(!client.same_origin(&downgraded));
    }

    #[test]
    fn bad_base_urls_and_headers_are_refused() {
        let error = |url: &str| {
            HttpClient::new(url, &[], &[], RetryPolicy::default())
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            error("ftp://example.com"),
            "invalid base url \"ftp://example.com\": must be http or https, not ftp"
        );
        assert_eq!(
            error("api.github.com"),
            "invalid base url \"api.github.com\": relative URL without a base"
        );
        let token = HttpClient::new(
            "https://api.github.com",
            &[],
            &[(
                reqwest::header::AUTHORIZATION,
                "Bearer line\nbreak".to_owned(),
            )],
            RetryPolicy::default(),
        )
        .expect_err("refused");
        assert_eq!(
            token.to_string(),
            "invalid value for http header authorization"
        );
    }

    #[test]
    fn sensitive_headers_stay_out_of_debug_output() {
        let client = HttpClient::new(
            "https://api.github.com",
            &[(
                reqwest::header::ACCEPT,
                "application/vnd.github+json".to_owned(),
            )],
            &[(
                reqwest::header::AUTHORIZATION,
                "Bearer ghp_secret".to_owned(),
            )],
            RetryPolicy::default(),
        )
        .expect("client");
        let debug = format!("{client:?}");
        assert!(!debug.contains("ghp_secret"), "{debug}");
        assert!(debug.contains("vnd.github"), "{debug}");
    }

    #[test]
    fn etag_cache_forgets_the_oldest_url_first() {
        let mut cache = EtagCache::default();
        let entry = || CachedBody {
            etag: HeaderValue::from_static("\"e\""),
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"[]"),
        };
        for i in 0..=ETAG_CACHE_ENTRIES {
            cache.insert(format!("u{i}"), entry());
        }
        // Refreshing a URL does not make it count twice.
        cache.insert(format!("u{ETAG_CACHE_ENTRIES}"), entry());
        assert_eq!(cache.entries.len(), ETAG_CACHE_ENTRIES);
        assert!(!cache.entries.contains_key("u0"));
        assert!(cache.entries.contains_key("u1"));
    }
}
