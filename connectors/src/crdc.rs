//! The CRDC canonical values both school information system connectors map to
//! (`views/sql/crdc/sources.sql`): grades, sex, races and their roll-up, school
//! levels, dates. One place, so PowerSchool and OneRoster rows mean the same thing
//! and the rule pack's checks (ENR-004, ENR-006) see one vocabulary.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::run::{CanonicalRecord, Relation};

/// Why a source value could not become a canonical one.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{field} {value} is not {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl FieldError {
    pub fn invalid(field: &'static str, value: impl ToString, expected: &'static str) -> Self {
        FieldError::Invalid {
            field,
            value: value.to_string(),
            expected,
        }
    }
}

/// A federal race category, as the `races` column lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Race {
    AmericanIndian,
    Asian,
    Black,
    PacificIslander,
    White,
}

impl Race {
    pub fn as_str(self) -> &'static str {
        match self {
            Race::AmericanIndian => "AM",
            Race::Asian => "AS",
            Race::Black => "BL",
            Race::PacificIslander => "HP",
            Race::White => "WH",
        }
    }
}

/// The CRDC roll-up: Hispanic → HI; otherwise exactly one race → that race; more
/// than one → TR; none reported → `None` (a blank, not a category).
pub fn race_ethnicity(hispanic: Option<bool>, races: &[Race]) -> Option<&'static str> {
    if hispanic == Some(true) {
        return Some("HI");
    }
    let mut distinct = races.to_vec();
    distinct.sort();
    distinct.dedup();
    match distinct.as_slice() {
        [] => None,
        [race] => Some(race.as_str()),
        [_, _, ..] => Some("TR"),
    }
}

/// The `races` column: each race once, in a fixed order.
pub fn races_column(races: &[Race]) -> Value {
    let mut distinct = races.to_vec();
    distinct.sort();
    distinct.dedup();
    distinct.into_iter().map(Race::as_str).collect()
}

/// A grade as the canonical model writes it (`PK`, `KG`, `01` … `12`) from a
/// CEDS grade code (`PK`, `TK`, `KG`, `01`, `3`); `None` for grades the CRDC does
/// not count (infant, ungraded, adult).
pub fn grade_code(text: &str) -> Option<String> {
    match text.trim().to_ascii_uppercase().as_str() {
        "PK" | "TK" | "PR" | "PS" => Some("PK".to_owned()),
        "KG" | "K" => Some("KG".to_owned()),
        number => match number.parse::<u8>() {
            Ok(grade @ 1..=12) => Some(format!("{grade:02}")),
            Ok(_) | Err(_) => None,
        },
    }
}

/// A school's level from the grades it offers (numbers: PK below 0, KG 0).
pub fn school_level(lowest: i64, highest: i64) -> &'static str {
    if highest <= 5 {
        "elementary"
    } else if lowest >= 9 {
        "high"
    } else if lowest >= 5 && highest <= 9 {
        "middle"
    } else {
        "other"
    }
}

/// A date (`YYYY-MM-DD`, or the date part of a timestamp); an empty string is no
/// date.
pub fn date(field: &'static str, value: Option<&Value>) -> Result<Option<String>, FieldError> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
        Some(Value::String(text)) => text.trim(),
        Some(other) => return Err(FieldError::invalid(field, other, "a date")),
    };
    let day = text.get(..10).unwrap_or(text);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|date| Some(date.format("%Y-%m-%d").to_string()))
        .map_err(|_| FieldError::invalid(field, format!("{text:?}"), "a date"))
}

/// A flag written as a JSON boolean, `"true"`/`"false"`, `"yes"`/`"no"`, `"Y"`/`"N"`
/// or `1`/`0`; missing or empty is `None`.
pub fn flag(field: &'static str, value: Option<&Value>) -> Result<Option<bool>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(Value::Number(number)) => match number.as_i64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(_) | None => Err(FieldError::invalid(field, number, "a yes or no")),
        },
        Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "yes" | "y" | "1" => Ok(Some(true)),
            "false" | "no" | "n" | "0" => Ok(Some(false)),
            _ => Err(FieldError::invalid(
                field,
                format!("{text:?}"),
                "a yes or no",
            )),
        },
        Some(other @ (Value::Array(_) | Value::Object(_))) => {
            Err(FieldError::invalid(field, other, "a yes or no"))
        }
    }
}

/// An id written as a string or a number (PowerSchool ids are numbers); empty is
/// `None`.
pub fn id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        Value::String(_) | Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            None
        }
    }
}

/// A canonical record of `relation` for `district` with these columns.
pub fn record(
    relation: &'static Relation,
    source_record_id: String,
    district: &str,
    columns: Vec<(&'static str, Value)>,
) -> CanonicalRecord {
    let mut map = Map::new();
    map.insert("district_id".to_owned(), district.into());
    for (column, value) in columns {
        map.insert(column.to_owned(), value);
    }
    CanonicalRecord {
        relation,
        source_record_id,
        columns: map,
    }
}

/// The key columns of a row of `district` to delete.
pub fn key(district: &str, columns: Vec<(&'static str, Value)>) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("district_id".to_owned(), district.into());
    for (column, value) in columns {
        map.insert(column.to_owned(), value);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_roll_up_puts_hispanic_first_then_one_race_then_two_or_more() {
        use Race::{Asian, Black, White};
        assert_eq!(race_ethnicity(Some(true), &[White, Black]), Some("HI"));
        assert_eq!(race_ethnicity(Some(false), &[Asian]), Some("AS"));
        assert_eq!(race_ethnicity(None, &[White, White]), Some("WH"));
        assert_eq!(race_ethnicity(Some(false), &[White, Black]), Some("TR"));
        assert_eq!(race_ethnicity(Some(false), &[]), None);
        assert_eq!(races_column(&[White, Black, White]), json!(["BL", "WH"]));
    }

    #[test]
    fn grades_levels_dates_and_flags_read_the_sources_spellings() {
        assert_eq!(grade_code("3").as_deref(), Some("03"));
        assert_eq!(grade_code("KG").as_deref(), Some("KG"));
        assert_eq!(grade_code("tk").as_deref(), Some("PK"));
        assert_eq!(grade_code("12").as_deref(), Some("12"));
        assert_eq!(grade_code("13"), None);
        assert_eq!(grade_code("UG"), None);
        assert_eq!(school_level(-1, 5), "elementary");
        assert_eq!(school_level(6, 8), "middle");
        assert_eq!(school_level(9, 12), "high");
        assert_eq!(school_level(0, 12), "other");
        assert_eq!(
            date("d", Some(&json!("2024-08-20T00:00:00Z"))),
            Ok(Some("2024-08-20".to_owned()))
        );
        assert_eq!(date("d", Some(&json!(""))), Ok(None));
        assert!(date("d", Some(&json!("2024-13-01"))).is_err());
        assert_eq!(flag("f", Some(&json!("YES"))), Ok(Some(true)));
        assert_eq!(flag("f", Some(&json!(0))), Ok(Some(false)));
        assert!(flag("f", Some(&json!("maybe"))).is_err());
        assert_eq!(id(Some(&json!(1001))).as_deref(), Some("1001"));
        assert_eq!(id(Some(&json!(""))), None);
    }
}
