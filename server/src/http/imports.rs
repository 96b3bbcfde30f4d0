//! `/api/v1/imports` and `/api/v1/import-profiles`: CSV files into the canonical
//! sources, the way a district's data director uploads an export of their SIS.
//!
//! ```text
//!  PUT  /api/v1/import-profiles/{name}   {relation, district_id?, columns, values, defaults}
//!  GET  /api/v1/import-profiles[/{name}] ◀─ the saved profiles
//!  POST /api/v1/imports?profile=NAME     CSV with a header row
//!       (or ?relation=R: headers are the canonical names)
//!       [&file_name=F][&district_id=D]   ◀─ JSON summary, or with Accept: text/csv the
//!                                           reject report (line, column, value, error)
//! ```
//!
//! An import is: schema check (the header is mapped through the profile; a file with
//! no usable column, or without a column the relation requires, is refused with 422
//! and nothing happens), then every row mapped, value maps applied (`"Black or
//! African American"` → `BL`), defaults filled and every value typed by the
//! relation's column type. Rows that fail are collected with line, column, value and
//! error, never dropped silently; the good rows are loaded with one `COPY … FROM
//! STDIN` through a [`Session`](vigil_sql::Session), exactly what `psql \copy` runs,
//! so a source gets them in one publish. Then the batch is recorded in
//! `crdc.ingest_batches` with its counts and the SHA-256 of the whole body. Every
//! loaded row's lineage says where it came from: `source_system` `csv`,
//! `source_record_id` `FILE:LINE`, `ingest_batch_id` the batch, `payload_sha256` of
//! its line.
//!
//! One import is one district's batch: the district is `?district_id=`, else the
//! profile's `district_id`, else the one district the file's rows name. A row of
//! another district is rejected, so a profile for one district cannot load another's
//! data.
//!
//! Profiles are stored in the change log, in the compacted topic
//! `vigil.import_profiles` (key: the name, value: the profile's JSON), so they are
//! as durable as the data they load and survive a restart; a PUT replaces a profile
//! in one publish.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use vigil_changelog::{ChangeLog, LogError, Message, Retention, TopicSpec};
use vigil_engine::repr::Column;
use vigil_engine::repr::text::parse_datum;
use vigil_sql::copy::{CopyFormat, LINEAGE_COLUMNS, escape_text, new_batch_id, sha256_hex};
use vigil_sql::{ExecuteResponse, Session, SqlError};

use super::error::AppError;
use super::{AppState, MAX_BODY_BYTES};

/// The compacted topic the profiles live in.
pub const PROFILES_TOPIC: &str = "vigil.import_profiles";

/// The compacted topic every import's batch is recorded in (the `ingest_batches`
/// source of `views/sql/crdc/sources.sql` reads it).
pub const BATCHES_TOPIC: &str = "crdc.ingest_batches";

/// The column that holds a canonical row's tenant.
const DISTRICT_COLUMN: &str = "district_id";

/// How long reading the profiles topic may take (a Kafka reader is polled).
const PROFILES_READ_DEADLINE: Duration = Duration::from_secs(10);

/// A saved mapping from a district's CSV export to a canonical relation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportProfile {
    /// The canonical relation (a source or table) the file loads.
    pub relation: String,
    /// The district every row belongs to; rows naming another are rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district_id: Option<String>,
    /// File header → canonical column. A header that already is a column's name
    /// needs no entry.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Canonical column → (value in the file → canonical value).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Canonical column → the value of rows whose file has none.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
}

/// A profile with its name, as the profile routes answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedProfile {
    pub name: String,
    #[serde(flatten)]
    pub profile: ImportProfile,
}

/// The answer to `GET /api/v1/import-profiles`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileList {
    /// Sorted by name.
    pub profiles: Vec<NamedProfile>,
}

/// The query of `POST /api/v1/imports`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    pub profile: Option<String>,
    pub relation: Option<String>,
    pub file_name: Option<String>,
    pub district_id: Option<String>,
}

/// One value that did not load, as the reject report lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// The file's line, counting the header as line 1.
    pub line: usize,
    /// The file's header for the value (the canonical column for a default).
    pub column: String,
    /// The value as the file has it.
    pub value: Option<String>,
    pub error: String,
}

/// The answer to an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub batch_id: String,
    pub relation: String,
    pub profile: Option<String>,
    pub district_id: String,
    pub file_name: String,
    pub file_sha256: String,
    /// Data rows in the file (the header not counted).
    pub rows_total: usize,
    pub rows_loaded: usize,
    pub rows_rejected: usize,
    /// Headers that map to no column; their values were not loaded.
    pub unmapped_headers: Vec<String>,
    /// Every value that failed, in line order (a row may have several).
    pub rejects: Vec<Reject>,
}

/// Why an import or a profile was refused as a whole; each has a stable code
/// (see [`AppError::code`]).
#[derive(Debug, thiserror::Error)]
pub enum ImportRefused {
    #[error("relation \"{0}\" does not exist")]
    UnknownRelation(String),
    #[error("cannot load relation \"{relation}\": {reason}")]
    NotLoadable { relation: String, reason: String },
    #[error("import profile \"{0}\" does not exist")]
    UnknownProfile(String),
    #[error(
        "column \"{field}\" of relation \"{relation}\" does not exist (in the profile's {part})"
    )]
    UnknownField {
        relation: String,
        field: String,
        part: &'static str,
    },
    #[error("invalid import profile: {0}")]
    InvalidProfile(String),
    #[error("give ?profile=NAME or ?relation=NAME")]
    NoTarget,
    #[error("the file cannot be read as CSV: {0}")]
    UnreadableFile(String),
    #[error("the file has no header row: the first line must name its columns")]
    MissingHeader,
    #[error(
        "no column of the file maps to relation \"{relation}\" (headers: {}); map them in a profile",
        .headers.join(", ")
    )]
    NoUsableColumns {
        relation: String,
        headers: Vec<String>,
    },
    #[error(
        "relation \"{relation}\" requires {}, which the file does not have and the profile neither maps nor defaults",
        .columns.join(", ")
    )]
    MissingColumns {
        relation: String,
        columns: Vec<String>,
    },
    #[error("headers {} all map to column \"{field}\"", .headers.join(", "))]
    DuplicateField { field: String, headers: Vec<String> },
    #[error("an import is one district's batch: {0}")]
    DistrictRequired(String),
}

/// `GET /api/v1/import-profiles`.
pub async fn list_profiles(State(state): State<AppState>) -> Result<Json<ProfileList>, AppError> {
    let profiles = load_profiles(Arc::clone(&state.log)).await?;
    Ok(Json(ProfileList {
        profiles: profiles
            .into_iter()
            .map(|(name, profile)| NamedProfile { name, profile })
            .collect(),
    }))
}

/// `GET /api/v1/import-profiles/{name}`.
pub async fn get_profile(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<NamedProfile>, AppError> {
    let Path(name) = name?;
    let mut profiles = load_profiles(Arc::clone(&state.log)).await?;
    let profile = profiles
        .remove(&name)
        .ok_or_else(|| ImportRefused::UnknownProfile(name.clone()))?;
    Ok(Json(NamedProfile { name, profile }))
}

/// `PUT /api/v1/import-profiles/{name}`: checks the profile against its relation's
/// columns and types, then saves it (replacing one of the same name).
pub async fn put_profile(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<NamedProfile>, AppError> {
    let Path(name) = name?;
    let body =
        body.map_err(|rejection| AppError::from_body_rejection(rejection, MAX_BODY_BYTES))?;
    check_profile_name(&name)?;
    let profile: ImportProfile =
        serde_json::from_slice(&body).map_err(|e| ImportRefused::InvalidProfile(e.to_string()))?;
    let mut session = state.coordinator.session();
    let columns = relation_columns(&mut session, &profile.relation).await?;
    check_profile(&profile, &columns)?;
    let value = serde_json::to_vec(&profile)
        .map_err(|e| AppError::Internal(format!("cannot encode a profile: {e}")))?;
    let log = Arc::clone(&state.log);
    let key = name.clone();
    blocking(move || {
        ensure_compacted(log.as_ref(), PROFILES_TOPIC)?;
        log.publish(
            PROFILES_TOPIC,
            &[Message {
                key: Some(key.as_bytes()),
                value: Some(&value),
            }],
        )?;
        Ok(())
    })
    .await?;
    Ok(Json(NamedProfile { name, profile }))
}

/// `POST /api/v1/imports?profile=NAME|relation=NAME[&file_name=F][&district_id=D]`.
pub async fn import(
    State(state): State<AppState>,
    params: Result<Query<ImportParams>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let Query(params) = params?;
    let body =
        body.map_err(|rejection| AppError::from_body_rejection(rejection, MAX_BODY_BYTES))?;
    let started_at = chrono::Utc::now();
    let (profile_name, profile) = match (&params.profile, &params.relation) {
        (Some(name), _) => {
            let mut profiles = load_profiles(Arc::clone(&state.log)).await?;
            let profile = profiles
                .remove(name)
                .ok_or_else(|| ImportRefused::UnknownProfile(name.clone()))?;
            if let Some(relation) = &params.relation
                && *relation != profile.relation
            {
                return Err(ImportRefused::InvalidProfile(format!(
                    "profile \"{name}\" loads \"{}\", not \"{relation}\"",
                    profile.relation
                ))
                .into());
            }
            (Some(name.clone()), profile)
        }
        (None, Some(relation)) => (
            None,
            ImportProfile {
                relation: relation.clone(),
                ..ImportProfile::default()
            },
        ),
        (None, None) => return Err(ImportRefused::NoTarget.into()),
    };
    let district = match (&params.district_id, &profile.district_id) {
        (Some(asked), Some(saved)) if asked != saved => {
            return Err(ImportRefused::InvalidProfile(format!(
                "district_id \"{asked}\" differs from the profile's \"{saved}\""
            ))
            .into());
        }
        (Some(district), _) | (None, Some(district)) => Some(district.clone()),
        (None, None) => None,
    };
    let file_name = params
        .file_name
        .clone()
        .or_else(|| disposition_file_name(&headers))
        .unwrap_or_else(|| "upload.csv".to_owned());

    // The session's COPY names the relation's columns and, once the rows are
    // mapped, takes them: the rows are typed by exactly the columns COPY expects.
    let mut session = state.coordinator.session();
    let columns = relation_columns(&mut session, &profile.relation).await?;
    check_profile(&profile, &columns)?;
    let batch_id = new_batch_id(profile_name.as_deref().unwrap_or(&profile.relation));
    let body_for_work = body.clone();
    let mapped = {
        // Mapping and typing every row is CPU work: off the runtime.
        let profile = profile.clone();
        let columns = columns.clone();
        let district = district.clone();
        let file_name = file_name.clone();
        let batch_id = batch_id.clone();
        tokio::task::spawn_blocking(move || {
            Input {
                profile: &profile,
                columns: &columns,
                district: district.as_deref(),
                file_name: &file_name,
                batch_id: &batch_id,
            }
            .map_file(&body_for_work)
        })
        .await
        .map_err(|join| AppError::Internal(format!("import task failed: {join}")))??
    };
    let loaded = if mapped.copy_data.is_empty() {
        0
    } else {
        session
            .copy_in(&profile.relation, &columns, &mapped.copy_data)
            .await?
    };
    let summary = ImportSummary {
        batch_id,
        relation: profile.relation.clone(),
        profile: profile_name,
        district_id: mapped.district,
        file_name,
        file_sha256: sha256_hex(&body),
        rows_total: mapped.rows_total,
        rows_loaded: usize::try_from(loaded).unwrap_or(usize::MAX),
        rows_rejected: mapped.rows_rejected,
        unmapped_headers: mapped.unmapped_headers,
        rejects: mapped.rejects,
    };
    record_batch(
        Arc::clone(&state.log),
        &summary,
        started_at,
        chrono::Utc::now(),
    )
    .await?;
    tracing::info!(
        batch = %summary.batch_id,
        relation = %summary.relation,
        loaded = summary.rows_loaded,
        rejected = summary.rows_rejected,
        "csv import"
    );
    if wants_csv(&headers) {
        reject_report(&summary)
    } else {
        Ok(Json(summary).into_response())
    }
}

/// What one import maps a file with.
struct Input<'a> {
    profile: &'a ImportProfile,
    /// Every column of the relation, in order.
    columns: &'a [Column],
    /// The district fixed by the request or the profile.
    district: Option<&'a str>,
    file_name: &'a str,
    batch_id: &'a str,
}

/// A file mapped: the good rows as COPY text-format data, and what was rejected.
#[derive(Debug)]
struct Mapped {
    copy_data: Vec<u8>,
    district: String,
    rows_total: usize,
    rows_rejected: usize,
    unmapped_headers: Vec<String>,
    rejects: Vec<Reject>,
}

/// Where each of the relation's columns gets its value.
struct Plan {
    /// Per column, the index of the file's field that fills it.
    fields: Vec<Option<usize>>,
    unmapped_headers: Vec<String>,
}

impl Input<'_> {
    fn map_file(&self, body: &[u8]) -> Result<Mapped, AppError> {
        // Spreadsheet programs start UTF-8 CSV with a byte-order mark.
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let format = CopyFormat {
            csv: true,
            header: true,
            delimiter: b',',
            null: String::new(),
            ..CopyFormat::default()
        };
        let split = format
            .split(body)
            .map_err(|e| ImportRefused::UnreadableFile(e.to_string()))?;
        let header = split.header.ok_or(ImportRefused::MissingHeader)?;
        let plan = self.plan(&header)?;
        let district_position = self.position(DISTRICT_COLUMN);

        let mut rejects = Vec::new();
        let mut good: Vec<(usize, Vec<Option<String>>)> = Vec::new();
        let mut districts = BTreeSet::new();
        let rows_total = split.lines.len();
        for line in &split.lines {
            let raw = body.get(line.raw.clone()).unwrap_or_default();
            let before = rejects.len();
            let values = self.map_row(line.line, &line.fields, &header, &plan, raw, &mut rejects);
            if let Some(Some(district)) = district_position.and_then(|p| values.get(p)) {
                districts.insert(district.clone());
            }
            if rejects.len() == before {
                good.push((line.line, values));
            }
        }
        let rows_rejected = rows_total - good.len();
        let district = match (self.district, district_position) {
            (Some(district), _) => district.to_owned(),
            (None, Some(_)) if districts.len() == 1 => districts.pop_first().unwrap_or_default(),
            (None, Some(_)) if districts.is_empty() => {
                return Err(ImportRefused::DistrictRequired(
                    "no row names a district_id: give ?district_id= or set district_id in the profile".into(),
                )
                .into());
            }
            (None, Some(_)) => {
                return Err(ImportRefused::DistrictRequired(format!(
                    "the file's rows name {} districts ({}): split the file, or give ?district_id= to load one and reject the others",
                    districts.len(),
                    districts.into_iter().collect::<Vec<_>>().join(", ")
                ))
                .into());
            }
            (None, None) => {
                return Err(ImportRefused::DistrictRequired(format!(
                    "relation \"{}\" has no district_id column: give ?district_id= or set district_id in the profile",
                    self.profile.relation
                ))
                .into());
            }
        };
        let mut copy_data = Vec::new();
        for (_, values) in &good {
            let line: Vec<String> = values
                .iter()
                .map(|value| {
                    value
                        .as_deref()
                        .map_or_else(|| "\\N".to_owned(), escape_text)
                })
                .collect();
            copy_data.extend_from_slice(line.join("\t").as_bytes());
            copy_data.push(b'\n');
        }
        Ok(Mapped {
            copy_data,
            district,
            rows_total,
            rows_rejected,
            unmapped_headers: plan.unmapped_headers,
            rejects,
        })
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The schema check: which field fills which column, refusing a file that can
    /// load nothing or lacks a column the relation requires.
    fn plan(&self, header: &[String]) -> Result<Plan, ImportRefused> {
        let relation = &self.profile.relation;
        let mut fields: Vec<Option<usize>> = vec![None; self.columns.len()];
        let mut unmapped_headers = Vec::new();
        let mut by_column: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (index, name) in header.iter().enumerate() {
            let name = name.trim();
            let target = self
                .profile
                .columns
                .get(name)
                .or_else(|| {
                    self.profile
                        .columns
                        .iter()
                        .find(|(header, _)| header.trim().eq_ignore_ascii_case(name))
                        .map(|(_, field)| field)
                })
                .map(String::as_str)
                .unwrap_or(name);
            let position = self
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(target))
                .filter(|&p| !is_lineage(&self.columns[p].name));
            match position {
                Some(position) => {
                    by_column.entry(position).or_default().push(name.to_owned());
                    fields[position] = Some(index);
                }
                None => unmapped_headers.push(name.to_owned()),
            }
        }
        if let Some((&position, headers)) = by_column.iter().find(|(_, h)| h.len() > 1) {
            return Err(ImportRefused::DuplicateField {
                field: self.columns[position].name.clone(),
                headers: headers.clone(),
            });
        }
        if by_column.is_empty() {
            return Err(ImportRefused::NoUsableColumns {
                relation: relation.clone(),
                headers: header.iter().map(|h| h.trim().to_owned()).collect(),
            });
        }
        let missing: Vec<String> = self
            .columns
            .iter()
            .zip(&fields)
            .filter(|(column, field)| {
                let supplied = field.is_some()
                    || self.profile.defaults.contains_key(&column.name)
                    || (column.name == DISTRICT_COLUMN && self.district.is_some());
                !column.nullable && !supplied
            })
            .map(|(column, _)| column.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(ImportRefused::MissingColumns {
                relation: relation.clone(),
                columns: missing,
            });
        }
        Ok(Plan {
            fields,
            unmapped_headers,
        })
    }

    /// One line's values for every column, as text the column's type reads; each
    /// problem is added to `rejects`.
    fn map_row(
        &self,
        line: usize,
        fields: &[Option<String>],
        header: &[String],
        plan: &Plan,
        raw: &[u8],
        rejects: &mut Vec<Reject>,
    ) -> Vec<Option<String>> {
        let mut reject = |column: &str, value: Option<&str>, error: String| {
            rejects.push(Reject {
                line,
                column: column.to_owned(),
                value: value.map(str::to_owned),
                error,
            });
        };
        if fields.len() != header.len() {
            reject(
                "",
                None,
                format!(
                    "the line has {} fields, the header {}",
                    fields.len(),
                    header.len()
                ),
            );
        }
        let lineage = [
            "csv".to_owned(),
            format!("{}:{line}", self.file_name),
            self.batch_id.to_owned(),
            sha256_hex(raw),
        ];
        self.columns
            .iter()
            .zip(&plan.fields)
            .map(|(column, field)| {
                if let Some(i) = LINEAGE_COLUMNS.iter().position(|l| *l == column.name) {
                    return Some(lineage[i].clone());
                }
                let cell = field.and_then(|i| fields.get(i).cloned().flatten());
                let label = field
                    .and_then(|i| header.get(i))
                    .map_or(column.name.as_str(), |h| h.trim());
                let trimmed = cell.as_deref().map(str::trim).filter(|s| !s.is_empty());
                let mapped = trimmed
                    .map(|value| self.map_value(&column.name, value))
                    .or_else(|| self.profile.defaults.get(&column.name).cloned());
                let value = match (column.name == DISTRICT_COLUMN, self.district, mapped) {
                    (true, Some(district), None) => Some(district.to_owned()),
                    (true, Some(district), Some(given)) if given != district => {
                        reject(
                            label,
                            cell.as_deref(),
                            format!(
                                "the row is of district \"{given}\", the import of \"{district}\""
                            ),
                        );
                        return Some(given);
                    }
                    (_, _, mapped) => mapped,
                };
                match &value {
                    None if !column.nullable => {
                        reject(
                            label,
                            cell.as_deref(),
                            format!("column \"{}\" requires a value", column.name),
                        );
                    }
                    None => {}
                    Some(text) => {
                        if let Err(e) = parse_datum(text, column.ty) {
                            reject(label, cell.as_deref(), e.to_string());
                        }
                    }
                }
                value
            })
            .collect()
    }

    /// `value` through the column's value map: an exact match, else one that differs
    /// only in case and surrounding spaces; unmapped values pass through.
    fn map_value(&self, column: &str, value: &str) -> String {
        let Some(map) = self.profile.values.get(column) else {
            return value.to_owned();
        };
        map.get(value)
            .or_else(|| {
                map.iter()
                    .find(|(from, _)| from.trim().eq_ignore_ascii_case(value))
                    .map(|(_, to)| to)
            })
            .cloned()
            .unwrap_or_else(|| value.to_owned())
    }
}

fn is_lineage(column: &str) -> bool {
    LINEAGE_COLUMNS.contains(&column)
}

/// Checks every column a profile names against the relation, and its defaults and
/// mapped values against the columns' types.
fn check_profile(profile: &ImportProfile, columns: &[Column]) -> Result<(), ImportRefused> {
    let column = |field: &str, part: &'static str| -> Result<&Column, ImportRefused> {
        let found = columns.iter().find(|c| c.name == field).ok_or_else(|| {
            ImportRefused::UnknownField {
                relation: profile.relation.clone(),
                field: field.to_owned(),
                part,
            }
        })?;
        if is_lineage(&found.name) {
            return Err(ImportRefused::InvalidProfile(format!(
                "column \"{field}\" (in the {part}) is lineage, which every import sets itself"
            )));
        }
        Ok(found)
    };
    for field in profile.columns.values() {
        column(field, "columns")?;
    }
    for (field, map) in &profile.values {
        let c = column(field, "values")?;
        for to in map.values() {
            parse_datum(to, c.ty).map_err(|e| {
                ImportRefused::InvalidProfile(format!("values of \"{field}\": {e}"))
            })?;
        }
    }
    for (field, value) in &profile.defaults {
        let c = column(field, "defaults")?;
        parse_datum(value, c.ty)
            .map_err(|e| ImportRefused::InvalidProfile(format!("default of \"{field}\": {e}")))?;
    }
    if let (Some(district), Some(default)) =
        (&profile.district_id, profile.defaults.get(DISTRICT_COLUMN))
        && district != default
    {
        return Err(ImportRefused::InvalidProfile(format!(
            "district_id \"{district}\" and the default district_id \"{default}\" differ"
        )));
    }
    Ok(())
}

fn check_profile_name(name: &str) -> Result<(), ImportRefused> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 100 || !name.chars().all(allowed) {
        return Err(ImportRefused::InvalidProfile(format!(
            "invalid name \"{name}\": use 1 to 100 letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(())
}

/// The columns of `relation`, from a `COPY … FROM STDIN` the session now waits to
/// finish (or drops with the session).
async fn relation_columns(session: &mut Session, relation: &str) -> Result<Vec<Column>, AppError> {
    let statement = format!("COPY {} FROM STDIN", quote_ident(relation));
    let result = session.execute_batch(&statement).await.pop();
    match result {
        Some(Ok(ExecuteResponse::CopyIn { columns, .. })) => Ok(columns),
        Some(Err(SqlError::UnknownRelation(_))) => {
            Err(ImportRefused::UnknownRelation(relation.to_owned()).into())
        }
        Some(Err(error @ (SqlError::WrongObjectType { .. } | SqlError::Unsupported(_)))) => {
            Err(ImportRefused::NotLoadable {
                relation: relation.to_owned(),
                reason: error.to_string(),
            }
            .into())
        }
        Some(Err(error)) => Err(error.into()),
        Some(Ok(other)) => Err(AppError::Internal(format!(
            "COPY answered {other:?} instead of waiting for data"
        ))),
        None => Err(AppError::Internal("COPY gave no answer".into())),
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Records the import in [`BATCHES_TOPIC`], keyed like the `ingest_batches` source.
async fn record_batch(
    log: Arc<dyn ChangeLog>,
    summary: &ImportSummary,
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    let key = json!({"district_id": summary.district_id, "batch_id": summary.batch_id});
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let value = json!({
        "district_id": summary.district_id,
        "batch_id": summary.batch_id,
        "source_system": "csv",
        "relation": summary.relation,
        "file_name": summary.file_name,
        "file_sha256": summary.file_sha256,
        "profile": summary.profile,
        "rows_total": summary.rows_total,
        "rows_loaded": summary.rows_loaded,
        "rows_rejected": summary.rows_rejected,
        "started_at": time(started_at),
        "finished_at": time(finished_at),
    });
    let (key, value) = (key.to_string(), value.to_string());
    blocking(move || {
        ensure_compacted(log.as_ref(), BATCHES_TOPIC)?;
        log.publish(
            BATCHES_TOPIC,
            &[Message {
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
            }],
        )?;
        Ok(())
    })
    .await
}

/// Creates `topic` compacted (one partition) unless it exists; an existing topic,
/// such as one a source created, is left as it is.
fn ensure_compacted(log: &dyn ChangeLog, topic: &str) -> Result<(), LogError> {
    match log.partitions(topic) {
        Err(LogError::UnknownTopic(_)) => log
            .ensure_topic(
                topic,
                &TopicSpec {
                    partitions: 1,
                    retention: Retention::Compact,
                },
            )
            .map(|_| ()),
        existing => existing.map(|_| ()),
    }
}

/// Every saved profile: the latest record per name in [`PROFILES_TOPIC`].
async fn load_profiles(
    log: Arc<dyn ChangeLog>,
) -> Result<BTreeMap<String, ImportProfile>, AppError> {
    blocking(move || {
        let end = match log.end_offsets(PROFILES_TOPIC) {
            Err(LogError::UnknownTopic(_)) => return Ok(BTreeMap::new()),
            end => end?,
        };
        let start: Vec<(u32, u64)> = (0..).zip(end.iter().map(|_| 0)).collect();
        let mut reader = log.reader(PROFILES_TOPIC, &start)?;
        let mut records = Vec::new();
        let deadline = Instant::now() + PROFILES_READ_DEADLINE;
        loop {
            reader.poll(1024, &mut records)?;
            let positions = reader.positions();
            let done = positions
                .iter()
                .all(|&(p, at)| end.get(p as usize).is_none_or(|&e| at >= e));
            if done {
                break;
            }
            if Instant::now() >= deadline {
                return Err(AppError::Internal(format!(
                    "reading {PROFILES_TOPIC} took longer than {PROFILES_READ_DEADLINE:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut profiles = BTreeMap::new();
        for record in records {
            let Some(name) = record.key.and_then(|k| String::from_utf8(k).ok()) else {
                continue;
            };
            match record.value {
                None => {
                    profiles.remove(&name);
                }
                Some(value) => match serde_json::from_slice::<ImportProfile>(&value) {
                    Ok(profile) => {
                        profiles.insert(name, profile);
                    }
                    Err(e) => {
                        tracing::warn!(profile = %name, error = %e, "unreadable import profile skipped");
                    }
                },
            }
        }
        Ok(profiles)
    })
    .await
}

/// The `filename` of a `Content-Disposition` header.
fn disposition_file_name(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_DISPOSITION)?.to_str().ok()?;
    value.split(';').find_map(|part| {
        let (key, value) = part.split_once('=')?;
        (key.trim().eq_ignore_ascii_case("filename"))
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|name| !name.is_empty())
    })
}

/// Whether the client asked for the reject report (`Accept: text/csv`).
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|range| {
                range
                    .split(';')
                    .next()
                    .is_some_and(|r| r.trim().eq_ignore_ascii_case("text/csv"))
            })
        })
}

/// The reject report: `line,column,value,error`, one row per rejected value, with
/// the batch's id and counts in headers.
fn reject_report(summary: &ImportSummary) -> Result<Response, AppError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| AppError::Internal(format!("cannot write the reject report: {e}"));
    writer
        .write_record(["line", "column", "value", "error"])
        .map_err(failed)?;
    for reject in &summary.rejects {
        writer
            .write_record([
                reject.line.to_string().as_str(),
                &reject.column,
                reject.value.as_deref().unwrap_or(""),
                &reject.error,
            ])
            .map_err(failed)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| AppError::Internal(format!("cannot write the reject report: {e}")))?;
    let header = |value: String| {
        HeaderValue::from_str(&value)
            .map_err(|e| AppError::Internal(format!("invalid header value: {e}")))
    };
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                HeaderName::from_static("x-vigil-batch-id"),
                header(summary.batch_id.clone())?,
            ),
            (
                HeaderName::from_static("x-vigil-rows-loaded"),
                header(summary.rows_loaded.to_string())?,
            ),
            (
                HeaderName::from_static("x-vigil-rows-rejected"),
                header(summary.rows_rejected.to_string())?,
            ),
        ],
        body,
    )
        .into_response())
}

/// Runs change-log work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| AppError::Internal(format!("change log task failed: {join}")))?
}
