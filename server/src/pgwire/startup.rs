//! The startup phase: protocol negotiation, authentication, and the ParameterStatus
//! messages drivers check before they send a query.
//!
//! Authentication is `trust` for now; SCRAM will replace this handler. The parameters
//! are the ones PostgreSQL 16 reports (`GUC_REPORT` settings). Drivers are strict about
//! a few of them: pgjdbc drops the connection unless `client_encoding` is `UTF8`,
//! `DateStyle` starts with `ISO` and `standard_conforming_strings` is `on`, and several
//! drivers parse `server_version`, so it leads with a PostgreSQL version number.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    StartupHandler, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager, METADATA_APPLICATION_NAME,
    METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

/// The PostgreSQL version Vigil speaks for, then Vigil's own.
pub fn server_version() -> String {
    format!("16.4 (Vigil {})", env!("CARGO_PKG_VERSION"))
}

/// The user reported when the client names none.
const DEFAULT_USER: &str = "vigil";

/// Accepts every client (trust authentication) and reports the server parameters.
pub struct TrustStartup {
    /// Shared by all connections, so process ids are unique within the server.
    keys: Arc<RandomPidSecretKeyGenerator>,
    /// Where the connection registers its process id and secret key for cancel
    /// requests.
    connections: Arc<ConnectionManager>,
}

impl TrustStartup {
    pub fn new(
        keys: Arc<RandomPidSecretKeyGenerator>,
        connections: Arc<ConnectionManager>,
    ) -> Self {
        TrustStartup { keys, connections }
    }
}

/// The ParameterStatus messages sent after authentication, in name order.
pub fn server_parameters(
    client_metadata: &HashMap<String, String>,
) -> BTreeMap<&'static str, String> {
    let user = client_metadata
        .get(METADATA_USER)
        .map_or(DEFAULT_USER, String::as_str)
        .to_owned();
    let application_name = client_metadata
        .get(METADATA_APPLICATION_NAME)
        .cloned()
        .unwrap_or_default();
    BTreeMap::from([
        ("application_name", application_name),
        // Vigil only speaks UTF-8, whatever the client asked for.
        ("client_encoding", "UTF8".to_owned()),
        ("DateStyle", "ISO, MDY".to_owned()),
        ("default_transaction_read_only", "off".to_owned()),
        ("in_hot_standby", "off".to_owned()),
        ("integer_datetimes", "on".to_owned()),
        ("IntervalStyle", "postgres".to_owned()),
        ("is_superuser", "on".to_owned()),
        ("scram_iterations", "4096".to_owned()),
        ("server_encoding", "UTF8".to_owned()),
        ("server_version", server_version()),
        ("session_authorization", user),
        ("standard_conforming_strings", "on".to_owned()),
        ("TimeZone", "UTC".to_owned()),
    ])
}

#[async_trait]
impl StartupHandler for TrustStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // With trust authentication nothing but the startup message is expected; a
        // stray password message is ignored, as PostgreSQL's trust method would.
        let PgWireFrontendMessage::Startup(startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, &startup).await?;
        save_startup_parameters_to_metadata(client, &startup);
        let (pid, secret_key) = self.keys.generate(client);
        client.set_pid_and_secret_key(pid, secret_key.clone());
        // pgwire races each statement against this handle's cancel signal (57014);
        // the guard unregisters the connection when it closes.
        let (handle, guard) = self.connections.register(pid, secret_key.clone());
        client
            .session_extensions()
            .insert::<Arc<ConnectionHandle>>(handle);
        client.session_extensions().insert::<ConnectionGuard>(guard);

        client
            .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
            .await?;
        for (name, value) in server_parameters(client.metadata()) {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name.to_owned(),
                    value,
                )))
                .await?;
        }
        client
            .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
                pid, secret_key,
            )))
            .await?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                TransactionStatus::Idle,
            )))
            .await?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        tracing::debug!(
            user = client.metadata().get(METADATA_USER).map(String::as_str),
            application_name = client
                .metadata()
                .get(METADATA_APPLICATION_NAME)
                .map(String::as_str),
            "client connected"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_satisfy_strict_drivers() {
        let metadata = HashMap::from([
            ("user".to_owned(), "ana".to_owned()),
            ("application_name".to_owned(), "psql".to_owned()),
        ]);
        let params = server_parameters(&metadata);
        assert!(params["server_version"].starts_with("16."));
        assert!(params["DateStyle"].starts_with("ISO"));
        assert_eq!(params["standard_conforming_strings"], "on");
        assert_eq!(params["client_encoding"], "UTF8");
        assert_eq!(params["integer_datetimes"], "on");
        assert_eq!(params["session_authorization"], "ana");
        assert_eq!(params["application_name"], "psql");
    }
}
