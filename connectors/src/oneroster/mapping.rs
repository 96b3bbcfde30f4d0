//! OneRoster records as CRDC canonical rows: school orgs as schools, student users
//! (with their demographics, when the grant allows) as students, and each student
//! role at a school as that school's enrollment. Every row carries the district
//! (`district_id`, the connector's tenant); the run adds the lineage.

use serde_json::{Map, Value};

use super::format::{Demographics, Org, User};
use crate::crdc::{self, key, record};
use crate::run::{CRDC_ENROLLMENTS, CRDC_SCHOOLS, CRDC_STUDENTS, CanonicalRecord, Relation};

/// A student's enrollment at a school: one per student role.
pub fn enrollment_id(user: &str, org: &str) -> String {
    format!("{user}:{org}")
}

pub fn school(district: &str, org: &Org) -> CanonicalRecord {
    // The NCES school id is 12 digits; anything else in `identifier` is a local code.
    let nces = org
        .identifier
        .clone()
        .filter(|id| id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()));
    record(
        &CRDC_SCHOOLS,
        org.base.sourced_id.clone(),
        district,
        vec![
            ("school_id", org.base.sourced_id.clone().into()),
            ("name", org.name.clone().into()),
            ("nces_id", nces.into()),
            // OneRoster orgs do not list the grades a school offers.
            ("level", Value::Null),
            ("lowest_grade", Value::Null),
            ("highest_grade", Value::Null),
        ],
    )
}

/// The student row and one enrollment row per school role. Without demographics
/// (not granted, or no record) those columns are NULL: a blank, not a value.
pub fn student(
    district: &str,
    user: &User,
    demographics: Option<&Demographics>,
) -> Vec<CanonicalRecord> {
    let id = &user.base.sourced_id;
    let races = demographics.map(|d| d.races.as_slice()).unwrap_or_default();
    let hispanic = demographics.and_then(|d| d.hispanic);
    let status = if user.enabled { "active" } else { "inactive" };
    let mut rows = vec![record(
        &CRDC_STUDENTS,
        id.clone(),
        district,
        vec![
            ("student_id", id.clone().into()),
            ("sis_id", user.identifier.clone().into()),
            ("state_id", user.state_id.clone().into()),
            (
                "birth_date",
                demographics.and_then(|d| d.birth_date.clone()).into(),
            ),
            ("sex", demographics.and_then(|d| d.sex).into()),
            ("hispanic", hispanic.into()),
            (
                "races",
                match demographics {
                    Some(_) => crdc::races_column(races),
                    None => Value::Null,
                },
            ),
            (
                "race_ethnicity",
                crdc::race_ethnicity(hispanic, races).into(),
            ),
            ("grade", user.grade.clone().into()),
            ("enrollment_status", status.into()),
        ],
    )];
    for role in &user.student_roles {
        rows.push(record(
            &CRDC_ENROLLMENTS,
            id.clone(),
            district,
            vec![
                ("enrollment_id", enrollment_id(id, &role.org).into()),
                ("student_id", id.clone().into()),
                ("school_id", role.org.clone().into()),
                ("entry_date", role.begin_date.clone().into()),
                ("exit_date", role.end_date.clone().into()),
                ("grade", user.grade.clone().into()),
            ],
        ));
    }
    rows
}

/// The keys a deleted student takes with it: its row and its enrollments.
pub fn student_keys(district: &str, user: &User) -> Vec<(&'static Relation, Map<String, Value>)> {
    let id = &user.base.sourced_id;
    let mut keys = vec![(
        &CRDC_STUDENTS,
        key(district, vec![("student_id", id.clone().into())]),
    )];
    for role in &user.student_roles {
        keys.push((
            &CRDC_ENROLLMENTS,
            key(
                district,
                vec![("enrollment_id", enrollment_id(id, &role.org).into())],
            ),
        ));
    }
    keys
}

pub fn school_key(district: &str, org: &Org) -> Map<String, Value> {
    key(
        district,
        vec![("school_id", org.base.sourced_id.clone().into())],
    )
}
