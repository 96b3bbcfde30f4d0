//! OneRoster 1.2 rostering JSON: every record has `sourcedId`, `status` (`active`
//! or `tobedeleted`) and `dateLastModified`; lists come as `{"{collection}": […]}`.
//! Infinite Campus sends 1.1's string booleans (`"true"`) in places, so flags read
//! either way.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::crdc::{self, FieldError, Race};

/// What every OneRoster record carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Base {
    pub sourced_id: String,
    /// `status: "tobedeleted"`: the record is gone.
    pub deleted: bool,
    pub modified: DateTime<Utc>,
}

/// The list of a page: `{"orgs": […]}`.
pub fn list(page: &Value, collection: &str) -> Result<Vec<Value>, String> {
    match page.get(collection) {
        Some(Value::Array(values)) => Ok(values.clone()),
        Some(_) => Err(format!("{collection} is not an array")),
        None if page.is_object() => Err(format!("the page has no {collection} list")),
        None => Err("expected a json object".to_owned()),
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    crdc::id(value.get(field))
}

pub fn base(value: &Value) -> Result<Base, FieldError> {
    let sourced_id = text(value, "sourcedId").ok_or(FieldError::Missing("sourcedId"))?;
    let deleted = match value.get("status").and_then(Value::as_str) {
        Some("tobedeleted") => true,
        Some("active") | None => false,
        Some(other) => {
            return Err(FieldError::invalid(
                "status",
                other,
                "active or tobedeleted",
            ));
        }
    };
    let modified = value
        .get("dateLastModified")
        .and_then(Value::as_str)
        .ok_or(FieldError::Missing("dateLastModified"))?;
    let modified = DateTime::parse_from_rfc3339(modified)
        .map_err(|_| FieldError::invalid("dateLastModified", modified, "an rfc 3339 time"))?
        .with_timezone(&Utc);
    Ok(Base {
        sourced_id,
        deleted,
        modified,
    })
}

/// An org; only `type: "school"` ones are schools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    pub base: Base,
    pub name: Option<String>,
    pub kind: Option<String>,
    /// The org's `identifier`: Infinite Campus puts the NCES school id there.
    pub identifier: Option<String>,
}

pub fn org(value: &Value) -> Result<Org, FieldError> {
    Ok(Org {
        base: base(value)?,
        name: text(value, "name"),
        kind: text(value, "type"),
        identifier: text(value, "identifier"),
    })
}

/// A student's role at a school: the school enrollment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StudentRole {
    pub org: String,
    pub begin_date: Option<String>,
    pub end_date: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub base: Base,
    pub enabled: bool,
    /// The SIS's own id (`identifier`).
    pub identifier: Option<String>,
    /// `userIds` of type `stateID`.
    pub state_id: Option<String>,
    /// The first of `grades`.
    pub grade: Option<String>,
    /// `roles` with `role: "student"` (1.2), or the 1.1 `role` with its `orgs`.
    pub student_roles: Vec<StudentRole>,
    pub is_student: bool,
}

pub fn user(value: &Value) -> Result<User, FieldError> {
    let base = base(value)?;
    let enabled = crdc::flag("enabledUser", value.get("enabledUser"))?.unwrap_or(true);
    let state_id = value
        .get("userIds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|id| {
            id.get("type")
                .and_then(Value::as_str)
                .is_some_and(|kind| kind.eq_ignore_ascii_case("stateid"))
        })
        .and_then(|id| text(id, "identifier"));
    let grade = value
        .get("grades")
        .and_then(Value::as_array)
        .and_then(|grades| grades.first())
        .and_then(Value::as_str)
        .and_then(crdc::grade_code);
    let mut student_roles = Vec::new();
    let mut is_student = false;
    if let Some(roles) = value.get("roles").and_then(Value::as_array) {
        for role in roles {
            if role.get("role").and_then(Value::as_str) != Some("student") {
                continue;
            }
            is_student = true;
            let org = role
                .get("org")
                .and_then(|org| text(org, "sourcedId"))
                .ok_or(FieldError::Missing("roles.org.sourcedId"))?;
            student_roles.push(StudentRole {
                org,
                begin_date: crdc::date("roles.beginDate", role.get("beginDate"))?,
                end_date: crdc::date("roles.endDate", role.get("endDate"))?,
            });
        }
    } else if value.get("role").and_then(Value::as_str) == Some("student") {
        // OneRoster 1.1: one role, the orgs a list of references.
        is_student = true;
        for org in value
            .get("orgs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let org = text(org, "sourcedId").ok_or(FieldError::Missing("orgs.sourcedId"))?;
            student_roles.push(StudentRole {
                org,
                begin_date: None,
                end_date: None,
            });
        }
    }
    Ok(User {
        base,
        enabled,
        identifier: text(value, "identifier"),
        state_id,
        grade,
        student_roles,
        is_student,
    })
}

/// A user's demographics (the record's `sourcedId` is the user's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Demographics {
    pub base: Base,
    pub birth_date: Option<String>,
    pub sex: Option<&'static str>,
    pub hispanic: Option<bool>,
    pub races: Vec<Race>,
}

const RACE_FIELDS: [(&str, Race); 5] = [
    ("americanIndianOrAlaskaNative", Race::AmericanIndian),
    ("asian", Race::Asian),
    ("blackOrAfricanAmerican", Race::Black),
    (
        "nativeHawaiianOrOtherPacificIslander",
        Race::PacificIslander,
    ),
    ("white", Race::White),
];

pub fn demographics(value: &Value) -> Result<Demographics, FieldError> {
    let sex = match value.get("sex").and_then(Value::as_str) {
        None | Some("unspecified" | "") => None,
        Some("male") => Some("M"),
        Some("female") => Some("F"),
        Some("other") => Some("X"),
        Some(other) => {
            return Err(FieldError::invalid(
                "sex",
                other,
                "male, female, other or unspecified",
            ));
        }
    };
    let mut races = Vec::new();
    for (field, race) in RACE_FIELDS {
        if crdc::flag("race", value.get(field))? == Some(true) {
            races.push(race);
        }
    }
    Ok(Demographics {
        base: base(value)?,
        birth_date: crdc::date("birthDate", value.get("birthDate"))?,
        sex,
        hispanic: crdc::flag(
            "hispanicOrLatinoEthnicity",
            value.get("hispanicOrLatinoEthnicity"),
        )?,
        races,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tobedeleted_and_string_booleans_read() {
        let value = json!({
            "sourcedId": "u1", "status": "tobedeleted", "dateLastModified": "2024-09-01T10:00:00.000Z",
            "sex": "female", "white": "true", "asian": true, "hispanicOrLatinoEthnicity": "false",
        });
        let read = demographics(&value).expect("demographics");
        assert!(read.base.deleted);
        assert_eq!(read.races, [Race::Asian, Race::White]);
        assert_eq!((read.sex, read.hispanic), (Some("F"), Some(false)));
        let bad = json!({"sourcedId": "u1", "status": "gone", "dateLastModified": "x"});
        assert_eq!(
            base(&bad).expect_err("status").to_string(),
            "status gone is not active or tobedeleted"
        );
        assert!(list(&json!({"users": {}}), "users").is_err());
    }
}
