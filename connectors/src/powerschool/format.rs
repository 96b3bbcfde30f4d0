//! PowerSchool's JSON shapes: the `/ws/v1` resources (students with their
//! `demographics`, `school_enrollment` and `ethnicity_race` expansions, schools,
//! counts) and PowerQuery records.
//!
//! PowerSchool serializes a collection of one element as that element, not as an
//! array of one (`"student": {…}`, `"races": {…}`), and an empty collection as an
//! empty string or not at all; [`one_or_many`] reads all three the same way.

use serde_json::Value;

use crate::crdc::{self, FieldError, Race};

/// The elements of a PowerSchool collection: an array, a lone object (the
/// one-element quirk), or nothing (`null`, `""`, missing).
pub fn one_or_many(value: Option<&Value>) -> Result<Vec<&Value>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => Ok(Vec::new()),
        Some(Value::Array(values)) => Ok(values.iter().collect()),
        Some(object @ Value::Object(_)) => Ok(vec![object]),
        Some(other) => Err(format!("expected an array or an object, found {other}")),
    }
}

/// The elements of `{"{outer}": {"{inner}": […]}}`, the shape of every `/ws/v1`
/// list (`students`/`student`, `schools`/`school`).
pub fn list<'a>(page: &'a Value, outer: &str, inner: &str) -> Result<Vec<&'a Value>, String> {
    match page.get(outer) {
        // An empty page: `{"students": ""}` or no wrapper at all.
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => Ok(Vec::new()),
        Some(wrapper @ Value::Object(_)) => {
            one_or_many(wrapper.get(inner)).map_err(|reason| format!("{outer}.{inner}: {reason}"))
        }
        Some(other) => Err(format!("{outer} is not an object: {other}")),
    }
}

/// `{"resource": {"count": 10}}` of a `/count` request.
pub fn count(value: &Value) -> Result<u64, String> {
    let count = value
        .get("resource")
        .and_then(|resource| resource.get("count"));
    match count {
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| "resource.count is not a count".to_owned())
}

/// The records of a PowerQuery page (`{"name", "record": […]}`); a page past the
/// end has none.
pub fn records(page: &Value) -> Result<Vec<&Value>, String> {
    if !page.is_object() {
        return Err("expected a json object".to_owned());
    }
    one_or_many(page.get("record")).map_err(|reason| format!("record: {reason}"))
}

/// A student as the expansions describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Student {
    /// The student's DCID: the canonical `student_id`.
    pub id: String,
    /// The student number.
    pub local_id: Option<String>,
    pub state_id: Option<String>,
    pub birth_date: Option<String>,
    /// `M`, `F` or `X`.
    pub sex: Option<&'static str>,
    pub hispanic: Option<bool>,
    pub races: Vec<Race>,
    pub enrollment: Option<SchoolEnrollment>,
}

/// The `school_enrollment` expansion: the student's current school.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchoolEnrollment {
    pub school_id: String,
    /// `0` active, `-1` pre-registered, `1` inactive, `2` transferred out, `3`
    /// graduated.
    pub status_code: i64,
    pub grade_level: Option<i64>,
    pub entry_date: Option<String>,
    pub exit_date: Option<String>,
}

/// A school of the district.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct School {
    pub id: String,
    pub name: Option<String>,
    pub school_number: Option<String>,
    pub low_grade: Option<i64>,
    pub high_grade: Option<i64>,
}

fn text(value: Option<&Value>) -> Option<String> {
    crdc::id(value)
}

fn integer(field: &'static str, value: Option<&Value>) -> Result<Option<i64>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_i64()
            .map(Some)
            .ok_or_else(|| FieldError::invalid(field, number, "an integer")),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| FieldError::invalid(field, format!("{text:?}"), "an integer")),
        Some(other) => Err(FieldError::invalid(field, other, "an integer")),
    }
}

/// PowerSchool's gender: `M`, `F`, and `X` where the district collects nonbinary.
fn sex(value: Option<&Value>) -> Result<Option<&'static str>, FieldError> {
    match text(value)
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("U") => Ok(None),
        Some("M") => Ok(Some("M")),
        Some("F") => Ok(Some("F")),
        Some("X" | "N") => Ok(Some("X")),
        Some(other) => Err(FieldError::invalid(
            "demographics.gender",
            other,
            "M, F or X",
        )),
    }
}

/// A district race code: the federal letters PowerSchool ships with (`I`, `A`,
/// `B`, `P`, `W`) or the CRDC's own two-letter codes.
fn race(code: &str) -> Result<Race, FieldError> {
    match code.trim().to_ascii_uppercase().as_str() {
        "I" | "AM" => Ok(Race::AmericanIndian),
        "A" | "AS" => Ok(Race::Asian),
        "B" | "BL" => Ok(Race::Black),
        "P" | "HP" => Ok(Race::PacificIslander),
        "W" | "WH" => Ok(Race::White),
        other => Err(FieldError::invalid(
            "ethnicity_race.races.district_race_code",
            other,
            "a federal race code (I, A, B, P, W)",
        )),
    }
}

/// A student of a `/ws/v1/district/student` page.
pub fn student(value: &Value) -> Result<Student, FieldError> {
    let id = text(value.get("id")).ok_or(FieldError::Missing("id"))?;
    let demographics = value.get("demographics");
    let field = |object: Option<&Value>, name: &str| object.and_then(|o| o.get(name)).cloned();
    let ethnicity = value.get("ethnicity_race");
    let hispanic = crdc::flag(
        "ethnicity_race.federal_ethnicity",
        field(ethnicity, "federal_ethnicity").as_ref(),
    )?;
    let race_values = ethnicity.and_then(|e| e.get("races"));
    let mut races = Vec::new();
    for entry in one_or_many(race_values)
        .map_err(|reason| FieldError::invalid("ethnicity_race.races", reason, "a race list"))?
    {
        let code = text(entry.get("district_race_code")).ok_or(FieldError::Missing(
            "ethnicity_race.races.district_race_code",
        ))?;
        races.push(race(&code)?);
    }
    let enrollment = match value.get("school_enrollment") {
        None | Some(Value::Null) => None,
        Some(enrollment) => Some(school_enrollment(enrollment)?),
    };
    Ok(Student {
        id,
        local_id: text(value.get("local_id")),
        state_id: text(value.get("state_province_id")),
        birth_date: crdc::date(
            "demographics.birth_date",
            field(demographics, "birth_date").as_ref(),
        )?,
        sex: sex(field(demographics, "gender").as_ref())?,
        hispanic,
        races,
        enrollment,
    })
}

fn school_enrollment(value: &Value) -> Result<SchoolEnrollment, FieldError> {
    Ok(SchoolEnrollment {
        school_id: text(value.get("school_id"))
            .ok_or(FieldError::Missing("school_enrollment.school_id"))?,
        status_code: integer(
            "school_enrollment.enroll_status_code",
            value.get("enroll_status_code"),
        )?
        .ok_or(FieldError::Missing("school_enrollment.enroll_status_code"))?,
        grade_level: integer("school_enrollment.grade_level", value.get("grade_level"))?,
        entry_date: crdc::date("school_enrollment.entry_date", value.get("entry_date"))?,
        exit_date: crdc::date("school_enrollment.exit_date", value.get("exit_date"))?,
    })
}

/// A school of a `/ws/v1/district/school` page.
pub fn school(value: &Value) -> Result<School, FieldError> {
    Ok(School {
        id: text(value.get("id")).ok_or(FieldError::Missing("id"))?,
        name: text(value.get("name")),
        school_number: text(value.get("school_number")),
        low_grade: integer("low_grade", value.get("low_grade"))?,
        high_grade: integer("high_grade", value.get("high_grade"))?,
    })
}

/// A row of a program PowerQuery: who, from when, until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRow {
    pub student_id: String,
    pub start_date: String,
    pub end_date: Option<String>,
}

pub fn program_row(value: &Value) -> Result<ProgramRow, FieldError> {
    Ok(ProgramRow {
        student_id: text(value.get("student_dcid")).ok_or(FieldError::Missing("student_dcid"))?,
        start_date: crdc::date("start_date", value.get("start_date"))?
            .ok_or(FieldError::Missing("start_date"))?,
        end_date: crdc::date("end_date", value.get("end_date"))?,
    })
}

/// A row of the incidents PowerQuery: one action taken against one student.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentRow {
    pub incident_id: String,
    pub student_id: String,
    pub school_id: String,
    pub occurred_on: Option<String>,
    pub action: &'static str,
    pub zero_tolerance: Option<bool>,
    pub days_removed: Option<f64>,
    pub harassment_basis: Option<&'static str>,
}

/// The CRDC actions, as the incidents query spells them.
const ACTIONS: [&str; 8] = [
    "ISS",
    "OSS",
    "EXPULSION_WITH_SERVICES",
    "EXPULSION_WITHOUT_SERVICES",
    "CORPORAL",
    "REFERRAL",
    "ARREST",
    "ALT_SCHOOL",
];

const BASES: [&str; 5] = ["sex", "race", "disability", "orientation", "religion"];

pub fn incident_row(value: &Value) -> Result<IncidentRow, FieldError> {
    let action = text(value.get("action_code")).ok_or(FieldError::Missing("action_code"))?;
    let action = ACTIONS
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(&action))
        .ok_or_else(|| FieldError::invalid("action_code", &action, "a crdc action"))?;
    let basis = match text(value.get("harassment_basis")) {
        None => None,
        Some(basis) => Some(
            BASES
                .into_iter()
                .find(|known| known.eq_ignore_ascii_case(&basis))
                .ok_or_else(|| FieldError::invalid("harassment_basis", &basis, "a crdc basis"))?,
        ),
    };
    let days_removed = match value.get("days_removed") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => number.as_f64(),
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|days| days.is_finite())
                .ok_or_else(|| {
                    FieldError::invalid("days_removed", format!("{text:?}"), "a number of days")
                })?,
        ),
        Some(other) => return Err(FieldError::invalid("days_removed", other, "a number")),
    };
    Ok(IncidentRow {
        incident_id: text(value.get("incident_id")).ok_or(FieldError::Missing("incident_id"))?,
        student_id: text(value.get("student_dcid")).ok_or(FieldError::Missing("student_dcid"))?,
        school_id: text(value.get("school_id")).ok_or(FieldError::Missing("school_id"))?,
        occurred_on: crdc::date("incident_date", value.get("incident_date"))?,
        action,
        zero_tolerance: crdc::flag("zero_tolerance", value.get("zero_tolerance"))?,
        days_removed,
        harassment_basis: basis,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_collection_of_one_is_an_object() {
        let many = json!({"students": {"@expansions": "x", "student": [{"id": 1}, {"id": 2}]}});
        let one = json!({"students": {"@expansions": "x", "student": {"id": 3}}});
        let none = json!({"students": ""});
        let ids = |page: &Value| -> Vec<Value> {
            list(page, "students", "student")
                .expect("list")
                .into_iter()
                .map(|s| s["id"].clone())
                .collect()
        };
        assert_eq!(ids(&many), [json!(1), json!(2)]);
        assert_eq!(ids(&one), [json!(3)]);
        assert!(ids(&none).is_empty());
        assert!(list(&json!({"students": {"student": 5}}), "students", "student").is_err());
    }

    #[test]
    fn one_race_arrives_as_an_object_too() {
        let value = json!({
            "id": 7, "local_id": 100007,
            "demographics": {"gender": "F", "birth_date": "2014-02-03"},
            "ethnicity_race": {"federal_ethnicity": "NO", "races": {"district_race_code": "B"}},
        });
        let student = student(&value).expect("student");
        assert_eq!(student.races, [Race::Black]);
        assert_eq!(student.hispanic, Some(false));
        assert_eq!(student.sex, Some("F"));
        assert_eq!(student.local_id.as_deref(), Some("100007"));
        let bad = json!({"id": 8, "ethnicity_race": {"races": [{"district_race_code": "Q"}]}});
        assert_eq!(
            super::student(&bad).expect_err("bad race").to_string(),
            "ethnicity_race.races.district_race_code Q is not a federal race code (I, A, B, P, W)"
        );
    }

    #[test]
    fn counts_may_be_strings() {
        assert_eq!(count(&json!({"resource": {"count": 10}})), Ok(10));
        assert_eq!(count(&json!({"resource": {"count": "4"}})), Ok(4));
        assert!(count(&json!({"count": 4})).is_err());
    }
}
