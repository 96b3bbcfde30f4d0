//! The CRDC domain's two tasks that are not views: the daily readiness snapshot that
//! `readiness_trend` compares with, and swapping a collection's rule pack while the
//! engine runs.
//!
//! Both go through an ordinary [`Session`], as an analyst would: a snapshot is one
//! `INSERT … SELECT FROM readiness`, a swap is `DROP … CASCADE` of the old rule
//! views and the creation of the new ones and of the views that read them.
//!
//! The server calls [`snapshot_if_due`] from its tick loop: it costs one small
//! query when the day's snapshot exists, so calling it every few seconds (or every
//! tick) is fine; the first call after midnight UTC of the coordinator's clock
//! takes the day's snapshot.

use vigil_engine::repr::Datum;
use vigil_sql::{Coordinator, ExecuteResponse, Session, SqlError};

use crate::install::{
    CRDC_AFTER_RULES, InstallError, compiled_builtins, crdc_source_columns, statements,
};
use crate::rules::{self, RuleError, RulePack};

/// Why a CRDC task failed.
#[derive(Debug, thiserror::Error)]
pub enum CrdcError {
    #[error("rule pack: {0}")]
    Rules(#[from] RuleError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error("not a CRDC rule pack: {problem}")]
    NotCrdcPack { problem: String },
    #[error("{what}: {source}")]
    Sql {
        what: &'static str,
        #[source]
        source: SqlError,
    },
    #[error("{what}: the answer was not the expected single value")]
    Unexpected { what: &'static str },
    #[error("rule view {name} of the new pack cannot be created: {source}")]
    BadRule {
        name: String,
        #[source]
        source: SqlError,
    },
}

/// A readiness snapshot that [`snapshot_if_due`] took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The day (UTC, `YYYY-MM-DD`) of the coordinator's clock.
    pub day: String,
    /// The readiness rows copied.
    pub rows: u64,
}

/// Takes today's readiness snapshot unless it exists: copies every `readiness` row
/// into `readiness_snapshots` with today's date (UTC, the coordinator's clock,
/// manual or not). Returns the snapshot taken, or `None` when today's was taken
/// already (by an earlier call, or a concurrent one that won).
pub async fn snapshot_if_due(coordinator: &Coordinator) -> Result<Option<Snapshot>, CrdcError> {
    let mut session = coordinator.session();
    let what = "reading the clock";
    let day = match single(
        &mut session,
        "SELECT CAST(CAST(now() AS date) AS text)",
        what,
    )
    .await?
    {
        Datum::Text(day) => day,
        _ => return Err(CrdcError::Unexpected { what }),
    };
    let what = "looking for today's snapshot";
    let taken = format!("SELECT count(*) FROM readiness_snapshots WHERE day = DATE '{day}'");
    match single(&mut session, &taken, what).await? {
        Datum::Int64(0) => {}
        Datum::Int64(_) => return Ok(None),
        _ => return Err(CrdcError::Unexpected { what }),
    }
    // One statement, so a snapshot is all of readiness at one timestamp or nothing.
    let insert = format!(
        "INSERT INTO readiness_snapshots \
         SELECT district_id, collection, school_id, category, DATE '{day}', n, errors, \
         warnings, score, band FROM readiness"
    );
    match session.execute_batch(&insert).await.pop() {
        Some(Ok(ExecuteResponse::Command(tag))) => Ok(Some(Snapshot {
            day,
            rows: tag.rows.unwrap_or(0),
        })),
        // Another caller took today's snapshot between the check and the insert.
        Some(Err(e)) if e.code() == "23505" => Ok(None),
        Some(Err(source)) => Err(CrdcError::Sql {
            what: "writing the snapshot",
            source,
        }),
        Some(Ok(_)) | None => Err(CrdcError::Unexpected {
            what: "writing the snapshot",
        }),
    }
}

/// What [`install_pack`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwappedPack {
    /// The collection of the pack now installed.
    pub collection: String,
    /// The rule views dropped (those of the pack installed before).
    pub dropped: Vec<String>,
    /// The views created, in creation order: the new rule views, the results and
    /// rules views, and the views that read the results.
    pub created: Vec<String>,
}

/// Replaces the installed CRDC rule pack by `yaml`'s, without a restart: checks
/// and compiles the new pack, plans every new rule view (nothing is dropped if one
/// cannot be maintained), then drops the old rule views, `crdc_rule_results` with
/// everything that reads it, and `crdc_rules`, and creates the new pack's views and
/// the built-in views over the results again (`crdc_open_results`, `readiness`,
/// `readiness_district`, `readiness_trend`). Readers see those views missing for
/// the moment between the drop and the creation; `exceptions` and
/// `readiness_snapshots` are tables and keep their rows, so exceptions whose
/// result_key the new pack produces again apply again.
///
/// The pack must be a CRDC pack: domain `crdc`, results view `crdc_rule_results`,
/// rules view `crdc_rules`, and a collection. After a restart, [`crate::install`]
/// keeps the swapped pack (its views exist) and re-creates only a built-in rule
/// view the swapped pack does not have, which stays out of the results.
pub async fn install_pack(coordinator: &Coordinator, yaml: &str) -> Result<SwappedPack, CrdcError> {
    let pack = RulePack::from_yaml(yaml)?;
    let collection = check_crdc_pack(&pack)?;
    let compiled = rules::compile(&pack, &crdc_source_columns()?, "an installed rule pack")?;
    let mut session = coordinator.session();

    // Plan each rule before anything is dropped.
    for rule in &compiled.rules {
        let query = defining_query(&rule.sql).ok_or(CrdcError::Unexpected {
            what: "compiling a rule view",
        })?;
        if let Some(Err(source)) = session
            .execute_batch(&format!("EXPLAIN {query}"))
            .await
            .pop()
        {
            return Err(CrdcError::BadRule {
                name: rule.name.clone(),
                source,
            });
        }
    }

    let dropped = installed_rule_views(&mut session).await?;
    let mut drops = vec![
        "DROP MATERIALIZED VIEW IF EXISTS crdc_rule_results CASCADE".to_string(),
        "DROP VIEW IF EXISTS crdc_rules".to_string(),
    ];
    drops.extend(
        dropped
            .iter()
            .map(|name| format!("DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE")),
    );
    for drop in &drops {
        run(&mut session, drop, "dropping the old rule pack").await?;
    }

    let mut builtins = compiled_builtins(&compiled);
    for file in CRDC_AFTER_RULES {
        builtins.extend(statements(file)?);
    }
    let mut created = Vec::new();
    for builtin in builtins {
        run(
            &mut session,
            &builtin.sql,
            "creating the new rule pack's views",
        )
        .await?;
        created.push(builtin.name);
    }
    tracing::info!(%collection, rules = compiled.rules.len(), "crdc rule pack installed");
    Ok(SwappedPack {
        collection,
        dropped,
        created,
    })
}

/// The collection of a pack that can stand in for the built-in CRDC pack.
fn check_crdc_pack(pack: &RulePack) -> Result<String, CrdcError> {
    let problem = |problem: String| Err(CrdcError::NotCrdcPack { problem });
    if pack.domain != "crdc" {
        return problem(format!("its domain is {}, not crdc", pack.domain));
    }
    if pack.results_view != "crdc_rule_results" || pack.rules_view != "crdc_rules" {
        return problem(format!(
            "its views are {} and {}, not crdc_rule_results and crdc_rules",
            pack.results_view, pack.rules_view
        ));
    }
    match &pack.collection {
        Some(collection) => Ok(collection.clone()),
        None => problem("it names no collection".into()),
    }
}

/// The SELECT of a compiled `CREATE MATERIALIZED VIEW … AS` (its comments and first
/// line removed).
fn defining_query(sql: &str) -> Option<&str> {
    let start = sql.find("CREATE MATERIALIZED VIEW IF NOT EXISTS ")?;
    let rest = &sql[start..];
    let line_end = rest.find('\n')?;
    Some(rest[line_end + 1..].trim())
}

/// The rule views of the installed pack, from its rules view (none if it is gone).
async fn installed_rule_views(session: &mut Session) -> Result<Vec<String>, CrdcError> {
    match session
        .execute_batch("SELECT view_name FROM crdc_rules ORDER BY view_name")
        .await
        .pop()
    {
        Some(Ok(ExecuteResponse::Rows { rows, .. })) => Ok(rows
            .iter()
            .filter_map(|row| match row.first() {
                Some(Datum::Text(name)) => Some(name.clone()),
                _ => None,
            })
            .collect()),
        // 42P01: no pack installed.
        Some(Err(e)) if e.code() == "42P01" => Ok(Vec::new()),
        Some(Err(source)) => Err(CrdcError::Sql {
            what: "listing the installed rules",
            source,
        }),
        Some(Ok(_)) | None => Err(CrdcError::Unexpected {
            what: "listing the installed rules",
        }),
    }
}

async fn run(session: &mut Session, sql: &str, what: &'static str) -> Result<(), CrdcError> {
    match session.execute_batch(sql).await.pop() {
        Some(Ok(_)) | None => Ok(()),
        Some(Err(source)) => Err(CrdcError::Sql { what, source }),
    }
}

/// The one value a query returns.
async fn single(session: &mut Session, sql: &str, what: &'static str) -> Result<Datum, CrdcError> {
    match session.execute_batch(sql).await.pop() {
        Some(Ok(ExecuteResponse::Rows { mut rows, .. })) if rows.len() == 1 => {
            let mut row = rows.remove(0);
            if row.len() == 1 {
                Ok(row.remove(0))
            } else {
                Err(CrdcError::Unexpected { what })
            }
        }
        Some(Err(source)) => Err(CrdcError::Sql { what, source }),
        Some(Ok(_)) | None => Err(CrdcError::Unexpected { what }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_pack_is_a_crdc_pack_whose_rules_have_a_defining_query() {
        let pack = RulePack::from_yaml(crate::CRDC_RULES).expect("yaml");
        assert_eq!(check_crdc_pack(&pack).unwrap(), "2025-26");
        let columns = crdc_source_columns().expect("columns");
        let compiled = rules::compile(&pack, &columns, "test").expect("compiles");
        assert_eq!(compiled.rules.len(), 20);
        for rule in &compiled.rules {
            let query = defining_query(&rule.sql).expect("a query");
            assert!(query.starts_with("SELECT "), "{}: {query}", rule.name);
        }
        let mut other = pack.clone();
        other.domain = "engineering".into();
        assert!(
            check_crdc_pack(&other)
                .unwrap_err()
                .to_string()
                .contains("its domain is engineering")
        );
        other = pack;
        other.collection = None;
        assert!(
            check_crdc_pack(&other)
                .unwrap_err()
                .to_string()
                .contains("names no collection")
        );
    }
}
