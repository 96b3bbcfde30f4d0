//! The OneRoster 1.2 connector, as Infinite Campus serves it: a district's school
//! orgs, student users with their demographics, and the students' school roles as
//! enrollments, as CRDC canonical rows. OneRoster carries no IDEA, 504, EL or
//! discipline data: those come by CSV.
//!
//! ```text
//!  POST /campus/oauth2/token?appName=…  (client credentials; refreshed on expiry or a 401)
//!  below /campus/api/ims/oneroster/rostering/v1p2, limit/offset until a short page:
//!  GET orgs?filter=dateLastModified>'…'             ──keep_raw "org:{id}"───────▶ crdc.schools
//!  GET academicSessions?filter=…                    ──keep_raw "academicSession:{id}"
//!  GET demographics  (all; 403 = not granted: a warning, demographic columns NULL)
//!  GET users?filter=…  + users/{id} whose demographics changed ──keep_raw "user:{id}"─▶
//!                                                     crdc.students, crdc.enrollments
//!  status "tobedeleted" ──▶ a tombstone (null value) for each key the record made
//! ```
//!
//! A scope is the district (the config's `tenant_id`, the `district_id` of every
//! row). The cursor is the highest `dateLastModified` seen; a run asks for records
//! changed after the cursor minus the overlap. A student row joins a user with its
//! demographics record, and either may change alone, so demographics are read in
//! full each run (one record a student) and a user whose demographics changed is
//! fetched by id. Class enrollments are not CRDC enrollments (a student has one per
//! class): a school enrollment is the student's role at the school, with the
//! role's begin and end dates.
//!
//! [`transport`] knows the endpoints, [`format`] the JSON shapes, [`mapping`] the
//! canonical rows.

pub mod config;
pub mod format;
pub mod mapping;
pub mod transport;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use self::config::OneRosterConfig;
use self::format::Demographics;
use crate::http::HttpError;
use crate::oauth::OAuthClient;
use crate::run::{
    CRDC_ENROLLMENTS, CRDC_SCHOOLS, CRDC_STUDENTS, Connector, Mapping, Relation, Run, RunError,
    RunSettings, sha256_hex,
};

const RELATIONS: &[&Relation] = &[&CRDC_SCHOOLS, &CRDC_STUDENTS, &CRDC_ENROLLMENTS];

/// Pulls one district from Infinite Campus's OneRoster API; its one scope is the
/// district id.
#[derive(Debug)]
pub struct OneRosterConnector {
    config: OneRosterConfig,
    settings: RunSettings,
    http: OAuthClient,
}

/// The demographics of a run: by user, and which changed since the cursor.
#[derive(Default)]
struct DemographicsRead {
    by_user: BTreeMap<String, Demographics>,
    changed: BTreeSet<String>,
}

impl OneRosterConnector {
    pub fn new(config: OneRosterConfig) -> Result<OneRosterConnector, HttpError> {
        let http = transport::client(&config)?;
        let settings = config.common.run_settings();
        Ok(OneRosterConnector {
            config,
            settings,
            http,
        })
    }

    pub fn config(&self) -> &OneRosterConfig {
        &self.config
    }

    /// The district, as the one scope for [`crate::run::run_once`].
    pub fn scopes(&self) -> Vec<String> {
        vec![self.config.common.tenant_id.clone()]
    }

    fn check_scope(&self, scope: &str) -> Result<(), RunError> {
        if scope == self.config.common.tenant_id {
            Ok(())
        } else {
            Err(RunError::Scope {
                scope: scope.to_owned(),
                reason: "it is not the configured district (tenant_id)".to_owned(),
            })
        }
    }

    /// Calls `each` on every record of `collection`, page by page until a short page.
    async fn for_each(
        &self,
        collection: &str,
        filter: Option<&str>,
        run: &mut Run<'_>,
        mut each: impl FnMut(&mut Run<'_>, &Value) -> Result<(), RunError>,
    ) -> Result<(), RunError> {
        let limit = self.config.limit;
        let mut offset: u64 = 0;
        loop {
            let (_, records) =
                transport::page(&self.http, collection, filter, limit, offset, run.http()).await?;
            for value in &records {
                each(run, value)?;
            }
            run.flush()?;
            if records.len() < limit as usize {
                return Ok(());
            }
            offset += records.len() as u64;
        }
    }

    /// Every demographics record; `None` when the app has no demographics grant.
    async fn fetch_demographics(
        &self,
        since: Option<DateTime<Utc>>,
        run: &mut Run<'_>,
    ) -> Result<Option<DemographicsRead>, RunError> {
        let mut read = DemographicsRead::default();
        let fetched = self
            .for_each("demographics", None, run, |run, value| {
                let payload = value.to_string();
                let raw = run.keep_raw(
                    &raw_key("demographics", value, &payload),
                    payload.as_bytes(),
                )?;
                match format::demographics(value) {
                    Ok(demographics) => {
                        let id = demographics.base.sourced_id.clone();
                        run.observe(demographics.base.modified);
                        if since.is_none_or(|since| demographics.base.modified > since) {
                            read.changed.insert(id.clone());
                        }
                        if !demographics.base.deleted {
                            read.by_user.insert(id, demographics);
                        }
                    }
                    Err(error) => run.reject(&raw, error),
                }
                Ok(())
            })
            .await;
        match fetched {
            Ok(()) => Ok(Some(read)),
            Err(RunError::Http(error @ HttpError::Status { status: 403, .. })) => {
                run.warn(format!(
                    "demographics not granted: {error}; birth_date, sex, hispanic, races and \
                     race_ethnicity are left null; hint: give the app the demographics \
                     grant in campus"
                ));
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Keeps a user and publishes (or deletes) its rows if it is a student; returns
    /// its id when it could be read.
    fn user(
        district: &str,
        value: &Value,
        demographics: Option<&DemographicsRead>,
        run: &mut Run<'_>,
    ) -> Result<Option<String>, RunError> {
        let payload = value.to_string();
        let raw = run.keep_raw(&raw_key("user", value, &payload), payload.as_bytes())?;
        let user = match format::user(value) {
            Ok(user) => user,
            Err(error) => {
                run.reject(&raw, error);
                return Ok(None);
            }
        };
        run.observe(user.base.modified);
        if !user.is_student {
            return Ok(Some(user.base.sourced_id));
        }
        if user.base.deleted {
            for (relation, key) in mapping::student_keys(district, &user) {
                run.delete(&raw, relation, &key)?;
            }
        } else {
            let found = demographics.and_then(|read| read.by_user.get(&user.base.sourced_id));
            for record in mapping::student(district, &user, found) {
                run.publish(&raw, record)?;
            }
        }
        Ok(Some(user.base.sourced_id))
    }
}

#[async_trait]
impl Connector for OneRosterConnector {
    fn name(&self) -> &'static str {
        "oneroster"
    }

    fn settings(&self) -> &RunSettings {
        &self.settings
    }

    fn relations(&self) -> &'static [&'static Relation] {
        RELATIONS
    }

    fn mapping(&self, scope: &str) -> Result<Mapping, RunError> {
        self.check_scope(scope)?;
        Ok(Mapping::default())
    }

    async fn fetch(
        &self,
        scope: &str,
        since: Option<DateTime<Utc>>,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        self.check_scope(scope)?;
        let district = scope;
        let filter = since.map(transport::changed_since);
        let filter = filter.as_deref();

        self.for_each("orgs", filter, run, |run, value| {
            let payload = value.to_string();
            let raw = run.keep_raw(&raw_key("org", value, &payload), payload.as_bytes())?;
            match format::org(value) {
                Ok(org) => {
                    run.observe(org.base.modified);
                    if org.kind.as_deref() != Some("school") {
                        return Ok(());
                    }
                    if org.base.deleted {
                        run.delete(&raw, &CRDC_SCHOOLS, &mapping::school_key(district, &org))
                    } else {
                        run.publish(&raw, mapping::school(district, &org))
                    }
                }
                Err(error) => {
                    run.reject(&raw, error);
                    Ok(())
                }
            }
        })
        .await?;

        // Kept for lineage and replay; no CRDC relation holds terms.
        self.for_each("academicSessions", filter, run, |run, value| {
            let payload = value.to_string();
            let raw = run.keep_raw(
                &raw_key("academicSession", value, &payload),
                payload.as_bytes(),
            )?;
            match format::base(value) {
                Ok(base) => run.observe(base.modified),
                Err(error) => run.reject(&raw, error),
            }
            Ok(())
        })
        .await?;

        let demographics = self.fetch_demographics(since, run).await?;
        let mut seen: BTreeSet<String> = BTreeSet::new();
        self.for_each("users", filter, run, |run, value| {
            if let Some(id) = Self::user(district, value, demographics.as_ref(), run)? {
                seen.insert(id);
            }
            Ok(())
        })
        .await?;
        // Users unchanged themselves whose demographics changed.
        let changed = demographics
            .as_ref()
            .map(|read| read.changed.difference(&seen).cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        for id in changed {
            match transport::user(&self.http, &id, run.http()).await? {
                Some(value) => {
                    Self::user(district, &value, demographics.as_ref(), run)?;
                }
                None => tracing::debug!(%id, "demographics of no user"),
            }
        }
        run.flush()?;
        Ok(())
    }
}

/// `{prefix}:{sourcedId}`, or a key from the content when the payload has none.
fn raw_key(prefix: &str, value: &Value, payload: &str) -> String {
    match crate::crdc::id(value.get("sourcedId")) {
        Some(id) => format!("{prefix}:{id}"),
        None => {
            let hash = sha256_hex(payload.as_bytes());
            format!("{prefix}:unreadable:{}", &hash[..16])
        }
    }
}
