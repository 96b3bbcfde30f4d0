//! Rule packs: YAML files of data-quality rules, compiled to SQL views.
//!
//! ```text
//!  rules/engineering.yaml ─▶ RulePack (serde) ─▶ compile ─┬─ rule_wi_001 … (one materialized view per rule)
//!                                                         ├─ validation_results (UNION ALL of the rule views)
//!                                                         └─ validation_rules (the pack's metadata, a plain view)
//! ```
//!
//! A rule names the entity it checks (`applies_to`), a SQL predicate over one row of
//! that entity's relation (`where`, under the entity's alias, with EXISTS / NOT EXISTS
//! subqueries for other relations and `now()` comparisons as temporal filters), and
//! templates for its message and remediation in which `{{column}}` is the entity's
//! column. Compiling writes, per rule, the `SELECT` that lists the failing entities
//! with the columns of `validation_results`; the message becomes a `concat(…)` of the
//! template's text and columns, so it changes when the entity does.
//!
//! A pack with a `collection` (the CRDC packs, one per collection year) has the
//! collection layout instead: results carry `district_id` as tenant, `collection`,
//! `level` (record, school, district), `school_id`, a stable `result_key`
//! (`RULE:entity_type:entity_id`, what `exceptions` rows refer to) and `clearable`;
//! and a rule may give a whole `query` instead of `where`, which school- and
//! district-level rules need (they check counts, not one row). A query's columns
//! are `district_id`, `entity_id`, `school_id` and, at record level, the lineage;
//! its templates name its own columns, checked when the view is planned.
//! `{{collection}}` in a rule's SQL is the pack's year as a literal.
//!
//! Each rule is its own materialized view so that it can be read, explained and
//! subscribed to alone, and so that `now()` in a rule always means the clock's
//! reading (a plain view's `now()` is fixed when the view is planned).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Deserialize;

/// Why a rule pack cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read rule pack: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("rule pack {domain} has no rules")]
    Empty { domain: String },
    #[error("rule id \"{id}\" is not of the form PREFIX-NUMBER (e.g. WI-001)")]
    BadId { id: String },
    #[error("rule {id} is defined more than once")]
    DuplicateId { id: String },
    #[error("view name \"{name}\" of rule pack {domain} is not a lower-case SQL identifier")]
    BadViewName { domain: String, name: String },
    #[error(
        "rule {id}: level {level} needs a pack with a collection; this one compiles record-level rules only"
    )]
    UnsupportedLevel { id: String, level: &'static str },
    #[error("rule {id}: {field} template {problem}")]
    Template {
        id: String,
        field: &'static str,
        problem: String,
    },
    #[error("rule {id}: {{{{{column}}}}} in its {field} is not a column of {relation}")]
    UnknownColumn {
        id: String,
        field: &'static str,
        column: String,
        relation: &'static str,
    },
    #[error("rule {id} applies to {relation}, which is not among the sources")]
    UnknownRelation { id: String, relation: &'static str },
    #[error("rule {id}: its predicate must be one SQL expression (no ';')")]
    NotOneStatement { id: String },
    #[error("rule {id}: give exactly one of `where` (a predicate) and `query` (a SELECT)")]
    PredicateOrQuery { id: String },
    #[error(
        "rule {id}: a `query` rule needs a pack with a collection (its results carry the collection's columns)"
    )]
    QueryNeedsCollection { id: String },
    #[error("rule {id}: {entity} has no single id and school, so the rule needs a `query`")]
    NeedsQuery { id: String, entity: &'static str },
    #[error("rule {id}: a {level}-level rule needs a `query` over the counts")]
    LevelNeedsQuery { id: String, level: &'static str },
    #[error("rule {id}: its query must be one SELECT (no ';')")]
    NotOneQuery { id: String },
}

/// A rule pack as written in YAML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    /// The `domain` column of every result (`engineering`, `crdc`).
    pub domain: String,
    /// The materialized view holding every failing (rule, entity).
    pub results_view: String,
    /// The plain view listing the pack's rules.
    pub rules_view: String,
    /// The collection year a pack is for (`2025-26`): set, the results get the
    /// collection layout ([`compile`]) and `{{collection}}` in a rule's SQL is that
    /// year as a string literal.
    #[serde(default)]
    pub collection: Option<String>,
    pub rules: Vec<Rule>,
}

/// One rule of a pack.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `PREFIX-NUMBER`, e.g. `WI-001`.
    pub id: String,
    /// Bumped when the check changes meaning, so results can say which one they met.
    pub version: u32,
    pub title: String,
    pub severity: Severity,
    pub category: String,
    pub level: Level,
    pub applies_to: EntityType,
    /// A SQL predicate over the entity's relation, under its alias.
    #[serde(rename = "where", default)]
    pub predicate: Option<String>,
    /// Instead of `where`, a whole SELECT listing the failing entities (collection
    /// packs only): its columns are `district_id`, `entity_id`, `school_id`, the
    /// four lineage columns for a record-level rule, and whatever the templates name.
    #[serde(default)]
    pub query: Option<String>,
    /// What a result says; `{{column}}` is the entity's column.
    pub message: String,
    /// What to do about it; a template like `message`.
    pub remediation: String,
    pub source: RuleSource,
    /// Whether a reason code plus a comment may clear a result.
    pub clearable: bool,
}

impl RulePack {
    /// Reads a pack from YAML.
    pub fn from_yaml(yaml: &str) -> Result<RulePack, RuleError> {
        Ok(serde_norway::from_str(yaml)?)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// What a rule's results are about: one record, or a school's or district's counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Record,
    School,
    District,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Record => "record",
            Level::School => "school",
            Level::District => "district",
        }
    }
}

/// Where a rule comes from: an official specification, documented practice, or
/// Vigil's own derivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    Official,
    Documented,
    Derived,
}

impl RuleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSource::Official => "official",
            RuleSource::Documented => "documented",
            RuleSource::Derived => "derived",
        }
    }
}

/// The kinds of entity a rule can check, each a canonical relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    WorkItem,
    PullRequest,
    Student,
    Enrollment,
    ProgramEnrollment,
    DisciplineIncident,
    RestraintEvent,
    HarassmentAllegation,
    School,
    District,
    /// Several kinds of record (a collection pack's `query` rule that returns an
    /// `entity_type` column, such as GEN-001).
    Record,
}

impl EntityType {
    /// The `entity_type` column of results.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::WorkItem => "work_item",
            EntityType::PullRequest => "pull_request",
            EntityType::Student => "student",
            EntityType::Enrollment => "enrollment",
            EntityType::ProgramEnrollment => "program_enrollment",
            EntityType::DisciplineIncident => "discipline_incident",
            EntityType::RestraintEvent => "restraint_event",
            EntityType::HarassmentAllegation => "harassment_allegation",
            EntityType::School => "school",
            EntityType::District => "district",
            EntityType::Record => "record",
        }
    }

    /// The relation a rule's predicate reads.
    pub fn relation(self) -> &'static str {
        match self {
            EntityType::WorkItem => "work_items",
            EntityType::PullRequest => "pull_requests",
            EntityType::Student => "students",
            EntityType::Enrollment => "enrollments",
            EntityType::ProgramEnrollment => "program_enrollments",
            EntityType::DisciplineIncident => "discipline_incidents",
            EntityType::RestraintEvent => "restraint_seclusion_events",
            EntityType::HarassmentAllegation => "harassment_allegations",
            EntityType::School => "schools",
            EntityType::District => "districts",
            // No relation of its own: only `query` rules apply to it.
            EntityType::Record => "records",
        }
    }

    /// The alias the predicate uses for the relation.
    pub fn alias(self) -> &'static str {
        match self {
            EntityType::WorkItem => "w",
            EntityType::PullRequest => "p",
            EntityType::Student => "s",
            EntityType::Enrollment => "e",
            EntityType::ProgramEnrollment => "pe",
            EntityType::DisciplineIncident => "i",
            EntityType::RestraintEvent => "r",
            EntityType::HarassmentAllegation => "a",
            EntityType::School => "sc",
            EntityType::District => "d",
            EntityType::Record => "q",
        }
    }

    /// The column that is `entity_id`, and the column that is `scope` (where a
    /// person fixes it: board, repository or school), when the relation has both.
    /// Students (no school of their own), program enrollments (a composite key),
    /// schools and districts are checked by `query` rules instead.
    fn id_and_scope(self) -> Option<(&'static str, &'static str)> {
        match self {
            EntityType::WorkItem => Some(("item_id", "board_id")),
            EntityType::PullRequest => Some(("pr_id", "repo")),
            EntityType::Enrollment => Some(("enrollment_id", "school_id")),
            EntityType::DisciplineIncident => Some(("incident_id", "school_id")),
            EntityType::RestraintEvent => Some(("event_id", "school_id")),
            EntityType::HarassmentAllegation => Some(("allegation_id", "school_id")),
            EntityType::Student
            | EntityType::ProgramEnrollment
            | EntityType::School
            | EntityType::District
            | EntityType::Record => None,
        }
    }
}

/// Every canonical row's lineage, carried into its results.
const LINEAGE: [&str; 4] = [
    "source_system",
    "source_record_id",
    "ingest_batch_id",
    "payload_sha256",
];

/// A compiled view: its name and the statement that creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledView {
    pub name: String,
    /// True for a materialized view, false for a plain one.
    pub materialized: bool,
    pub sql: String,
}

/// A pack compiled to SQL, in the order to create it: the rule views, then the
/// results view over them, then the rules view.
#[derive(Clone, Debug)]
pub struct CompiledPack {
    pub rules: Vec<CompiledView>,
    pub results: CompiledView,
    pub catalog: CompiledView,
}

impl CompiledPack {
    /// Every view, in creation order.
    pub fn views(&self) -> impl Iterator<Item = &CompiledView> {
        self.rules.iter().chain([&self.results, &self.catalog])
    }
}

/// The view that holds rule `id`'s results: `WI-001` → `rule_wi_001`.
pub fn rule_view_name(id: &str) -> String {
    format!("rule_{}", id.to_lowercase().replace('-', "_"))
}

/// Compiles `pack`; `columns` are the columns of each relation the rules read (the
/// canonical sources), which templates are checked against. `origin` names the
/// pack's file in the generated comments.
pub fn compile(
    pack: &RulePack,
    columns: &BTreeMap<String, BTreeSet<String>>,
    origin: &str,
) -> Result<CompiledPack, RuleError> {
    if pack.rules.is_empty() {
        return Err(RuleError::Empty {
            domain: pack.domain.clone(),
        });
    }
    for name in [&pack.results_view, &pack.rules_view] {
        if !is_identifier(name) {
            return Err(RuleError::BadViewName {
                domain: pack.domain.clone(),
                name: name.clone(),
            });
        }
    }
    let mut seen = BTreeSet::new();
    let mut rules = Vec::new();
    for rule in &pack.rules {
        check_id(&rule.id)?;
        if !seen.insert(rule.id.as_str()) {
            return Err(RuleError::DuplicateId {
                id: rule.id.clone(),
            });
        }
        rules.push(match &pack.collection {
            None => compile_rule(&pack.domain, rule, columns, origin)?,
            Some(year) => compile_collection_rule(&pack.domain, year, rule, columns, origin)?,
        });
    }
    let results = results_view(pack, &rules, origin);
    let catalog = rules_view(pack, origin);
    Ok(CompiledPack {
        rules,
        results,
        catalog,
    })
}

fn check_id(id: &str) -> Result<(), RuleError> {
    let valid = id.split_once('-').is_some_and(|(prefix, number)| {
        prefix.starts_with(|c: char| c.is_ascii_uppercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
    });
    if valid {
        Ok(())
    } else {
        Err(RuleError::BadId { id: id.to_string() })
    }
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn compile_rule(
    domain: &str,
    rule: &Rule,
    columns: &BTreeMap<String, BTreeSet<String>>,
    origin: &str,
) -> Result<CompiledView, RuleError> {
    match rule.level {
        Level::Record => {}
        Level::School | Level::District => {
            return Err(RuleError::UnsupportedLevel {
                id: rule.id.clone(),
                level: rule.level.as_str(),
            });
        }
    }
    let predicate = match (&rule.predicate, &rule.query) {
        (Some(predicate), None) => predicate.trim(),
        (None, Some(_)) => {
            return Err(RuleError::QueryNeedsCollection {
                id: rule.id.clone(),
            });
        }
        (Some(_), Some(_)) | (None, None) => {
            return Err(RuleError::PredicateOrQuery {
                id: rule.id.clone(),
            });
        }
    };
    let entity = rule.applies_to;
    let relation = entity.relation();
    let known = columns
        .get(relation)
        .ok_or_else(|| RuleError::UnknownRelation {
            id: rule.id.clone(),
            relation,
        })?;
    let (id_column, scope_column) = entity.id_and_scope().ok_or(RuleError::NeedsQuery {
        id: rule.id.clone(),
        entity: entity.as_str(),
    })?;
    let message = template_sql(rule, "message", &rule.message, known)?;
    let remediation = template_sql(rule, "remediation", &rule.remediation, known)?;
    if vigil_sql::parse::split_statements(predicate).len() != 1 {
        return Err(RuleError::NotOneStatement {
            id: rule.id.clone(),
        });
    }

    let name = rule_view_name(&rule.id);
    let a = entity.alias();
    let mut sql = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        sql,
        "-- {} ({}, {}): {}",
        rule.id,
        rule.severity.as_str(),
        rule.category,
        one_line(&rule.title)
    );
    let _ = writeln!(
        sql,
        "-- Rule version {}, source {}, {}; compiled from {origin}.",
        rule.version,
        rule.source.as_str(),
        if rule.clearable {
            "clearable with a reason code"
        } else {
            "not clearable"
        }
    );
    let _ = writeln!(sql, "CREATE MATERIALIZED VIEW IF NOT EXISTS {name} AS");
    let _ = writeln!(sql, "SELECT {a}.tenant_id,");
    let _ = writeln!(sql, "       {} AS domain,", literal(domain));
    let _ = writeln!(sql, "       {} AS rule_id,", literal(&rule.id));
    let _ = writeln!(sql, "       {} AS rule_version,", rule.version);
    let _ = writeln!(
        sql,
        "       {} AS severity,",
        literal(rule.severity.as_str())
    );
    let _ = writeln!(sql, "       {} AS category,", literal(&rule.category));
    let _ = writeln!(sql, "       {} AS entity_type,", literal(entity.as_str()));
    let _ = writeln!(sql, "       {a}.{id_column} AS entity_id,");
    let _ = writeln!(sql, "       {a}.{scope_column} AS scope,");
    let _ = writeln!(sql, "       {message} AS message,");
    let _ = writeln!(sql, "       {remediation} AS remediation,");
    let lineage: Vec<String> = LINEAGE.iter().map(|c| format!("{a}.{c}")).collect();
    let _ = writeln!(sql, "       {}", lineage.join(", "));
    let _ = writeln!(sql, "FROM {relation} AS {a}");
    let _ = writeln!(sql, "WHERE {}", indent_continuation(predicate));
    Ok(CompiledView {
        name,
        materialized: true,
        sql: sql.trim_end().to_string(),
    })
}

/// A rule of a collection pack. The results carry the district as tenant, the
/// collection, the level, the school and a `result_key` (`RULE:entity_type:entity_id`)
/// that `exceptions` rows refer to; school- and district-level results have no
/// lineage (they are about counts, not one record).
fn compile_collection_rule(
    domain: &str,
    year: &str,
    rule: &Rule,
    columns: &BTreeMap<String, BTreeSet<String>>,
    origin: &str,
) -> Result<CompiledView, RuleError> {
    let entity = rule.applies_to;
    let collection = literal(year);
    let with_year = |sql: &str| sql.trim().replace("{{collection}}", &collection);
    // (alias, FROM clause, entity id column, school column, checked columns)
    let (alias, from, id_column, school, known) = match (&rule.predicate, &rule.query) {
        (Some(predicate), None) => {
            if rule.level != Level::Record {
                return Err(RuleError::LevelNeedsQuery {
                    id: rule.id.clone(),
                    level: rule.level.as_str(),
                });
            }
            let (id_column, scope_column) = entity.id_and_scope().ok_or(RuleError::NeedsQuery {
                id: rule.id.clone(),
                entity: entity.as_str(),
            })?;
            let relation = entity.relation();
            let known = columns
                .get(relation)
                .ok_or_else(|| RuleError::UnknownRelation {
                    id: rule.id.clone(),
                    relation,
                })?;
            let predicate = with_year(predicate);
            if vigil_sql::parse::split_statements(&predicate).len() != 1 {
                return Err(RuleError::NotOneStatement {
                    id: rule.id.clone(),
                });
            }
            let a = entity.alias();
            let from = format!(
                "FROM {relation} AS {a}\nWHERE {}",
                indent_continuation(&predicate)
            );
            (a, from, id_column, scope_column, Some(known))
        }
        (None, Some(query)) => {
            let query = with_year(query);
            if vigil_sql::parse::split_statements(&query).len() != 1 {
                return Err(RuleError::NotOneQuery {
                    id: rule.id.clone(),
                });
            }
            let from = format!("FROM (\n  {}\n) AS q", indent_continuation(&query));
            // The query's own columns are checked when the view is planned.
            ("q", from, "entity_id", "school_id", None)
        }
        (Some(_), Some(_)) | (None, None) => {
            return Err(RuleError::PredicateOrQuery {
                id: rule.id.clone(),
            });
        }
    };
    let message = template_over(rule, "message", &rule.message, alias, known)?;
    let remediation = template_over(rule, "remediation", &rule.remediation, alias, known)?;
    let a = alias;
    let name = rule_view_name(&rule.id);
    let mut sql = String::new();
    let _ = writeln!(
        sql,
        "-- {} ({}, {}, {}-level): {}",
        rule.id,
        rule.severity.as_str(),
        rule.category,
        rule.level.as_str(),
        one_line(&rule.title)
    );
    let _ = writeln!(
        sql,
        "-- Collection {year}, rule version {}, source {}, {}; compiled from {origin}.",
        rule.version,
        rule.source.as_str(),
        if rule.clearable {
            "clearable with a reason code"
        } else {
            "not clearable"
        }
    );
    let _ = writeln!(sql, "CREATE MATERIALIZED VIEW IF NOT EXISTS {name} AS");
    let _ = writeln!(sql, "SELECT {a}.district_id,");
    let _ = writeln!(sql, "       {} AS domain,", literal(domain));
    let _ = writeln!(sql, "       {collection} AS collection,");
    let _ = writeln!(sql, "       {} AS rule_id,", literal(&rule.id));
    let _ = writeln!(sql, "       {} AS rule_version,", rule.version);
    let _ = writeln!(
        sql,
        "       {} AS severity,",
        literal(rule.severity.as_str())
    );
    let _ = writeln!(sql, "       {} AS category,", literal(&rule.category));
    let _ = writeln!(sql, "       {} AS level,", literal(rule.level.as_str()));
    // A rule over several kinds of record names each result's kind itself.
    let entity_type = match entity {
        EntityType::Record => format!("{a}.entity_type"),
        _ => literal(entity.as_str()),
    };
    let _ = writeln!(sql, "       {entity_type} AS entity_type,");
    let _ = writeln!(sql, "       {a}.{id_column} AS entity_id,");
    match rule.level {
        Level::District => {
            let _ = writeln!(sql, "       CAST(NULL AS text) AS school_id,");
        }
        Level::Record | Level::School => {
            let _ = writeln!(sql, "       {a}.{school} AS school_id,");
        }
    }
    let key = match entity {
        EntityType::Record => format!(
            "concat({}, {a}.entity_type, ':', {a}.{id_column})",
            literal(&format!("{}:", rule.id))
        ),
        _ => format!(
            "concat({}, {a}.{id_column})",
            literal(&format!("{}:{}:", rule.id, entity.as_str()))
        ),
    };
    let _ = writeln!(sql, "       {key} AS result_key,");
    let _ = writeln!(sql, "       {message} AS message,");
    let _ = writeln!(sql, "       {remediation} AS remediation,");
    let _ = writeln!(sql, "       {} AS clearable,", rule.clearable);
    let lineage: Vec<String> = match rule.level {
        Level::Record => LINEAGE.iter().map(|c| format!("{a}.{c}")).collect(),
        Level::School | Level::District => LINEAGE
            .iter()
            .map(|c| format!("CAST(NULL AS text) AS {c}"))
            .collect(),
    };
    let _ = writeln!(sql, "       {}", lineage.join(", "));
    sql.push_str(&from);
    Ok(CompiledView {
        name,
        materialized: true,
        sql: sql.trim_end().to_string(),
    })
}

fn results_view(pack: &RulePack, rules: &[CompiledView], origin: &str) -> CompiledView {
    let mut sql = String::new();
    let _ = writeln!(
        sql,
        "-- {}: one row per failing (rule, entity) of the {} rule pack ({origin}),",
        pack.results_view, pack.domain
    );
    let _ = writeln!(
        sql,
        "-- the union of its rule views. A row leaves when the data is fixed."
    );
    let _ = writeln!(
        sql,
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {} AS",
        pack.results_view
    );
    let selects: Vec<String> = rules
        .iter()
        .map(|r| format!("SELECT * FROM {}", r.name))
        .collect();
    sql.push_str(&selects.join("\nUNION ALL\n"));
    CompiledView {
        name: pack.results_view.clone(),
        materialized: true,
        sql,
    }
}

fn rules_view(pack: &RulePack, origin: &str) -> CompiledView {
    let mut sql = String::new();
    let _ = writeln!(
        sql,
        "-- {}: the rules of the {} rule pack ({origin}) and the view holding each one's results.",
        pack.rules_view, pack.domain
    );
    let collection_column = if pack.collection.is_some() {
        ", collection"
    } else {
        ""
    };
    let _ = writeln!(
        sql,
        "CREATE VIEW IF NOT EXISTS {} (domain, rule_id, rule_version, title, severity, category, \
         level, applies_to, source, clearable, view_name{collection_column}) AS VALUES",
        pack.rules_view
    );
    let rows: Vec<String> = pack
        .rules
        .iter()
        .map(|r| {
            let collection = match &pack.collection {
                Some(year) => format!(", {}", literal(year)),
                None => String::new(),
            };
            format!(
                "    ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}{collection})",
                literal(&pack.domain),
                literal(&r.id),
                r.version,
                literal(&one_line(&r.title)),
                literal(r.severity.as_str()),
                literal(&r.category),
                literal(r.level.as_str()),
                literal(r.applies_to.as_str()),
                literal(r.source.as_str()),
                r.clearable,
                literal(&rule_view_name(&r.id)),
            )
        })
        .collect();
    sql.push_str(&rows.join(",\n"));
    CompiledView {
        name: pack.rules_view.clone(),
        materialized: false,
        sql,
    }
}

/// A piece of a message template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Column(&'a str),
}

/// Splits `template` at its `{{column}}` placeholders.
fn parse_template(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| {
            format!(
                "has an unclosed {{{{ at byte {}",
                template.len() - rest.len() + open
            )
        })?;
        let column = after[..close].trim();
        if !is_identifier(column) {
            return Err(format!("names \"{column}\", which is not a column name"));
        }
        pieces.push(Piece::Column(column));
        rest = &after[close + 2..];
    }
    if rest.contains("}}") {
        return Err("has a }} with no {{".into());
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// A template as a SQL expression over the rule's entity: a string literal, or a
/// `concat(…)` of literals and columns (`concat` reads NULL as empty text).
fn template_sql(
    rule: &Rule,
    field: &'static str,
    template: &str,
    known: &BTreeSet<String>,
) -> Result<String, RuleError> {
    template_over(rule, field, template, rule.applies_to.alias(), Some(known))
}

/// A template over the columns of `alias`; `known`, when given, are the columns it
/// may name (a `query` rule's columns are only known once the view is planned).
fn template_over(
    rule: &Rule,
    field: &'static str,
    template: &str,
    alias: &str,
    known: Option<&BTreeSet<String>>,
) -> Result<String, RuleError> {
    let template = one_line(template);
    let pieces = parse_template(&template).map_err(|problem| RuleError::Template {
        id: rule.id.clone(),
        field,
        problem,
    })?;
    let mut parts = Vec::new();
    for piece in &pieces {
        match piece {
            Piece::Text(text) => parts.push(literal(text)),
            Piece::Column(column) => {
                if known.is_some_and(|known| !known.contains(*column)) {
                    return Err(RuleError::UnknownColumn {
                        id: rule.id.clone(),
                        field,
                        column: column.to_string(),
                        relation: rule.applies_to.relation(),
                    });
                }
                parts.push(format!("{alias}.{column}"));
            }
        }
    }
    Ok(match parts.as_slice() {
        [] => literal(""),
        [only] if matches!(pieces[0], Piece::Text(_)) => only.clone(),
        _ => format!("concat({})", parts.join(", ")),
    })
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `text` with its line breaks (YAML folded or literal blocks) as single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A multi-line predicate laid out under `WHERE `.
fn indent_continuation(predicate: &str) -> String {
    predicate
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> BTreeMap<String, BTreeSet<String>> {
        let work_items = [
            "tenant_id",
            "item_id",
            "board_id",
            "item_key",
            "title",
            "story_points",
            "source_system",
            "source_record_id",
            "ingest_batch_id",
            "payload_sha256",
        ];
        BTreeMap::from([(
            "work_items".to_string(),
            work_items.iter().map(|c| c.to_string()).collect(),
        )])
    }

    fn pack(rules: &str) -> RulePack {
        RulePack::from_yaml(&format!(
            "domain: engineering\nresults_view: validation_results\nrules_view: validation_rules\nrules:\n{rules}"
        ))
        .expect("valid yaml")
    }

    const RULE: &str = "
  - id: WI-001
    version: 2
    title: Story without points
    severity: error
    category: estimation
    level: record
    applies_to: work_item
    where: |
      w.story_points IS NULL
      AND w.title <> 'it''s fine'
    message: \"{{item_key}} ({{ title }}) has no points\"
    remediation: Estimate it.
    source: derived
    clearable: true
";

    #[test]
    fn compiles_a_rule_to_a_view_with_the_results_columns() {
        let compiled = compile(&pack(RULE), &columns(), "rules/test.yaml").expect("compiles");
        let rule = &compiled.rules[0];
        assert_eq!(rule.name, "rule_wi_001");
        assert!(rule.materialized);
        assert_eq!(
            rule.sql,
            "-- WI-001 (error, estimation): Story without points
-- Rule version 2, source derived, clearable with a reason code; compiled from rules/test.yaml.
CREATE MATERIALIZED VIEW IF NOT EXISTS rule_wi_001 AS
SELECT w.tenant_id,
       'engineering' AS domain,
       'WI-001' AS rule_id,
       2 AS rule_version,
       'error' AS severity,
       'estimation' AS category,
       'work_item' AS entity_type,
       w.item_id AS entity_id,
       w.board_id AS scope,
       concat(w.item_key, ' (', w.title, ') has no points') AS message,
       'Estimate it.' AS remediation,
       w.source_system, w.source_record_id, w.ingest_batch_id, w.payload_sha256
FROM work_items AS w
WHERE w.story_points IS NULL
  AND w.title <> 'it''s fine'"
        );
        assert_eq!(
            compiled.results.sql,
            "-- validation_results: one row per failing (rule, entity) of the engineering rule pack (rules/test.yaml),
-- the union of its rule views. A row leaves when the data is fixed.
CREATE MATERIALIZED VIEW IF NOT EXISTS validation_results AS
SELECT * FROM rule_wi_001"
        );
        assert!(!compiled.catalog.materialized);
        assert!(compiled.catalog.sql.ends_with(
            "('engineering', 'WI-001', 2, 'Story without points', 'error', 'estimation', \
             'record', 'work_item', 'derived', true, 'rule_wi_001')"
        ));
        let names: Vec<&str> = compiled.views().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            ["rule_wi_001", "validation_results", "validation_rules"]
        );
    }

    #[test]
    fn templates_quote_text_and_check_columns() {
        let rule = pack(RULE).rules.remove(0);
        let columns = columns();
        let known = &columns["work_items"];
        assert_eq!(
            template_sql(&rule, "message", "it's {{title}}", known).unwrap(),
            "concat('it''s ', w.title)"
        );
        assert_eq!(
            template_sql(&rule, "message", "{{title}}", known).unwrap(),
            "concat(w.title)"
        );
        assert_eq!(template_sql(&rule, "message", "", known).unwrap(), "''");
        for (template, needle) in [
            (
                "{{nope}} is missing",
                "{{nope}} in its message is not a column of work_items",
            ),
            ("{{title", "unclosed {{ at byte 0"),
            ("a }} b", "}} with no {{"),
            ("{{title; DROP}}", "not a column name"),
        ] {
            let error = template_sql(&rule, "message", template, known)
                .expect_err(template)
                .to_string();
            assert!(error.contains(needle), "{template}: {error}");
        }
    }

    fn collection_pack(rules: &str) -> RulePack {
        RulePack::from_yaml(&format!(
            "domain: crdc\ncollection: 2025-26\nresults_view: crdc_rule_results\n\
             rules_view: crdc_rules\nrules:\n{rules}"
        ))
        .expect("valid yaml")
    }

    fn crdc_columns() -> BTreeMap<String, BTreeSet<String>> {
        let incidents = [
            "district_id",
            "incident_id",
            "school_id",
            "action",
            "source_system",
            "source_record_id",
            "ingest_batch_id",
            "payload_sha256",
        ];
        BTreeMap::from([(
            "discipline_incidents".to_string(),
            incidents.iter().map(|c| c.to_string()).collect(),
        )])
    }

    const SCHOOL_RULE: &str = "
  - id: ENR-001
    version: 3
    title: Cells add up
    severity: error
    category: ENRL
    level: school
    applies_to: school
    query: |
      SELECT district_id, school_id, school_id AS entity_id, n
      FROM counts
      WHERE collection = {{collection}}
    message: \"{{school_id}} is off by {{n}}\"
    remediation: Fix it.
    source: official
    clearable: false
";

    const RECORD_RULE: &str = "
  - id: DIS-107
    version: 1
    title: Long OSS
    severity: warning
    category: DISC
    level: record
    applies_to: discipline_incident
    where: i.action = 'OSS'
    message: \"{{incident_id}} is long\"
    remediation: Check it.
    source: documented
    clearable: true
";

    #[test]
    fn compiles_collection_rules_with_keys_levels_and_queries() {
        let pack = collection_pack(&format!("{SCHOOL_RULE}{RECORD_RULE}"));
        let compiled = compile(&pack, &crdc_columns(), "rules/crdc.yaml").expect("compiles");
        assert_eq!(
            compiled.rules[0].sql,
            "-- ENR-001 (error, ENRL, school-level): Cells add up
-- Collection 2025-26, rule version 3, source official, not clearable; compiled from rules/crdc.yaml.
CREATE MATERIALIZED VIEW IF NOT EXISTS rule_enr_001 AS
SELECT q.district_id,
       'crdc' AS domain,
       '2025-26' AS collection,
       'ENR-001' AS rule_id,
       3 AS rule_version,
       'error' AS severity,
       'ENRL' AS category,
       'school' AS level,
       'school' AS entity_type,
       q.entity_id AS entity_id,
       q.school_id AS school_id,
       concat('ENR-001:school:', q.entity_id) AS result_key,
       concat(q.school_id, ' is off by ', q.n) AS message,
       'Fix it.' AS remediation,
       false AS clearable,
       CAST(NULL AS text) AS source_system, CAST(NULL AS text) AS source_record_id, \
CAST(NULL AS text) AS ingest_batch_id, CAST(NULL AS text) AS payload_sha256
FROM (
  SELECT district_id, school_id, school_id AS entity_id, n
  FROM counts
  WHERE collection = '2025-26'
) AS q"
        );
        let record = &compiled.rules[1].sql;
        assert!(
            record.contains(
                "       i.incident_id AS entity_id,
       i.school_id AS school_id,
       concat('DIS-107:discipline_incident:', i.incident_id) AS result_key,"
            ),
            "{record}"
        );
        assert!(
            record.ends_with(
                "i.source_system, i.source_record_id, i.ingest_batch_id, i.payload_sha256
FROM discipline_incidents AS i
WHERE i.action = 'OSS'"
            ),
            "{record}"
        );
        assert!(compiled.catalog.sql.contains("'rule_dis_107', '2025-26')"));
        assert!(
            compiled
                .catalog
                .sql
                .contains("view_name, collection) AS VALUES")
        );
    }

    #[test]
    fn refuses_bad_collection_rules() {
        let cases = [
            (
                SCHOOL_RULE.replace("    query: |", "    where: 'true'\n    query: |"),
                "exactly one of `where`",
            ),
            (
                RECORD_RULE.replace("level: record", "level: school"),
                "a school-level rule needs a `query`",
            ),
            (
                RECORD_RULE.replace("applies_to: discipline_incident", "applies_to: student"),
                "student has no single id and school",
            ),
            (
                RECORD_RULE.replace("{{incident_id}}", "{{days}}"),
                "{{days}} in its message is not a column of discipline_incidents",
            ),
            (
                SCHOOL_RULE.replace("WHERE collection", "; DROP TABLE t; WHERE collection"),
                "one SELECT",
            ),
        ];
        for (rules, needle) in cases {
            let error = compile(&collection_pack(&rules), &crdc_columns(), "test")
                .expect_err(needle)
                .to_string();
            assert!(error.contains(needle), "{error}");
        }
        // A query needs the collection layout.
        let error = compile(
            &pack(
                &SCHOOL_RULE
                    .replace("ENR-001", "WI-001")
                    .replace("level: school", "level: record"),
            ),
            &columns(),
            "test",
        )
        .expect_err("query in an engineering pack")
        .to_string();
        assert!(error.contains("needs a pack with a collection"), "{error}");
    }

    #[test]
    fn refuses_bad_packs() {
        let cases = [
            (RULE.replace("WI-001", "wi-1"), "not of the form"),
            (format!("{RULE}{RULE}"), "defined more than once"),
            (
                RULE.replace("level: record", "level: school"),
                "level school",
            ),
            (
                RULE.replace("applies_to: work_item", "applies_to: pull_request"),
                "pull_requests, which is not among the sources",
            ),
            (
                RULE.replace("w.story_points IS NULL", "true; DROP TABLE t"),
                "one SQL expression",
            ),
        ];
        for (rules, needle) in cases {
            let error = compile(&pack(&rules), &columns(), "test")
                .expect_err(needle)
                .to_string();
            assert!(error.contains(needle), "{error}");
        }
        let error = RulePack::from_yaml(
            "domain: x\nresults_view: r\nrules_view: v\nrules: []\ncolour: red",
        )
        .expect_err("unknown field")
        .to_string();
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error = RulePack::from_yaml(&format!(
            "domain: x\nresults_view: r\nrules_view: v\nrules:\n{}",
            RULE.replace("severity: error", "severity: fatal")
        ))
        .expect_err("bad severity")
        .to_string();
        assert!(error.contains("unknown variant `fatal`"), "{error}");
        assert!(matches!(
            compile(&pack("  []"), &columns(), "test"),
            Err(RuleError::Empty { .. })
        ));
    }
}
