//! `SUBSCRIBE` over the wire: a subscription streamed as `COPY … TO STDOUT` text.
//!
//! ```text
//!  Subscription::next ─▶ output_rows ─▶ one CopyData per row ─▶ flush ─▶ next event …
//!        │ None                                   │ Err                 │ client hangs up
//!        ▼                                        ▼                     ▼
//!  CopyDone + COPY n                         ErrorResponse          connection ends
//! ```
//!
//! pgwire's own CopyOut path `feed`s every CopyData and flushes only at the end, which
//! a stream that never ends would hold in the socket buffer (and it answers a failed
//! stream with CopyFail, a message only clients send). So the stream drives the client
//! sink itself and flushes after each event: a change reaches the client as soon as
//! the engine has it, not when 8 KiB have piled up.
//!
//! The first event is awaited before CopyOutResponse, so a subscription that cannot
//! start (its as-of is older than the retained history) is a plain ErrorResponse, not
//! an aborted COPY. While it streams the connection reads nothing, so a client that
//! disconnects would only be noticed at the next write; [`HangupWatch`] notices it at
//! once, and the subscription (and its dataflow) is dropped with the statement.
//!
//! A client stops a SUBSCRIBE by closing the connection or with a cancel request
//! (Ctrl-C in psql): pgwire races each statement against the connection's cancel
//! signal, so the stream ends with 57014 and the subscription is dropped.

use std::fmt::Debug;
use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Sink, SinkExt};
use pgwire::error::PgWireError;
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use tokio::io::Interest;
use tokio::net::TcpStream;
use vigil_engine::repr::Row;
use vigil_engine::repr::text::format_datum;
use vigil_sql::{SqlError, SubscribeEvent, Subscription};

/// COPY's text format code, for the whole response and for each column.
const TEXT_FORMAT: i8 = 0;

/// How a streamed subscription ended.
#[derive(Debug)]
pub enum Streamed {
    /// The subscription ended (its relation was dropped, or the engine stopped):
    /// CopyDone has been sent; `rows` CopyData messages went before it.
    Done { rows: u64 },
    /// The subscription failed; nothing more was sent, the caller reports the error.
    Failed(SqlError),
}

/// Streams `subscription` to `client` as `COPY … TO STDOUT` text until it ends or
/// fails. An `Err` is a failure of the connection itself (a write error, or the
/// client hanging up), after which the connection cannot go on.
pub async fn stream<C>(
    client: &mut C,
    mut subscription: Subscription,
    hangup: Option<&HangupWatch>,
) -> Result<Streamed, PgWireError>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let first = match next_event(&mut subscription, hangup).await? {
        Some(Ok(event)) => Some(event),
        Some(Err(error)) => return Ok(Streamed::Failed(error)),
        None => None,
    };
    let columns = subscription.output_desc().arity();
    client
        .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            TEXT_FORMAT,
            i16::try_from(columns).unwrap_or(i16::MAX),
            vec![i16::from(TEXT_FORMAT); columns],
        )))
        .await?;
    let mut rows = 0;
    let mut buf = BytesMut::new();
    let mut event = first;
    while let Some(current) = event {
        let output = subscription.output_rows(&current);
        if !output.is_empty() {
            for row in &output {
                client
                    .feed(PgWireBackendMessage::CopyData(CopyData::new(
                        copy_text_row(row, &mut buf),
                    )))
                    .await?;
                rows += 1;
            }
            client.flush().await?;
        }
        event = match next_event(&mut subscription, hangup).await? {
            Some(Ok(event)) => Some(event),
            Some(Err(error)) => return Ok(Streamed::Failed(error)),
            None => None,
        };
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    Ok(Streamed::Done { rows })
}

/// The subscription's next event, or an error once the client has hung up.
async fn next_event(
    subscription: &mut Subscription,
    hangup: Option<&HangupWatch>,
) -> Result<Option<Result<SubscribeEvent, SqlError>>, PgWireError> {
    let hung_up = async {
        match hangup {
            Some(watch) => watch.hung_up().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        event = subscription.next() => Ok(event),
        () = hung_up => {
            tracing::debug!("client hung up during SUBSCRIBE; dropping the subscription");
            Err(PgWireError::IoError(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the client hung up during SUBSCRIBE",
            )))
        }
    }
}

/// One row as a line of COPY text: tab-separated, `\N` for NULL, PostgreSQL's
/// backslash escapes, ending in a newline.
fn copy_text_row(row: &Row, buf: &mut BytesMut) -> Bytes {
    let mut text = String::new();
    for (i, datum) in row.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b'\t');
        }
        if datum.is_null() {
            buf.put_slice(b"\\N");
            continue;
        }
        text.clear();
        format_datum(datum, &mut text);
        escape_copy_text(&text, buf);
    }
    buf.put_u8(b'\n');
    buf.split().freeze()
}

/// PostgreSQL's `CopyAttributeOutText` with a tab delimiter: a backslash and the
/// control characters with a letter escape are backslash-escaped, everything else
/// (other control characters, multi-byte UTF-8) is sent as is.
fn escape_copy_text(text: &str, buf: &mut BytesMut) {
    for &byte in text.as_bytes() {
        let escaped = match byte {
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x0b => b'v',
            other => {
                buf.put_u8(other);
                continue;
            }
        };
        buf.put_u8(b'\\');
        buf.put_u8(escaped);
    }
}

/// Watches a client's socket for a hang-up while the connection itself is not
/// reading (during a SUBSCRIBE), through a duplicate of the socket's descriptor.
///
/// Only readiness is observed, never data, so bytes the client sends stay for the
/// connection to read. The duplicate keeps the socket open as long as it lives; it is
/// dropped with its [`super::Connection`], together with the connection's own socket.
#[derive(Debug)]
pub struct HangupWatch {
    socket: TcpStream,
}

impl HangupWatch {
    #[cfg(unix)]
    pub fn new(socket: &TcpStream) -> io::Result<HangupWatch> {
        use std::os::fd::AsFd;
        let duplicate = std::net::TcpStream::from(socket.as_fd().try_clone_to_owned()?);
        duplicate.set_nonblocking(true)?;
        Ok(HangupWatch {
            socket: TcpStream::from_std(duplicate)?,
        })
    }

    #[cfg(not(unix))]
    pub fn new(_socket: &TcpStream) -> io::Result<HangupWatch> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "watching for a hang-up needs a duplicable socket descriptor",
        ))
    }

    /// Resolves once the client has closed its side of the connection (or the socket
    /// has failed).
    pub async fn hung_up(&self) {
        loop {
            match self.socket.ready(Interest::READABLE).await {
                Ok(ready) if ready.is_read_closed() => return,
                Ok(_) => {
                    // Data arrived, which is the connection's to read later. Forget
                    // this readiness so the next wait sleeps until something new
                    // happens instead of returning at once; a hang-up is never forgotten.
                    let _ = self.socket.try_io(Interest::READABLE, || {
                        Err::<(), _>(io::ErrorKind::WouldBlock.into())
                    });
                }
                Err(error) => {
                    tracing::debug!(%error, "watching the client's socket failed");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vigil_engine::repr::Datum;

    use super::*;

    #[tokio::test]
    async fn a_hang_up_is_noticed_and_data_is_left_for_the_connection() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::time::{Duration, timeout};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let watch = HangupWatch::new(&server).unwrap();

        client.write_all(b"Q").await.unwrap();
        assert!(
            timeout(Duration::from_millis(200), watch.hung_up())
                .await
                .is_err(),
            "data is not a hang-up"
        );
        drop(client);
        timeout(Duration::from_secs(10), watch.hung_up())
            .await
            .expect("the hang-up is noticed");
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"Q");
    }

    fn line(row: Row) -> String {
        let mut buf = BytesMut::new();
        String::from_utf8(copy_text_row(&row, &mut buf).to_vec()).unwrap()
    }

    #[test]
    fn rows_are_tab_separated_lines_with_null_markers() {
        assert_eq!(
            line(vec![
                Datum::Int64(1_700_000_000_000),
                Datum::Bool(false),
                Datum::Int64(-1),
                Datum::Null,
                Datum::Text("blocked".into()),
            ]),
            "1700000000000\tf\t-1\t\\N\tblocked\n"
        );
        assert_eq!(line(vec![]), "\n");
    }

    #[test]
    fn text_is_escaped_as_postgres_does() {
        assert_eq!(
            line(vec![Datum::Text(
                "a\tb\nc\rd\\e\u{8}\u{c}\u{b}\u{1}é".into()
            )]),
            "a\\tb\\nc\\rd\\\\e\\b\\f\\v\u{1}é\n"
        );
        // The text \N is data, not a NULL: its backslash is escaped.
        assert_eq!(line(vec![Datum::Text("\\N".into())]), "\\\\N\n");
    }

    #[test]
    fn the_buffer_is_reused_without_leaking_rows_into_each_other() {
        let mut buf = BytesMut::new();
        let first = copy_text_row(&vec![Datum::Int32(1)], &mut buf);
        let second = copy_text_row(&vec![Datum::Int32(2)], &mut buf);
        assert_eq!((&first[..], &second[..]), (&b"1\n"[..], &b"2\n"[..]));
    }
}
