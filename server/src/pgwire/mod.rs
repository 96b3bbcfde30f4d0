//! The PostgreSQL wire protocol endpoint.
//!
//! ```text
//!  socket ─▶ socket::process_socket ─▶ pgwire dispatcher ─▶ Connection ─▶ vigil_sql::Session
//!            one whole message at a    startup ▸ TrustStartup
//!            time, checked by frame    Query ▸ execute_batch
//!                                      Parse ▸ prepare · Bind ▸ params · Execute ▸ execute_prepared
//!                                      CopyData… CopyDone ▸ copy_in
//!                                      SUBSCRIBE ▸ subscribe::stream (COPY TO STDOUT)
//! ```
//!
//! Each accepted socket gets its own [`Connection`] holding one [`vigil_sql::Session`].
//! `socket` cuts the byte stream into messages and `frame` checks each against the
//! protocol grammar before pgwire decodes it, so no client input can panic a decoder
//! or desynchronize the stream. Values cross the wire in PostgreSQL's text format
//! (`vigil_engine::repr::text`) or binary format (`binary`), as the client asks per
//! column; type OIDs always come from [`vigil_engine::repr::ScalarType::pg_oid`].
//! Errors reach the client as ErrorResponses with the SQLSTATE of [`WireError::code`].
//! A `SUBSCRIBE` streams its changes as `COPY … TO STDOUT` text, flushed per change,
//! until the subscription ends or the client hangs up.

mod binary;
mod connection;
mod empty;
mod error;
mod frame;
mod params;
mod results;
mod socket;
mod startup;
mod subscribe;
mod types;

use std::sync::Arc;

use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{ConnectionManager, RandomPidSecretKeyGenerator};
use tokio::net::TcpStream;
use vigil_sql::Session;

pub use connection::{COPY_LIMIT, Connection};
pub use error::WireError;
pub use startup::{server_parameters, server_version};

/// State shared by every connection of one endpoint.
#[derive(Clone, Default)]
pub struct Endpoint {
    keys: Arc<RandomPidSecretKeyGenerator>,
    /// Every open connection by its process id and secret key, so a cancel request
    /// (which arrives on a connection of its own) reaches the statement it names.
    connections: Arc<ConnectionManager>,
}

impl Endpoint {
    pub fn new() -> Self {
        Endpoint::default()
    }

    /// Serves one client until it disconnects. Protocol errors are answered on the
    /// connection; the returned error is an I/O failure of the socket itself.
    pub async fn serve_connection(
        &self,
        socket: TcpStream,
        session: Session,
    ) -> std::io::Result<()> {
        let startup = Arc::new(startup::TrustStartup::new(
            Arc::clone(&self.keys),
            Arc::clone(&self.connections),
        ));
        let cancel = Arc::new(DefaultCancelHandler::new(Arc::clone(&self.connections)));
        let mut connection = Connection::new(session);
        match subscribe::HangupWatch::new(&socket) {
            Ok(watch) => connection = connection.with_hangup_watch(watch),
            // Still served: a SUBSCRIBE then ends at the first write after a hang-up.
            Err(error) => tracing::warn!(%error, "cannot watch the client's socket for a hang-up"),
        }
        let connection = Arc::new(connection);
        socket::process_socket(socket, startup, connection, cancel).await
    }
}
