//! The built-in objects of each domain and the installer that creates them.
//!
//! Every built-in is one `CREATE … IF NOT EXISTS` statement, run through an
//! ordinary [`vigil_sql::Session`] in dependency order (sources, rule views, the
//! results view, then the metric views that read them), so installing twice changes
//! nothing and `SHOW CREATE VIEW` shows exactly the text in `sql/` (comments
//! included) or the SQL compiled from the rule pack.

use std::collections::{BTreeMap, BTreeSet};

use vigil_engine::repr::Datum;
use vigil_sql::parse::{leading_words, normalize_ident, split_statements};
use vigil_sql::{Coordinator, ExecuteResponse, SqlError};

use crate::rules::{self, RuleError, RulePack};

/// The engineering domain's canonical sources: the contract with the connectors.
pub const ENGINEERING_SOURCES: &str = include_str!("../sql/engineering/sources.sql");

/// The engineering rule pack.
pub const ENGINEERING_RULES: &str = include_str!("../rules/engineering.yaml");

/// The engineering metric views, in creation order (a view after those it reads).
const ENGINEERING_VIEW_FILES: [&str; 8] = [
    include_str!("../sql/engineering/board_compliance.sql"),
    include_str!("../sql/engineering/blocked_items.sql"),
    include_str!("../sql/engineering/blocked_sla_breaches.sql"),
    include_str!("../sql/engineering/sprint_velocity.sql"),
    include_str!("../sql/engineering/defect_density.sql"),
    include_str!("../sql/engineering/weekly_throughput.sql"),
    include_str!("../sql/engineering/person_cycle_time.sql"),
    include_str!("../sql/engineering/pr_flow.sql"),
];

/// The CRDC domain's canonical sources: the contract with the school connectors and
/// CSV imports.
pub const CRDC_SOURCES: &str = include_str!("../sql/crdc/sources.sql");

/// The CRDC rule pack of the 2025-26 collection, installed on a fresh data
/// directory; [`crate::crdc::install_pack`] swaps in another.
pub const CRDC_RULES: &str = include_str!("../rules/crdc-2025-26.yaml");

/// The CRDC statements that come before the rule views (the tables people write,
/// the populations the rules and counts read, the counts), in creation order.
const CRDC_BEFORE_RULES: [&str; 3] = [
    include_str!("../sql/crdc/exceptions.sql"),
    include_str!("../sql/crdc/population.sql"),
    include_str!("../sql/crdc/crdc_school_counts.sql"),
];

/// The CRDC statements that read the rule results, in creation order; a pack swap
/// re-runs them after dropping the old results view with its dependents.
pub(crate) const CRDC_AFTER_RULES: [&str; 2] = [
    include_str!("../sql/crdc/readiness.sql"),
    include_str!("../sql/crdc/readiness_trend.sql"),
];

/// The CRDC domain's built-in views (those of `shared/design/domain.md`, with
/// `crdc_open_results` and the district rollup `readiness_district`); the rule
/// views (`rule_enr_001`, …), `crdc_rules`, the helper views (`crdc_enrolled`, …)
/// and the tables `exceptions`, `exception_activity` and `readiness_snapshots`
/// come with them.
pub const CRDC_VIEWS: [&str; 6] = [
    "crdc_rule_results",
    "crdc_school_counts",
    "crdc_open_results",
    "readiness",
    "readiness_district",
    "readiness_trend",
];

/// The engineering domain's built-in views (those of `shared/design/domain.md`);
/// the rule views (`rule_wi_001`, …) and `validation_rules` come with them.
pub const ENGINEERING_VIEWS: [&str; 9] = [
    "validation_results",
    "board_compliance",
    "blocked_items",
    "blocked_sla_breaches",
    "sprint_velocity",
    "defect_density",
    "weekly_throughput",
    "person_cycle_time",
    "pr_flow",
];

/// What kind of relation a built-in creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    Source,
    /// A table people and tasks write (`exceptions`, …).
    Table,
    View,
    MaterializedView,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Source => "source",
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
        }
    }
}

/// One built-in relation and the statement that creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builtin {
    pub name: String,
    pub kind: ObjectKind,
    pub sql: String,
}

/// Why the built-ins could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("rule pack: {0}")]
    Rules(#[from] RuleError),
    #[error(
        "a built-in statement is not CREATE SOURCE | TABLE | [MATERIALIZED] VIEW IF NOT EXISTS: {start}"
    )]
    NotIdempotent { start: String },
    #[error("built-in source {name}: {source}")]
    BadSource { name: String, source: SqlError },
    #[error("cannot create built-in {} {name}: {source}", kind.as_str())]
    Create {
        name: String,
        kind: ObjectKind,
        source: SqlError,
    },
    #[error("cannot list the relations that exist: {0}")]
    Catalog(SqlError),
}

/// What [`install`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// Built-ins created now, in creation order.
    pub created: Vec<String>,
    /// Built-ins whose name was taken already (by an earlier install, or by the
    /// user), left as they were.
    pub present: Vec<String>,
}

/// Every built-in of the engineering domain, in creation order.
pub fn engineering() -> Result<Vec<Builtin>, InstallError> {
    let mut builtins = statements(ENGINEERING_SOURCES)?;
    let columns = source_columns(&builtins)?;
    let pack = RulePack::from_yaml(ENGINEERING_RULES)?;
    let compiled = rules::compile(&pack, &columns, "views/rules/engineering.yaml")?;
    builtins.extend(compiled_builtins(&compiled));
    for file in ENGINEERING_VIEW_FILES {
        builtins.extend(statements(file)?);
    }
    Ok(builtins)
}

/// Every built-in of the CRDC domain, in creation order, with the 2025-26 rule pack.
pub fn crdc() -> Result<Vec<Builtin>, InstallError> {
    let mut builtins = statements(CRDC_SOURCES)?;
    let pack = RulePack::from_yaml(CRDC_RULES)?;
    let compiled = rules::compile(
        &pack,
        &source_columns(&builtins)?,
        "views/rules/crdc-2025-26.yaml",
    )?;
    for file in CRDC_BEFORE_RULES {
        builtins.extend(statements(file)?);
    }
    builtins.extend(compiled_builtins(&compiled));
    for file in CRDC_AFTER_RULES {
        builtins.extend(statements(file)?);
    }
    Ok(builtins)
}

/// Every built-in of every domain, in creation order: what [`install`] creates.
pub fn builtins() -> Result<Vec<Builtin>, InstallError> {
    let mut builtins = engineering()?;
    builtins.extend(crdc()?);
    Ok(builtins)
}

/// The CRDC sources' columns, which rule templates are checked against.
pub(crate) fn crdc_source_columns() -> Result<BTreeMap<String, BTreeSet<String>>, InstallError> {
    source_columns(&statements(CRDC_SOURCES)?)
}

/// A compiled rule pack's views as built-ins.
pub(crate) fn compiled_builtins(compiled: &rules::CompiledPack) -> Vec<Builtin> {
    compiled
        .views()
        .map(|view| Builtin {
            name: view.name.clone(),
            kind: if view.materialized {
                ObjectKind::MaterializedView
            } else {
                ObjectKind::View
            },
            sql: view.sql.clone(),
        })
        .collect()
}

/// Creates every built-in that does not exist yet, in order. Idempotent: a restart
/// finds them all present.
pub async fn install(coordinator: &Coordinator) -> Result<Installed, InstallError> {
    let builtins = builtins()?;
    let mut session = coordinator.session();
    let existing = existing_relations(&mut session).await?;
    let mut installed = Installed::default();
    for builtin in builtins {
        let present = existing.contains(&builtin.name);
        let result = session.execute_batch(&builtin.sql).await.pop();
        match result {
            Some(Ok(_)) | None => {}
            Some(Err(source)) => {
                return Err(InstallError::Create {
                    name: builtin.name,
                    kind: builtin.kind,
                    source,
                });
            }
        }
        tracing::debug!(name = %builtin.name, kind = builtin.kind.as_str(), present, "built-in");
        if present {
            installed.present.push(builtin.name);
        } else {
            installed.created.push(builtin.name);
        }
    }
    Ok(installed)
}

/// The names of the relations in the catalog.
async fn existing_relations(
    session: &mut vigil_sql::Session,
) -> Result<BTreeSet<String>, InstallError> {
    let query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'";
    let rows = match session.execute_batch(query).await.pop() {
        Some(Ok(ExecuteResponse::Rows { rows, .. })) => rows,
        Some(Ok(_)) | None => Vec::new(),
        Some(Err(e)) => return Err(InstallError::Catalog(e)),
    };
    Ok(rows
        .iter()
        .filter_map(|row| row.first())
        .filter_map(|datum| match datum {
            Datum::Text(name) => Some(name.clone()),
            _ => None,
        })
        .collect())
}

/// The statements of a `.sql` file, each with the comment above it.
pub(crate) fn statements(file: &str) -> Result<Vec<Builtin>, InstallError> {
    split_statements(file)
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|sql| {
            let (kind, name) = declared(&sql)?;
            Ok(Builtin { name, kind, sql })
        })
        .collect()
}

/// What a built-in statement creates; only `IF NOT EXISTS` creations are built-ins,
/// so that installing is idempotent.
fn declared(sql: &str) -> Result<(ObjectKind, String), InstallError> {
    let words = leading_words(sql, 7);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (kind, name) = match words.as_slice() {
        ["CREATE", "SOURCE", "IF", "NOT", "EXISTS", name, ..] => (ObjectKind::Source, *name),
        ["CREATE", "TABLE", "IF", "NOT", "EXISTS", name, ..] => (ObjectKind::Table, *name),
        ["CREATE", "VIEW", "IF", "NOT", "EXISTS", name, ..] => (ObjectKind::View, *name),
        [
            "CREATE",
            "MATERIALIZED",
            "VIEW",
            "IF",
            "NOT",
            "EXISTS",
            name,
        ] => (ObjectKind::MaterializedView, *name),
        _ => {
            let start: String = sql
                .lines()
                .find(|l| !l.trim_start().starts_with("--"))
                .unwrap_or_default()
                .chars()
                .take(80)
                .collect();
            return Err(InstallError::NotIdempotent { start });
        }
    };
    // leading_words upper-cases; built-in names are unquoted, so lower case.
    Ok((kind, name.to_lowercase()))
}

/// Each source's column names, for checking rule templates.
fn source_columns(
    builtins: &[Builtin],
) -> Result<BTreeMap<String, BTreeSet<String>>, InstallError> {
    let mut columns = BTreeMap::new();
    for builtin in builtins {
        let source = vigil_sql::source::parse_create_source(&builtin.sql).map_err(|source| {
            InstallError::BadSource {
                name: builtin.name.clone(),
                source,
            }
        })?;
        let names = source
            .table
            .columns
            .iter()
            .map(|c| normalize_ident(&c.name.to_string()))
            .collect();
        columns.insert(builtin.name.clone(), names);
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engineering_builtins_are_idempotent_creations_in_dependency_order() {
        let builtins = engineering().expect("the built-ins compile");
        let names: Vec<&str> = builtins.iter().map(|b| b.name.as_str()).collect();
        let position = |name: &str| {
            names
                .iter()
                .position(|n| *n == name)
                .unwrap_or_else(|| panic!("{name} is not a built-in: {names:?}"))
        };
        for view in ENGINEERING_VIEWS {
            assert_eq!(
                builtins[position(view)].kind,
                ObjectKind::MaterializedView,
                "{view}"
            );
        }
        assert_eq!(position("boards"), 0);
        assert!(position("mappings") < position("rule_wi_001"));
        assert!(position("rule_pr_003") < position("validation_results"));
        assert!(position("validation_results") < position("board_compliance"));
        assert!(position("sprint_velocity") < position("defect_density"));
        assert_eq!(
            builtins[position("validation_rules")].kind,
            ObjectKind::View
        );
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        // 10 sources, 13 rules, the results and rules views, 8 metric views.
        assert_eq!(names.len(), 10 + 13 + 2 + 8, "{names:?}");
    }

    #[test]
    fn the_crdc_builtins_come_after_what_they_read() {
        let builtins = crdc().expect("the built-ins compile");
        let names: Vec<&str> = builtins.iter().map(|b| b.name.as_str()).collect();
        let position = |name: &str| {
            names
                .iter()
                .position(|n| *n == name)
                .unwrap_or_else(|| panic!("{name} is not a built-in: {names:?}"))
        };
        for view in CRDC_VIEWS {
            assert_eq!(
                builtins[position(view)].kind,
                ObjectKind::MaterializedView,
                "{view}"
            );
        }
        for table in ["exceptions", "exception_activity", "readiness_snapshots"] {
            assert_eq!(builtins[position(table)].kind, ObjectKind::Table, "{table}");
        }
        assert_eq!(position("districts"), 0);
        assert!(position("ingest_batches") < position("exceptions"));
        assert!(position("crdc_school_counts") < position("rule_enr_001"));
        assert!(position("rule_hib_001") < position("crdc_rule_results"));
        assert!(position("crdc_rule_results") < position("crdc_open_results"));
        assert!(position("exceptions") < position("crdc_open_results"));
        assert!(position("readiness") < position("readiness_district"));
        assert!(position("readiness_snapshots") < position("readiness_trend"));
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        // No name is both an engineering and a CRDC built-in.
        let engineering = engineering().expect("engineering");
        assert!(
            engineering
                .iter()
                .all(|b| !unique.contains(b.name.as_str()))
        );
        // 10 sources, 2 tables, 7 population and count views, 20 rules, the results
        // and rules views, 4 views over the results, 1 table and the trend.
        assert_eq!(names.len(), 10 + 2 + 7 + 20 + 2 + 4 + 2, "{names:?}");
    }

    #[test]
    fn a_builtin_must_say_if_not_exists() {
        assert!(matches!(
            statements("-- a view\nCREATE MATERIALIZED VIEW v AS SELECT 1"),
            Err(InstallError::NotIdempotent { start }) if start == "CREATE MATERIALIZED VIEW v AS SELECT 1"
        ));
        assert_eq!(
            statements("-- a view\nCREATE VIEW IF NOT EXISTS Big AS SELECT 1;").unwrap(),
            [Builtin {
                name: "big".into(),
                kind: ObjectKind::View,
                sql: "-- a view\nCREATE VIEW IF NOT EXISTS Big AS SELECT 1".into(),
            }]
        );
    }
}
