//! Bind parameters: raw bytes from the client, in text or binary format, turned into
//! [`Datum`]s of the types the SQL layer prepared the statement with.
//!
//! Text values go through the SQL layer's own text input ([`parse_datum`]), so a
//! parameter means exactly what the same literal would mean in a query. Binary values
//! are read in the layout of the OID they travel as (see [`Statement::param_oids`]),
//! then converted to the prepared type if the two differ, through text, the way
//! PostgreSQL's I/O conversion casts work.

use bytes::Bytes;
use pgwire::api::DEFAULT_NAME;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::FieldFormat;
use vigil_engine::repr::text::{datum_to_text, parse_datum};
use vigil_engine::repr::{Datum, Numeric, ScalarType};
use vigil_sql::Prepared;

use super::binary::{self, Decoded};
use super::error::WireError;
use super::results::format_code;

/// A statement as the connection keeps it between Parse and Execute.
#[derive(Clone, Debug)]
pub struct Statement {
    pub prepared: Prepared,
    /// The OID each parameter is described as and travels as: the type the client
    /// declared in Parse, or else the type the SQL layer inferred.
    pub param_oids: Vec<u32>,
}

/// The name PostgreSQL uses for a statement in messages: unnamed is `""`.
pub fn display_name(name: &str) -> &str {
    if name == DEFAULT_NAME { "" } else { name }
}

/// Decodes every parameter of a bound portal.
pub fn decode_params(portal: &Portal<Statement>) -> Result<Vec<Datum>, WireError> {
    let statement = &portal.statement.statement;
    let expected = statement.prepared.param_types.len();
    if portal.parameters.len() != expected {
        return Err(WireError::ParameterCount {
            statement: display_name(&portal.statement.id).to_owned(),
            expected,
            given: portal.parameters.len(),
        });
    }
    let formats = param_formats(&portal.parameter_format, expected)?;
    portal
        .parameters
        .iter()
        .zip(&statement.prepared.param_types)
        .zip(&statement.param_oids)
        .zip(formats)
        .enumerate()
        .map(|(i, (((value, ty), type_oid), format))| {
            decode_param(i + 1, value.as_ref(), *ty, *type_oid, format)
        })
        .collect()
}

/// The format of each parameter: none given means text, one applies to all,
/// otherwise one per parameter.
fn param_formats(format: &Format, params: usize) -> Result<Vec<FieldFormat>, WireError> {
    match format {
        Format::UnifiedText => Ok(vec![FieldFormat::Text; params]),
        Format::UnifiedBinary => Ok(vec![FieldFormat::Binary; params]),
        Format::Individual(codes) => {
            if codes.len() != params {
                return Err(WireError::ParameterFormatCount {
                    formats: codes.len(),
                    params,
                });
            }
            codes.iter().map(|code| format_code(*code)).collect()
        }
    }
}

/// Decodes parameter `position` (1-based, as in error messages).
fn decode_param(
    position: usize,
    value: Option<&Bytes>,
    ty: ScalarType,
    type_oid: u32,
    format: FieldFormat,
) -> Result<Datum, WireError> {
    let Some(bytes) = value else {
        return Ok(Datum::Null);
    };
    match format {
        FieldFormat::Text => {
            let text = std::str::from_utf8(bytes)
                .ok()
                .filter(|s| !s.contains('\0'))
                .ok_or(WireError::ParameterEncoding { position })?;
            parse_text(position, text, ty)
        }
        FieldFormat::Binary => {
            if !binary::decodes(type_oid) {
                return Err(WireError::NoBinaryInput { type_oid });
            }
            match binary::decode(type_oid, bytes)
                .map_err(|source| WireError::BinaryParameter { position, source })?
            {
                Decoded::Text(text) => parse_text(position, &text, ty),
                Decoded::Datum(datum) if has_type(&datum, ty) => Ok(datum),
                Decoded::Datum(datum) => match datum_to_text(&datum) {
                    None => Ok(Datum::Null),
                    Some(text) => parse_text(position, &text, ty),
                },
            }
        }
    }
}

fn parse_text(position: usize, text: &str, ty: ScalarType) -> Result<Datum, WireError> {
    parse_datum(text, ty).map_err(|source| WireError::TextParameter { position, source })
}

/// Whether a datum is already a value of `ty`, so no conversion is needed.
fn has_type(datum: &Datum, ty: ScalarType) -> bool {
    match (datum, ty) {
        (Datum::Null, _) => true,
        (Datum::Bool(_), ScalarType::Bool)
        | (Datum::Int16(_), ScalarType::Int16)
        | (Datum::Int32(_), ScalarType::Int32)
        | (Datum::Int64(_), ScalarType::Int64)
        | (Datum::Float64(_), ScalarType::Float64)
        | (Datum::Text(_), ScalarType::Text)
        | (Datum::Date(_), ScalarType::Date)
        | (Datum::Timestamp(_), ScalarType::Timestamp)
        | (Datum::TimestampTz(_), ScalarType::TimestampTz)
        | (Datum::Interval(_), ScalarType::Interval)
        | (Datum::Jsonb(_), ScalarType::Jsonb)
        | (Datum::Json(_), ScalarType::Json)
        | (Datum::TextArray(_), ScalarType::TextArray) => true,
        (Datum::Numeric(Numeric { scale, .. }), ScalarType::Numeric { scale: want, .. }) => {
            *scale == want
        }
        (
            Datum::Bool(_)
            | Datum::Int16(_)
            | Datum::Int32(_)
            | Datum::Int64(_)
            | Datum::Float64(_)
            | Datum::Numeric(_)
            | Datum::Text(_)
            | Datum::Date(_)
            | Datum::Timestamp(_)
            | Datum::TimestampTz(_)
            | Datum::Interval(_)
            | Datum::Jsonb(_)
            | Datum::Json(_)
            | Datum::TextArray(_),
            _,
        ) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgwire::types::oid;

    #[test]
    fn null_is_null_in_either_format() {
        for format in [FieldFormat::Text, FieldFormat::Binary] {
            assert_eq!(
                decode_param(1, None, ScalarType::Int32, oid::INT4, format).unwrap(),
                Datum::Null
            );
        }
    }

    #[test]
    fn binary_values_of_the_prepared_type_pass_through() {
        let bytes = Bytes::from_static(&[0, 0, 0, 42]);
        let datum = decode_param(
            1,
            Some(&bytes),
            ScalarType::Int32,
            oid::INT4,
            FieldFormat::Binary,
        );
        assert_eq!(datum.unwrap(), Datum::Int32(42));
    }

    #[test]
    fn short_binary_values_are_22p03() {
        let bytes = Bytes::from_static(&[0, 42]);
        let err = decode_param(
            2,
            Some(&bytes),
            ScalarType::Int32,
            oid::INT4,
            FieldFormat::Binary,
        )
        .unwrap_err();
        assert_eq!(err.code(), "22P03");
        assert_eq!(
            err.to_string(),
            "incorrect binary data format in bind parameter 2"
        );
    }

    #[test]
    fn binary_of_an_unknown_type_is_refused() {
        let bytes = Bytes::from_static(&[0; 16]);
        let err =
            decode_param(1, Some(&bytes), ScalarType::Text, 2950, FieldFormat::Binary).unwrap_err();
        assert!(matches!(err, WireError::NoBinaryInput { type_oid: 2950 }));
    }

    #[test]
    fn text_that_is_not_utf8_is_22021() {
        let bytes = Bytes::from_static(&[0xc3, 0x28]);
        let err = decode_param(
            1,
            Some(&bytes),
            ScalarType::Text,
            oid::TEXT,
            FieldFormat::Text,
        )
        .unwrap_err();
        assert_eq!(err.code(), "22021");
    }

    #[test]
    fn format_counts_must_match() {
        assert!(matches!(
            param_formats(&Format::Individual(vec![0, 1]), 3),
            Err(WireError::ParameterFormatCount {
                formats: 2,
                params: 3
            })
        ));
        assert_eq!(
            param_formats(&Format::UnifiedBinary, 2).unwrap(),
            [FieldFormat::Binary; 2]
        );
    }
}
