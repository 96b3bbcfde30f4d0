//! One client connection: its [`Session`] and the pgwire handlers that drive it.
//!
//! pgwire owns the socket and the protocol state machine (ready, in a query, in COPY,
//! waiting for Sync after an error) and calls the handlers here for each message. The
//! handlers share one [`ConnectionState`] behind a tokio mutex: pgwire's traits take
//! `&self`, and a connection handles one message at a time, so the lock is never
//! contended; it only hands out `&mut Session`.
//!
//! An error in a statement becomes an ErrorResponse and nothing else: the session and
//! the connection stay usable. A panic in the SQL layer is caught per call and reported
//! as `XX000`, so one bad statement cannot take the connection down.
//!
//! A `SUBSCRIBE` streams inside its handler call (see [`super::subscribe`]), so the
//! connection answers nothing else until it ends, as with PostgreSQL's
//! `COPY … TO STDOUT`.

use std::fmt::Debug;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{FutureExt, Sink, SinkExt};
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::Portal;
use pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_execution_response, send_query_response,
};
use pgwire::api::results::{CopyResponse, FieldFormat, FieldInfo, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, DEFAULT_NAME, METADATA_APPLICATION_NAME, METADATA_DATABASE,
    METADATA_USER, Type,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::data::{FieldDescription, NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Describe, TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse};
use tokio::sync::Mutex;
use vigil_engine::repr::{Column, ScalarType};
use vigil_sql::{ExecuteResponse, Session, SqlError, Subscription};

use super::empty::is_empty_query;
use super::error::WireError;
use super::params::{Statement, decode_params, display_name};
use super::results::{command_response, query_response, result_formats};
use super::subscribe::{HangupWatch, Streamed, stream};
use super::types::{oid, row_description, scalar_type_for_param_oid, wire_type};

/// COPY FROM STDIN data is buffered until CopyDone and loaded in one call; past this
/// size the copy fails instead of exhausting memory. Load bigger files in parts.
pub const COPY_LIMIT: usize = 1 << 30;

/// What a connection keeps between messages.
struct ConnectionState {
    session: Session,
    copy: Option<CopyIn>,
    /// Whether the session has the client's startup parameters.
    started: bool,
}

/// Locks the connection's state; the first time, gives the session the user,
/// database and application name the client sent at startup.
async fn lock_for<'s>(
    state: &'s Mutex<ConnectionState>,
    client: &(impl ClientInfo + ?Sized),
) -> tokio::sync::MutexGuard<'s, ConnectionState> {
    let mut state = state.lock().await;
    if !state.started {
        state.started = true;
        let metadata = client.metadata();
        let get = |key: &str| metadata.get(key).map_or("", String::as_str);
        state.session.set_startup_parameters(
            get(METADATA_USER),
            get(METADATA_DATABASE),
            get(METADATA_APPLICATION_NAME),
        );
    }
    state
}

/// A `COPY … FROM STDIN` waiting for its data.
struct CopyIn {
    table: String,
    columns: Vec<Column>,
    data: Vec<u8>,
    too_large: bool,
}

impl ConnectionState {
    /// Enters copy-in mode: remembers the target and answers CopyInResponse, text
    /// format, one column format per column.
    fn start_copy(&mut self, table: String, columns: Vec<Column>) -> Response {
        let width = columns.len();
        self.copy = Some(CopyIn {
            table,
            columns,
            data: Vec::new(),
            too_large: false,
        });
        Response::CopyIn(CopyResponse::new(0, width, futures::stream::empty()))
    }
}

/// The handlers of one connection (simple query, extended query, COPY).
pub struct Connection {
    state: Arc<Mutex<ConnectionState>>,
    parser: Arc<StatementParser>,
    /// Ends a SUBSCRIBE whose client has gone; without it a quiet subscription
    /// outlives its client until the next write fails.
    hangup: Option<HangupWatch>,
}

impl Connection {
    pub fn new(session: Session) -> Self {
        let state = Arc::new(Mutex::new(ConnectionState {
            session,
            copy: None,
            started: false,
        }));
        let parser = Arc::new(StatementParser {
            state: Arc::clone(&state),
        });
        Connection {
            state,
            parser,
            hangup: None,
        }
    }

    /// Watches the client's socket during SUBSCRIBE, to stop as soon as it hangs up.
    pub(crate) fn with_hangup_watch(mut self, watch: HangupWatch) -> Self {
        self.hangup = Some(watch);
        self
    }

    /// Streams a subscription; its outcome as the response that ends the statement.
    async fn stream<C>(&self, client: &mut C, subscription: Subscription) -> PgWireResult<Response>
    where
        C: Sink<PgWireBackendMessage> + Unpin,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Ok(
            match stream(client, subscription, self.hangup.as_ref()).await? {
                Streamed::Done { rows } => Response::Execution(
                    Tag::new("COPY").with_rows(usize::try_from(rows).unwrap_or(usize::MAX)),
                ),
                Streamed::Failed(error) => error_response(&WireError::from(error)),
            },
        )
    }
}

/// Runs one call into the SQL layer, turning a panic into an error.
async fn guarded<T>(call: impl Future<Output = T>) -> Result<T, WireError> {
    AssertUnwindSafe(call)
        .catch_unwind()
        .await
        .map_err(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic in the SQL layer".to_owned());
            tracing::error!(panic = %message, "statement panicked; the connection continues");
            WireError::Panic(message)
        })
}

/// How the connection answers one successful statement.
enum Answer {
    Response(Response),
    /// COPY FROM STDIN: the connection enters copy-in mode.
    CopyIn {
        table: String,
        columns: Vec<Column>,
    },
    /// SUBSCRIBE: streamed as COPY TO STDOUT before the statement completes.
    Subscribe(Subscription),
}

/// The answer to a statement's result, its columns in the formats `formats` picks for
/// a result of that many columns.
fn answer(
    response: ExecuteResponse,
    formats: impl FnOnce(usize) -> Result<Vec<FieldFormat>, WireError>,
) -> Result<Answer, WireError> {
    Ok(match response {
        ExecuteResponse::Rows { desc, rows } => {
            let formats = formats(desc.arity())?;
            Answer::Response(query_response(&desc, rows, &formats)?)
        }
        ExecuteResponse::Command(tag) => Answer::Response(command_response(&tag)),
        ExecuteResponse::EmptyQuery => Answer::Response(Response::EmptyQuery),
        ExecuteResponse::CopyIn { table, columns } => Answer::CopyIn { table, columns },
        ExecuteResponse::Subscribe(subscription) => Answer::Subscribe(subscription),
    })
}

fn error_response(error: &WireError) -> Response {
    tracing::debug!(code = error.code(), %error, "statement failed");
    Response::Error(Box::new(error.to_error_info()))
}

/// Sends the answer of a statement that ran before a SUBSCRIBE in the same query
/// string, the way pgwire sends the answers it is returned.
///
/// A BEGIN or COMMIT sent here does not move the transaction status of the
/// ReadyForQuery that ends the query: pgwire computes that from the answers returned
/// to it. Drivers send SUBSCRIBE on its own, so this only shows in hand-written
/// multi-statement strings.
async fn send_before_stream<C>(client: &mut C, response: Response) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    match response {
        Response::EmptyQuery => {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        }
        Response::Query(results) => send_query_response(client, results, true).await?,
        Response::Execution(tag)
        | Response::TransactionStart(tag)
        | Response::TransactionEnd(tag) => send_execution_response(client, tag).await?,
        Response::Error(info) => {
            client
                .feed(PgWireBackendMessage::ErrorResponse((*info).into()))
                .await?;
        }
        // Never queued: a COPY FROM STDIN ends the batch, and an earlier SUBSCRIBE
        // has streamed already and left only its CommandComplete.
        Response::CopyIn(_) | Response::CopyOut(_) | Response::CopyBoth(_) => {
            return Err(PgWireError::ApiError(
                "a COPY answered before a SUBSCRIBE in the same query".into(),
            ));
        }
    }
    Ok(())
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if is_empty_query(query) {
            return Ok(vec![Response::EmptyQuery]);
        }
        tracing::debug!(query, "simple query");
        let mut state = lock_for(&self.state, client).await;
        let results = match guarded(state.session.execute_batch(query)).await {
            Ok(results) => results,
            Err(panic) => return Ok(vec![error_response(&panic)]),
        };
        let total = results.len();
        let mut responses = Vec::with_capacity(total);
        for result in results {
            let text = |columns: usize| -> Result<Vec<FieldFormat>, WireError> {
                Ok(vec![FieldFormat::Text; columns])
            };
            match result
                .map_err(WireError::from)
                .and_then(|r| answer(r, text))
            {
                Ok(Answer::Response(response)) => responses.push(response),
                Ok(Answer::CopyIn { table, columns }) => {
                    // Copy data follows on the wire; nothing after the COPY can be
                    // answered before it.
                    if responses.len() + 1 < total {
                        tracing::warn!(
                            "statements after COPY FROM STDIN in one query string are not answered"
                        );
                    }
                    responses.push(state.start_copy(table, columns));
                    break;
                }
                Ok(Answer::Subscribe(subscription)) => {
                    // The COPY data goes out now, so what the statements before it
                    // answered must go out first.
                    for response in responses.drain(..) {
                        send_before_stream(client, response).await?;
                    }
                    let response = self.stream(client, subscription).await?;
                    let failed = matches!(response, Response::Error(_));
                    responses.push(response);
                    if failed {
                        break;
                    }
                }
                Err(error) => {
                    responses.push(error_response(&error));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// Parses and describes statements for the extended protocol through
/// [`Session::prepare`].
pub struct StatementParser {
    state: Arc<Mutex<ConnectionState>>,
}

impl StatementParser {
    async fn prepare(
        &self,
        client: &(impl ClientInfo + ?Sized),
        sql: &str,
        declared: &[Option<Type>],
    ) -> Result<Statement, WireError> {
        let declared_oids: Vec<Option<u32>> = declared
            .iter()
            .map(|ty| {
                ty.as_ref()
                    .map(Type::oid)
                    .filter(|oid| *oid != 0 && *oid != oid::UNKNOWN)
            })
            .collect();
        let hints: Vec<Option<ScalarType>> = declared_oids
            .iter()
            .map(|oid| oid.and_then(scalar_type_for_param_oid))
            .collect();
        let mut state = lock_for(&self.state, client).await;
        let prepared = guarded(state.session.prepare(sql, &hints)).await??;
        let param_oids = prepared
            .param_types
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                declared_oids
                    .get(i)
                    .copied()
                    .flatten()
                    .unwrap_or(ty.pg_oid())
            })
            .collect();
        Ok(Statement {
            prepared,
            param_oids,
        })
    }
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = Statement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        if is_empty_query(sql) {
            return Ok(None);
        }
        tracing::debug!(sql, "parse");
        Ok(Some(self.prepare(client, sql, types).await?))
    }

    fn get_parameter_types(&self, stmt: &Statement) -> PgWireResult<Vec<Type>> {
        Ok(stmt.param_oids.iter().map(|oid| wire_type(*oid)).collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Statement,
        column_format: Option<&pgwire::api::portal::Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let Some(desc) = &stmt.prepared.result else {
            return Ok(Vec::new());
        };
        let formats = match column_format {
            Some(format) => result_formats(format, desc.arity())?,
            None => vec![FieldFormat::Text; desc.arity()],
        };
        Ok(row_description(desc, &formats))
    }
}

/// A RowDescription, or NoData for a statement that returns no rows. (An empty
/// RowDescription would tell JDBC and psql that the statement returns rows.)
fn row_description_message(fields: Option<Vec<FieldInfo>>) -> PgWireBackendMessage {
    match fields {
        Some(fields) => PgWireBackendMessage::RowDescription(RowDescription::new(
            fields.iter().map(FieldDescription::from).collect(),
        )),
        None => PgWireBackendMessage::NoData(NoData::new()),
    }
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    type Statement = Statement;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<StatementParser> {
        Arc::clone(&self.parser)
    }

    /// Decodes the parameters at Bind, as PostgreSQL does, so a bad value is reported
    /// for the Bind message rather than at Execute.
    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                let portal = Portal::try_new(&message, statement)?;
                decode_params(&portal)?;
                if let Some(desc) = &portal.statement.statement.prepared.result {
                    result_formats(&portal.result_column_format, desc.arity())?;
                }
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) => {
                if !message.parameters.is_empty() {
                    return Err(WireError::ParameterCount {
                        statement: display_name(statement_name).to_owned(),
                        expected: 0,
                        given: message.parameters.len(),
                    }
                    .into());
                }
                let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
                client.portal_store().put_empty_portal(portal_name);
            }
            None => {
                return Err(PgWireError::StatementNotFound(
                    display_name(statement_name).to_owned(),
                ));
            }
        }
        client
            .send(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    /// Describes with NoData for statements without a result, which pgwire's default
    /// does not do for statements that have parameters.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                let (param_oids, fields) = match client.portal_store().get_statement(name) {
                    Some(Entry::Value(stmt)) => {
                        let fields = stmt.statement.prepared.result.as_ref().map(|desc| {
                            row_description(desc, &vec![FieldFormat::Text; desc.arity()])
                        });
                        (stmt.statement.param_oids.clone(), fields)
                    }
                    Some(Entry::Empty) => (Vec::new(), None),
                    None => {
                        return Err(PgWireError::StatementNotFound(
                            display_name(name).to_owned(),
                        ));
                    }
                };
                client
                    .send(PgWireBackendMessage::ParameterDescription(
                        ParameterDescription::new(param_oids),
                    ))
                    .await?;
                client.send(row_description_message(fields)).await?;
            }
            TARGET_TYPE_BYTE_PORTAL => {
                let fields = match client.portal_store().get_portal(name) {
                    Some(Entry::Value(portal)) => match &portal.statement.statement.prepared.result
                    {
                        Some(desc) => {
                            let formats =
                                result_formats(&portal.result_column_format, desc.arity())?;
                            Some(row_description(desc, &formats))
                        }
                        None => None,
                    },
                    Some(Entry::Empty) => None,
                    None => return Err(PgWireError::PortalNotFound(display_name(name).to_owned())),
                };
                client.send(row_description_message(fields)).await?;
            }
            other => return Err(PgWireError::InvalidTargetType(other)),
        }
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let params = decode_params(portal)?;
        let prepared = &portal.statement.statement.prepared;
        tracing::debug!(sql = %prepared.sql, "execute");
        let mut state = lock_for(&self.state, client).await;
        let response = guarded(state.session.execute_prepared(prepared, params))
            .await?
            .map_err(WireError::from)?;
        let formats = |columns| result_formats(&portal.result_column_format, columns);
        match answer(response, formats)? {
            Answer::Response(response) => Ok(response),
            Answer::CopyIn { table, columns } => Ok(state.start_copy(table, columns)),
            Answer::Subscribe(subscription) => {
                drop(state);
                match self.stream(client, subscription).await? {
                    // As an Err, so the connection waits for Sync as after any
                    // failed Execute.
                    Response::Error(info) => Err(PgWireError::UserError(info)),
                    response => Ok(response),
                }
            }
        }
    }
}

#[async_trait]
impl CopyHandler for Connection {
    async fn on_copy_data<C>(&self, _client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut state = self.state.lock().await;
        let copy = state.copy.as_mut().ok_or(WireError::NoCopyInProgress)?;
        // Past the limit the data is dropped and the error waits for CopyDone: an
        // error now would put the connection back to ready while the client is still
        // streaming.
        if copy.data.len() + copy_data.data.len() > COPY_LIMIT {
            copy.too_large = true;
            copy.data = Vec::new();
        }
        if !copy.too_large {
            copy.data.extend_from_slice(&copy_data.data);
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut state = self.state.lock().await;
        let copy = state.copy.take().ok_or(WireError::NoCopyInProgress)?;
        if copy.too_large {
            return Err(WireError::CopyTooLarge { limit: COPY_LIMIT }.into());
        }
        tracing::debug!(table = %copy.table, bytes = copy.data.len(), "copy in");
        let loaded: Result<u64, SqlError> = guarded(state.session.copy_in(
            &copy.table,
            &copy.columns,
            &copy.data,
        ))
        .await?;
        let rows = loaded.map_err(WireError::from)?;
        client
            .send(PgWireBackendMessage::CommandComplete(CommandComplete::new(
                format!("COPY {rows}"),
            )))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, _client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.state.lock().await.copy = None;
        WireError::CopyFailed(fail.message).into()
    }
}
