//! The PowerSchool connector: a district's schools, students (with their current
//! school enrollment) and, through the district's PowerQueries, IDEA, 504 and EL
//! program enrollments and discipline incidents, as CRDC canonical rows.
//!
//! ```text
//!  POST /oauth/access_token  (client credentials; refreshed on expiry or a 401)
//!  GET  /ws/v1/district/school?page=N           ──keep_raw "school:{id}"──▶ crdc.schools
//!  GET  /ws/v1/district/student/count
//!  GET  /ws/v1/district/student?expansions=demographics,school_enrollment,ethnicity_race
//!       &page=1…⌈count/pagesize⌉                ──keep_raw "student:{id}"─▶ crdc.students,
//!                                                                          crdc.enrollments
//!  POST /ws/schema/query/{idea|sec504|el}?page=N ─keep_raw "{query}:{…}"──▶ crdc.program_enrollments
//!  POST /ws/schema/query/{incidents}?page=N      ─keep_raw "{query}:{id}"─▶ crdc.discipline_incidents
//! ```
//!
//! A scope is the district (the config's `tenant_id`, the `district_id` of every
//! row). The student resource has no documented last-modified filter, so every run
//! reads the district in full; canonical topics are upserts by key, so a full run
//! changes only what changed, and a run that failed midway is completed by the
//! next. The cursor records when the last complete run started.
//!
//! [`transport`] knows the endpoints, [`format`] the JSON shapes (the one-element
//! quirk among them), [`mapping`] the canonical rows.

pub mod config;
pub mod format;
pub mod mapping;
pub mod transport;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use self::config::PowerSchoolConfig;
use self::mapping::Program;
use crate::http::HttpError;
use crate::oauth::OAuthClient;
use crate::run::{
    CRDC_DISCIPLINE_INCIDENTS, CRDC_ENROLLMENTS, CRDC_PROGRAM_ENROLLMENTS, CRDC_SCHOOLS,
    CRDC_STUDENTS, Connector, Mapping, Relation, Run, RunError, RunSettings, sha256_hex,
};

const RELATIONS: &[&Relation] = &[
    &CRDC_SCHOOLS,
    &CRDC_STUDENTS,
    &CRDC_ENROLLMENTS,
    &CRDC_PROGRAM_ENROLLMENTS,
    &CRDC_DISCIPLINE_INCIDENTS,
];

/// Pulls one PowerSchool district; its one scope is the district id.
#[derive(Debug)]
pub struct PowerSchoolConnector {
    config: PowerSchoolConfig,
    settings: RunSettings,
    http: OAuthClient,
}

impl PowerSchoolConnector {
    pub fn new(config: PowerSchoolConfig) -> Result<PowerSchoolConnector, HttpError> {
        let http = transport::client(&config)?;
        let settings = config.common.run_settings();
        Ok(PowerSchoolConnector {
            config,
            settings,
            http,
        })
    }

    pub fn config(&self) -> &PowerSchoolConfig {
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

    async fn fetch_schools(&self, district: &str, run: &mut Run<'_>) -> Result<(), RunError> {
        let pagesize = self.config.pagesize;
        for page in 1.. {
            let (fetched, value) = transport::page(
                &self.http,
                transport::SCHOOLS,
                page,
                pagesize,
                &[],
                run.http(),
            )
            .await?;
            let schools = transport::elements(&fetched, &value, "schools", "school")?;
            for value in &schools {
                let payload = value.to_string();
                let raw = run.keep_raw(&raw_key("school", value, &payload), payload.as_bytes())?;
                match format::school(value) {
                    Ok(school) => run.publish(&raw, mapping::school(district, &school))?,
                    Err(error) => run.reject(&raw, error),
                }
            }
            run.flush()?;
            if schools.len() < pagesize as usize {
                break;
            }
        }
        Ok(())
    }

    async fn fetch_students(&self, district: &str, run: &mut Run<'_>) -> Result<(), RunError> {
        let pagesize = self.config.pagesize;
        let count = transport::student_count(&self.http, run.http()).await?;
        let pages = count.div_ceil(u64::from(pagesize));
        let expansions = [("expansions", transport::EXPANSIONS)];
        for page in 1..=pages {
            let page = u32::try_from(page).map_err(|_| RunError::Shape {
                path: transport::STUDENTS.to_owned(),
                reason: format!("{count} students make more pages than can be asked for"),
            })?;
            let (fetched, value) = transport::page(
                &self.http,
                transport::STUDENTS,
                page,
                pagesize,
                &expansions,
                run.http(),
            )
            .await?;
            let students = transport::elements(&fetched, &value, "students", "student")?;
            for value in &students {
                let payload = value.to_string();
                let raw = run.keep_raw(&raw_key("student", value, &payload), payload.as_bytes())?;
                match format::student(value) {
                    Ok(student) => {
                        for record in mapping::student(district, &student) {
                            run.publish(&raw, record)?;
                        }
                    }
                    Err(error) => run.reject(&raw, error),
                }
            }
            run.flush()?;
            // The count moved while paging: what is left comes next run.
            if students.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Every record of PowerQuery `name`, page by page until a short page.
    async fn fetch_query(
        &self,
        name: &str,
        run: &mut Run<'_>,
        mut each: impl FnMut(&mut Run<'_>, &Value, String) -> Result<(), RunError>,
    ) -> Result<(), RunError> {
        let pagesize = self.config.pagesize;
        for page in 1.. {
            let records =
                transport::power_query(&self.http, name, page, pagesize, run.http()).await?;
            for value in &records {
                each(run, value, name.to_owned())?;
            }
            run.flush()?;
            if records.len() < pagesize as usize {
                break;
            }
        }
        Ok(())
    }

    async fn fetch_program(
        &self,
        district: &str,
        program: Program,
        name: &str,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        self.fetch_query(name, run, |run, value, name| {
            let payload = value.to_string();
            let parsed = format::program_row(value);
            let id = match &parsed {
                Ok(row) => format!("{name}:{}:{}", row.student_id, row.start_date),
                Err(_) => unreadable_key(&name, &payload),
            };
            let raw = run.keep_raw(&id, payload.as_bytes())?;
            match parsed {
                Ok(row) => run.publish(&raw, mapping::program(district, program, id, &row)),
                Err(error) => {
                    run.reject(&raw, error);
                    Ok(())
                }
            }
        })
        .await
    }

    async fn fetch_incidents(
        &self,
        district: &str,
        name: &str,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        self.fetch_query(name, run, |run, value, name| {
            let payload = value.to_string();
            let parsed = format::incident_row(value);
            let id = match &parsed {
                Ok(row) => format!("{name}:{}", row.incident_id),
                Err(_) => unreadable_key(&name, &payload),
            };
            let raw = run.keep_raw(&id, payload.as_bytes())?;
            match parsed {
                Ok(row) => run.publish(&raw, mapping::incident(district, id, &row)),
                Err(error) => {
                    run.reject(&raw, error);
                    Ok(())
                }
            }
        })
        .await
    }
}

#[async_trait]
impl Connector for PowerSchoolConnector {
    fn name(&self) -> &'static str {
        "powerschool"
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
        _since: Option<DateTime<Utc>>,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        self.check_scope(scope)?;
        let started = Utc::now();
        let district = scope;
        self.fetch_schools(district, run).await?;
        self.fetch_students(district, run).await?;
        let queries = &self.config.powerqueries;
        for (program, name) in [
            (Program::Idea, &queries.idea),
            (Program::Sec504, &queries.sec504),
            (Program::El, &queries.el),
        ] {
            if let Some(name) = name {
                self.fetch_program(district, program, name, run).await?;
            }
        }
        if let Some(name) = &queries.incidents {
            self.fetch_incidents(district, name, run).await?;
        }
        // A full read: the next run starts from this one's start, which says
        // when the district was last read completely.
        run.observe(started);
        Ok(())
    }
}

/// `{prefix}:{id}`, or a key from the content when the payload has no id.
fn raw_key(prefix: &str, value: &Value, payload: &str) -> String {
    match crate::crdc::id(value.get("id")) {
        Some(id) => format!("{prefix}:{id}"),
        None => unreadable_key(prefix, payload),
    }
}

fn unreadable_key(prefix: &str, payload: &str) -> String {
    let hash = sha256_hex(payload.as_bytes());
    format!("{prefix}:unreadable:{}", &hash[..16])
}
