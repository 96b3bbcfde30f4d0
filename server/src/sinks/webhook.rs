//! Delivering a webhook body over HTTP, retrying what may succeed later.
//!
//! One [`Webhook`] per sink holds the HTTP client (connection pool, rustls) and the
//! URL. [`Webhook::deliver`] POSTs one body until a 2xx answer, a permanent failure,
//! or [`RetryPolicy::max_attempts`]:
//!
//! - retried: connection failures, per-attempt timeouts, `408`, `429` and `5xx`;
//!   `Retry-After` (seconds or an HTTP date) is obeyed on `429` and `503`, capped at
//!   [`RetryPolicy::max_delay`]; otherwise the wait is exponential from
//!   [`RetryPolicy::initial`] with full jitter (uniform between zero and the
//!   exponential bound), so sinks that failed together do not retry together;
//! - permanent: any other answer, including `3xx` (redirects are not followed: a
//!   webhook URL is meant to be the final one, and following would resend the body
//!   elsewhere) and `4xx` such as Slack's `400 invalid_payload`, which no retry fixes.
//!
//! Every attempt carries the same `Idempotency-Key`, so a receiver that saw an
//! attempt whose answer was lost can recognise the retry.
//!
//! Webhook URLs carry their secret in the path (Slack's `/services/T…/B…/…`, Teams'
//! signed query), so logs and errors name the host only.

use std::time::{Duration, SystemTime};

use backon::BackoffBuilder;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::format::WebhookBody;

/// The header that carries [`super::format::idempotency_key`].
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

const USER_AGENT: &str = concat!("vigil/", env!("CARGO_PKG_VERSION"));

/// How much of an error answer's body goes into the error message (Slack and Teams
/// explain a refusal there).
const ERROR_BODY_LIMIT: usize = 300;

/// When and how often to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The bound of the first backoff; it doubles after each failed attempt.
    pub initial: Duration,
    /// The longest wait between attempts, `Retry-After` included.
    pub max_delay: Duration,
    /// Attempts in all, the first included (0 counts as 1).
    pub max_attempts: u32,
    /// How long one attempt may take, from connecting to the end of the answer.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_attempts: 10,
            timeout: Duration::from_secs(10),
        }
    }
}

type UrlError = <Url as std::str::FromStr>::Err;

/// Why a webhook cannot be set up. Messages never repeat the URL: it holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("invalid webhook url: {reason}")]
    InvalidUrl { reason: UrlError },
    #[error("invalid webhook url: must be http or https, not {scheme}")]
    Scheme { scheme: String },
    #[error("invalid webhook url: it names no host")]
    NoHost,
    #[error("cannot set up the http client for webhooks")]
    Client(#[source] reqwest::Error),
}

/// A successful delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// Attempts it took, the successful one included.
    pub attempts: u32,
    /// The 2xx status of the answer.
    pub status: u16,
}

/// A delivery that failed for good: permanently refused, or out of attempts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({})", attempts_text(.attempts))]
pub struct DeliveryError {
    pub attempts: u32,
    /// The receiver refused the request in a way no retry changes.
    pub permanent: bool,
    /// The status of the last answer, if there was one.
    pub status: Option<u16>,
    /// What went wrong on the last attempt.
    pub message: String,
}

fn attempts_text(attempts: &u32) -> String {
    match attempts {
        1 => "after 1 attempt".to_owned(),
        n => format!("after {n} attempts"),
    }
}

/// A webhook endpoint of one sink.
#[derive(Clone, Debug)]
pub struct Webhook {
    client: reqwest::Client,
    url: Url,
    host: String,
    policy: RetryPolicy,
}

impl Webhook {
    /// Checks `url` (absolute, http or https) and builds the client.
    pub fn new(url: &str, policy: RetryPolicy) -> Result<Webhook, WebhookError> {
        let url = Url::parse(url).map_err(|reason| WebhookError::InvalidUrl { reason })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::Scheme {
                scheme: url.scheme().to_owned(),
            });
        }
        let host = url.host_str().ok_or(WebhookError::NoHost)?.to_owned();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(WebhookError::Client)?;
        Ok(Webhook {
            client,
            url,
            host,
            policy,
        })
    }

    /// The host of the URL: what logs and errors may show of it.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// POSTs `body` with `key` as its `Idempotency-Key` until it is accepted or the
    /// failure is permanent or [`RetryPolicy::max_attempts`] is reached.
    pub async fn deliver(&self, key: &str, body: &WebhookBody) -> Result<Delivered, DeliveryError> {
        let key = HeaderValue::from_str(key).map_err(|_| DeliveryError {
            attempts: 0,
            permanent: true,
            status: None,
            message: "the idempotency key is not a valid header value".to_owned(),
        })?;
        let max_attempts = self.policy.max_attempts.max(1);
        let mut backoff = backon::ExponentialBuilder::new()
            .with_min_delay(self.policy.initial)
            .with_max_delay(self.policy.max_delay)
            .without_max_times()
            .build();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match self.attempt(&key, body).await {
                Ok(status) => return Ok(Delivered { attempts, status }),
                Err(failure) => failure,
            };
            tracing::warn!(
                host = %self.host,
                attempt = attempts,
                max_attempts,
                status = failure.status,
                permanent = failure.permanent,
                error = %failure.message,
                "webhook delivery attempt failed"
            );
            if failure.permanent || attempts >= max_attempts {
                return Err(DeliveryError {
                    attempts,
                    permanent: failure.permanent,
                    status: failure.status,
                    message: failure.message,
                });
            }
            let delay = match failure.retry_after {
                Some(wait) => wait.min(self.policy.max_delay),
                None => full_jitter(backoff.next().unwrap_or(self.policy.max_delay)),
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// One POST: the 2xx status, or why it failed.
    async fn attempt(&self, key: &HeaderValue, body: &WebhookBody) -> Result<u16, Failure> {
        let sent = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY, key.clone())
            .body(body.bytes())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Err(self.transport_failure(error)),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                retry_after(response.headers(), SystemTime::now())
            }
            _ => None,
        };
        let retryable = status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error();
        let mut message = format!("webhook at {} answered {status}", self.host);
        let detail = error_body(response).await;
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(&detail);
        }
        Err(Failure {
            permanent: !retryable,
            status: Some(status.as_u16()),
            message,
            retry_after,
        })
    }

    fn transport_failure(&self, error: reqwest::Error) -> Failure {
        // A request that could not even be built will not build next time either;
        // everything else (refused, reset, timed out, DNS) may pass on a later try.
        let permanent = error.is_builder();
        let message = if error.is_timeout() {
            format!(
                "webhook at {} did not answer within {:?}",
                self.host, self.policy.timeout
            )
        } else {
            format!(
                "cannot reach webhook at {}: {}",
                self.host,
                error_chain(&error.without_url())
            )
        };
        Failure {
            permanent,
            status: None,
            message,
            retry_after: None,
        }
    }
}

/// One failed attempt.
struct Failure {
    permanent: bool,
    status: Option<u16>,
    message: String,
    retry_after: Option<Duration>,
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

/// The start of an error answer's body as one line of text; whatever could not be
/// read in time is left out.
async fn error_body(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(ERROR_BODY_LIMIT);
    String::from_utf8_lossy(&bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
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

/// A uniformly random wait in `[0, bound)` ("full jitter").
fn full_jitter(bound: Duration) -> Duration {
    bound.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::HeaderMap;
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use tokio::time::Instant;

    use super::*;
    use crate::sinks::format::{Change, WebhookFormat, idempotency_key, webhook_body};
    use vigil_engine::repr::{Column, Datum, RelationDesc, ScalarType};

    /// How the receiver answers one request.
    #[derive(Clone, Debug)]
    enum Reply {
        Status(u16),
        StatusBody(u16, &'static str),
        RetryAfter(u16, &'static str),
        /// Waits this long, then answers 200.
        Stall(Duration),
    }

    /// A request as the receiver saw it.
    struct Received {
        at: Instant,
        headers: HeaderMap,
        body: Bytes,
    }

    struct Receiver {
        script: Mutex<VecDeque<Reply>>,
        otherwise: Reply,
        received: Mutex<Vec<Received>>,
    }

    async fn receive(
        State(receiver): State<Arc<Receiver>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        receiver.received.lock().unwrap().push(Received {
            at: Instant::now(),
            headers,
            body,
        });
        let reply = receiver
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| receiver.otherwise.clone());
        let status = |code| StatusCode::from_u16(code).unwrap();
        match reply {
            Reply::Status(code) => status(code).into_response(),
            Reply::StatusBody(code, body) => (status(code), body).into_response(),
            Reply::RetryAfter(code, after) => {
                (status(code), [(RETRY_AFTER, after)]).into_response()
            }
            Reply::Stall(wait) => {
                tokio::time::sleep(wait).await;
                StatusCode::OK.into_response()
            }
        }
    }

    /// Starts a receiver on 127.0.0.1:0 that answers with `script`, then `otherwise`.
    /// Returns the URL to post to (with a secret in its path) and the receiver.
    async fn receiver(script: Vec<Reply>, otherwise: Reply) -> (String, Arc<Receiver>) {
        let receiver = Arc::new(Receiver {
            script: Mutex::new(script.into()),
            otherwise,
            received: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/hooks/secret-token", post(receive))
            .with_state(Arc::clone(&receiver));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hooks/secret-token"), receiver)
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_attempts: 5,
            timeout: Duration::from_secs(5),
        }
    }

    /// A real body and key, as the runtime would make them.
    fn body_and_key() -> (WebhookBody, String) {
        let desc = RelationDesc::new(vec![Column {
            name: "item_id".into(),
            ty: ScalarType::Int64,
            nullable: false,
        }]);
        let row = vec![Datum::Int64(42)];
        let change = Change {
            sink: "alerts",
            view: "breaches",
            desc: &desc,
            row: &row,
            time: 1_700_000_000_000,
            diff: 1,
        };
        (
            webhook_body(WebhookFormat::Json, None, &change),
            idempotency_key(&change),
        )
    }

    fn header<'a>(received: &'a Received, name: &str) -> &'a str {
        received.headers.get(name).unwrap().to_str().unwrap()
    }

    #[tokio::test]
    async fn retries_server_errors_with_the_same_key() {
        let (url, receiver) = receiver(
            vec![Reply::Status(500), Reply::Status(500)],
            Reply::Status(200),
        )
        .await;
        let (body, key) = body_and_key();
        let webhook = Webhook::new(&url, fast()).unwrap();
        let delivered = webhook.deliver(&key, &body).await.unwrap();
        assert_eq!(
            delivered,
            Delivered {
                attempts: 3,
                status: 200
            }
        );
        let received = receiver.received.lock().unwrap();
        assert_eq!(received.len(), 3);
        for request in received.iter() {
            assert_eq!(header(request, "idempotency-key"), key);
            assert_eq!(header(request, "content-type"), "application/json");
            assert_eq!(
                header(request, "user-agent"),
                concat!("vigil/", env!("CARGO_PKG_VERSION"))
            );
            assert_eq!(request.body.as_ref(), body.as_bytes());
        }
    }

    #[tokio::test]
    async fn retries_an_attempt_that_times_out() {
        let (url, receiver) = receiver(
            vec![Reply::Stall(Duration::from_secs(5))],
            Reply::Status(204),
        )
        .await;
        let (body, key) = body_and_key();
        let policy = RetryPolicy {
            timeout: Duration::from_millis(300),
            ..fast()
        };
        let delivered = Webhook::new(&url, policy)
            .unwrap()
            .deliver(&key, &body)
            .await
            .unwrap();
        assert_eq!(
            delivered,
            Delivered {
                attempts: 2,
                status: 204
            }
        );
        assert_eq!(receiver.received.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn retries_408_and_honours_retry_after_seconds_on_429() {
        let (url, receiver) = receiver(
            vec![Reply::Status(408), Reply::RetryAfter(429, "1")],
            Reply::Status(200),
        )
        .await;
        let (body, key) = body_and_key();
        let policy = RetryPolicy {
            max_delay: Duration::from_secs(5),
            ..fast()
        };
        let delivered = Webhook::new(&url, policy)
            .unwrap()
            .deliver(&key, &body)
            .await
            .unwrap();
        assert_eq!(delivered.attempts, 3);
        let received = receiver.received.lock().unwrap();
        let waited = received[2].at - received[1].at;
        assert!(
            waited >= Duration::from_millis(950),
            "waited {waited:?} after Retry-After: 1"
        );
    }

    #[tokio::test]
    async fn caps_retry_after_at_max_delay() {
        let (url, receiver) =
            receiver(vec![Reply::RetryAfter(503, "3600")], Reply::Status(200)).await;
        let (body, key) = body_and_key();
        let webhook = Webhook::new(&url, fast()).unwrap();
        // A generous bound: uncapped, this would wait an hour.
        let delivered = tokio::time::timeout(Duration::from_secs(60), webhook.deliver(&key, &body))
            .await
            .expect("Retry-After is capped at max_delay")
            .unwrap();
        assert_eq!(delivered.attempts, 2);
        assert_eq!(receiver.received.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_client_error_is_permanent() {
        let (url, receiver) = receiver(vec![], Reply::StatusBody(400, "invalid_payload\n")).await;
        let (body, key) = body_and_key();
        let error = Webhook::new(&url, fast())
            .unwrap()
            .deliver(&key, &body)
            .await
            .unwrap_err();
        assert_eq!(
            error,
            DeliveryError {
                attempts: 1,
                permanent: true,
                status: Some(400),
                message: "webhook at 127.0.0.1 answered 400 Bad Request: invalid_payload".into(),
            }
        );
        assert_eq!(
            error.to_string(),
            "webhook at 127.0.0.1 answered 400 Bad Request: invalid_payload (after 1 attempt)"
        );
        assert_eq!(receiver.received.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_with_the_last_status() {
        let (url, receiver) = receiver(vec![], Reply::Status(503)).await;
        let (body, key) = body_and_key();
        let policy = RetryPolicy {
            max_attempts: 4,
            ..fast()
        };
        let error = Webhook::new(&url, policy)
            .unwrap()
            .deliver(&key, &body)
            .await
            .unwrap_err();
        assert_eq!(error.attempts, 4);
        assert!(!error.permanent);
        assert_eq!(error.status, Some(503));
        assert_eq!(receiver.received.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn retries_when_nothing_listens_and_never_shows_the_url() {
        let dead: SocketAddr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let url = format!("http://{dead}/hooks/secret-token");
        let (body, key) = body_and_key();
        let policy = RetryPolicy {
            max_attempts: 3,
            ..fast()
        };
        let error = Webhook::new(&url, policy)
            .unwrap()
            .deliver(&key, &body)
            .await
            .unwrap_err();
        assert_eq!(error.attempts, 3);
        assert!(!error.permanent);
        assert_eq!(error.status, None);
        assert!(
            error
                .message
                .starts_with("cannot reach webhook at 127.0.0.1: "),
            "{error}"
        );
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[test]
    fn only_absolute_http_urls_are_webhooks() {
        let error = |url| {
            Webhook::new(url, RetryPolicy::default())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error("ftp://example.com/secret"),
            "invalid webhook url: must be http or https, not ftp"
        );
        assert_eq!(
            error("/hooks/secret"),
            "invalid webhook url: relative URL without a base"
        );
        let webhook = Webhook::new(
            "https://hooks.slack.com/services/T0/B0/secret",
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(webhook.host(), "hooks.slack.com");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(
            retry_after(&headers(" 120 "), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:50:07 GMT"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn full_jitter_stays_below_its_bound() {
        let bound = Duration::from_millis(100);
        let waits: Vec<Duration> = (0..200).map(|_| full_jitter(bound)).collect();
        assert!(waits.iter().all(|wait| *wait < bound));
        // Spread over the range, not stuck at one end.
        assert!(waits.iter().any(|wait| *wait < bound / 4));
        assert!(waits.iter().any(|wait| *wait > bound * 3 / 4));
    }
}
