//! The connection loop: reads one message at a time off the socket, checks it, and
//! hands it to pgwire's dispatcher.
//!
//! pgwire's own loop (`pgwire::tokio::process_socket`) decodes straight from the
//! socket buffer, which trusts every length inside a message: a short Bind panics the
//! decoder and a malformed body reads into the next message. This loop cuts the
//! stream into whole messages by their length prefix first, so a bad body can only
//! affect its own message: it is answered with an error (08P01, or 22021 for bad
//! UTF-8) and the connection continues, as in PostgreSQL. Only a broken length prefix,
//! after which the stream cannot be followed, or a bad startup packet ends the
//! connection, with a FATAL error.
//!
//! Everything else is pgwire's: SSL negotiation (refused until TLS is configured),
//! the protocol state machine in `process_message`, and error handling in
//! `process_error`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures::SinkExt;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, SEVERITY_ERROR, SEVERITY_FATAL};
use pgwire::messages::{DecodeContext, PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{MaybeTls, PgWireMessageServerCodec, process_error, process_message};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::connection::Connection;
use super::frame::{BodyError, check_body};
use super::params::Statement;
use super::startup::TrustStartup;

/// A client must finish startup within this time, or it is disconnected.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// PostgreSQL's limit on a startup packet (`MAX_STARTUP_PACKET_LENGTH`).
const MAX_STARTUP_PACKET: usize = 10_000;
/// PostgreSQL's limit on any other message (`PQ_LARGE_MESSAGE_LIMIT`, 1 GB - 1).
const MAX_MESSAGE: usize = 0x3fff_ffff;

type Socket = Framed<MaybeTls, PgWireMessageServerCodec<Statement>>;

/// Serves one client until it disconnects or a FATAL error ends the session.
pub async fn process_socket(
    tcp: TcpStream,
    startup: Arc<TrustStartup>,
    connection: Arc<Connection>,
    cancel: Arc<DefaultCancelHandler>,
) -> io::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let negotiated = tokio::time::timeout_at(
        deadline,
        pgwire::tokio::server::negotiate_tls::<Statement>(tcp, None),
    )
    .await;
    let Ok(negotiated) = negotiated else {
        return Ok(());
    };
    // `None`: the client opened with a TLS handshake, which is not configured.
    let Some(mut socket) = negotiated? else {
        return Ok(());
    };
    // Bytes pgwire read while negotiating belong to the first message.
    let mut input = std::mem::take(socket.read_buffer_mut());

    loop {
        socket.flush().await?;
        let in_startup = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let next = if in_startup {
            match tokio::time::timeout_at(deadline, read_message(&mut socket, &mut input)).await {
                Ok(next) => next?,
                Err(_) => return Ok(()),
            }
        } else {
            read_message(&mut socket, &mut input).await?
        };
        let message = match next {
            Next::Eof => return Ok(()),
            Next::Fatal(info) => {
                socket
                    .send(PgWireBackendMessage::ErrorResponse((*info).into()))
                    .await?;
                return Ok(());
            }
            Next::Malformed { extended, error } => {
                tracing::debug!(%error, "malformed message");
                process_error(&mut socket, error, extended).await?;
                continue;
            }
            Next::Message(message) => message,
        };
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            return Ok(());
        }
        let is_cancel_request = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        let extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        let result = process_message(
            message,
            &mut socket,
            Arc::clone(&startup),
            Arc::clone(&connection),
            Arc::clone(&connection),
            Arc::clone(&connection),
            Arc::clone(&cancel),
        )
        .await;
        if let Err(error) = result {
            let fatal = error.is_fatal();
            process_error(&mut socket, error, extended).await?;
            if fatal {
                return Ok(());
            }
        }
        if is_cancel_request {
            return Ok(());
        }
    }
}

/// What the next message on the wire turned out to be.
enum Next {
    Message(PgWireFrontendMessage),
    /// A well-framed message with a bad body: answered with an error, then the
    /// connection goes on.
    Malformed {
        extended: bool,
        error: PgWireError,
    },
    /// The stream cannot be followed any further.
    Fatal(Box<ErrorInfo>),
    Eof,
}

/// Reads and decodes one whole message: an untyped startup packet during startup, a
/// typed message after.
async fn read_message(socket: &mut Socket, input: &mut BytesMut) -> io::Result<Next> {
    let startup = matches!(socket.state(), PgWireConnectionState::AwaitingStartup);
    // A startup packet is a length then a body; every later message has a type byte
    // before the length.
    let (len_at, min_len, max_len) = if startup {
        (0, 8, MAX_STARTUP_PACKET)
    } else {
        (1, 4, MAX_MESSAGE)
    };
    if !fill(socket, input, len_at + 4).await? {
        return Ok(Next::Eof);
    }
    let len = i32::from_be_bytes([
        input[len_at],
        input[len_at + 1],
        input[len_at + 2],
        input[len_at + 3],
    ]);
    let len = match usize::try_from(len) {
        Ok(len) if (min_len..=max_len).contains(&len) => len,
        _ => {
            let what = if startup { "startup packet" } else { "message" };
            let message = format!("invalid {what} length {len}");
            return Ok(Next::Fatal(Box::new(protocol_error(
                SEVERITY_FATAL,
                "08P01",
                message,
            ))));
        }
    };
    let total = len_at + len;
    if !fill(socket, input, total).await? {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let mut frame = input.split_to(total);

    let mut ctx = DecodeContext::new(socket.protocol_version());
    ctx.awaiting_frontend_ssl = false;
    ctx.awaiting_frontend_startup = startup;

    if startup {
        return Ok(match PgWireFrontendMessage::decode(&mut frame, &ctx) {
            Ok(Some(message)) => Next::Message(message),
            Ok(None) | Err(_) => Next::Fatal(Box::new(protocol_error(
                SEVERITY_FATAL,
                "08P01",
                "invalid startup packet layout".to_owned(),
            ))),
        });
    }
    let type_byte = frame[0];
    let extended = matches!(type_byte, b'P' | b'B' | b'D' | b'E' | b'C' | b'H' | b'S');
    if let Err(error) = check_body(type_byte, &frame[5..]) {
        return Ok(Next::Malformed {
            extended,
            error: body_error(type_byte, &error),
        });
    }
    Ok(match PgWireFrontendMessage::decode(&mut frame, &ctx) {
        Ok(Some(message)) if !frame.has_remaining() => Next::Message(message),
        Ok(_) => Next::Malformed {
            extended,
            error: body_error(type_byte, &BodyError::TrailingBytes(frame.remaining())),
        },
        // An unknown message type: PostgreSQL ends the session.
        Err(PgWireError::InvalidMessageType(_)) => Next::Fatal(Box::new(protocol_error(
            SEVERITY_FATAL,
            "08P01",
            format!("invalid frontend message type {type_byte}"),
        ))),
        Err(error) => Next::Malformed { extended, error },
    })
}

/// Reads until `input` holds `n` bytes. `false` if the client closed the connection
/// before sending anything more.
async fn fill(socket: &mut Socket, input: &mut BytesMut, n: usize) -> io::Result<bool> {
    while input.len() < n {
        input.reserve(n - input.len());
        let before = input.len();
        if socket.get_mut().read_buf(input).await? == 0 {
            if before == 0 {
                return Ok(false);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(true)
}

fn body_error(type_byte: u8, error: &BodyError) -> PgWireError {
    let code = match error {
        BodyError::InvalidUtf8 => "22021",
        BodyError::Truncated | BodyError::TrailingBytes(_) | BodyError::NegativeLength(_) => {
            "08P01"
        }
    };
    let message = match error {
        BodyError::InvalidUtf8 => error.to_string(),
        BodyError::Truncated | BodyError::TrailingBytes(_) | BodyError::NegativeLength(_) => {
            format!(
                "invalid message format for message type \"{}\": {error}",
                type_byte.escape_ascii()
            )
        }
    };
    PgWireError::UserError(Box::new(protocol_error(SEVERITY_ERROR, code, message)))
}

fn protocol_error(severity: &str, code: &str, message: String) -> ErrorInfo {
    ErrorInfo::new(severity.to_owned(), code.to_owned(), message)
}
