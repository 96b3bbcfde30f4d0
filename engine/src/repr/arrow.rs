//! Rows to Arrow record batches and back.
//!
//! DataFusion evaluates scalar expressions and ad-hoc queries over Arrow batches;
//! the dataflow holds [`Row`]s. This module converts between the two:
//!
//! ```text
//!   RelationDesc ──to_arrow_schema──▶ Schema
//!   &[Row] ──rows_to_batch──▶ RecordBatch ──(DataFusion)──▶ RecordBatch ──batch_to_rows──▶ Vec<Row>
//!   Schema ──desc_of_schema──▶ RelationDesc
//! ```
//!
//! Vigil's own schemas use one Arrow type per [`ScalarType`] ([`to_arrow_type`]).
//! Batches coming back from DataFusion may use any type it produces (`Int8`,
//! `Utf8View`, nanosecond timestamps, …); [`scalar_type_of_field`] says which
//! `ScalarType` each one reads as, and [`array_to_datums`] normalizes values to
//! that type's [`Datum`] variant. `jsonb` and `json` travel as `Utf8` tagged with
//! [`JSONB_METADATA_KEY`] field metadata (`"jsonb"` or `"json"`).
//!
//! The conversions run per batch in the dataflow, so they downcast whole arrays
//! and never go through a `ScalarValue` per cell.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::builder::NullBufferBuilder;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, GenericListArray, GenericListViewArray,
    LargeStringArray, NullArray, OffsetSizeTrait, PrimitiveArray, StringArray, StringViewArray,
};
use datafusion::arrow::buffer::{OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, DataType, Date32Type, Date64Type, Decimal32Type,
    Decimal64Type, Decimal128Type, Decimal256Type, DurationMicrosecondType,
    DurationMillisecondType, DurationNanosecondType, DurationSecondType, Field, FieldRef,
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, IntervalDayTime,
    IntervalDayTimeType, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
    IntervalYearMonthType, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type, i256,
};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::scalar::ScalarValue;

use super::text::{MICROS_PER_DAY, MICROS_PER_SEC, ReprError, datum_to_text};
use super::{Column, Datum, F64, Interval, Numeric, RelationDesc, Row, ScalarType};

/// Field metadata key marking a `Utf8` field as `jsonb` (value [`JSONB_METADATA_VALUE`])
/// or `json` (value [`JSON_METADATA_VALUE`]).
pub const JSONB_METADATA_KEY: &str = "vigil.type";
pub const JSONB_METADATA_VALUE: &str = "jsonb";
pub const JSON_METADATA_VALUE: &str = "json";

const NANOS_PER_MICRO: i64 = 1_000;
const MICROS_PER_MILLI: i64 = 1_000;
const MILLIS_PER_DAY: i64 = 86_400_000;
/// The widest precision a `Numeric` (an `i128` mantissa) always holds.
const MAX_NUMERIC_PRECISION: u8 = 38;

/// The Arrow type Vigil uses for `ty`.
pub fn to_arrow_type(ty: ScalarType) -> DataType {
    match ty {
        ScalarType::Bool => DataType::Boolean,
        ScalarType::Int16 => DataType::Int16,
        ScalarType::Int32 => DataType::Int32,
        ScalarType::Int64 => DataType::Int64,
        ScalarType::Float64 => DataType::Float64,
        ScalarType::Numeric { precision, scale } => DataType::Decimal128(precision, scale),
        ScalarType::Text | ScalarType::Jsonb | ScalarType::Json => DataType::Utf8,
        ScalarType::Date => DataType::Date32,
        ScalarType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        ScalarType::TimestampTz => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        }
        ScalarType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
        ScalarType::TextArray => {
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
        }
    }
}

/// The Arrow field of a column: its name, type, nullability and, for `jsonb` and
/// `json`, the [`JSONB_METADATA_KEY`] tag.
pub fn to_arrow_field(col: &Column) -> Field {
    let field = Field::new(&col.name, to_arrow_type(col.ty), col.nullable);
    let tag = match col.ty {
        ScalarType::Jsonb => JSONB_METADATA_VALUE,
        ScalarType::Json => JSON_METADATA_VALUE,
        _ => return field,
    };
    field.with_metadata(HashMap::from([(
        JSONB_METADATA_KEY.to_owned(),
        tag.to_owned(),
    )]))
}

/// The Arrow schema of a relation.
pub fn to_arrow_schema(desc: &RelationDesc) -> SchemaRef {
    Arc::new(Schema::new(
        desc.columns.iter().map(to_arrow_field).collect::<Vec<_>>(),
    ))
}

/// The type a string field's values read as: `jsonb` or `json` when its metadata
/// says so, `text` otherwise.
fn string_type(field: &Field) -> ScalarType {
    match field.metadata().get(JSONB_METADATA_KEY).map(String::as_str) {
        Some(JSONB_METADATA_VALUE) => ScalarType::Jsonb,
        Some(JSON_METADATA_VALUE) => ScalarType::Json,
        _ => ScalarType::Text,
    }
}

/// The [`ScalarType`] a field of any Arrow type DataFusion produces reads as.
pub fn scalar_type_of_field(field: &Field) -> Result<ScalarType, ReprError> {
    scalar_type_of(field.data_type(), string_type(field))
}

/// `strings` is what a string type reads as (see [`string_type`]).
fn scalar_type_of(dt: &DataType, strings: ScalarType) -> Result<ScalarType, ReprError> {
    Ok(match dt {
        DataType::Boolean => ScalarType::Bool,
        DataType::Int8 | DataType::UInt8 | DataType::Int16 => ScalarType::Int16,
        DataType::UInt16 | DataType::Int32 => ScalarType::Int32,
        DataType::UInt32 | DataType::Int64 => ScalarType::Int64,
        DataType::UInt64 => ScalarType::Numeric {
            precision: 20,
            scale: 0,
        },
        DataType::Float16 | DataType::Float32 | DataType::Float64 => ScalarType::Float64,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => strings,
        DataType::Null => ScalarType::Text,
        DataType::Timestamp(_, None) => ScalarType::Timestamp,
        DataType::Timestamp(_, Some(_)) => ScalarType::TimestampTz,
        DataType::Date32 | DataType::Date64 => ScalarType::Date,
        DataType::Interval(_) | DataType::Duration(_) => ScalarType::Interval,
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => ScalarType::Numeric {
            precision: (*p).min(MAX_NUMERIC_PRECISION),
            scale: *s,
        },
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::LargeListView(item)
            if is_text_item(item.data_type()) =>
        {
            ScalarType::TextArray
        }
        DataType::Dictionary(_, value) => scalar_type_of(value, strings)?,
        other => return Err(ReprError::UnsupportedType(other.to_string())),
    })
}

/// List items that read as `text`: the string types, and `Null` for a list of nulls.
fn is_text_item(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

/// The relation a schema describes.
pub fn desc_of_schema(schema: &Schema) -> Result<RelationDesc, ReprError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            Ok(Column {
                name: f.name().clone(),
                ty: scalar_type_of_field(f)?,
                nullable: f.is_nullable(),
            })
        })
        .collect::<Result<_, ReprError>>()?;
    Ok(RelationDesc::new(columns))
}

/// One batch holding `rows`, with one array per field of `schema` in the field's
/// own Arrow type, which need not be the one [`to_arrow_type`] picks: any integer
/// datum (or integral numeric) fills any integer, float or decimal field when its
/// value fits; numerics rescale only when exact; `text` and `jsonb` fill any string
/// field; either timestamp fills any timestamp field, floored to its unit;
/// intervals fill interval and duration fields that can hold them. Anything else is
/// a [`ReprError::TypeMismatch`]. Dictionary fields are built by casting.
pub fn rows_to_batch(schema: &SchemaRef, rows: &[Row]) -> Result<RecordBatch, ReprError> {
    let arity = schema.fields().len();
    if let Some(row) = rows.iter().find(|r| r.len() != arity) {
        return Err(ReprError::TypeMismatch {
            expected: format!("a row of {arity} columns"),
            found: format!("a row of {} columns", row.len()),
        });
    }
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(col, field)| column_to_array(field, rows, col))
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(|e| {
        ReprError::TypeMismatch {
            expected: "columns matching the schema".into(),
            found: e.to_string(),
        }
    })
}

/// The error for a datum of a variant the field's type cannot hold.
fn mismatch(field: &Field, d: &Datum) -> ReprError {
    ReprError::TypeMismatch {
        expected: format!("{} for column \"{}\"", field.data_type(), field.name()),
        found: datum_type_name(d),
    }
}

/// The error for a datum of a fitting variant whose value the field cannot hold.
fn unrepresentable(field: &Field, d: &Datum) -> ReprError {
    ReprError::TypeMismatch {
        expected: format!("{} for column \"{}\"", field.data_type(), field.name()),
        found: format!(
            "{} value {}",
            datum_type_name(d),
            datum_to_text(d).unwrap_or_default()
        ),
    }
}

fn datum_type_name(d: &Datum) -> String {
    let ty = match d {
        Datum::Null => return "null".into(),
        Datum::Bool(_) => ScalarType::Bool,
        Datum::Int16(_) => ScalarType::Int16,
        Datum::Int32(_) => ScalarType::Int32,
        Datum::Int64(_) => ScalarType::Int64,
        Datum::Float64(_) => ScalarType::Float64,
        Datum::Numeric(_) => return "numeric".into(),
        Datum::Text(_) => ScalarType::Text,
        Datum::Date(_) => ScalarType::Date,
        Datum::Timestamp(_) => ScalarType::Timestamp,
        Datum::TimestampTz(_) => ScalarType::TimestampTz,
        Datum::Interval(_) => ScalarType::Interval,
        Datum::Jsonb(_) => ScalarType::Jsonb,
        Datum::TextArray(_) => ScalarType::TextArray,
        Datum::Json(_) => ScalarType::Json,
    };
    ty.pg_name()
}

/// The datums of column `col` of `rows` as one array of `field`'s type.
fn column_to_array(field: &Field, rows: &[Row], col: usize) -> Result<ArrayRef, ReprError> {
    if !field.is_nullable() && rows.iter().any(|r| r[col].is_null()) {
        return Err(ReprError::TypeMismatch {
            expected: format!("a non-null value for column \"{}\"", field.name()),
            found: "null".into(),
        });
    }
    let datums = || rows.iter().map(move |r| &r[col]);
    let array: ArrayRef = match field.data_type() {
        DataType::Null => match datums().find(|d| !d.is_null()) {
            Some(d) => return Err(mismatch(field, d)),
            None => Arc::new(NullArray::new(rows.len())),
        },
        DataType::Boolean => Arc::new(
            datums()
                .map(|d| match d {
                    Datum::Null => Ok(None),
                    Datum::Bool(b) => Ok(Some(*b)),
                    d => Err(mismatch(field, d)),
                })
                .collect::<Result<BooleanArray, _>>()?,
        ),
        DataType::Int8 => primitive::<Int8Type>(field, rows, col, |d| narrow_integer(field, d))?,
        DataType::Int16 => primitive::<Int16Type>(field, rows, col, |d| narrow_integer(field, d))?,
        DataType::Int32 => primitive::<Int32Type>(field, rows, col, |d| narrow_integer(field, d))?,
        DataType::Int64 => primitive::<Int64Type>(field, rows, col, |d| narrow_integer(field, d))?,
        DataType::UInt8 => primitive::<UInt8Type>(field, rows, col, |d| narrow_integer(field, d))?,
        DataType::UInt16 => {
            primitive::<UInt16Type>(field, rows, col, |d| narrow_integer(field, d))?
        }
        DataType::UInt32 => {
            primitive::<UInt32Type>(field, rows, col, |d| narrow_integer(field, d))?
        }
        DataType::UInt64 => {
            primitive::<UInt64Type>(field, rows, col, |d| narrow_integer(field, d))?
        }
        DataType::Float64 => primitive::<Float64Type>(field, rows, col, |d| float_of(field, d))?,
        DataType::Float32 => {
            primitive::<Float32Type>(field, rows, col, |d| float_of(field, d).map(|v| v as f32))?
        }
        DataType::Float16 => {
            let wide = Field::new(field.name(), DataType::Float64, true);
            let array = column_to_array(&wide, rows, col)?;
            cast_array(&array, field.data_type())?
        }
        DataType::Decimal32(p, s) => primitive::<Decimal32Type>(field, rows, col, |d| {
            let m = decimal_of(field, d, *p, *s)?;
            i32::try_from(m).map_err(|_| unrepresentable(field, d))
        })?,
        DataType::Decimal64(p, s) => primitive::<Decimal64Type>(field, rows, col, |d| {
            let m = decimal_of(field, d, *p, *s)?;
            i64::try_from(m).map_err(|_| unrepresentable(field, d))
        })?,
        DataType::Decimal128(p, s) => {
            primitive::<Decimal128Type>(field, rows, col, |d| decimal_of(field, d, *p, *s))?
        }
        DataType::Decimal256(p, s) => primitive::<Decimal256Type>(field, rows, col, |d| {
            decimal_of(field, d, *p, *s).map(i256::from_i128)
        })?,
        DataType::Utf8 => Arc::new(
            strings(field, rows, col)?
                .into_iter()
                .collect::<StringArray>(),
        ),
        DataType::LargeUtf8 => Arc::new(
            strings(field, rows, col)?
                .into_iter()
                .collect::<LargeStringArray>(),
        ),
        DataType::Utf8View => Arc::new(
            strings(field, rows, col)?
                .into_iter()
                .collect::<StringViewArray>(),
        ),
        DataType::Date32 => primitive::<Date32Type>(field, rows, col, |d| match d {
            Datum::Date(days) => Ok(*days),
            d => Err(mismatch(field, d)),
        })?,
        DataType::Date64 => primitive::<Date64Type>(field, rows, col, |d| match d {
            Datum::Date(days) => Ok(i64::from(*days) * MILLIS_PER_DAY),
            d => Err(mismatch(field, d)),
        })?,
        DataType::Timestamp(unit, _) => {
            let micros = |d: &Datum| match d {
                Datum::Timestamp(us) | Datum::TimestampTz(us) => Ok(*us),
                d => Err(mismatch(field, d)),
            };
            time_array(field, rows, col, *unit, micros)?
        }
        DataType::Duration(unit) => {
            let micros = |d: &Datum| match d {
                Datum::Interval(iv) if iv.months == 0 => i64::from(iv.days)
                    .checked_mul(MICROS_PER_DAY)
                    .and_then(|us| us.checked_add(iv.micros))
                    .ok_or_else(|| unrepresentable(field, d)),
                Datum::Interval(_) => Err(unrepresentable(field, d)),
                d => Err(mismatch(field, d)),
            };
            time_array(field, rows, col, *unit, micros)?
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            primitive::<IntervalYearMonthType>(field, rows, col, |d| match d {
                Datum::Interval(iv) if iv.days == 0 && iv.micros == 0 => Ok(iv.months),
                Datum::Interval(_) => Err(unrepresentable(field, d)),
                d => Err(mismatch(field, d)),
            })?
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            primitive::<IntervalDayTimeType>(field, rows, col, |d| match d {
                Datum::Interval(iv) if iv.months == 0 && iv.micros % MICROS_PER_MILLI == 0 => {
                    i32::try_from(iv.micros / MICROS_PER_MILLI)
                        .map(|ms| IntervalDayTime::new(iv.days, ms))
                        .map_err(|_| unrepresentable(field, d))
                }
                Datum::Interval(_) => Err(unrepresentable(field, d)),
                d => Err(mismatch(field, d)),
            })?
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            primitive::<IntervalMonthDayNanoType>(field, rows, col, |d| match d {
                Datum::Interval(iv) => iv
                    .micros
                    .checked_mul(NANOS_PER_MICRO)
                    .map(|ns| IntervalMonthDayNano::new(iv.months, iv.days, ns))
                    .ok_or_else(|| unrepresentable(field, d)),
                d => Err(mismatch(field, d)),
            })?
        }
        DataType::List(item) => Arc::new(list_array::<i32>(field, item, rows, col)?),
        DataType::LargeList(item) => Arc::new(list_array::<i64>(field, item, rows, col)?),
        DataType::ListView(item) => Arc::new(list_view_array::<i32>(field, item, rows, col)?),
        DataType::LargeListView(item) => Arc::new(list_view_array::<i64>(field, item, rows, col)?),
        DataType::Dictionary(_, value) => {
            let plain = Field::new(field.name(), value.as_ref().clone(), true);
            let array = column_to_array(&plain, rows, col)?;
            cast_array(&array, field.data_type())?
        }
        other => return Err(ReprError::UnsupportedType(other.to_string())),
    };
    Ok(array)
}

fn cast_array(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, ReprError> {
    cast(array, to).map_err(|e| ReprError::UnsupportedType(format!("{to}: {e}")))
}

/// A primitive array of `field`'s type; `convert` sees only non-null datums.
fn primitive<T: ArrowPrimitiveType>(
    field: &Field,
    rows: &[Row],
    col: usize,
    convert: impl Fn(&Datum) -> Result<T::Native, ReprError>,
) -> Result<ArrayRef, ReprError> {
    let mut values = Vec::with_capacity(rows.len());
    let mut nulls = NullBufferBuilder::new(rows.len());
    for row in rows {
        match &row[col] {
            Datum::Null => {
                values.push(T::Native::default());
                nulls.append_null();
            }
            d => {
                values.push(convert(d)?);
                nulls.append_non_null();
            }
        }
    }
    let array = PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls.finish())
        .with_data_type(field.data_type().clone());
    Ok(Arc::new(array))
}

/// An integer datum (or an integral numeric) in the integer type `N`.
fn narrow_integer<N: TryFrom<i128>>(field: &Field, d: &Datum) -> Result<N, ReprError> {
    let wide = match d {
        Datum::Int16(v) => i128::from(*v),
        Datum::Int32(v) => i128::from(*v),
        Datum::Int64(v) => i128::from(*v),
        Datum::Numeric(n) => {
            rescale(n.mantissa, n.scale, 0).ok_or_else(|| unrepresentable(field, d))?
        }
        d => return Err(mismatch(field, d)),
    };
    N::try_from(wide).map_err(|_| unrepresentable(field, d))
}

fn float_of(field: &Field, d: &Datum) -> Result<f64, ReprError> {
    match d {
        Datum::Float64(F64(v)) => Ok(*v),
        Datum::Int16(v) => Ok(f64::from(*v)),
        Datum::Int32(v) => Ok(f64::from(*v)),
        Datum::Int64(v) => Ok(*v as f64),
        d => Err(mismatch(field, d)),
    }
}

/// A numeric or integer datum as the mantissa of a `(precision, scale)` decimal;
/// rescaling must be exact and the result must fit the precision.
fn decimal_of(field: &Field, d: &Datum, precision: u8, scale: i8) -> Result<i128, ReprError> {
    let (mantissa, from) = match d {
        Datum::Numeric(n) => (n.mantissa, n.scale),
        Datum::Int16(v) => (i128::from(*v), 0),
        Datum::Int32(v) => (i128::from(*v), 0),
        Datum::Int64(v) => (i128::from(*v), 0),
        d => return Err(mismatch(field, d)),
    };
    let m = rescale(mantissa, from, scale).ok_or_else(|| unrepresentable(field, d))?;
    let fits = match 10i128.checked_pow(u32::from(precision)) {
        Some(limit) => m.unsigned_abs() < limit.unsigned_abs(),
        None => true,
    };
    if fits {
        Ok(m)
    } else {
        Err(unrepresentable(field, d))
    }
}

/// `mantissa × 10^-from` as a mantissa of scale `to`, when that is exact.
fn rescale(mantissa: i128, from: i8, to: i8) -> Option<i128> {
    let diff = i32::from(to) - i32::from(from);
    if mantissa == 0 {
        return Some(0);
    }
    let factor = 10i128.checked_pow(diff.unsigned_abs())?;
    if diff >= 0 {
        mantissa.checked_mul(factor)
    } else {
        (mantissa % factor == 0).then(|| mantissa / factor)
    }
}

/// The text of each datum of a column, for a string array.
fn strings<'a>(
    field: &Field,
    rows: &'a [Row],
    col: usize,
) -> Result<Vec<Option<&'a str>>, ReprError> {
    rows.iter()
        .map(|r| match &r[col] {
            Datum::Null => Ok(None),
            Datum::Text(s) | Datum::Jsonb(s) | Datum::Json(s) => Ok(Some(s.as_str())),
            d => Err(mismatch(field, d)),
        })
        .collect()
}

/// A timestamp or duration array: `micros` gives each datum in microseconds, which
/// are then floored to the field's unit.
fn time_array(
    field: &Field,
    rows: &[Row],
    col: usize,
    unit: TimeUnit,
    micros: impl Fn(&Datum) -> Result<i64, ReprError>,
) -> Result<ArrayRef, ReprError> {
    let to_unit = |d: &Datum| -> Result<i64, ReprError> {
        let us = micros(d)?;
        match unit {
            TimeUnit::Second => Ok(us.div_euclid(MICROS_PER_SEC)),
            TimeUnit::Millisecond => Ok(us.div_euclid(MICROS_PER_MILLI)),
            TimeUnit::Microsecond => Ok(us),
            TimeUnit::Nanosecond => us
                .checked_mul(NANOS_PER_MICRO)
                .ok_or_else(|| unrepresentable(field, d)),
        }
    };
    match (field.data_type(), unit) {
        (DataType::Timestamp(..), TimeUnit::Second) => {
            primitive::<TimestampSecondType>(field, rows, col, to_unit)
        }
        (DataType::Timestamp(..), TimeUnit::Millisecond) => {
            primitive::<TimestampMillisecondType>(field, rows, col, to_unit)
        }
        (DataType::Timestamp(..), TimeUnit::Microsecond) => {
            primitive::<TimestampMicrosecondType>(field, rows, col, to_unit)
        }
        (DataType::Timestamp(..), TimeUnit::Nanosecond) => {
            primitive::<TimestampNanosecondType>(field, rows, col, to_unit)
        }
        (_, TimeUnit::Second) => primitive::<DurationSecondType>(field, rows, col, to_unit),
        (_, TimeUnit::Millisecond) => {
            primitive::<DurationMillisecondType>(field, rows, col, to_unit)
        }
        (_, TimeUnit::Microsecond) => {
            primitive::<DurationMicrosecondType>(field, rows, col, to_unit)
        }
        (_, TimeUnit::Nanosecond) => primitive::<DurationNanosecondType>(field, rows, col, to_unit),
    }
}

/// The pieces every list layout is built from: the elements of all lists in
/// order, where each list starts in them, and which lists are null.
struct ListParts<'a> {
    elements: Vec<Option<&'a str>>,
    /// `rows.len() + 1` positions into `elements`.
    offsets: Vec<usize>,
    nulls: NullBufferBuilder,
}

fn list_parts<'a>(field: &Field, rows: &'a [Row], col: usize) -> Result<ListParts<'a>, ReprError> {
    let mut parts = ListParts {
        elements: Vec::new(),
        offsets: Vec::with_capacity(rows.len() + 1),
        nulls: NullBufferBuilder::new(rows.len()),
    };
    parts.offsets.push(0);
    for row in rows {
        match &row[col] {
            Datum::Null => parts.nulls.append_null(),
            Datum::TextArray(elems) => {
                parts.elements.extend(elems.iter().map(|e| e.as_deref()));
                parts.nulls.append_non_null();
            }
            d => return Err(mismatch(field, d)),
        }
        parts.offsets.push(parts.elements.len());
    }
    Ok(parts)
}

/// The elements of a text list as an array of the item field's type.
fn list_values(
    field: &Field,
    item: &Field,
    elements: Vec<Option<&str>>,
) -> Result<ArrayRef, ReprError> {
    Ok(match item.data_type() {
        DataType::Utf8 => Arc::new(elements.into_iter().collect::<StringArray>()),
        DataType::LargeUtf8 => Arc::new(elements.into_iter().collect::<LargeStringArray>()),
        DataType::Utf8View => Arc::new(elements.into_iter().collect::<StringViewArray>()),
        DataType::Null if elements.iter().all(Option::is_none) => {
            Arc::new(NullArray::new(elements.len()))
        }
        _ => {
            return Err(ReprError::TypeMismatch {
                expected: format!("{} for column \"{}\"", field.data_type(), field.name()),
                found: "text[]".into(),
            });
        }
    })
}

fn offset_of<O: OffsetSizeTrait>(field: &Field, n: usize) -> Result<O, ReprError> {
    O::from_usize(n).ok_or_else(|| ReprError::TypeMismatch {
        expected: format!("{} for column \"{}\"", field.data_type(), field.name()),
        found: format!("{n} list elements"),
    })
}

fn list_error(field: &Field, e: impl std::fmt::Display) -> ReprError {
    ReprError::TypeMismatch {
        expected: format!("{} for column \"{}\"", field.data_type(), field.name()),
        found: e.to_string(),
    }
}

fn list_array<O: OffsetSizeTrait>(
    field: &Field,
    item: &FieldRef,
    rows: &[Row],
    col: usize,
) -> Result<GenericListArray<O>, ReprError> {
    let mut parts = list_parts(field, rows, col)?;
    let offsets = parts
        .offsets
        .iter()
        .map(|n| offset_of::<O>(field, *n))
        .collect::<Result<Vec<_>, _>>()?;
    let values = list_values(field, item, parts.elements)?;
    GenericListArray::try_new(
        item.clone(),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        parts.nulls.finish(),
    )
    .map_err(|e| list_error(field, e))
}

fn list_view_array<O: OffsetSizeTrait>(
    field: &Field,
    item: &FieldRef,
    rows: &[Row],
    col: usize,
) -> Result<GenericListViewArray<O>, ReprError> {
    let mut parts = list_parts(field, rows, col)?;
    let mut offsets = Vec::with_capacity(rows.len());
    let mut sizes = Vec::with_capacity(rows.len());
    for w in parts.offsets.windows(2) {
        offsets.push(offset_of::<O>(field, w[0])?);
        sizes.push(offset_of::<O>(field, w[1] - w[0])?);
    }
    let values = list_values(field, item, parts.elements)?;
    GenericListViewArray::try_new(
        item.clone(),
        ScalarBuffer::from(offsets),
        ScalarBuffer::from(sizes),
        values,
        parts.nulls.finish(),
    )
    .map_err(|e| list_error(field, e))
}

/// The rows of a batch, each column read by [`array_to_datums`].
pub fn batch_to_rows(batch: &RecordBatch) -> Result<Vec<Row>, ReprError> {
    let mut rows: Vec<Row> = (0..batch.num_rows())
        .map(|_| Vec::with_capacity(batch.num_columns()))
        .collect();
    for (array, field) in batch.columns().iter().zip(batch.schema_ref().fields()) {
        let datums = array_to_datums(array.as_ref(), field)?;
        for (row, d) in rows.iter_mut().zip(datums) {
            row.push(d);
        }
    }
    Ok(rows)
}

/// The datums of an array, each the variant of [`scalar_type_of_field`]'s type:
/// timestamps become microseconds (floored), durations and intervals
/// [`Interval`]s, `Date64` days, unsigned and narrow integers the next signed
/// type that holds them. `field` supplies the `jsonb` or `json` tag; the array's own type
/// decides how it is read.
pub fn array_to_datums(array: &dyn Array, field: &Field) -> Result<Vec<Datum>, ReprError> {
    let dt = array.data_type();
    Ok(match dt {
        DataType::Null => vec![Datum::Null; array.len()],
        DataType::Boolean => array
            .as_boolean()
            .iter()
            .map(|v| v.map_or(Datum::Null, Datum::Bool))
            .collect(),
        DataType::Int8 => map_values::<Int8Type>(array, |v| Datum::Int16(v.into())),
        DataType::Int16 => map_values::<Int16Type>(array, Datum::Int16),
        DataType::Int32 => map_values::<Int32Type>(array, Datum::Int32),
        DataType::Int64 => map_values::<Int64Type>(array, Datum::Int64),
        DataType::UInt8 => map_values::<UInt8Type>(array, |v| Datum::Int16(v.into())),
        DataType::UInt16 => map_values::<UInt16Type>(array, |v| Datum::Int32(v.into())),
        DataType::UInt32 => map_values::<UInt32Type>(array, |v| Datum::Int64(v.into())),
        DataType::UInt64 => map_values::<UInt64Type>(array, |v| {
            Datum::Numeric(Numeric {
                mantissa: v.into(),
                scale: 0,
            })
        }),
        DataType::Float16 => {
            let wide = cast(array, &DataType::Float64)
                .map_err(|e| ReprError::UnsupportedType(format!("{dt}: {e}")))?;
            map_values::<Float64Type>(wide.as_ref(), |v| Datum::Float64(F64(v)))
        }
        DataType::Float32 => map_values::<Float32Type>(array, |v| Datum::Float64(F64(v.into()))),
        DataType::Float64 => map_values::<Float64Type>(array, |v| Datum::Float64(F64(v))),
        DataType::Decimal32(_, s) => map_values::<Decimal32Type>(array, |v| {
            Datum::Numeric(Numeric {
                mantissa: v.into(),
                scale: *s,
            })
        }),
        DataType::Decimal64(_, s) => map_values::<Decimal64Type>(array, |v| {
            Datum::Numeric(Numeric {
                mantissa: v.into(),
                scale: *s,
            })
        }),
        DataType::Decimal128(_, s) => map_values::<Decimal128Type>(array, |v| {
            Datum::Numeric(Numeric {
                mantissa: v,
                scale: *s,
            })
        }),
        DataType::Decimal256(_, s) => try_map_values::<Decimal256Type>(array, |v| {
            let mantissa = v.to_i128().ok_or_else(|| ReprError::OutOfRange {
                ty: ScalarType::Numeric {
                    precision: MAX_NUMERIC_PRECISION,
                    scale: *s,
                },
                value: v.to_string(),
            })?;
            Ok(Datum::Numeric(Numeric {
                mantissa,
                scale: *s,
            }))
        })?,
        DataType::Utf8 => strings_to_datums(array.as_string::<i32>().iter(), string_type(field)),
        DataType::LargeUtf8 => {
            strings_to_datums(array.as_string::<i64>().iter(), string_type(field))
        }
        DataType::Utf8View => strings_to_datums(array.as_string_view().iter(), string_type(field)),
        DataType::Date32 => map_values::<Date32Type>(array, Datum::Date),
        DataType::Date64 => try_map_values::<Date64Type>(array, |ms| {
            i32::try_from(ms.div_euclid(MILLIS_PER_DAY))
                .map(Datum::Date)
                .map_err(|_| ReprError::OutOfRange {
                    ty: ScalarType::Date,
                    value: format!("{ms} ms"),
                })
        })?,
        DataType::Timestamp(unit, tz) => {
            let wrap = if tz.is_some() {
                Datum::TimestampTz
            } else {
                Datum::Timestamp
            };
            let ty = if tz.is_some() {
                ScalarType::TimestampTz
            } else {
                ScalarType::Timestamp
            };
            let overflow = |v: i64| ReprError::OutOfRange {
                ty,
                value: format!("{v} {unit:?}"),
            };
            match unit {
                TimeUnit::Second => try_map_values::<TimestampSecondType>(array, |v| {
                    v.checked_mul(MICROS_PER_SEC)
                        .map(wrap)
                        .ok_or_else(|| overflow(v))
                })?,
                TimeUnit::Millisecond => try_map_values::<TimestampMillisecondType>(array, |v| {
                    v.checked_mul(MICROS_PER_MILLI)
                        .map(wrap)
                        .ok_or_else(|| overflow(v))
                })?,
                TimeUnit::Microsecond => map_values::<TimestampMicrosecondType>(array, wrap),
                TimeUnit::Nanosecond => map_values::<TimestampNanosecondType>(array, |v| {
                    wrap(v.div_euclid(NANOS_PER_MICRO))
                }),
            }
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            map_values::<IntervalYearMonthType>(array, |months| {
                Datum::Interval(Interval {
                    months,
                    days: 0,
                    micros: 0,
                })
            })
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            map_values::<IntervalDayTimeType>(array, |v| {
                Datum::Interval(Interval {
                    months: 0,
                    days: v.days,
                    micros: i64::from(v.milliseconds) * MICROS_PER_MILLI,
                })
            })
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            map_values::<IntervalMonthDayNanoType>(array, |v| {
                Datum::Interval(Interval {
                    months: v.months,
                    days: v.days,
                    micros: v.nanoseconds / NANOS_PER_MICRO,
                })
            })
        }
        DataType::Duration(unit) => {
            // An elapsed time (timestamp minus timestamp) reads as whole days plus
            // a time of day, as PostgreSQL's timestamp subtraction prints it.
            let interval = |micros: i64| {
                Datum::Interval(Interval {
                    months: 0,
                    days: (micros / MICROS_PER_DAY) as i32,
                    micros: micros % MICROS_PER_DAY,
                })
            };
            let overflow = |v: i64| ReprError::OutOfRange {
                ty: ScalarType::Interval,
                value: format!("{v} {unit:?}"),
            };
            match unit {
                TimeUnit::Second => try_map_values::<DurationSecondType>(array, |v| {
                    v.checked_mul(MICROS_PER_SEC)
                        .map(interval)
                        .ok_or_else(|| overflow(v))
                })?,
                TimeUnit::Millisecond => try_map_values::<DurationMillisecondType>(array, |v| {
                    v.checked_mul(MICROS_PER_MILLI)
                        .map(interval)
                        .ok_or_else(|| overflow(v))
                })?,
                TimeUnit::Microsecond => map_values::<DurationMicrosecondType>(array, interval),
                TimeUnit::Nanosecond => {
                    map_values::<DurationNanosecondType>(array, |v| interval(v / NANOS_PER_MICRO))
                }
            }
        }
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::LargeListView(item)
            if is_text_item(item.data_type()) =>
        {
            match dt {
                DataType::List(_) => {
                    let list = array.as_list::<i32>();
                    list_to_datums(list, list.values().as_ref(), |i| {
                        list.value_offsets()[i].as_usize()..list.value_offsets()[i + 1].as_usize()
                    })?
                }
                DataType::LargeList(_) => {
                    let list = array.as_list::<i64>();
                    list_to_datums(list, list.values().as_ref(), |i| {
                        list.value_offsets()[i].as_usize()..list.value_offsets()[i + 1].as_usize()
                    })?
                }
                DataType::ListView(_) => {
                    let list = array.as_list_view::<i32>();
                    list_to_datums(list, list.values().as_ref(), |i| {
                        let start = list.value_offsets()[i].as_usize();
                        start..start + list.value_sizes()[i].as_usize()
                    })?
                }
                _ => {
                    let list = array.as_list_view::<i64>();
                    list_to_datums(list, list.values().as_ref(), |i| {
                        let start = list.value_offsets()[i].as_usize();
                        start..start + list.value_sizes()[i].as_usize()
                    })?
                }
            }
        }
        DataType::Dictionary(_, value) => {
            let plain =
                cast(array, value).map_err(|e| ReprError::UnsupportedType(format!("{dt}: {e}")))?;
            array_to_datums(plain.as_ref(), field)?
        }
        other => return Err(ReprError::UnsupportedType(other.to_string())),
    })
}

/// The non-null slots of a primitive array mapped by `f`; null slots are never
/// passed to `f`, so garbage behind a null cannot fail a conversion.
fn map_values<T: ArrowPrimitiveType>(
    array: &dyn Array,
    f: impl Fn(T::Native) -> Datum,
) -> Vec<Datum> {
    let a = array.as_primitive::<T>();
    match a.nulls().filter(|n| n.null_count() > 0) {
        None => a.values().iter().map(|v| f(*v)).collect(),
        Some(nulls) => a
            .values()
            .iter()
            .zip(nulls.iter())
            .map(|(v, valid)| if valid { f(*v) } else { Datum::Null })
            .collect(),
    }
}

fn try_map_values<T: ArrowPrimitiveType>(
    array: &dyn Array,
    f: impl Fn(T::Native) -> Result<Datum, ReprError>,
) -> Result<Vec<Datum>, ReprError> {
    let a = array.as_primitive::<T>();
    match a.nulls().filter(|n| n.null_count() > 0) {
        None => a.values().iter().map(|v| f(*v)).collect(),
        Some(nulls) => a
            .values()
            .iter()
            .zip(nulls.iter())
            .map(|(v, valid)| if valid { f(*v) } else { Ok(Datum::Null) })
            .collect(),
    }
}

/// `ty` is [`string_type`]'s answer for the field.
fn strings_to_datums<'a>(
    values: impl Iterator<Item = Option<&'a str>>,
    ty: ScalarType,
) -> Vec<Datum> {
    let wrap = match ty {
        ScalarType::Jsonb => Datum::Jsonb,
        ScalarType::Json => Datum::Json,
        _ => Datum::Text,
    };
    values
        .map(|v| v.map_or(Datum::Null, |s| wrap(s.to_owned())))
        .collect()
}

/// Text items of a list's values array, of whichever string layout.
enum TextItems<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    Null,
}

impl<'a> TextItems<'a> {
    fn new(values: &'a dyn Array) -> Result<Self, ReprError> {
        Ok(match values.data_type() {
            DataType::Utf8 => TextItems::Utf8(values.as_string::<i32>()),
            DataType::LargeUtf8 => TextItems::LargeUtf8(values.as_string::<i64>()),
            DataType::Utf8View => TextItems::Utf8View(values.as_string_view()),
            DataType::Null => TextItems::Null,
            other => return Err(ReprError::UnsupportedType(format!("list of {other}"))),
        })
    }

    fn get(&self, i: usize) -> Option<String> {
        match self {
            TextItems::Utf8(a) => a.is_valid(i).then(|| a.value(i).to_owned()),
            TextItems::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i).to_owned()),
            TextItems::Utf8View(a) => a.is_valid(i).then(|| a.value(i).to_owned()),
            TextItems::Null => None,
        }
    }
}

fn list_to_datums(
    list: &dyn Array,
    values: &dyn Array,
    range: impl Fn(usize) -> std::ops::Range<usize>,
) -> Result<Vec<Datum>, ReprError> {
    let items = TextItems::new(values)?;
    Ok((0..list.len())
        .map(|i| {
            if list.is_null(i) {
                Datum::Null
            } else {
                Datum::TextArray(range(i).map(|j| items.get(j)).collect())
            }
        })
        .collect())
}

/// `d` as a literal of Arrow type `ty`, for binding a query parameter.
pub fn datum_to_scalar_value(d: &Datum, ty: &DataType) -> Result<ScalarValue, ReprError> {
    let field = Field::new("", ty.clone(), true);
    let array = column_to_array(&field, &[vec![d.clone()]], 0)?;
    ScalarValue::try_from_array(&array, 0).map_err(|e| ReprError::UnsupportedType(e.to_string()))
}

/// The datum of a literal. A `ScalarValue` has no field metadata, so a `jsonb`
/// literal reads as text.
pub fn scalar_value_to_datum(v: &ScalarValue) -> Result<Datum, ReprError> {
    let array = v
        .to_array_of_size(1)
        .map_err(|e| ReprError::UnsupportedType(e.to_string()))?;
    let field = Field::new("", array.data_type().clone(), true);
    Ok(array_to_datums(array.as_ref(), &field)?
        .pop()
        .unwrap_or(Datum::Null))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{
        Date64Array, Decimal128Array, Decimal256Array, DictionaryArray, DurationNanosecondArray,
        Float16Array, Float32Array, Float64Array, Int8Array, Int64Array, IntervalDayTimeArray,
        IntervalYearMonthArray, LargeListArray, ListViewArray, StringViewBuilder,
        TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt8Array,
        UInt16Array, UInt32Array, UInt64Array,
    };
    use datafusion::arrow::datatypes::Int32Type as Key;

    use super::*;
    use crate::repr::text::parse_datum;

    fn col(name: &str, ty: ScalarType) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable: true,
        }
    }

    const NUMERIC_10_2: ScalarType = ScalarType::Numeric {
        precision: 10,
        scale: 2,
    };

    /// One column of every scalar type.
    fn all_types() -> RelationDesc {
        RelationDesc::new(vec![
            col("b", ScalarType::Bool),
            col("i16", ScalarType::Int16),
            col("i32", ScalarType::Int32),
            col("i64", ScalarType::Int64),
            col("f", ScalarType::Float64),
            col("n", NUMERIC_10_2),
            col("t", ScalarType::Text),
            col("d", ScalarType::Date),
            col("ts", ScalarType::Timestamp),
            col("tstz", ScalarType::TimestampTz),
            col("iv", ScalarType::Interval),
            col("j", ScalarType::Jsonb),
            col("arr", ScalarType::TextArray),
        ])
    }

    fn sample_rows(desc: &RelationDesc) -> Vec<Row> {
        let text = [
            "t",
            "-32768",
            "2147483647",
            "-9223372036854775808",
            "-1.5e-300",
            "-12345678.9",
            "héllo",
            "0044-03-15 BC",
            "2024-03-01 13:45:00.123456",
            "1969-12-31 23:59:59.999999",
            "1 year 2 mons -3 days 04:05:06.5",
            r#"{"b": [1, 2], "a": null}"#,
            r#"{a,NULL,"b c",""}"#,
        ];
        let full = desc
            .types()
            .zip(text)
            .map(|(ty, s)| parse_datum(s, ty).expect("sample parses"))
            .collect::<Row>();
        let nulls = vec![Datum::Null; desc.arity()];
        let special = desc
            .types()
            .map(|ty| match ty {
                ScalarType::Float64 => Datum::Float64(F64(f64::NAN)),
                ScalarType::Text => Datum::Text(String::new()),
                ScalarType::TextArray => Datum::TextArray(vec![]),
                ScalarType::Timestamp => Datum::Timestamp(i64::MIN),
                ScalarType::Interval => Datum::Interval(Interval {
                    months: i32::MIN,
                    days: 1,
                    micros: i64::MAX / 1000,
                }),
                _ => Datum::Null,
            })
            .collect();
        vec![full, nulls, special]
    }

    fn batch_of(fields: Vec<Field>, columns: Vec<ArrayRef>) -> RecordBatch {
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("valid batch")
    }

    fn one_column(field: Field, rows: &[Datum]) -> Result<RecordBatch, ReprError> {
        let rows: Vec<Row> = rows.iter().map(|d| vec![d.clone()]).collect();
        rows_to_batch(&Arc::new(Schema::new(vec![field])), &rows)
    }

    fn column_datums(batch: &RecordBatch) -> Vec<Datum> {
        batch_to_rows(batch)
            .expect("readable")
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect()
    }

    #[test]
    fn json_and_jsonb_fields_keep_their_types_and_text() {
        let schema = to_arrow_schema(&RelationDesc::new(vec![
            col("j", ScalarType::Json),
            col("b", ScalarType::Jsonb),
            col("t", ScalarType::Text),
        ]));
        let desc = desc_of_schema(&schema).expect("supported");
        assert_eq!(
            desc.types().collect::<Vec<_>>(),
            [ScalarType::Json, ScalarType::Jsonb, ScalarType::Text]
        );
        let rows = vec![vec![
            Datum::Json(r#"{"b":1,  "a":2}"#.into()),
            Datum::Jsonb(r#"{"a": 2, "b": 1}"#.into()),
            Datum::Text("x".into()),
        ]];
        let batch = rows_to_batch(&schema, &rows).expect("converts");
        assert_eq!(batch_to_rows(&batch).expect("converts"), rows);
    }

    #[test]
    fn arrow_types_of_scalar_types() {
        assert_eq!(to_arrow_type(NUMERIC_10_2), DataType::Decimal128(10, 2));
        assert_eq!(
            to_arrow_type(ScalarType::TimestampTz),
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        );
        assert_eq!(
            to_arrow_type(ScalarType::TextArray),
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        );
        let j = to_arrow_field(&Column {
            name: "j".into(),
            ty: ScalarType::Jsonb,
            nullable: false,
        });
        assert_eq!(j.data_type(), &DataType::Utf8);
        assert!(!j.is_nullable());
        assert_eq!(
            j.metadata().get(JSONB_METADATA_KEY).map(String::as_str),
            Some("jsonb")
        );
        assert!(
            to_arrow_field(&col("t", ScalarType::Text))
                .metadata()
                .is_empty()
        );
        let desc = all_types();
        assert_eq!(
            desc_of_schema(&to_arrow_schema(&desc)).expect("maps back"),
            desc
        );
    }

    #[test]
    fn scalar_types_of_datafusion_types() {
        let ty = |dt: DataType| scalar_type_of_field(&Field::new("x", dt, true));
        let list = |item: DataType| Arc::new(Field::new("item", item, true));
        let cases = [
            (DataType::Int8, ScalarType::Int16),
            (DataType::UInt8, ScalarType::Int16),
            (DataType::UInt16, ScalarType::Int32),
            (DataType::UInt32, ScalarType::Int64),
            (
                DataType::UInt64,
                ScalarType::Numeric {
                    precision: 20,
                    scale: 0,
                },
            ),
            (DataType::Float16, ScalarType::Float64),
            (DataType::Float32, ScalarType::Float64),
            (DataType::LargeUtf8, ScalarType::Text),
            (DataType::Utf8View, ScalarType::Text),
            (DataType::Null, ScalarType::Text),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                ScalarType::Timestamp,
            ),
            (
                DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
                ScalarType::TimestampTz,
            ),
            (DataType::Date64, ScalarType::Date),
            (
                DataType::Interval(IntervalUnit::DayTime),
                ScalarType::Interval,
            ),
            (
                DataType::Duration(TimeUnit::Millisecond),
                ScalarType::Interval,
            ),
            (
                DataType::Decimal256(76, 4),
                ScalarType::Numeric {
                    precision: 38,
                    scale: 4,
                },
            ),
            (
                DataType::Decimal128(5, -2),
                ScalarType::Numeric {
                    precision: 5,
                    scale: -2,
                },
            ),
            (
                DataType::LargeList(list(DataType::Utf8View)),
                ScalarType::TextArray,
            ),
            (
                DataType::ListView(list(DataType::LargeUtf8)),
                ScalarType::TextArray,
            ),
            (
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                ScalarType::Text,
            ),
        ];
        for (dt, expected) in cases {
            assert_eq!(ty(dt.clone()).expect("supported"), expected, "{dt}");
        }
        let jsonb_view =
            Field::new("j", DataType::Utf8View, true).with_metadata(HashMap::from([(
                JSONB_METADATA_KEY.to_owned(),
                "jsonb".to_owned(),
            )]));
        assert_eq!(
            scalar_type_of_field(&jsonb_view).expect("supported"),
            ScalarType::Jsonb
        );
        for dt in [
            DataType::Binary,
            DataType::List(list(DataType::Int64)),
            DataType::Time64(TimeUnit::Microsecond),
        ] {
            assert!(matches!(ty(dt), Err(ReprError::UnsupportedType(_))));
        }
        let schema = Schema::new(vec![Field::new("bin", DataType::Binary, true)]);
        assert_eq!(
            desc_of_schema(&schema).expect_err("binary").to_string(),
            "unsupported type: Binary"
        );
    }

    #[test]
    fn every_type_round_trips_through_a_batch() {
        let desc = all_types();
        let schema = to_arrow_schema(&desc);
        let rows = sample_rows(&desc);
        let batch = rows_to_batch(&schema, &rows).expect("converts");
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(batch.schema(), schema);
        assert_eq!(batch_to_rows(&batch).expect("converts back"), rows);
        // A slice reads its own rows.
        assert_eq!(
            batch_to_rows(&batch.slice(1, 2)).expect("converts back"),
            rows[1..]
        );
    }

    #[test]
    fn zero_columns_keep_the_row_count() {
        let schema = Arc::new(Schema::empty());
        let batch = rows_to_batch(&schema, &[vec![], vec![], vec![]]).expect("converts");
        assert_eq!((batch.num_rows(), batch.num_columns()), (3, 0));
        assert_eq!(
            batch_to_rows(&batch).expect("converts back"),
            vec![Row::new(); 3]
        );
    }

    #[test]
    fn row_width_must_match() {
        let schema = to_arrow_schema(&RelationDesc::new(vec![col("a", ScalarType::Int32)]));
        let err = rows_to_batch(&schema, &[vec![Datum::Int32(1), Datum::Int32(2)]])
            .expect_err("too wide");
        assert_eq!(
            err.to_string(),
            "type mismatch: expected a row of 1 columns, found a row of 2 columns"
        );
    }

    #[test]
    fn mismatched_datums_are_rejected() {
        let err = one_column(
            Field::new("a", DataType::Int32, true),
            &[Datum::Text("x".into())],
        )
        .expect_err("text in an int column");
        assert_eq!(
            err.to_string(),
            "type mismatch: expected Int32 for column \"a\", found text"
        );
        let err =
            one_column(Field::new("a", DataType::Int32, false), &[Datum::Null]).expect_err("null");
        assert_eq!(
            err.to_string(),
            "type mismatch: expected a non-null value for column \"a\", found null"
        );
        let err = one_column(Field::new("a", DataType::Int8, true), &[Datum::Int32(300)])
            .expect_err("range");
        assert_eq!(
            err.to_string(),
            "type mismatch: expected Int8 for column \"a\", found integer value 300"
        );
        let year_month = Field::new("a", DataType::Interval(IntervalUnit::YearMonth), true);
        let day = Datum::Interval(Interval {
            months: 0,
            days: 1,
            micros: 0,
        });
        assert!(matches!(
            one_column(year_month, &[day]),
            Err(ReprError::TypeMismatch { .. })
        ));
        let null_type = Field::new("a", DataType::Null, true);
        assert!(matches!(
            one_column(null_type.clone(), &[Datum::Bool(true)]),
            Err(ReprError::TypeMismatch { .. })
        ));
        assert_eq!(
            column_datums(&one_column(null_type, &[Datum::Null]).expect("null")),
            vec![Datum::Null]
        );
        let binary = Field::new("a", DataType::Binary, true);
        assert!(matches!(
            one_column(binary, &[Datum::Null]),
            Err(ReprError::UnsupportedType(_))
        ));
    }

    #[test]
    fn nanosecond_and_other_timestamp_units() {
        let us = -1_500_001; // 1969-12-31 23:59:58.499999
        for tz in [None, Some("UTC".into())] {
            let datum = if tz.is_some() {
                Datum::TimestampTz(us)
            } else {
                Datum::Timestamp(us)
            };
            let field = Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Nanosecond, tz.clone()),
                true,
            );
            let batch = one_column(field, &[datum.clone(), Datum::Null]).expect("converts");
            let array = batch.column(0).as_primitive::<TimestampNanosecondType>();
            assert_eq!(array.value(0), us * 1000);
            assert_eq!(array.timezone(), tz.as_deref());
            assert_eq!(column_datums(&batch), vec![datum, Datum::Null]);
        }
        // Coarser units floor toward negative infinity.
        let field = Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true);
        let batch = one_column(field, &[Datum::Timestamp(us)]).expect("converts");
        assert_eq!(
            batch
                .column(0)
                .as_primitive::<TimestampMillisecondType>()
                .value(0),
            -1501
        );
        let field = Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true);
        assert!(one_column(field, &[Datum::Timestamp(i64::MAX / 100)]).is_err());

        let ns = Arc::new(TimestampNanosecondArray::from(vec![
            Some(-1),
            Some(1_999),
            None,
        ]));
        let s = Arc::new(TimestampSecondArray::from(vec![Some(-2)]).with_timezone("+01:00"));
        let ms = Arc::new(TimestampMillisecondArray::from(vec![Some(1_500)]));
        let read = |array: ArrayRef| {
            array_to_datums(
                array.as_ref(),
                &Field::new("x", array.data_type().clone(), true),
            )
            .expect("converts")
        };
        assert_eq!(
            read(ns),
            vec![Datum::Timestamp(-1), Datum::Timestamp(1), Datum::Null]
        );
        assert_eq!(read(s), vec![Datum::TimestampTz(-2_000_000)]);
        assert_eq!(read(ms), vec![Datum::Timestamp(1_500_000)]);
        let overflow = Arc::new(TimestampSecondArray::from(vec![i64::MAX]));
        assert!(matches!(
            array_to_datums(
                overflow.as_ref(),
                &Field::new("x", overflow.data_type().clone(), true)
            ),
            Err(ReprError::OutOfRange { .. })
        ));
    }

    #[test]
    fn string_layouts() {
        let datums = [
            Datum::Text("a".into()),
            Datum::Null,
            Datum::Text("a longer string than twelve bytes".into()),
        ];
        for dt in [DataType::Utf8View, DataType::LargeUtf8, DataType::Utf8] {
            let batch = one_column(Field::new("s", dt.clone(), true), &datums).expect("converts");
            assert_eq!(batch.column(0).data_type(), &dt);
            assert_eq!(column_datums(&batch), datums);
        }
        let mut view = StringViewBuilder::new();
        view.append_value("{\"a\": 1}");
        view.append_null();
        let view: ArrayRef = Arc::new(view.finish());
        let jsonb = Field::new("j", DataType::Utf8View, true).with_metadata(HashMap::from([(
            JSONB_METADATA_KEY.to_owned(),
            "jsonb".to_owned(),
        )]));
        assert_eq!(
            array_to_datums(view.as_ref(), &jsonb).expect("converts"),
            vec![Datum::Jsonb("{\"a\": 1}".into()), Datum::Null]
        );
        let dict: DictionaryArray<Key> = vec![Some("x"), None, Some("x")].into_iter().collect();
        let field = Field::new("d", dict.data_type().clone(), true);
        let expected = vec![
            Datum::Text("x".into()),
            Datum::Null,
            Datum::Text("x".into()),
        ];
        assert_eq!(array_to_datums(&dict, &field).expect("converts"), expected);
        let batch = one_column(field, &expected).expect("builds a dictionary");
        assert_eq!(column_datums(&batch), expected);
    }

    #[test]
    fn decimals_rescale_exactly() {
        let n = |mantissa, scale| Datum::Numeric(Numeric { mantissa, scale });
        let field = |p, s| Field::new("n", DataType::Decimal128(p, s), true);
        let batch =
            one_column(field(10, 4), &[n(12345, 2), Datum::Int32(-7), n(5, -1)]).expect("rescales");
        let values: Vec<i128> = batch
            .column(0)
            .as_primitive::<Decimal128Type>()
            .values()
            .to_vec();
        assert_eq!(values, vec![1234500, -70000, 500000]);
        assert_eq!(
            column_datums(&batch),
            vec![n(1234500, 4), n(-70000, 4), n(500000, 4)]
        );
        let batch = one_column(field(10, 1), &[n(12340, 2)]).expect("exact");
        assert_eq!(column_datums(&batch), vec![n(1234, 1)]);
        assert!(matches!(
            one_column(field(10, 1), &[n(12345, 2)]),
            Err(ReprError::TypeMismatch { .. })
        ));
        assert!(matches!(
            one_column(field(4, 2), &[n(10000, 2)]),
            Err(ReprError::TypeMismatch { .. })
        ));
        assert!(one_column(field(38, 0), &[n(1, -40)]).is_err());
        assert_eq!(
            column_datums(&one_column(field(38, 0), &[n(0, -100)]).expect("zero")),
            vec![n(0, 0)]
        );

        let wide = Field::new("n", DataType::Decimal256(50, 3), true);
        let batch = one_column(wide.clone(), &[n(-5, 1), Datum::Null]).expect("converts");
        assert_eq!(column_datums(&batch), vec![n(-500, 3), Datum::Null]);
        let huge = Decimal256Array::from(vec![
            i256::from_i128(i128::MAX).wrapping_mul(i256::from_i128(10)),
        ])
        .with_precision_and_scale(50, 3)
        .expect("valid");
        assert!(matches!(
            array_to_datums(&huge, &wide),
            Err(ReprError::OutOfRange { .. })
        ));
        for dt in [DataType::Decimal32(9, 2), DataType::Decimal64(18, 2)] {
            let batch = one_column(Field::new("n", dt, true), &[n(-12345, 2)]).expect("converts");
            assert_eq!(column_datums(&batch), vec![n(-12345, 2)]);
        }
        let plain = Decimal128Array::from(vec![Some(-15), None])
            .with_precision_and_scale(5, 1)
            .expect("valid");
        assert_eq!(
            array_to_datums(&plain, &Field::new("n", plain.data_type().clone(), true))
                .expect("converts"),
            vec![n(-15, 1), Datum::Null]
        );
    }

    #[test]
    fn narrow_and_unsigned_numbers() {
        let read = |array: &dyn Array| {
            array_to_datums(array, &Field::new("x", array.data_type().clone(), true))
                .expect("converts")
        };
        assert_eq!(
            read(&Int8Array::from(vec![Some(-128), None])),
            vec![Datum::Int16(-128), Datum::Null]
        );
        assert_eq!(read(&UInt8Array::from(vec![255])), vec![Datum::Int16(255)]);
        assert_eq!(
            read(&UInt16Array::from(vec![65535])),
            vec![Datum::Int32(65535)]
        );
        assert_eq!(
            read(&UInt32Array::from(vec![u32::MAX])),
            vec![Datum::Int64(u32::MAX.into())]
        );
        assert_eq!(
            read(&UInt64Array::from(vec![u64::MAX])),
            vec![Datum::Numeric(Numeric {
                mantissa: u64::MAX.into(),
                scale: 0
            })]
        );
        assert_eq!(
            read(&Float32Array::from(vec![1.5f32])),
            vec![Datum::Float64(F64(1.5))]
        );
        let half = cast(
            &(Arc::new(Float64Array::from(vec![Some(0.5), None])) as ArrayRef),
            &DataType::Float16,
        )
        .expect("casts");
        assert!(half.as_any().is::<Float16Array>());
        assert_eq!(
            read(half.as_ref()),
            vec![Datum::Float64(F64(0.5)), Datum::Null]
        );

        let numeric = |mantissa, scale| Datum::Numeric(Numeric { mantissa, scale });
        let float = |v| Datum::Float64(F64(v));
        for (dt, datums, expected) in [
            (
                DataType::Int8,
                vec![Datum::Int16(-128), Datum::Int64(127)],
                vec![Datum::Int16(-128), Datum::Int16(127)],
            ),
            (
                DataType::UInt8,
                vec![Datum::Int16(255), Datum::Null],
                vec![Datum::Int16(255), Datum::Null],
            ),
            (
                DataType::UInt16,
                vec![Datum::Int32(65535)],
                vec![Datum::Int32(65535)],
            ),
            (
                DataType::UInt32,
                vec![Datum::Int64(u32::MAX.into())],
                vec![Datum::Int64(u32::MAX.into())],
            ),
            (
                DataType::UInt64,
                vec![numeric(u64::MAX.into(), 0)],
                vec![numeric(u64::MAX.into(), 0)],
            ),
            (
                DataType::Int64,
                vec![Datum::Int16(-1), numeric(500, 2)],
                vec![Datum::Int64(-1), Datum::Int64(5)],
            ),
            (
                DataType::Float32,
                vec![float(-0.25), Datum::Int32(3)],
                vec![float(-0.25), float(3.0)],
            ),
            (DataType::Float16, vec![float(2.0)], vec![float(2.0)]),
        ] {
            let batch = one_column(Field::new("x", dt.clone(), true), &datums).expect("converts");
            assert_eq!(batch.column(0).data_type(), &dt);
            assert_eq!(column_datums(&batch), expected, "{dt}");
        }
        let negative = one_column(Field::new("x", DataType::UInt32, true), &[Datum::Int32(-1)]);
        assert!(matches!(negative, Err(ReprError::TypeMismatch { .. })));
        let fraction = one_column(
            Field::new("x", DataType::Int64, true),
            &[Datum::Numeric(Numeric {
                mantissa: 5,
                scale: 1,
            })],
        );
        assert!(matches!(fraction, Err(ReprError::TypeMismatch { .. })));
    }

    #[test]
    fn dates_durations_and_intervals() {
        let read = |array: &dyn Array| {
            array_to_datums(array, &Field::new("x", array.data_type().clone(), true))
                .expect("converts")
        };
        let iv = |months, days, micros| {
            Datum::Interval(Interval {
                months,
                days,
                micros,
            })
        };
        assert_eq!(
            read(&Date64Array::from(vec![-1, 86_400_000])),
            vec![Datum::Date(-1), Datum::Date(1)]
        );
        assert!(
            array_to_datums(
                &Date64Array::from(vec![i64::MAX]),
                &Field::new("x", DataType::Date64, true)
            )
            .is_err()
        );
        assert_eq!(
            read(&IntervalYearMonthArray::from(vec![-14])),
            vec![iv(-14, 0, 0)]
        );
        assert_eq!(
            read(&IntervalDayTimeArray::from(vec![IntervalDayTime::new(
                2, -1500
            )])),
            vec![iv(0, 2, -1_500_000)]
        );
        assert_eq!(
            read(&DurationNanosecondArray::from(vec![Some(-1_999), None])),
            vec![iv(0, 0, -1), Datum::Null]
        );
        let mdn = Arc::new(PrimitiveArray::<IntervalMonthDayNanoType>::from(vec![
            IntervalMonthDayNano::new(1, 2, 3_999),
        ])) as ArrayRef;
        assert_eq!(read(mdn.as_ref()), vec![iv(1, 2, 3)]);

        for (dt, datums) in [
            (DataType::Date64, vec![Datum::Date(-719_528), Datum::Null]),
            (
                DataType::Interval(IntervalUnit::YearMonth),
                vec![iv(-25, 0, 0)],
            ),
            (
                DataType::Interval(IntervalUnit::DayTime),
                vec![iv(0, -3, 1_000)],
            ),
            (
                DataType::Duration(TimeUnit::Microsecond),
                vec![iv(0, 0, -5)],
            ),
            (
                DataType::Duration(TimeUnit::Second),
                vec![iv(0, 0, 7_000_000)],
            ),
        ] {
            let batch = one_column(Field::new("x", dt.clone(), true), &datums).expect("converts");
            assert_eq!(batch.column(0).data_type(), &dt);
            assert_eq!(column_datums(&batch), datums, "{dt}");
        }
        let duration = one_column(
            Field::new("x", DataType::Duration(TimeUnit::Microsecond), true),
            &[iv(0, 1, 1)],
        )
        .expect("days become microseconds");
        // and read back as whole days plus a time, as PostgreSQL prints elapsed time.
        assert_eq!(column_datums(&duration), vec![iv(0, 1, 1)]);
        for (dt, d) in [
            (DataType::Duration(TimeUnit::Microsecond), iv(1, 0, 0)),
            (DataType::Interval(IntervalUnit::DayTime), iv(0, 0, 1)),
            (
                DataType::Interval(IntervalUnit::MonthDayNano),
                iv(0, 0, i64::MAX),
            ),
        ] {
            assert!(matches!(
                one_column(Field::new("x", dt, true), &[d]),
                Err(ReprError::TypeMismatch { .. })
            ));
        }
    }

    #[test]
    fn list_layouts() {
        let arr = |elems: &[Option<&str>]| {
            Datum::TextArray(elems.iter().map(|e| e.map(str::to_owned)).collect())
        };
        let datums = vec![
            arr(&[Some("a"), None]),
            Datum::Null,
            arr(&[]),
            arr(&[Some("")]),
        ];
        for item in [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View] {
            let item = Arc::new(Field::new("item", item, true));
            for dt in [
                DataType::List(item.clone()),
                DataType::LargeList(item.clone()),
                DataType::ListView(item.clone()),
                DataType::LargeListView(item.clone()),
            ] {
                let batch =
                    one_column(Field::new("l", dt.clone(), true), &datums).expect("converts");
                assert_eq!(batch.column(0).data_type(), &dt);
                assert_eq!(column_datums(&batch), datums, "{dt}");
                assert_eq!(column_datums(&batch.slice(2, 2)), datums[2..], "{dt}");
            }
        }
        let strict = Arc::new(Field::new("item", DataType::Utf8, false));
        let err = one_column(
            Field::new("l", DataType::List(strict.clone()), true),
            &[arr(&[None])],
        );
        assert!(matches!(err, Err(ReprError::TypeMismatch { .. })));
        let batch = one_column(
            Field::new("l", DataType::List(strict), true),
            &[arr(&[Some("x")])],
        )
        .expect("no nulls");
        assert_eq!(column_datums(&batch), vec![arr(&[Some("x")])]);

        let values: ArrayRef = Arc::new(StringViewArray::from(vec![Some("x"), None, Some("y")]));
        let item = Arc::new(Field::new("item", DataType::Utf8View, true));
        let large = LargeListArray::new(
            item.clone(),
            OffsetBuffer::from_lengths([2, 1]),
            values.clone(),
            None,
        );
        let field = Field::new("l", large.data_type().clone(), true);
        assert_eq!(
            array_to_datums(&large, &field).expect("converts"),
            vec![arr(&[Some("x"), None]), arr(&[Some("y")])]
        );
        let view = ListViewArray::new(
            item,
            ScalarBuffer::from(vec![2, 0]),
            ScalarBuffer::from(vec![1, 3]),
            values,
            None,
        );
        let field = Field::new("l", view.data_type().clone(), true);
        assert_eq!(
            array_to_datums(&view, &field).expect("converts"),
            vec![arr(&[Some("y")]), arr(&[Some("x"), None, Some("y")])]
        );
        let ints = Arc::new(Field::new("item", DataType::Int64, true));
        assert!(matches!(
            one_column(Field::new("l", DataType::List(ints), true), &[arr(&[])]),
            Err(ReprError::TypeMismatch { .. })
        ));
    }

    #[test]
    fn nulls_hide_garbage() {
        // Null slots may hold any bits; they must not be converted.
        let values = ScalarBuffer::from(vec![i64::MAX, 1]);
        let nulls = Some(vec![false, true].into());
        let array = PrimitiveArray::<TimestampSecondType>::new(values, nulls);
        let field = Field::new("x", array.data_type().clone(), true);
        assert_eq!(
            array_to_datums(&array, &field).expect("converts"),
            vec![Datum::Null, Datum::Timestamp(1_000_000)]
        );
    }

    #[test]
    fn batches_from_foreign_schemas() {
        let batch = batch_of(
            vec![
                Field::new("a", DataType::Int64, false),
                Field::new("s", DataType::Utf8View, true),
            ],
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringViewArray::from(vec![Some("x"), None])),
            ],
        );
        assert_eq!(
            desc_of_schema(batch.schema_ref()).expect("maps"),
            RelationDesc::new(vec![
                Column {
                    name: "a".into(),
                    ty: ScalarType::Int64,
                    nullable: false
                },
                col("s", ScalarType::Text),
            ])
        );
        assert_eq!(
            batch_to_rows(&batch).expect("converts"),
            vec![
                vec![Datum::Int64(1), Datum::Text("x".into())],
                vec![Datum::Int64(2), Datum::Null]
            ]
        );
        let back = rows_to_batch(
            batch.schema_ref(),
            &batch_to_rows(&batch).expect("converts"),
        )
        .expect("converts");
        assert_eq!(back, batch);
    }

    #[test]
    fn scalar_values() {
        let cases = [
            (
                Datum::Int32(7),
                DataType::Int32,
                ScalarValue::Int32(Some(7)),
            ),
            (
                Datum::Int32(7),
                DataType::Int64,
                ScalarValue::Int64(Some(7)),
            ),
            (Datum::Null, DataType::Utf8, ScalarValue::Utf8(None)),
            (
                Datum::Text("x".into()),
                DataType::Utf8View,
                ScalarValue::Utf8View(Some("x".into())),
            ),
            (
                Datum::Numeric(Numeric {
                    mantissa: 15,
                    scale: 1,
                }),
                DataType::Decimal128(10, 2),
                ScalarValue::Decimal128(Some(150), 10, 2),
            ),
            (
                Datum::TimestampTz(5),
                to_arrow_type(ScalarType::TimestampTz),
                ScalarValue::TimestampMicrosecond(Some(5), Some("+00:00".into())),
            ),
            (
                Datum::Interval(Interval {
                    months: 1,
                    days: 2,
                    micros: 3,
                }),
                to_arrow_type(ScalarType::Interval),
                ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(1, 2, 3000))),
            ),
        ];
        for (d, dt, expected) in cases {
            assert_eq!(datum_to_scalar_value(&d, &dt).expect("converts"), expected);
        }
        let list = datum_to_scalar_value(
            &Datum::TextArray(vec![Some("a".into()), None]),
            &to_arrow_type(ScalarType::TextArray),
        )
        .expect("converts");
        assert_eq!(list.data_type(), to_arrow_type(ScalarType::TextArray));
        assert_eq!(
            scalar_value_to_datum(&list).expect("converts"),
            Datum::TextArray(vec![Some("a".into()), None])
        );
        assert!(matches!(
            datum_to_scalar_value(&Datum::Bool(true), &DataType::Int32),
            Err(ReprError::TypeMismatch { .. })
        ));

        for (v, expected) in [
            (ScalarValue::Null, Datum::Null),
            (ScalarValue::Int8(Some(-3)), Datum::Int16(-3)),
            (ScalarValue::Int64(None), Datum::Null),
            (ScalarValue::Utf8(Some("s".into())), Datum::Text("s".into())),
            (
                ScalarValue::LargeUtf8(Some("s".into())),
                Datum::Text("s".into()),
            ),
            (ScalarValue::Boolean(Some(false)), Datum::Bool(false)),
            (ScalarValue::Float32(Some(0.5)), Datum::Float64(F64(0.5))),
            (ScalarValue::Date32(Some(3)), Datum::Date(3)),
            (
                ScalarValue::TimestampNanosecond(Some(1_000), None),
                Datum::Timestamp(1),
            ),
            (
                ScalarValue::DurationSecond(Some(2)),
                Datum::Interval(Interval {
                    months: 0,
                    days: 0,
                    micros: 2_000_000,
                }),
            ),
            (
                ScalarValue::Decimal128(Some(-1), 3, 1),
                Datum::Numeric(Numeric {
                    mantissa: -1,
                    scale: 1,
                }),
            ),
        ] {
            assert_eq!(
                scalar_value_to_datum(&v).expect("converts"),
                expected,
                "{v:?}"
            );
        }
        assert!(matches!(
            scalar_value_to_datum(&ScalarValue::Binary(Some(vec![1]))),
            Err(ReprError::UnsupportedType(_))
        ));
    }
}
