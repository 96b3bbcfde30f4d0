//! `/api/v1/views`: the catalog's views and materialized views, and a snapshot of
//! one as JSON, CSV or Arrow IPC.
//!
//! Everything goes through a [`Session`] the way a pgwire client's statements do:
//! `SHOW VIEWS`, `SHOW MATERIALIZED VIEWS` and `SHOW COLUMNS FROM` for the catalog,
//! and a prepared `SELECT * FROM "view" WHERE "col" = $1 AND …` for a snapshot.
//! Filter values are parsed by the column's type ([`parse_datum`]) and bound as
//! parameters, never pasted into SQL; names are quoted as identifiers. Only views
//! and materialized views are served: tables and sources answer `unknown_view`,
//! because this API is where programs read what Vigil computes.
//!
//! Rows come in the order of their values (columns left to right), so a `limit`
//! picks the same rows every time the view holds the same data.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::ipc::writer::StreamWriter;
use serde::{Deserialize, Serialize};
use vigil_engine::repr::arrow::{rows_to_batch, to_arrow_schema};
use vigil_engine::repr::json::RowJson;
use vigil_engine::repr::text::{datum_to_text, parse_datum};
use vigil_engine::repr::{Datum, RelationDesc, Row};
use vigil_sql::{ExecuteResponse, Session, SqlError};

use super::AppState;
use super::error::AppError;

/// The query parameter that limits a snapshot; every other one filters a column.
pub const LIMIT_PARAM: &str = "limit";

/// The answer to `GET /api/v1/views`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewList {
    /// Sorted by name.
    pub views: Vec<ViewInfo>,
}

/// One view of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewInfo {
    pub name: String,
    /// `view` or `materialized view`, as `SHOW` names them.
    pub kind: String,
    pub columns: Vec<ColumnInfo>,
}

/// One column of a view, its type as PostgreSQL names it (`bigint`, `text`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
}

/// The kinds of relation this API serves, with the `SHOW` statement listing each.
const VIEW_KINDS: [(&str, &str); 2] = [
    ("view", "SHOW VIEWS"),
    ("materialized view", "SHOW MATERIALIZED VIEWS"),
];

/// `GET /api/v1/views`.
pub async fn list(State(state): State<AppState>) -> Result<Json<ViewList>, AppError> {
    let mut session = state.coordinator.session();
    let mut views = BTreeMap::new();
    for (kind, show) in VIEW_KINDS {
        for name in names(&mut session, show).await? {
            match columns(&mut session, &name).await {
                Ok(columns) => {
                    let info = ViewInfo {
                        name: name.clone(),
                        kind: kind.to_owned(),
                        columns,
                    };
                    views.insert(name, info);
                }
                // Dropped since it was listed: it is no longer a view to show.
                Err(AppError::Sql(SqlError::UnknownRelation(_))) => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(Json(ViewList {
        views: views.into_values().collect(),
    }))
}

/// `GET /api/v1/views/{name}[?column=value&…][&limit=N]`, answered in the type the
/// `Accept` header prefers.
pub async fn snapshot(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Path(name) = name?;
    let Query(params) = params?;
    let format = Format::negotiate(headers.get(ACCEPT))?;
    let request = SnapshotRequest::from_params(params)?;
    let mut session = state.coordinator.session();
    require_view(&mut session, &name).await?;
    let (desc, rows) = read(&mut session, &name, &request.filters).await?;
    let limit = request.limit;
    // Sorting and encoding a whole view is CPU work: off the runtime.
    let (content_type, body) = tokio::task::spawn_blocking(move || {
        let mut rows = rows;
        rows.sort();
        if let Some(limit) = limit {
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        format.encode(&name, &desc, &rows)
    })
    .await
    .map_err(|join| AppError::Internal(format!("encoding task failed: {join}")))??;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response())
}

/// A snapshot's query parameters: equality filters in the order given, and a limit.
#[derive(Debug, Default, PartialEq, Eq)]
struct SnapshotRequest {
    filters: Vec<(String, String)>,
    limit: Option<u64>,
}

impl SnapshotRequest {
    fn from_params(params: Vec<(String, String)>) -> Result<SnapshotRequest, AppError> {
        let mut request = SnapshotRequest::default();
        for (key, value) in params {
            if key == LIMIT_PARAM {
                let limit = value
                    .parse::<u64>()
                    .map_err(|_| AppError::InvalidLimit(value.clone()))?;
                request.limit = Some(limit);
            } else {
                request.filters.push((key, value));
            }
        }
        Ok(request)
    }
}

/// Fails with `unknown_view` unless `name` is a view or a materialized view.
pub(crate) async fn require_view(session: &mut Session, name: &str) -> Result<(), AppError> {
    for (_, show) in VIEW_KINDS {
        if names(session, show).await?.iter().any(|n| n == name) {
            return Ok(());
        }
    }
    Err(AppError::UnknownView(name.to_owned()))
}

/// The rows of view `name` that match every `(column, value)` filter, read at one
/// timestamp.
async fn read(
    session: &mut Session,
    name: &str,
    filters: &[(String, String)],
) -> Result<(RelationDesc, Vec<Row>), AppError> {
    let select = format!("SELECT * FROM {}", quote_ident(name));
    let desc = session
        .prepare(&select, &[])
        .await?
        .result
        .ok_or_else(|| AppError::Internal(format!("{select} describes no rows")))?;
    let mut conditions = Vec::with_capacity(filters.len());
    let mut params = Vec::with_capacity(filters.len());
    let mut types = Vec::with_capacity(filters.len());
    for (column, value) in filters {
        let Some(position) = desc.position(column) else {
            return Err(AppError::UnknownColumn {
                view: name.to_owned(),
                column: column.clone(),
            });
        };
        let ty = desc.columns[position].ty;
        let datum = parse_datum(value, ty).map_err(|source| AppError::InvalidFilter {
            column: column.clone(),
            ty,
            source,
        })?;
        conditions.push(format!("{} = ${}", quote_ident(column), params.len() + 1));
        params.push(datum);
        types.push(Some(ty));
    }
    let sql = if conditions.is_empty() {
        select
    } else {
        format!("{select} WHERE {}", conditions.join(" AND "))
    };
    let prepared = session.prepare(&sql, &types).await?;
    match session.execute_prepared(&prepared, params).await? {
        ExecuteResponse::Rows { desc, rows } => Ok((desc, rows)),
        other => Err(unexpected(&sql, &other)),
    }
}

/// The names a `SHOW VIEWS`-like statement lists.
async fn names(session: &mut Session, show: &str) -> Result<Vec<String>, AppError> {
    let (_, rows) = rows(session, show).await?;
    rows.into_iter()
        .map(|row| match row.into_iter().next() {
            Some(Datum::Text(name)) => Ok(name),
            other => Err(AppError::Internal(format!(
                "{show} answered a name of {other:?}"
            ))),
        })
        .collect()
}

/// A relation's columns, from `SHOW COLUMNS FROM`.
async fn columns(session: &mut Session, name: &str) -> Result<Vec<ColumnInfo>, AppError> {
    let show = format!("SHOW COLUMNS FROM {}", quote_ident(name));
    let (desc, rows) = rows(session, &show).await?;
    let position = |column: &str| {
        desc.position(column)
            .ok_or_else(|| AppError::Internal(format!("{show} has no column \"{column}\"")))
    };
    let (name_at, type_at, nullable_at) =
        (position("name")?, position("type")?, position("nullable")?);
    rows.into_iter()
        .map(
            |row| match (row.get(name_at), row.get(type_at), row.get(nullable_at)) {
                (Some(Datum::Text(name)), Some(Datum::Text(ty)), Some(Datum::Bool(nullable))) => {
                    Ok(ColumnInfo {
                        name: name.clone(),
                        ty: ty.clone(),
                        nullable: *nullable,
                    })
                }
                _ => Err(AppError::Internal(format!("{show} answered {row:?}"))),
            },
        )
        .collect()
}

/// Runs one statement that returns rows.
async fn rows(session: &mut Session, sql: &str) -> Result<(RelationDesc, Vec<Row>), AppError> {
    match session.execute_batch(sql).await.pop() {
        Some(Ok(ExecuteResponse::Rows { desc, rows })) => Ok((desc, rows)),
        Some(Ok(other)) => Err(unexpected(sql, &other)),
        Some(Err(error)) => Err(error.into()),
        None => Err(AppError::Internal(format!("{sql} ran no statement"))),
    }
}

fn unexpected(sql: &str, response: &ExecuteResponse) -> AppError {
    AppError::Internal(format!("{sql} answered {response:?} instead of rows"))
}

/// `name` as a SQL identifier that means exactly `name` (case and quotes kept).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The representations of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Arrow,
}

impl Format {
    /// Every media type served, in order of preference for `*/*`.
    pub const MEDIA_TYPES: [&'static str; 3] = [
        "application/json",
        "text/csv",
        "application/vnd.apache.arrow.stream",
    ];

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }

    /// The format an `Accept` header asks for: media ranges by descending `q` (in
    /// header order when equal), the first one served wins. No header, or an empty
    /// one, means JSON; so do `*/*` and `application/*`; `text/*` means CSV.
    pub fn negotiate(accept: Option<&HeaderValue>) -> Result<Format, AppError> {
        let Some(accept) = accept else {
            return Ok(Format::Json);
        };
        let not_acceptable = || AppError::NotAcceptable {
            accept: String::from_utf8_lossy(accept.as_bytes()).into_owned(),
        };
        let text = accept.to_str().map_err(|_| not_acceptable())?;
        if text.trim().is_empty() {
            return Ok(Format::Json);
        }
        let mut ranges: Vec<(f32, String)> = text
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let range = parts.next()?.trim().to_ascii_lowercase();
                let mut q = 1.0;
                for param in parts {
                    if let Some((key, value)) = param.split_once('=')
                        && key.trim().eq_ignore_ascii_case("q")
                    {
                        // A malformed weight makes the range unusable, not the header.
                        q = value.trim().parse::<f32>().ok()?;
                    }
                }
                (q > 0.0 && !range.is_empty()).then_some((q, range))
            })
            .collect();
        // Stable: equal weights keep the client's order.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges
            .iter()
            .find_map(|(_, range)| Format::of_range(range))
            .ok_or_else(not_acceptable)
    }

    fn of_range(range: &str) -> Option<Format> {
        match range {
            "application/json" | "application/*" | "*/*" => Some(Format::Json),
            "text/csv" | "text/*" => Some(Format::Csv),
            "application/vnd.apache.arrow.stream" => Some(Format::Arrow),
            _ => None,
        }
    }

    /// The body of a snapshot of `view` holding `rows`, and its content type.
    fn encode(
        self,
        view: &str,
        desc: &RelationDesc,
        rows: &[Row],
    ) -> Result<(&'static str, Vec<u8>), AppError> {
        let body = match self {
            Format::Json => encode_json(view, desc, rows)?,
            Format::Csv => encode_csv(desc, rows)?,
            Format::Arrow => encode_arrow(desc, rows)?,
        };
        Ok((self.content_type(), body))
    }
}

/// `{"view":…,"columns":[{"name","type"}],"rows":[{…}]}`, each row's keys in
/// column order.
fn encode_json(view: &str, desc: &RelationDesc, rows: &[Row]) -> Result<Vec<u8>, AppError> {
    #[derive(Serialize)]
    struct Snapshot<'a> {
        view: &'a str,
        columns: Vec<SnapshotColumn<'a>>,
        rows: Vec<RowJson<'a>>,
    }
    #[derive(Serialize)]
    struct SnapshotColumn<'a> {
        name: &'a str,
        #[serde(rename = "type")]
        ty: String,
    }
    let snapshot = Snapshot {
        view,
        columns: desc
            .columns
            .iter()
            .map(|c| SnapshotColumn {
                name: &c.name,
                ty: c.ty.pg_name(),
            })
            .collect(),
        rows: rows.iter().map(|row| RowJson { desc, row }).collect(),
    };
    serde_json::to_vec(&snapshot).map_err(|e| AppError::Internal(format!("encoding JSON: {e}")))
}

/// A header line, then one record per row: values in PostgreSQL's text form, NULL
/// as an empty field.
fn encode_csv(desc: &RelationDesc, rows: &[Row]) -> Result<Vec<u8>, AppError> {
    let failed = |e: csv::Error| AppError::Internal(format!("encoding CSV: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(desc.columns.iter().map(|c| c.name.as_str()))
        .map_err(failed)?;
    for row in rows {
        writer
            .write_record(row.iter().map(|d| datum_to_text(d).unwrap_or_default()))
            .map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::Internal(format!("encoding CSV: {}", e.error())))
}

/// An Arrow IPC stream: the schema, then every row in one record batch.
fn encode_arrow(desc: &RelationDesc, rows: &[Row]) -> Result<Vec<u8>, AppError> {
    let failed = |e: &dyn std::fmt::Display| AppError::Internal(format!("encoding Arrow: {e}"));
    let schema = to_arrow_schema(desc);
    let batch = rows_to_batch(&schema, rows).map_err(|e| failed(&e))?;
    let mut writer = StreamWriter::try_new(Vec::new(), &schema).map_err(|e| failed(&e))?;
    writer.write(&batch).map_err(|e| failed(&e))?;
    writer.finish().map_err(|e| failed(&e))?;
    writer.into_inner().map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: &str) -> Result<Format, String> {
        Format::negotiate(Some(&HeaderValue::from_str(accept).expect("header")))
            .map_err(|e| e.code().to_owned())
    }

    #[test]
    fn accept_picks_the_heaviest_served_type() {
        assert_eq!(Format::negotiate(None).ok(), Some(Format::Json));
        assert_eq!(negotiate(""), Ok(Format::Json));
        assert_eq!(negotiate("*/*"), Ok(Format::Json));
        assert_eq!(negotiate("text/csv"), Ok(Format::Csv));
        assert_eq!(negotiate("TEXT/CSV; charset=utf-8"), Ok(Format::Csv));
        assert_eq!(negotiate("text/*"), Ok(Format::Csv));
        assert_eq!(
            negotiate("application/vnd.apache.arrow.stream"),
            Ok(Format::Arrow)
        );
        assert_eq!(
            negotiate("text/html, text/csv;q=0.5, application/json;q=0.9"),
            Ok(Format::Json)
        );
        assert_eq!(negotiate("text/csv, application/json"), Ok(Format::Csv));
        assert_eq!(
            negotiate("application/json;q=0, */*;q=0.1"),
            Ok(Format::Json)
        );
        assert_eq!(
            negotiate("application/json;q=0, text/csv;q=0.1"),
            Ok(Format::Csv)
        );
        assert_eq!(negotiate("text/html"), Err("not_acceptable".into()));
        assert_eq!(negotiate("text/csv;q=0"), Err("not_acceptable".into()));
        assert_eq!(negotiate("text/csv;q=high"), Err("not_acceptable".into()));
    }

    #[test]
    fn limit_is_taken_out_and_the_rest_are_filters() {
        let params = |pairs: &[(&str, &str)]| {
            SnapshotRequest::from_params(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let request = params(&[("a", "1"), ("limit", "5"), ("b", "x y")]).expect("valid");
        assert_eq!(
            request,
            SnapshotRequest {
                filters: vec![("a".into(), "1".into()), ("b".into(), "x y".into())],
                limit: Some(5),
            }
        );
        for bad in ["-1", "1.5", "", "ten"] {
            let error = params(&[("limit", bad)]).expect_err(bad);
            assert_eq!(error.code(), "invalid_limit", "{bad}");
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("Mixed Case"), "\"Mixed Case\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
