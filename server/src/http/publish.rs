//! The client side of the publish endpoint: `vigil publish TOPIC [FILE]`, which reads
//! JSON lines (the [`ndjson`](super::ndjson) format) and publishes them in batches.
//!
//! ```text
//!  FILE or stdin ─▶ parse_line (file:line on error) ─▶ batch of N lines ─▶ Destination
//!                                                        ├─ Server: POST /api/v1/topics/{topic}
//!                                                        └─ Log: ChangeLog::publish
//!                                                             (Kafka, or the embedded log)
//! ```
//!
//! [`connect`] picks the destination: Kafka when `--kafka` is given; else the server
//! at `--http`, which publishes into whatever change log it uses; and when nothing
//! listens there, the embedded log of `--data-dir`, opened directly. That log is
//! locked by the process that has it open, so a server using it with another HTTP
//! address makes the fallback fail with a clear message rather than write beside it.
//!
//! Every line of a batch is checked before the batch is sent, so a bad line stops
//! the run with its file and line number and nothing of its batch published; earlier
//! batches stay published (the caller is told how many records that was).

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vigil_changelog::{ChangeLog, EmbeddedLog, KafkaLog, LogError, validate_topic_name};

use super::ErrorBody;
use super::ndjson::{self, LineError, Record};
use super::topics::create_if_missing;
use crate::config::changelog_dir;

/// Lines per request unless `--batch` says otherwise.
pub const DEFAULT_BATCH: usize = 10_000;

/// A batch is also cut at this many bytes of keys and values, so that long lines
/// stay well below the server's body limit ([`super::MAX_BODY_BYTES`]).
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// How long to wait for the server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one batch may take, including its durable write.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the records go.
pub enum Destination {
    /// A running server's HTTP API.
    Server {
        client: reqwest::blocking::Client,
        /// `http://host:port`, without a trailing slash.
        base_url: String,
    },
    /// A change log written directly.
    Log(Arc<dyn ChangeLog>),
}

/// Why `vigil publish` stopped.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Topic(LogError),
    #[error("cannot read {input}")]
    Read {
        input: String,
        source: std::io::Error,
    },
    // The line error is part of the message, so that `file:line: reason` reads as one.
    #[error("{input}:{line}: {error}")]
    BadRecord {
        input: String,
        line: u64,
        error: LineError,
    },
    #[error("cannot connect to the kafka brokers {brokers}")]
    Kafka { brokers: String, source: LogError },
    #[error(
        "nothing listens at {http}, and the embedded change log in {} cannot be opened; \
         hint: if a vigil server uses that data directory, pass its HTTP address with --http",
        dir.display()
    )]
    Embedded {
        http: String,
        dir: PathBuf,
        source: LogError,
    },
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("cannot reach a vigil server at {base_url}")]
    Unreachable {
        base_url: String,
        source: reqwest::Error,
    },
    #[error("{base_url}/health answered {status}: is it a vigil server?")]
    NotVigil { base_url: String, status: u16 },
    #[error("the server at {base_url} refused the batch with {status} {code}: {message}")]
    Refused {
        base_url: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot publish to {log}")]
    Log { log: String, source: LogError },
}

/// A run that stopped with an error, and what it had published before.
#[derive(Debug)]
pub struct Stopped {
    /// Records of earlier batches, published before the error.
    pub published: u64,
    pub error: PublishError,
}

impl From<PublishError> for Stopped {
    fn from(error: PublishError) -> Self {
        Stopped {
            published: 0,
            error,
        }
    }
}

/// The HTTP base URL for an address given as `host:port` (or already as a URL).
pub fn base_url(http: &str) -> String {
    let url = if http.starts_with("http://") || http.starts_with("https://") {
        http.to_owned()
    } else {
        format!("http://{http}")
    };
    url.trim_end_matches('/').to_owned()
}

/// Picks where to publish: Kafka if `kafka` is given, else the server at `http`, else
/// (nothing listening there) the embedded log in `data_dir`.
pub fn connect(
    kafka: Option<&str>,
    http: &str,
    data_dir: &std::path::Path,
) -> Result<Destination, PublishError> {
    if let Some(brokers) = kafka {
        let log = KafkaLog::connect(brokers).map_err(|source| PublishError::Kafka {
            brokers: brokers.to_owned(),
            source,
        })?;
        return Ok(Destination::Log(Arc::new(log)));
    }
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(PublishError::Client)?;
    let base_url = base_url(http);
    match client.get(format!("{base_url}/health")).send() {
        Ok(response) if response.status().is_success() => {
            Ok(Destination::Server { client, base_url })
        }
        Ok(response) => Err(PublishError::NotVigil {
            base_url,
            status: response.status().as_u16(),
        }),
        Err(error) if connection_refused(&error) => {
            let dir = changelog_dir(data_dir);
            match EmbeddedLog::open(&dir) {
                Ok(log) => Ok(Destination::Log(Arc::new(log))),
                Err(source) => Err(PublishError::Embedded {
                    http: http.to_owned(),
                    dir,
                    source,
                }),
            }
        }
        Err(source) => Err(PublishError::Unreachable { base_url, source }),
    }
}

/// True when nothing listens at the address: the one failure that means "no server",
/// as opposed to a server that is slow, unresolvable or broken.
fn connection_refused(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        cause = current.source();
    }
    false
}

impl Destination {
    /// Where the records go, for the summary line.
    pub fn describe(&self) -> String {
        match self {
            Destination::Server { base_url, .. } => format!("the vigil server at {base_url}"),
            Destination::Log(log) => log.describe(),
        }
    }

    /// Publishes one batch; returns how many records it held.
    fn send(
        &self,
        topic: &str,
        partitions: Option<u32>,
        batch: &[Record],
    ) -> Result<u64, PublishError> {
        match self {
            Destination::Server { client, base_url } => {
                let mut url = format!("{base_url}/api/v1/topics/{topic}");
                if let Some(partitions) = partitions {
                    url.push_str(&format!("?partitions={partitions}"));
                }
                let response = client
                    .post(url)
                    .header("content-type", "application/x-ndjson")
                    .body(body(batch))
                    .send()
                    .map_err(|source| PublishError::Unreachable {
                        base_url: base_url.clone(),
                        source,
                    })?;
                let status = response.status();
                if !status.is_success() {
                    let refused = |code: String, message: String| PublishError::Refused {
                        base_url: base_url.clone(),
                        status: status.as_u16(),
                        code,
                        message,
                    };
                    return Err(match response.json::<ErrorBody>() {
                        Ok(body) => refused(body.code, body.message),
                        Err(error) => refused("unreadable_response".into(), error.to_string()),
                    });
                }
            }
            Destination::Log(log) => {
                let messages: Vec<_> = batch.iter().map(Record::message).collect();
                log.publish(topic, &messages)
                    .map_err(|source| PublishError::Log {
                        log: log.describe(),
                        source,
                    })?;
            }
        }
        Ok(batch.len() as u64)
    }

    /// Creates a missing topic before the first batch. The server does this itself
    /// for every request that names `?partitions=`.
    fn prepare(&self, topic: &str, partitions: Option<u32>) -> Result<(), PublishError> {
        match (self, partitions) {
            (Destination::Log(log), Some(partitions)) => {
                create_if_missing(log.as_ref(), topic, partitions).map_err(|source| {
                    PublishError::Log {
                        log: log.describe(),
                        source,
                    }
                })?;
                Ok(())
            }
            (Destination::Log(_), None) | (Destination::Server { .. }, _) => Ok(()),
        }
    }
}

/// What to publish and how.
pub struct Job<'a> {
    pub topic: &'a str,
    /// Partitions for the topic if it does not exist yet.
    pub partitions: Option<u32>,
    /// Lines per batch (at least 1).
    pub batch: usize,
    /// The input's name for messages: its path, or `<stdin>`.
    pub input_name: &'a str,
}

/// Publishes every record of `input` to `destination` in batches, calling `progress`
/// with the running total after each batch. Returns the number of records published.
pub fn publish(
    destination: &Destination,
    job: &Job<'_>,
    input: &mut dyn BufRead,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Stopped> {
    validate_topic_name(job.topic).map_err(PublishError::Topic)?;
    destination.prepare(job.topic, job.partitions)?;
    let batch_lines = job.batch.max(1);
    let mut published = 0;
    let mut batch: Vec<Record> = Vec::with_capacity(batch_lines.min(DEFAULT_BATCH));
    let mut batch_bytes = 0;
    let mut line = Vec::new();
    let mut line_number = 0;
    let stopped = |published, error| Stopped { published, error };
    loop {
        line.clear();
        let read = input.read_until(b'\n', &mut line).map_err(|source| {
            stopped(
                published,
                PublishError::Read {
                    input: job.input_name.to_owned(),
                    source,
                },
            )
        })?;
        if read == 0 {
            break;
        }
        line_number += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        match ndjson::parse_line(text) {
            Ok(Some(record)) => {
                batch_bytes += record.key.as_ref().map_or(0, Vec::len)
                    + record.value.as_ref().map_or(0, Vec::len);
                batch.push(record);
            }
            Ok(None) => {}
            Err(error) => {
                let error = PublishError::BadRecord {
                    input: job.input_name.to_owned(),
                    line: line_number,
                    error,
                };
                return Err(stopped(published, error));
            }
        }
        if batch.len() >= batch_lines || batch_bytes >= MAX_BATCH_BYTES {
            published += destination
                .send(job.topic, job.partitions, &batch)
                .map_err(|error| stopped(published, error))?;
            progress(published);
            batch.clear();
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        published += destination
            .send(job.topic, job.partitions, &batch)
            .map_err(|error| stopped(published, error))?;
        progress(published);
    }
    Ok(published)
}

/// A request body: the records as canonical JSON lines.
fn body(batch: &[Record]) -> Vec<u8> {
    const NULL: &[u8] = b"null";
    let size: usize = batch
        .iter()
        .map(|r| 24 + r.key.as_ref().map_or(4, Vec::len) + r.value.as_ref().map_or(4, Vec::len))
        .sum();
    let mut body = Vec::with_capacity(size);
    for record in batch {
        // Keys and values are JSON already, so they are spliced in as they are.
        body.extend_from_slice(b"{\"key\":");
        body.extend_from_slice(record.key.as_deref().unwrap_or(NULL));
        body.extend_from_slice(b",\"value\":");
        body.extend_from_slice(record.value.as_deref().unwrap_or(NULL));
        body.extend_from_slice(b"}\n");
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(batch: usize) -> Job<'static> {
        Job {
            topic: "events",
            partitions: Some(2),
            batch,
            input_name: "events.jsonl",
        }
    }

    fn embedded(dir: &std::path::Path) -> (Arc<EmbeddedLog>, Destination) {
        let log = Arc::new(EmbeddedLog::open(dir).unwrap());
        let destination = Destination::Log(log.clone());
        (log, destination)
    }

    #[test]
    fn a_request_body_is_parsed_back_to_the_same_records() {
        let records = ndjson::parse(
            b"{\"key\":{\"id\":1},\"value\":{\"a\":[1,2]}}\n{\"value\":null}\n{\"key\":\"k\",\"value\":\"v\"}",
        )
        .unwrap();
        assert_eq!(ndjson::parse(&body(&records)).unwrap(), records);
    }

    #[test]
    fn records_are_published_in_batches_with_progress() {
        let dir = tempfile::tempdir().unwrap();
        let (log, destination) = embedded(dir.path());
        let input: String = (0..5)
            .map(|i| format!("{{\"key\":{i},\"value\":{{\"n\":{i}}}}}\n\n"))
            .collect();
        let mut totals = Vec::new();
        let published = publish(&destination, &job(2), &mut input.as_bytes(), &mut |total| {
            totals.push(total)
        })
        .unwrap();
        assert_eq!(published, 5);
        assert_eq!(totals, vec![2, 4, 5]);
        assert_eq!(
            log.partitions("events").unwrap(),
            2,
            "created with --partitions"
        );
        assert_eq!(log.end_offsets("events").unwrap().iter().sum::<u64>(), 5);
    }

    #[test]
    fn a_bad_line_stops_before_its_batch_and_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let (log, destination) = embedded(dir.path());
        // Batches of 2: lines 1-2 are published, line 4 is bad, so line 3 is not.
        let input = "{\"key\":1,\"value\":1}\n{\"key\":2,\"value\":2}\n\
                     {\"key\":3,\"value\":3}\n{\"key\":4}\n{\"key\":5,\"value\":5}\n";
        let stopped =
            publish(&destination, &job(2), &mut input.as_bytes(), &mut |_| {}).unwrap_err();
        assert_eq!(stopped.published, 2);
        assert_eq!(
            stopped.error.to_string(),
            "events.jsonl:4: missing \"value\" (use null for a tombstone)"
        );
        assert_eq!(log.end_offsets("events").unwrap().iter().sum::<u64>(), 2);
    }

    #[test]
    fn an_invalid_topic_name_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, destination) = embedded(dir.path());
        let job = Job {
            topic: "no/slashes",
            ..job(10)
        };
        let stopped =
            publish(&destination, &job, &mut &b"not even json"[..], &mut |_| {}).unwrap_err();
        assert!(
            matches!(
                stopped.error,
                PublishError::Topic(LogError::InvalidTopicName(_))
            ),
            "{:?}",
            stopped.error
        );
    }

    #[test]
    fn nothing_listening_falls_back_to_the_embedded_log_unless_it_is_held() {
        let dir = tempfile::tempdir().unwrap();
        // A port that was free a moment ago: connecting to it is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let http = format!("127.0.0.1:{port}");
        let destination = connect(None, &http, dir.path()).unwrap();
        assert!(
            destination.describe().contains("changelog"),
            "{}",
            destination.describe()
        );
        // While this process holds the log, a second open fails with a hint.
        let error = match connect(None, &http, dir.path()) {
            Ok(_) => panic!("the embedded log was opened twice"),
            Err(error) => error,
        };
        assert!(matches!(error, PublishError::Embedded { .. }), "{error:?}");
        assert!(error.to_string().contains("--http"), "{error}");
    }

    #[test]
    fn base_urls_accept_addresses_and_urls() {
        assert_eq!(base_url("127.0.0.1:6876"), "http://127.0.0.1:6876");
        assert_eq!(base_url("http://vigil:80/"), "http://vigil:80");
    }
}
