//! PowerSchool records as CRDC canonical rows. Every row carries the district
//! (`district_id`, the connector's tenant); the run adds the lineage.

use serde_json::Value;

use super::format::{IncidentRow, ProgramRow, School, Student};
use crate::crdc::{self, record};
use crate::run::{
    CRDC_DISCIPLINE_INCIDENTS, CRDC_ENROLLMENTS, CRDC_PROGRAM_ENROLLMENTS, CRDC_SCHOOLS,
    CRDC_STUDENTS, CanonicalRecord,
};

/// A program PowerQuery's program, as the canonical `program` column writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Idea,
    Sec504,
    El,
}

impl Program {
    pub fn as_str(self) -> &'static str {
        match self {
            Program::Idea => "IDEA",
            Program::Sec504 => "SEC504",
            Program::El => "EL",
        }
    }
}

/// PowerSchool's grade levels: `0` is kindergarten, below it pre-kindergarten.
pub fn grade(level: i64) -> Option<String> {
    match level {
        ..0 => Some("PK".to_owned()),
        0 => Some("KG".to_owned()),
        1..=12 => Some(format!("{level:02}")),
        _ => None,
    }
}

/// `enroll_status_code` as the canonical `enrollment_status`.
fn enrollment_status(code: i64) -> &'static str {
    match code {
        0 => "active",
        2 => "withdrawn",
        3 => "graduated",
        _ => "inactive",
    }
}

/// The enrollment a student's `school_enrollment` describes: one per student,
/// school and entry date.
pub fn enrollment_id(student: &str, school: &str, entry_date: &str) -> String {
    format!("{student}:{school}:{entry_date}")
}

/// The student row and, when the student has a current school with an entry date,
/// its enrollment row.
pub fn student(district: &str, student: &Student) -> Vec<CanonicalRecord> {
    let enrollment = student.enrollment.as_ref();
    let grade = enrollment
        .and_then(|enrollment| enrollment.grade_level)
        .and_then(grade);
    let mut rows = vec![record(
        &CRDC_STUDENTS,
        student.id.clone(),
        district,
        vec![
            ("student_id", student.id.clone().into()),
            ("sis_id", student.local_id.clone().into()),
            ("state_id", student.state_id.clone().into()),
            ("birth_date", student.birth_date.clone().into()),
            ("sex", student.sex.into()),
            ("hispanic", student.hispanic.into()),
            ("races", crdc::races_column(&student.races)),
            (
                "race_ethnicity",
                crdc::race_ethnicity(student.hispanic, &student.races).into(),
            ),
            ("grade", grade.clone().into()),
            (
                "enrollment_status",
                enrollment.map(|e| enrollment_status(e.status_code)).into(),
            ),
        ],
    )];
    if let Some(enrollment) = enrollment
        && let Some(entry_date) = &enrollment.entry_date
    {
        // PowerSchool keeps the last day of the year as an active student's exit
        // date; the canonical exit date stays NULL while the student is enrolled.
        let exit_date = match enrollment.status_code {
            0 => None,
            _ => enrollment.exit_date.clone(),
        };
        let id = enrollment_id(&student.id, &enrollment.school_id, entry_date);
        rows.push(record(
            &CRDC_ENROLLMENTS,
            student.id.clone(),
            district,
            vec![
                ("enrollment_id", id.into()),
                ("student_id", student.id.clone().into()),
                ("school_id", enrollment.school_id.clone().into()),
                ("entry_date", entry_date.clone().into()),
                ("exit_date", exit_date.into()),
                ("grade", grade.into()),
            ],
        ));
    }
    rows
}

pub fn school(district: &str, school: &School) -> CanonicalRecord {
    let level = match (school.low_grade, school.high_grade) {
        (Some(low), Some(high)) => Some(crdc::school_level(low, high)),
        _ => None,
    };
    record(
        &CRDC_SCHOOLS,
        school.id.clone(),
        district,
        vec![
            ("school_id", school.id.clone().into()),
            ("name", school.name.clone().into()),
            // The `/ws/v1` school carries no NCES id; CSV imports fill it in.
            ("nces_id", Value::Null),
            ("level", level.into()),
            ("lowest_grade", school.low_grade.and_then(grade).into()),
            ("highest_grade", school.high_grade.and_then(grade).into()),
        ],
    )
}

pub fn program(
    district: &str,
    program: Program,
    source_record_id: String,
    row: &ProgramRow,
) -> CanonicalRecord {
    record(
        &CRDC_PROGRAM_ENROLLMENTS,
        source_record_id,
        district,
        vec![
            ("student_id", row.student_id.clone().into()),
            ("program", program.as_str().into()),
            ("start_date", row.start_date.clone().into()),
            ("end_date", row.end_date.clone().into()),
        ],
    )
}

pub fn incident(district: &str, source_record_id: String, row: &IncidentRow) -> CanonicalRecord {
    record(
        &CRDC_DISCIPLINE_INCIDENTS,
        source_record_id,
        district,
        vec![
            ("incident_id", row.incident_id.clone().into()),
            ("student_id", row.student_id.clone().into()),
            ("school_id", row.school_id.clone().into()),
            ("occurred_on", row.occurred_on.clone().into()),
            ("action", row.action.into()),
            ("zero_tolerance", row.zero_tolerance.into()),
            ("days_removed", row.days_removed.into()),
            ("harassment_basis", row.harassment_basis.into()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_powerschool_numbering() {
        assert_eq!(grade(-1).as_deref(), Some("PK"));
        assert_eq!(grade(0).as_deref(), Some("KG"));
        assert_eq!(grade(7).as_deref(), Some("07"));
        assert_eq!(grade(99), None);
    }
}
