//! PostgreSQL's text format for [`Datum`]s, in and out.
//!
//! Output is exactly what PostgreSQL 16 prints with `DateStyle = 'ISO, MDY'`,
//! `TimeZone = 'UTC'`, `IntervalStyle = 'postgres'` and `extra_float_digits = 1`, so
//! clients that compare text results with a real PostgreSQL see the same bytes.
//! Input accepts what PostgreSQL's type input functions accept for the forms clients
//! and COPY files use; [`parse_datum`] of [`format_datum`]'s output gives back the
//! same datum for every type.
//!
//! Calendar math goes through chrono. chrono only spans about ±262,000 years while
//! a `date` or `timestamp` spans more, so dates are shifted by whole 400-year
//! Gregorian cycles (146,097 days each) into chrono's range and back.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};
use serde_json::Value;

use super::{Datum, F64, Interval, Numeric, ScalarType};

/// Why a value could not be converted between representations.
#[derive(Debug, thiserror::Error)]
pub enum ReprError {
    /// Text that is not a value of the type; `reason` is the detail.
    #[error("invalid input syntax for type {ty}: \"{value}\"")]
    InvalidText {
        ty: ScalarType,
        value: String,
        reason: String,
    },
    /// A well-formed value that the type cannot hold.
    #[error("value \"{value}\" is out of range for type {ty}")]
    OutOfRange { ty: ScalarType, value: String },
    /// A datum or array of one type where another was required.
    #[error("type mismatch: expected {expected}, found {found}")]
    TypeMismatch { expected: String, found: String },
    /// An Arrow type with no Vigil counterpart.
    #[error("unsupported type: {0}")]
    UnsupportedType(String),
}

pub(crate) const MICROS_PER_SEC: i64 = 1_000_000;
pub(crate) const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SEC;
pub(crate) const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
pub(crate) const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
const DAYS_PER_400_YEARS: i64 = 146_097;
/// Years in a `date` or `timestamp` literal are limited to this many digits, which
/// keeps every intermediate day count far inside `i64`.
const MAX_YEAR_DIGITS: usize = 9;

/// The text of `d`, or `None` for SQL `NULL`.
pub fn datum_to_text(d: &Datum) -> Option<String> {
    if d.is_null() {
        return None;
    }
    let mut out = String::new();
    format_datum(d, &mut out);
    Some(out)
}

/// Appends the PostgreSQL text form of `d` to `out`. `NULL` appends nothing: how a
/// null is spelled (`\N`, an empty field, a null marker) is the caller's protocol.
pub fn format_datum(d: &Datum, out: &mut String) {
    match d {
        Datum::Null => {}
        Datum::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Datum::Int16(v) => push_display(out, v),
        Datum::Int32(v) => push_display(out, v),
        Datum::Int64(v) => push_display(out, v),
        Datum::Float64(F64(v)) => format_float8(*v, out),
        Datum::Numeric(n) => format_numeric(*n, out),
        Datum::Text(s) | Datum::Jsonb(s) | Datum::Json(s) => out.push_str(s),
        Datum::Date(days) => format_date(*days, out),
        Datum::Timestamp(micros) => format_timestamp(*micros, "", out),
        Datum::TimestampTz(micros) => format_timestamp(*micros, "+00", out),
        Datum::Interval(iv) => format_interval(iv, out),
        Datum::TextArray(elems) => format_text_array(elems, out),
    }
}

fn push_display(out: &mut String, v: impl std::fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{v}");
}

/// Splits a finite, non-zero float into its shortest round-trip decimal digits and
/// the power of ten of the first digit: `1.25e-3` is `("125", -3)`.
fn shortest_digits(v: f64) -> (String, i32) {
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// `float8out`: the shortest digits that read back exactly, in fixed notation when
/// the decimal exponent is in `-4..15` and as `d.ddde+XX` otherwise (like `%g`).
fn format_float8(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    if v == 0.0 {
        out.push('0');
        return;
    }
    let (digits, exp) = shortest_digits(v);
    if (-4..15).contains(&exp) {
        push_positional(&digits, exp, out);
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
    }
}

/// Lays out `0.d1d2d3… × 10^(exp+1)` without an exponent and without a trailing `.0`.
fn push_positional(digits: &str, exp: i32, out: &mut String) {
    if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(digits);
    }
}

/// `numeric_out`: exactly `scale` fraction digits; a negative scale prints an integer.
fn format_numeric(n: Numeric, out: &mut String) {
    if n.mantissa < 0 {
        out.push('-');
    }
    let digits = n.mantissa.unsigned_abs().to_string();
    if n.scale <= 0 {
        out.push_str(&digits);
        if n.mantissa != 0 {
            out.extend(std::iter::repeat_n('0', n.scale.unsigned_abs() as usize));
        }
        return;
    }
    let scale = n.scale as usize;
    if digits.len() <= scale {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    } else {
        let int_len = digits.len() - scale;
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

/// The proleptic Gregorian (astronomical year, month, day) of a day count since
/// 1970-01-01, for any `i64` day count.
fn ymd_from_days(days: i64) -> (i64, u32, u32) {
    let cycles = days.div_euclid(DAYS_PER_400_YEARS);
    let rest = days.rem_euclid(DAYS_PER_400_YEARS) as i32;
    match NaiveDate::from_epoch_days(rest) {
        Some(date) => (
            i64::from(date.year()) + 400 * cycles,
            date.month(),
            date.day(),
        ),
        // `rest` lies in 1970..2370, always inside chrono's range.
        None => (1970, 1, 1),
    }
}

/// Days since 1970-01-01 of an astronomical year, month and day; `None` for a day
/// that does not exist. `year` must have at most [`MAX_YEAR_DIGITS`] digits.
fn days_from_ymd(year: i64, month: u32, day: u32) -> Option<i64> {
    let cycles = year.div_euclid(400);
    let year_in_cycle = 2000 + year.rem_euclid(400) as i32;
    let date = NaiveDate::from_ymd_opt(year_in_cycle, month, day)?;
    // `year` is `year_in_cycle + 400 * (cycles - 5)`.
    Some(i64::from(date.to_epoch_days()) + (cycles - 5) * DAYS_PER_400_YEARS)
}

/// Writes `YYYY-MM-DD` with years before 1 AD as their BC number, returning whether
/// the date is BC.
fn push_ymd(days: i64, out: &mut String) -> bool {
    let (year, month, day) = ymd_from_days(days);
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    let _ = write!(out, "{shown:04}-{month:02}-{day:02}");
    bc
}

fn format_date(days: i32, out: &mut String) {
    match days {
        i32::MIN => out.push_str("-infinity"),
        i32::MAX => out.push_str("infinity"),
        _ => {
            if push_ymd(i64::from(days), out) {
                out.push_str(" BC");
            }
        }
    }
}

fn format_timestamp(micros: i64, zone: &str, out: &mut String) {
    match micros {
        i64::MIN => out.push_str("-infinity"),
        i64::MAX => out.push_str("infinity"),
        _ => {
            let bc = push_ymd(micros.div_euclid(MICROS_PER_DAY), out);
            let time = micros.rem_euclid(MICROS_PER_DAY);
            let _ = write!(
                out,
                " {:02}:{:02}:{:02}",
                time / MICROS_PER_HOUR,
                time % MICROS_PER_HOUR / MICROS_PER_MINUTE,
                time % MICROS_PER_MINUTE / MICROS_PER_SEC
            );
            push_fraction((time % MICROS_PER_SEC) as u64, out);
            out.push_str(zone);
            if bc {
                out.push_str(" BC");
            }
        }
    }
}

/// Appends `.ffffff` with trailing zeros trimmed; nothing for zero.
fn push_fraction(micros: u64, out: &mut String) {
    if micros == 0 {
        return;
    }
    let mut digits = format!("{micros:06}");
    while digits.ends_with('0') {
        digits.pop();
    }
    out.push('.');
    out.push_str(&digits);
}

/// `interval_out` with `IntervalStyle = postgres` (`EncodeInterval`): every field
/// carries its own sign, and a positive field after a negative one gets a `+`.
fn format_interval(iv: &Interval, out: &mut String) {
    let start = out.len();
    let mut is_before = false;
    let parts = [
        (i64::from(iv.months / 12), "year"),
        (i64::from(iv.months % 12), "mon"),
        (i64::from(iv.days), "day"),
    ];
    for (value, unit) in parts {
        if value == 0 {
            continue;
        }
        if out.len() > start {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        let _ = write!(out, "{value} {unit}{}", if value != 1 { "s" } else { "" });
        is_before = value < 0;
    }
    let is_zero = out.len() == start;
    let micros = iv.micros;
    if is_zero || micros != 0 {
        if !is_zero {
            out.push(' ');
        }
        if micros < 0 {
            out.push('-');
        } else if is_before {
            out.push('+');
        }
        let abs = micros.unsigned_abs();
        let _ = write!(
            out,
            "{:02}:{:02}:{:02}",
            abs / MICROS_PER_HOUR as u64,
            abs % MICROS_PER_HOUR as u64 / MICROS_PER_MINUTE as u64,
            abs % MICROS_PER_MINUTE as u64 / MICROS_PER_SEC as u64
        );
        push_fraction(abs % MICROS_PER_SEC as u64, out);
    }
}

/// `array_out` for a one-dimensional `text[]`.
fn format_text_array(elems: &[Option<String>], out: &mut String) {
    out.push('{');
    for (i, elem) in elems.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match elem {
            None => out.push_str("NULL"),
            Some(s) if needs_array_quotes(s) => {
                out.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            Some(s) => out.push_str(s),
        }
    }
    out.push('}');
}

fn needs_array_quotes(s: &str) -> bool {
    s.is_empty()
        || s.eq_ignore_ascii_case("NULL")
        || s.chars()
            .any(|c| matches!(c, '"' | '\\' | '{' | '}' | ',') || is_pg_space(c))
}

/// The characters C's `isspace` accepts, which PostgreSQL's input functions skip.
fn is_pg_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

fn trim_pg(s: &str) -> &str {
    s.trim_matches(is_pg_space)
}

/// PostgreSQL's `jsonb` output of `v`: object keys sorted the way jsonb stores them
/// (shorter first, then bytewise), `": "` and `", "` separators. Without the source
/// text a float prints as its shortest exact decimal in positional notation, and an
/// integral one without a fraction, so equal numbers print alike (`1.0` is `1`).
pub fn canonical_jsonb(v: &Value) -> String {
    let mut out = String::new();
    write_jsonb(v, &mut out);
    out
}

fn write_jsonb(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                push_display(out, i);
            } else if let Some(u) = n.as_u64() {
                push_display(out, u);
            } else {
                write_json_float(n.as_f64().unwrap_or(0.0), out);
            }
        }
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(b.0)));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_string(key, out);
                out.push_str(": ");
                write_jsonb(value, out);
            }
            out.push('}');
        }
    }
}

fn write_json_float(v: f64, out: &mut String) {
    if v == 0.0 || !v.is_finite() {
        out.push('0');
        return;
    }
    if v < 0.0 {
        out.push('-');
    }
    let (digits, exp) = shortest_digits(v);
    push_positional(&digits, exp, out);
}

/// `escape_json`: the short escapes, `\u00XX` for other control characters, and
/// everything else as is.
fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads `s` as PostgreSQL's input function for `ty` would.
pub fn parse_datum(s: &str, ty: ScalarType) -> Result<Datum, ReprError> {
    match ty {
        ScalarType::Bool => parse_bool(s).map(Datum::Bool),
        ScalarType::Int16 => {
            let v = parse_integer(s, ty)?;
            i16::try_from(v)
                .map(Datum::Int16)
                .map_err(|_| out_of_range(ty, s))
        }
        ScalarType::Int32 => {
            let v = parse_integer(s, ty)?;
            i32::try_from(v)
                .map(Datum::Int32)
                .map_err(|_| out_of_range(ty, s))
        }
        ScalarType::Int64 => {
            let v = parse_integer(s, ty)?;
            i64::try_from(v)
                .map(Datum::Int64)
                .map_err(|_| out_of_range(ty, s))
        }
        ScalarType::Float64 => parse_float8(s).map(|v| Datum::Float64(F64(v))),
        ScalarType::Numeric { precision, scale } => {
            parse_numeric(s, ty, precision, scale).map(Datum::Numeric)
        }
        ScalarType::Text => Ok(Datum::Text(s.to_owned())),
        ScalarType::Date => parse_date(s).map(Datum::Date),
        ScalarType::Timestamp => parse_timestamp(s, ty).map(Datum::Timestamp),
        ScalarType::TimestampTz => parse_timestamp(s, ty).map(Datum::TimestampTz),
        ScalarType::Interval => parse_interval(s).map(Datum::Interval),
        ScalarType::Jsonb => match serde_json::from_str::<Value>(s) {
            Ok(v) => Ok(Datum::Jsonb(canonical_jsonb(&v))),
            Err(e) => Err(invalid(ty, s, e.to_string())),
        },
        ScalarType::TextArray => parse_text_array(s).map(Datum::TextArray),
        // json_in only checks the syntax: the value keeps its text, even around it.
        ScalarType::Json => match serde_json::from_str::<serde::de::IgnoredAny>(s) {
            Ok(_) => Ok(Datum::Json(s.to_owned())),
            Err(e) => Err(invalid(ty, s, e.to_string())),
        },
    }
}

fn invalid(ty: ScalarType, value: &str, reason: impl Into<String>) -> ReprError {
    ReprError::InvalidText {
        ty,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn out_of_range(ty: ScalarType, value: &str) -> ReprError {
    ReprError::OutOfRange {
        ty,
        value: value.to_owned(),
    }
}

/// `boolin`: the words and their unique prefixes, case-insensitive.
fn parse_bool(s: &str) -> Result<bool, ReprError> {
    let word = trim_pg(s).to_ascii_lowercase();
    let is_prefix_of =
        |full: &str, min_len: usize| word.len() >= min_len && full.starts_with(&word);
    if is_prefix_of("true", 1) || is_prefix_of("yes", 1) || is_prefix_of("on", 2) || word == "1" {
        Ok(true)
    } else if is_prefix_of("false", 1)
        || is_prefix_of("no", 1)
        || is_prefix_of("off", 2)
        || word == "0"
    {
        Ok(false)
    } else {
        Err(invalid(
            ScalarType::Bool,
            s,
            "expected a boolean such as true, false, yes, no, on, off, 1 or 0",
        ))
    }
}

/// `pg_strtoint64`'s grammar: surrounding whitespace, a sign, decimal digits or a
/// `0x`/`0o`/`0b` prefix, and single underscores between digits. The value is
/// returned wide; the caller checks its type's range.
fn parse_integer(s: &str, ty: ScalarType) -> Result<i128, ReprError> {
    let t = trim_pg(s);
    let (negative, body) = split_sign(t);
    let (radix, digits) = split_radix(body);
    let magnitude =
        parse_digits(digits, radix).ok_or_else(|| invalid(ty, s, "expected an integer"))?;
    let magnitude = magnitude.ok_or_else(|| out_of_range(ty, s))?;
    let magnitude = i128::try_from(magnitude).map_err(|_| out_of_range(ty, s))?;
    Ok(if negative { -magnitude } else { magnitude })
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

fn split_radix(s: &str) -> (u32, &str) {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'0' {
        match b[1] {
            b'x' | b'X' => return (16, &s[2..]),
            b'o' | b'O' => return (8, &s[2..]),
            b'b' | b'B' => return (2, &s[2..]),
            _ => {}
        }
    }
    (10, s)
}

/// Digits of `radix` with single underscores between them (and, after a radix
/// prefix, before the first). `None` for bad syntax, `Some(None)` for overflow.
fn parse_digits(s: &str, radix: u32) -> Option<Option<u128>> {
    let bytes = s.as_bytes();
    let mut acc: Option<u128> = Some(0);
    let mut count = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let prev_ok = if i == 0 {
                radix != 10
            } else {
                bytes[i - 1] != b'_'
            };
            let next_ok = bytes
                .get(i + 1)
                .is_some_and(|n| char::from(*n).is_digit(radix));
            if !prev_ok || !next_ok {
                return None;
            }
            continue;
        }
        let d = char::from(b).to_digit(radix)?;
        acc = acc
            .and_then(|a| a.checked_mul(u128::from(radix)))
            .and_then(|a| a.checked_add(u128::from(d)));
        count += 1;
    }
    (count > 0).then_some(acc)
}

/// `float8in`: the special words, then a decimal with optional exponent. Results
/// that overflow to infinity or underflow to zero are out of range.
fn parse_float8(s: &str) -> Result<f64, ReprError> {
    let ty = ScalarType::Float64;
    let t = trim_pg(s);
    match t.to_ascii_lowercase().as_str() {
        "nan" => return Ok(f64::NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(f64::INFINITY),
        "-infinity" | "-inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let (_, body) = split_sign(t);
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(invalid(ty, s, "expected a number"));
    }
    let v: f64 = t.parse().map_err(|_| invalid(ty, s, "expected a number"))?;
    let mantissa = body.split(['e', 'E']).next().unwrap_or("");
    let nonzero_digits = mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
    if v.is_infinite() || (v == 0.0 && nonzero_digits) {
        return Err(out_of_range(ty, s));
    }
    Ok(v)
}

/// `numeric_in` into `numeric(precision, scale)`: rounds half away from zero to
/// `scale` and rejects values needing more than `precision` digits.
fn parse_numeric(s: &str, ty: ScalarType, precision: u8, scale: i8) -> Result<Numeric, ReprError> {
    let t = trim_pg(s);
    if matches!(
        t.to_ascii_lowercase().as_str(),
        "nan" | "infinity" | "+infinity" | "-infinity" | "inf" | "+inf" | "-inf"
    ) {
        return Err(invalid(ty, s, "numeric NaN and infinity are not supported"));
    }
    let (negative, body) = split_sign(t);
    let (radix, rest) = split_radix(body);
    let (digits, exponent) = if radix != 10 {
        let magnitude =
            parse_digits(rest, radix).ok_or_else(|| invalid(ty, s, "expected a number"))?;
        (
            magnitude
                .ok_or_else(|| out_of_range(ty, s))?
                .to_string()
                .into_bytes(),
            0,
        )
    } else {
        parse_decimal(body).ok_or_else(|| invalid(ty, s, "expected a number"))?
    };
    let precision = u32::from(precision.min(38));
    let limit = 10i128.pow(precision);
    let first_nonzero = digits
        .iter()
        .position(|d| *d != b'0')
        .unwrap_or(digits.len());
    let digits = &digits[first_nonzero..];
    let shift = exponent.saturating_add(i64::from(scale));
    let magnitude = if digits.is_empty() {
        0
    } else if shift >= 0 {
        if (digits.len() as i64).saturating_add(shift) > i64::from(precision) {
            return Err(out_of_range(ty, s));
        }
        digits_value(digits) * 10i128.pow(shift as u32)
    } else {
        let dropped = shift.unsigned_abs();
        let keep = (digits.len() as u64).saturating_sub(dropped) as usize;
        if keep > precision as usize {
            return Err(out_of_range(ty, s));
        }
        let round_up = dropped <= digits.len() as u64 && digits[keep] >= b'5';
        digits_value(&digits[..keep]) + i128::from(round_up)
    };
    if magnitude >= limit {
        return Err(out_of_range(ty, s));
    }
    Ok(Numeric {
        mantissa: if negative { -magnitude } else { magnitude },
        scale,
    })
}

/// At most 38 ASCII digits as a number.
fn digits_value(digits: &[u8]) -> i128 {
    digits
        .iter()
        .fold(0i128, |acc, d| acc * 10 + i128::from(d - b'0'))
}

/// `digits[.digits][e[+-]digits]` with underscores between digits, as the digits
/// and the power of ten of the last one. The exponent saturates, which keeps
/// absurd exponents an out-of-range value instead of an overflow.
fn parse_decimal(s: &str) -> Option<(Vec<u8>, i64)> {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let bytes = mantissa.as_bytes();
    let mut digits = Vec::with_capacity(bytes.len());
    let mut fraction_digits = 0i64;
    let mut seen_point = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                digits.push(b);
                if seen_point {
                    fraction_digits += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            b'_' if i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {}
            _ => return None,
        }
    }
    if digits.is_empty() {
        return None;
    }
    let exponent = match exponent {
        None => 0,
        Some(e) => {
            let (negative, e) = split_sign(e);
            if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let magnitude = e.bytes().fold(0i64, |acc, b| {
                acc.saturating_mul(10).saturating_add(i64::from(b - b'0'))
            });
            if negative { -magnitude } else { magnitude }
        }
    };
    Some((digits, exponent.saturating_sub(fraction_digits)))
}

/// The pieces of a date or timestamp literal.
struct DateTime {
    /// Days since 1970-01-01.
    days: i64,
    /// Microseconds since midnight; may reach a whole day for `24:00:00`.
    time: i64,
    /// The zone's offset east of UTC, in seconds, when one was given.
    offset: Option<i64>,
}

fn parse_date(s: &str) -> Result<i32, ReprError> {
    let ty = ScalarType::Date;
    match trim_pg(s).to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => return Ok(i32::MAX),
        "-infinity" => return Ok(i32::MIN),
        "epoch" => return Ok(0),
        _ => {}
    }
    let dt = parse_date_time(s, ty)?;
    match i32::try_from(dt.days) {
        Ok(days) if days != i32::MIN && days != i32::MAX => Ok(days),
        _ => Err(out_of_range(ty, s)),
    }
}

/// `timestamp_in` and `timestamptz_in`. A plain timestamp ignores a zone, as
/// PostgreSQL does; a zoned one without a zone is in UTC (the session zone).
fn parse_timestamp(s: &str, ty: ScalarType) -> Result<i64, ReprError> {
    match trim_pg(s).to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => return Ok(i64::MAX),
        "-infinity" => return Ok(i64::MIN),
        "epoch" => return Ok(0),
        _ => {}
    }
    let dt = parse_date_time(s, ty)?;
    let offset = if ty == ScalarType::TimestampTz {
        dt.offset.unwrap_or(0)
    } else {
        0
    };
    let micros = i128::from(dt.days) * i128::from(MICROS_PER_DAY) + i128::from(dt.time)
        - i128::from(offset) * i128::from(MICROS_PER_SEC);
    match i64::try_from(micros) {
        Ok(m) if m != i64::MIN && m != i64::MAX => Ok(m),
        _ => Err(out_of_range(ty, s)),
    }
}

/// A cursor over the bytes of a literal.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// A run of ASCII digits, at most `max` long.
    fn digits(&mut self, max: usize) -> &'a [u8] {
        let start = self.pos;
        while self.pos - start < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let s: &'a [u8] = self.s;
        &s[start..self.pos]
    }

    fn skip_space(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|b| is_pg_space(char::from(b))) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn word(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let s: &'a [u8] = self.s;
        &s[start..self.pos]
    }
}

fn ascii_number(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    })
}

/// `Y-M-D` then, in any order, a time (after a space or `T`), a zone and `BC`/`AD`.
fn parse_date_time(s: &str, ty: ScalarType) -> Result<DateTime, ReprError> {
    let bad = |reason: &str| invalid(ty, s, reason);
    let mut c = Cursor {
        s: trim_pg(s).as_bytes(),
        pos: 0,
    };
    let year = c.digits(MAX_YEAR_DIGITS + 1);
    if year.is_empty() || year.len() > MAX_YEAR_DIGITS || !c.eat(b'-') {
        return Err(bad("expected a date as YYYY-MM-DD"));
    }
    let year = ascii_number(year);
    let month = c.digits(2);
    if month.is_empty() || !c.eat(b'-') {
        return Err(bad("expected a date as YYYY-MM-DD"));
    }
    let month = ascii_number(month) as u32;
    let day = c.digits(2);
    if day.is_empty() {
        return Err(bad("expected a date as YYYY-MM-DD"));
    }
    let day = ascii_number(day) as u32;

    let mut time = None;
    let mut offset = None;
    let mut era = None;
    if matches!(c.peek(), Some(b'T' | b't')) && c.s.get(c.pos + 1).is_some_and(u8::is_ascii_digit) {
        c.pos += 1;
        time = Some(parse_time_of_day(&mut c).ok_or_else(|| bad("expected a time as HH:MM:SS"))?);
    }
    loop {
        let spaced = c.skip_space();
        match c.peek() {
            None => break,
            Some(b'0'..=b'9') if time.is_none() && spaced => {
                time = Some(
                    parse_time_of_day(&mut c).ok_or_else(|| bad("expected a time as HH:MM:SS"))?,
                );
            }
            Some(b'+' | b'-') if offset.is_none() => {
                offset =
                    Some(parse_offset(&mut c).ok_or_else(|| bad("expected a time zone offset"))?);
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let word = c.word().to_ascii_lowercase();
                match word.as_slice() {
                    b"z" | b"utc" | b"gmt" | b"zulu" if offset.is_none() => offset = Some(0),
                    b"bc" | b"ad" if era.is_none() => era = Some(word == b"bc"),
                    _ => return Err(bad("time zone not recognized")),
                }
            }
            Some(_) => return Err(bad("unexpected character")),
        }
    }
    let time = time.unwrap_or(Some(0)).ok_or_else(|| out_of_range(ty, s))?;
    if let Some(o) = offset {
        // PostgreSQL accepts displacements up to 15:59:59.
        if o.abs() >= 16 * 3600 {
            return Err(out_of_range(ty, s));
        }
    }
    if year == 0 {
        return Err(out_of_range(ty, s));
    }
    let year = if era == Some(true) { 1 - year } else { year };
    let days = days_from_ymd(year, month, day).ok_or_else(|| out_of_range(ty, s))?;
    Ok(DateTime { days, time, offset })
}

/// `HH:MM[:SS[.ffffff]]` as microseconds since midnight. Outer `None` is bad syntax,
/// inner `None` a field out of range. `24:00:00` and a leap second `:60` are
/// accepted, as PostgreSQL does.
fn parse_time_of_day(c: &mut Cursor<'_>) -> Option<Option<i64>> {
    let hour = c.digits(2);
    if hour.is_empty() || !c.eat(b':') {
        return None;
    }
    let minute = c.digits(2);
    if minute.len() != 2 {
        return None;
    }
    let (mut second, mut fraction) = (0, 0);
    if c.eat(b':') {
        let sec = c.digits(2);
        if sec.len() != 2 {
            return None;
        }
        second = ascii_number(sec);
        if c.eat(b'.') {
            fraction = round_fraction(c.digits(usize::MAX));
        }
    }
    let (hour, minute) = (ascii_number(hour), ascii_number(minute));
    let in_range = minute < 60
        && second <= 60
        && (hour < 24 || (hour == 24 && minute == 0 && second == 0 && fraction == 0));
    Some(in_range.then(|| {
        hour * MICROS_PER_HOUR + minute * MICROS_PER_MINUTE + second * MICROS_PER_SEC + fraction
    }))
}

/// Fraction-of-second digits as microseconds, rounded half to even like `rint`.
fn round_fraction(digits: &[u8]) -> i64 {
    let mut micros = 0i64;
    for i in 0..6 {
        micros = micros * 10 + digits.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    let next = digits.get(6).map_or(0, |d| d - b'0');
    let rest_nonzero = digits.iter().skip(7).any(|d| *d != b'0');
    if next > 5 || (next == 5 && (rest_nonzero || micros % 2 == 1)) {
        micros += 1;
    }
    micros
}

/// `+HH`, `+HHMM`, `+HHMMSS`, `+HH:MM`, `+HH:MM:SS` (or `-`) as seconds east of UTC.
fn parse_offset(c: &mut Cursor<'_>) -> Option<i64> {
    let negative = c.peek() == Some(b'-');
    c.pos += 1;
    let first = c.digits(6);
    let (hours, minutes, seconds) = match first.len() {
        1 | 2 => {
            let hours = ascii_number(first);
            let mut minutes = 0;
            let mut seconds = 0;
            if c.eat(b':') {
                let m = c.digits(2);
                if m.len() != 2 {
                    return None;
                }
                minutes = ascii_number(m);
                if c.eat(b':') {
                    let sec = c.digits(2);
                    if sec.len() != 2 {
                        return None;
                    }
                    seconds = ascii_number(sec);
                }
            }
            (hours, minutes, seconds)
        }
        4 => (ascii_number(&first[..2]), ascii_number(&first[2..]), 0),
        6 => (
            ascii_number(&first[..2]),
            ascii_number(&first[2..4]),
            ascii_number(&first[4..]),
        ),
        _ => return None,
    };
    if minutes >= 60 || seconds >= 60 {
        return None;
    }
    let total = hours * 3600 + minutes * 60 + seconds;
    Some(if negative { -total } else { total })
}

/// An interval being read; wide so that overflow is found once, at the end.
#[derive(Default)]
struct IntervalSum {
    months: i128,
    days: i128,
    micros: i128,
}

/// A signed number of some unit: `int` and `frac` carry the same sign.
#[derive(Clone, Copy)]
struct UnitNumber {
    int: i128,
    frac: f64,
}

#[derive(Clone, Copy)]
enum IntervalUnit {
    Micros(i64),
    Days(i64),
    Months(i64),
}

/// An interval unit word: how to add a number of it, and the field it sets (each
/// field may be given once, as in PostgreSQL).
fn interval_unit(word: &str) -> Option<(IntervalUnit, u16)> {
    // PostgreSQL compares unit words truncated to ten characters.
    let word: String = word.chars().take(10).collect();
    use IntervalUnit::*;
    Some(match word.as_str() {
        "us" | "usec" | "usecs" | "useconds" | "microsecon" => (Micros(1), field::MICROSECOND),
        "ms" | "msec" | "msecs" | "mseconds" | "millisecon" => (Micros(1_000), field::MILLISECOND),
        "s" | "sec" | "secs" | "second" | "seconds" => (Micros(MICROS_PER_SEC), field::SECOND),
        "m" | "min" | "mins" | "minute" | "minutes" => (Micros(MICROS_PER_MINUTE), field::MINUTE),
        "h" | "hr" | "hrs" | "hour" | "hours" => (Micros(MICROS_PER_HOUR), field::HOUR),
        "d" | "day" | "days" => (Days(1), field::DAY),
        "w" | "week" | "weeks" => (Days(7), field::WEEK),
        "mon" | "mons" | "month" | "months" => (Months(1), field::MONTH),
        "y" | "yr" | "yrs" | "year" | "years" => (Months(12), field::YEAR),
        "dec" | "decs" | "decade" | "decades" => (Months(120), field::DECADE),
        "c" | "cent" | "century" | "centuries" => (Months(1_200), field::CENTURY),
        "mil" | "mils" | "millennium" | "millennia" => (Months(12_000), field::MILLENNIUM),
        _ => return None,
    })
}

/// Bits of the interval fields a literal has set.
mod field {
    pub const MICROSECOND: u16 = 1;
    pub const MILLISECOND: u16 = 1 << 1;
    pub const SECOND: u16 = 1 << 2;
    pub const MINUTE: u16 = 1 << 3;
    pub const HOUR: u16 = 1 << 4;
    pub const DAY: u16 = 1 << 5;
    pub const WEEK: u16 = 1 << 6;
    pub const MONTH: u16 = 1 << 7;
    pub const YEAR: u16 = 1 << 8;
    pub const DECADE: u16 = 1 << 9;
    pub const CENTURY: u16 = 1 << 10;
    pub const MILLENNIUM: u16 = 1 << 11;
    pub const TIME: u16 = HOUR | MINUTE | SECOND;
}

impl IntervalSum {
    /// Adds `n` units, spilling fractions downward as PostgreSQL does: a fraction of
    /// a year becomes whole months, of a month 30-day days, of a day microseconds.
    fn add(&mut self, n: UnitNumber, unit: IntervalUnit) {
        match unit {
            IntervalUnit::Micros(scale) => {
                self.micros += n.int * i128::from(scale) + rint(n.frac * scale as f64);
            }
            IntervalUnit::Days(scale) => {
                self.days += n.int * i128::from(scale);
                self.add_fraction_of_days(n.frac * scale as f64);
            }
            IntervalUnit::Months(1) => {
                self.months += n.int;
                self.add_fraction_of_days(n.frac * 30.0);
            }
            IntervalUnit::Months(scale) => {
                self.months += n.int * i128::from(scale) + (n.frac * scale as f64) as i128;
            }
        }
    }

    fn add_fraction_of_days(&mut self, days: f64) {
        let whole = days.trunc();
        self.days += whole as i128;
        self.micros += rint((days - whole) * MICROS_PER_DAY as f64);
    }

    fn finish(self) -> Option<Interval> {
        Some(Interval {
            months: i32::try_from(self.months).ok()?,
            days: i32::try_from(self.days).ok()?,
            micros: i64::try_from(self.micros).ok()?,
        })
    }
}

/// Rounds half to even, saturating; `as` maps NaN to zero.
fn rint(v: f64) -> i128 {
    v.round_ties_even() as i128
}

/// A token of the PostgreSQL interval syntax.
enum IntervalToken<'a> {
    Number(UnitNumber),
    /// `[+-]H:MM[:SS[.f]]` or `[+-]M:SS.f`, in microseconds.
    Time(i128),
    /// `[+-]Y-M`, in months.
    YearMonth(i128),
    Word(&'a str),
}

/// `interval_in`: PostgreSQL's verbose form (`1 year 2 mons -3 days 04:05:06`,
/// `@ 1 day ago`, `1.5 hours`) or ISO 8601 with designators (`P1Y2M3DT4H5M6S`).
fn parse_interval(s: &str) -> Result<Interval, ReprError> {
    let ty = ScalarType::Interval;
    let t = trim_pg(s);
    let sum = if t.starts_with(['P', 'p']) {
        parse_iso_interval(&t[1..])
            .ok_or_else(|| invalid(ty, s, "expected an ISO 8601 duration"))?
    } else {
        parse_verbose_interval(t).ok_or_else(|| invalid(ty, s, "expected an interval"))?
    };
    sum.finish().ok_or_else(|| out_of_range(ty, s))
}

fn parse_verbose_interval(t: &str) -> Option<IntervalSum> {
    let lower = t.to_ascii_lowercase();
    let tokens = tokenize_interval(&lower)?;
    let mut sum = IntervalSum::default();
    let mut seen = 0u16;
    let mut set = |bits: u16| {
        let fresh = seen & bits == 0;
        seen |= bits;
        fresh.then_some(())
    };
    let mut ago = false;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            IntervalToken::Number(n) => {
                // A bare number is seconds, or days before a time field.
                let unit = match tokens.get(i + 1) {
                    Some(IntervalToken::Word(w)) if interval_unit(w).is_some() => {
                        i += 1;
                        interval_unit(w)?
                    }
                    Some(IntervalToken::Time(_)) => (IntervalUnit::Days(1), field::DAY),
                    _ => (IntervalUnit::Micros(MICROS_PER_SEC), field::SECOND),
                };
                set(unit.1)?;
                sum.add(*n, unit.0);
            }
            IntervalToken::Time(micros) => {
                set(field::TIME)?;
                sum.micros += micros;
            }
            IntervalToken::YearMonth(months) => {
                set(field::YEAR | field::MONTH)?;
                sum.months += months;
            }
            IntervalToken::Word("ago") if !ago => ago = true,
            IntervalToken::Word(_) => return None,
        }
        i += 1;
    }
    if seen == 0 {
        return None;
    }
    if ago {
        sum.months = -sum.months;
        sum.days = -sum.days;
        sum.micros = -sum.micros;
    }
    Some(sum)
}

fn tokenize_interval(s: &str) -> Option<Vec<IntervalToken<'_>>> {
    let bytes = s.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_pg_space(char::from(b)) || b == b'@' {
            i += 1;
        } else if b.is_ascii_alphabetic() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
                i += 1;
            }
            tokens.push(IntervalToken::Word(&s[start..i]));
        } else if b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.') {
            let start = i;
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_digit() || matches!(bytes[i], b'.' | b':' | b'-' | b'_'))
            {
                i += 1;
            }
            tokens.push(interval_number_token(&s[start..i])?);
        } else {
            return None;
        }
    }
    Some(tokens)
}

fn interval_number_token(tok: &str) -> Option<IntervalToken<'_>> {
    let (negative, body) = split_sign(tok);
    let sign = if negative { -1 } else { 1 };
    if body.contains(':') {
        let mut parts = body.split(':');
        let first = parts.next()?;
        let second = parts.next()?;
        let third = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let first = plain_integer(first)?;
        let micros = match third {
            Some(sec) => first * i128::from(MICROS_PER_HOUR) + minutes_seconds(second, sec)?,
            None if second.contains('.') => {
                // `M:SS.f`: minutes and seconds.
                first * i128::from(MICROS_PER_MINUTE) + seconds_value(second)?
            }
            None => {
                first * i128::from(MICROS_PER_HOUR)
                    + sub_hour_field(second)? * i128::from(MICROS_PER_MINUTE)
            }
        };
        return Some(IntervalToken::Time(sign * micros));
    }
    if let Some((years, months)) = body.split_once('-') {
        let months = plain_integer(years)? * 12 + plain_integer(months)?;
        return Some(IntervalToken::YearMonth(sign * months));
    }
    let n = unit_number(body)?;
    Some(IntervalToken::Number(UnitNumber {
        int: sign * n.int,
        frac: f64::from(sign as i32) * n.frac,
    }))
}

/// `MM` and `SS[.f]` of an `H:MM:SS` field, in microseconds.
fn minutes_seconds(minutes: &str, seconds: &str) -> Option<i128> {
    Some(sub_hour_field(minutes)? * i128::from(MICROS_PER_MINUTE) + seconds_value(seconds)?)
}

/// A minutes field: at most two digits, below 60.
fn sub_hour_field(s: &str) -> Option<i128> {
    let v = plain_integer(s)?;
    (s.len() <= 2 && v < 60).then_some(v)
}

/// `SS[.f]` in microseconds, seconds below 61.
fn seconds_value(s: &str) -> Option<i128> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let seconds = plain_integer(whole)?;
    if whole.len() > 2 || seconds > 60 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(seconds * i128::from(MICROS_PER_SEC) + i128::from(round_fraction(fraction.as_bytes())))
}

/// Unsigned decimal digits. Values of more than 20 digits saturate at `10^20`:
/// every unit turns that into an out-of-range interval, while no sum of a few
/// such terms can overflow an `i128`.
fn plain_integer(s: &str) -> Option<i128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = s.trim_start_matches('0');
    if significant.len() > 20 {
        return Some(10i128.pow(20));
    }
    Some(
        significant
            .bytes()
            .fold(0i128, |acc, b| acc * 10 + i128::from(b - b'0')),
    )
}

/// An unsigned `digits[.digits]` (or `.digits`) as whole part and fraction.
fn unit_number(s: &str) -> Option<UnitNumber> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let int = if whole.is_empty() {
        0
    } else {
        plain_integer(whole)?
    };
    let frac = if fraction.is_empty() {
        0.0
    } else {
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        format!("0.{fraction}").parse().ok()?
    };
    Some(UnitNumber { int, frac })
}

/// The part after `P` of an ISO 8601 duration with designators.
fn parse_iso_interval(s: &str) -> Option<IntervalSum> {
    let mut sum = IntervalSum::default();
    let mut in_time = false;
    let mut any = false;
    let mut rest = s;
    while !rest.is_empty() {
        if !in_time && rest.starts_with(['T', 't']) {
            in_time = true;
            rest = &rest[1..];
            continue;
        }
        let end = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, designator) = (&rest[..end], rest.as_bytes()[end].to_ascii_uppercase());
        rest = &rest[end + 1..];
        let (negative, body) = split_sign(number);
        let n = unit_number(body)?;
        let n = if negative {
            UnitNumber {
                int: -n.int,
                frac: -n.frac,
            }
        } else {
            n
        };
        let unit = match (in_time, designator) {
            (false, b'Y') => IntervalUnit::Months(12),
            (false, b'M') => IntervalUnit::Months(1),
            (false, b'W') => IntervalUnit::Days(7),
            (false, b'D') => IntervalUnit::Days(1),
            (true, b'H') => IntervalUnit::Micros(MICROS_PER_HOUR),
            (true, b'M') => IntervalUnit::Micros(MICROS_PER_MINUTE),
            (true, b'S') => IntervalUnit::Micros(MICROS_PER_SEC),
            _ => return None,
        };
        sum.add(n, unit);
        any = true;
    }
    any.then_some(sum)
}

/// `array_in` for a one-dimensional `text[]`: `{a,"b c",NULL}`, `{}`.
fn parse_text_array(s: &str) -> Result<Vec<Option<String>>, ReprError> {
    let ty = ScalarType::TextArray;
    let malformed = |reason: &str| invalid(ty, s, reason);
    let t = trim_pg(s);
    let inner = t
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| malformed("array value must start with \"{\" and end with \"}\""))?;
    let mut elems = Vec::new();
    if trim_pg(inner).is_empty() {
        return Ok(elems);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| is_pg_space(*c)).is_some() {}
        let mut value = String::new();
        let elem = match chars.peek() {
            Some('"') => {
                chars.next();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => value.push(
                            chars
                                .next()
                                .ok_or_else(|| malformed("unexpected end of input"))?,
                        ),
                        Some(c) => value.push(c),
                        None => return Err(malformed("unterminated quoted element")),
                    }
                }
                while chars.next_if(|c| is_pg_space(*c)).is_some() {}
                Some(value)
            }
            Some('{') => return Err(malformed("multidimensional arrays are not supported")),
            _ => {
                // Trailing unescaped whitespace is not part of the element.
                let mut kept = 0;
                let mut escaped = false;
                while let Some(&c) = chars.peek() {
                    match c {
                        ',' => break,
                        '"' | '{' | '}' => {
                            return Err(malformed("unexpected character in element"));
                        }
                        '\\' => {
                            chars.next();
                            value.push(
                                chars
                                    .next()
                                    .ok_or_else(|| malformed("unexpected end of input"))?,
                            );
                            kept = value.len();
                            escaped = true;
                            continue;
                        }
                        c => {
                            value.push(c);
                            if !is_pg_space(c) {
                                kept = value.len();
                            }
                        }
                    }
                    chars.next();
                }
                value.truncate(kept);
                if value.is_empty() {
                    return Err(malformed("empty element"));
                }
                if !escaped && value.eq_ignore_ascii_case("NULL") {
                    None
                } else {
                    Some(value)
                }
            }
        };
        elems.push(elem);
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return Err(malformed("expected \",\" between elements")),
        }
    }
    Ok(elems)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn text(d: Datum) -> String {
        datum_to_text(&d).expect("not null")
    }

    fn parse(s: &str, ty: ScalarType) -> Datum {
        match parse_datum(s, ty) {
            Ok(d) => d,
            Err(e) => panic!("{s:?} as {ty}: {e}"),
        }
    }

    fn parse_err(s: &str, ty: ScalarType) -> String {
        match parse_datum(s, ty) {
            Ok(d) => panic!("{s:?} as {ty} parsed as {d:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_round_trip(d: Datum, ty: ScalarType) {
        let s = text(d.clone());
        assert_eq!(parse(&s, ty), d, "text {s:?}");
    }

    fn iv(months: i32, days: i32, micros: i64) -> Datum {
        Datum::Interval(Interval {
            months,
            days,
            micros,
        })
    }

    fn ts(s: &str) -> i64 {
        match parse(s, ScalarType::Timestamp) {
            Datum::Timestamp(us) => us,
            d => panic!("{d:?}"),
        }
    }

    const NUMERIC_10_2: ScalarType = ScalarType::Numeric {
        precision: 10,
        scale: 2,
    };

    #[test]
    fn null_has_no_text() {
        assert_eq!(datum_to_text(&Datum::Null), None);
        let mut out = String::from("x");
        format_datum(&Datum::Null, &mut out);
        assert_eq!(out, "x");
    }

    #[test]
    fn bool_text() {
        assert_eq!(text(Datum::Bool(true)), "t");
        assert_eq!(text(Datum::Bool(false)), "f");
        for s in ["t", "TRUE", " true ", "tr", "y", "Yes", "on", "ON", "1"] {
            assert_eq!(parse(s, ScalarType::Bool), Datum::Bool(true), "{s:?}");
        }
        for s in [
            "f",
            "false",
            "FaL",
            "n",
            "no",
            "off",
            "of",
            "0",
            "\tfalse\n",
        ] {
            assert_eq!(parse(s, ScalarType::Bool), Datum::Bool(false), "{s:?}");
        }
        for s in ["", "o", "2", "truex", "yess", "nope", "t rue"] {
            assert_eq!(
                parse_err(s, ScalarType::Bool),
                format!("invalid input syntax for type boolean: \"{s}\"")
            );
        }
    }

    #[test]
    fn integer_text() {
        assert_eq!(text(Datum::Int16(-32768)), "-32768");
        assert_eq!(text(Datum::Int64(i64::MAX)), "9223372036854775807");
        assert_eq!(parse(" 42 ", ScalarType::Int32), Datum::Int32(42));
        assert_eq!(parse("+7", ScalarType::Int16), Datum::Int16(7));
        assert_eq!(parse("-32768", ScalarType::Int16), Datum::Int16(i16::MIN));
        assert_eq!(
            parse("-9223372036854775808", ScalarType::Int64),
            Datum::Int64(i64::MIN)
        );
        // PostgreSQL 16 accepts underscores and non-decimal prefixes.
        assert_eq!(
            parse("1_000_000", ScalarType::Int32),
            Datum::Int32(1_000_000)
        );
        assert_eq!(parse("0x1F", ScalarType::Int32), Datum::Int32(31));
        assert_eq!(parse("-0o17", ScalarType::Int32), Datum::Int32(-15));
        assert_eq!(parse("0b_101", ScalarType::Int64), Datum::Int64(5));
        assert_eq!(
            parse_err("abc", ScalarType::Int32),
            "invalid input syntax for type integer: \"abc\""
        );
        for s in [
            "", " ", "-", "1.5", "1e3", "_1", "1_", "1__0", "0x", "12 3", "0xg",
        ] {
            assert!(
                matches!(
                    parse_datum(s, ScalarType::Int64),
                    Err(ReprError::InvalidText { .. })
                ),
                "{s:?}"
            );
        }
        assert_eq!(
            parse_err("99999", ScalarType::Int16),
            "value \"99999\" is out of range for type smallint"
        );
        assert_eq!(
            parse_err("2147483648", ScalarType::Int32),
            "value \"2147483648\" is out of range for type integer"
        );
        let huge = "9".repeat(100);
        assert!(matches!(
            parse_datum(&huge, ScalarType::Int64),
            Err(ReprError::OutOfRange { .. })
        ));
    }

    #[test]
    fn float8_text_matches_postgres() {
        let cases = [
            (1e20, "1e+20"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456789012345.0, "123456789012345"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (1.5e300, "1.5e+300"),
            (1e-300, "1e-300"),
            (5e-324, "5e-324"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.0 / 3.0, "0.3333333333333333"),
            (100.0, "100"),
            (-2.5e-7, "-2.5e-07"),
        ];
        for (v, expected) in cases {
            assert_eq!(text(Datum::Float64(F64(v))), expected);
        }
    }

    #[test]
    fn float8_input() {
        let f = |s| match parse(s, ScalarType::Float64) {
            Datum::Float64(F64(v)) => v,
            d => panic!("{d:?}"),
        };
        assert!(f("NaN").is_nan());
        assert!(f("nan").is_nan());
        assert_eq!(f("Infinity"), f64::INFINITY);
        assert_eq!(f("-inf"), f64::NEG_INFINITY);
        assert_eq!(f("+INF"), f64::INFINITY);
        assert_eq!(f(" 1.5e3 "), 1500.0);
        assert_eq!(f(".5"), 0.5);
        assert_eq!(f("5."), 5.0);
        assert_eq!(f("-0"), -0.0);
        for s in ["", "abc", "1.2.3", "e5", "1e", "infinit", "--1", "1_0"] {
            assert!(
                matches!(
                    parse_datum(s, ScalarType::Float64),
                    Err(ReprError::InvalidText { .. })
                ),
                "{s:?}"
            );
        }
        assert_eq!(
            parse_err("1e400", ScalarType::Float64),
            "value \"1e400\" is out of range for type double precision"
        );
        assert!(matches!(
            parse_datum("1e-400", ScalarType::Float64),
            Err(ReprError::OutOfRange { .. })
        ));
        assert_eq!(
            parse("0e-400", ScalarType::Float64),
            Datum::Float64(F64(0.0))
        );
    }

    #[test]
    fn numeric_text() {
        let n = |mantissa, scale| Datum::Numeric(Numeric { mantissa, scale });
        assert_eq!(text(n(1500, 3)), "1.500");
        assert_eq!(text(n(-5, 2)), "-0.05");
        assert_eq!(text(n(0, 2)), "0.00");
        assert_eq!(text(n(12, -2)), "1200");
        assert_eq!(text(n(0, -2)), "0");
        assert_eq!(text(n(7, 0)), "7");
        assert_eq!(
            text(n(i128::MIN, 10)),
            "-17014118346046923173168730371.5884105728"
        );

        assert_eq!(parse("1.5", NUMERIC_10_2), n(150, 2));
        assert_eq!(parse(" -0.05 ", NUMERIC_10_2), n(-5, 2));
        assert_eq!(parse("1_000.5", NUMERIC_10_2), n(100050, 2));
        assert_eq!(parse("0x10", NUMERIC_10_2), n(1600, 2));
        assert_eq!(parse("1.5e2", NUMERIC_10_2), n(15000, 2));
        assert_eq!(parse("15e-3", NUMERIC_10_2), n(2, 2));
        assert_eq!(parse(".005", NUMERIC_10_2), n(1, 2));
        assert_eq!(parse("-.005", NUMERIC_10_2), n(-1, 2));
        assert_eq!(parse("0.0049", NUMERIC_10_2), n(0, 2));
        assert_eq!(parse("99999999.994", NUMERIC_10_2), n(9999999999, 2));
        assert_eq!(parse("0e999999999999", NUMERIC_10_2), n(0, 2));
        assert_eq!(parse("1e-999999999999", NUMERIC_10_2), n(0, 2));
        let int5 = ScalarType::Numeric {
            precision: 5,
            scale: 0,
        };
        assert_eq!(parse("2.5", int5), n(3, 0));
        assert_eq!(parse("-2.5", int5), n(-3, 0));
        assert_eq!(parse("-2.4999", int5), n(-2, 0));
        let hundreds = ScalarType::Numeric {
            precision: 10,
            scale: -2,
        };
        assert_eq!(parse("1234.5", hundreds), n(12, -2));
        assert_eq!(parse("1250", hundreds), n(13, -2));

        assert_eq!(
            parse_err("99999999.995", NUMERIC_10_2),
            "value \"99999999.995\" is out of range for type numeric(10,2)"
        );
        for s in ["123456789", "1e9", "1e999999999999", &"9".repeat(60)] {
            assert!(
                matches!(
                    parse_datum(s, NUMERIC_10_2),
                    Err(ReprError::OutOfRange { .. })
                ),
                "{s:?}"
            );
        }
        for s in [
            "", ".", "1.2.3", "abc", "1e", "1e+", "NaN", "Infinity", "1_", "_1", "1 2",
        ] {
            assert!(
                matches!(
                    parse_datum(s, NUMERIC_10_2),
                    Err(ReprError::InvalidText { .. })
                ),
                "{s:?}"
            );
        }
    }

    #[test]
    fn date_text_matches_postgres() {
        let date = |s| parse(s, ScalarType::Date);
        assert_eq!(date("1970-01-01"), Datum::Date(0));
        assert_eq!(date("2024-03-01"), Datum::Date(19783));
        assert_eq!(text(Datum::Date(19783)), "2024-03-01");
        assert_eq!(text(date("0044-03-15 BC")), "0044-03-15 BC");
        assert_eq!(text(date("0001-01-01 BC")), "0001-01-01 BC");
        assert_eq!(text(date("0001-01-01")), "0001-01-01");
        assert_eq!(text(date("10000-01-01")), "10000-01-01");
        assert_eq!(text(date("5874897-12-31")), "5874897-12-31");
        assert_eq!(text(date("2024-3-1 13:45:00")), "2024-03-01");
        assert_eq!(date("2024-02-29"), Datum::Date(19782));
        assert_eq!(text(Datum::Date(i32::MAX)), "infinity");
        assert_eq!(text(Datum::Date(i32::MIN)), "-infinity");
        assert_eq!(date(" Infinity "), Datum::Date(i32::MAX));
        assert_eq!(date("-infinity"), Datum::Date(i32::MIN));
        assert_eq!(date("epoch"), Datum::Date(0));
        for s in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "0000-01-01",
            "2024-04-31",
            "99999999-01-01",
        ] {
            assert!(
                matches!(
                    parse_datum(s, ScalarType::Date),
                    Err(ReprError::OutOfRange { .. })
                ),
                "{s:?}"
            );
        }
        for s in [
            "",
            "2024",
            "2024-03",
            "2024/03/01",
            "20240301",
            "2024-03-01x",
            "1234567890-01-01",
        ] {
            assert!(
                matches!(
                    parse_datum(s, ScalarType::Date),
                    Err(ReprError::InvalidText { .. })
                ),
                "{s:?}"
            );
        }
    }

    #[test]
    fn calendar_agrees_with_chrono() {
        for days in (-800_000..800_000).step_by(997).chain(-1000..1000) {
            let date = NaiveDate::from_epoch_days(days).expect("in range");
            let (y, m, d) = ymd_from_days(i64::from(days));
            assert_eq!(
                (y, m, d),
                (i64::from(date.year()), date.month(), date.day())
            );
            assert_eq!(days_from_ymd(y, m, d), Some(i64::from(days)));
        }
        assert_eq!(days_from_ymd(2023, 2, 29), None);
        assert_eq!(
            days_from_ymd(-400_000_000, 2, 29),
            days_from_ymd(-400_000_000, 2, 28).map(|d| d + 1)
        );
    }

    #[test]
    fn timestamp_text_matches_postgres() {
        let tz = |s| parse(s, ScalarType::TimestampTz);
        assert_eq!(text(Datum::Timestamp(0)), "1970-01-01 00:00:00");
        assert_eq!(
            text(Datum::Timestamp(ts("2024-03-01 13:45:00.5"))),
            "2024-03-01 13:45:00.5"
        );
        assert_eq!(
            text(Datum::Timestamp(ts("2024-03-01 13:45:00.123"))),
            "2024-03-01 13:45:00.123"
        );
        assert_eq!(
            text(Datum::Timestamp(ts("2024-03-01 13:45:00.123456"))),
            "2024-03-01 13:45:00.123456"
        );
        assert_eq!(text(Datum::Timestamp(-1)), "1969-12-31 23:59:59.999999");
        assert_eq!(
            text(Datum::Timestamp(ts("0044-03-15 12:00:00 BC"))),
            "0044-03-15 12:00:00 BC"
        );
        assert_eq!(
            text(tz("0044-03-15 12:00:00.5 BC")),
            "0044-03-15 12:00:00.5+00 BC"
        );
        assert_eq!(text(tz("2024-03-01 13:45:00+02")), "2024-03-01 11:45:00+00");
        assert_eq!(text(tz("2024-03-01T13:45Z")), "2024-03-01 13:45:00+00");
        assert_eq!(text(Datum::Timestamp(i64::MAX)), "infinity");
        assert_eq!(text(Datum::TimestampTz(i64::MIN)), "-infinity");

        assert_eq!(ts("2024-03-01"), ts("2024-03-01 00:00"));
        assert_eq!(ts("2024-03-01T13:45"), ts("2024-03-01 13:45:00"));
        assert_eq!(ts("2024-03-01 13:45:00+02"), ts("2024-03-01 13:45:00"));
        assert_eq!(ts(" 2024-03-01   13:45:00 UTC "), ts("2024-03-01 13:45:00"));
        assert_eq!(ts("2024-03-01 24:00:00"), ts("2024-03-02"));
        assert_eq!(ts("2024-03-01 23:59:60"), ts("2024-03-02"));
        assert_eq!(ts("2024-03-01 00:00:00.0000005"), 1_709_251_200_000_000);
        assert_eq!(ts("2024-03-01 00:00:00.0000015"), 1_709_251_200_000_002);
        assert_eq!(ts("2024-03-01 00:00:00.00000051"), 1_709_251_200_000_001);
        assert_eq!(ts("1970-01-01 00:00:00.9999999"), 1_000_000);
        assert_eq!(ts("epoch"), 0);
        assert_eq!(ts("infinity"), i64::MAX);

        let base = ts("2024-03-01 13:45:00");
        let hour = MICROS_PER_HOUR;
        for (s, expected) in [
            ("2024-03-01 13:45:00", base),
            ("2024-03-01 13:45:00Z", base),
            ("2024-03-01 13:45:00 utc", base),
            ("2024-03-01 13:45:00 GMT", base),
            ("2024-03-01 13:45:00+02", base - 2 * hour),
            (
                "2024-03-01 13:45:00 +02:30",
                base - 2 * hour - 30 * MICROS_PER_MINUTE,
            ),
            (
                "2024-03-01 13:45:00-0530",
                base + 5 * hour + 30 * MICROS_PER_MINUTE,
            ),
            (
                "2024-03-01 13:45:00-05:30:15",
                base + 5 * hour + 30 * MICROS_PER_MINUTE + 15 * MICROS_PER_SEC,
            ),
            ("2024-03-01T13:45:00.25+01:00", base - hour + 250_000),
        ] {
            assert_eq!(tz(s), Datum::TimestampTz(expected), "{s:?}");
        }

        for s in [
            "2024-03-01 25:00",
            "2024-03-01 24:00:01",
            "2024-03-01 12:60",
            "2024-03-01 12:00:61",
            "294277-01-01",
            "2024-03-01 00:00+16",
        ] {
            assert!(
                matches!(
                    parse_datum(s, ScalarType::TimestampTz),
                    Err(ReprError::OutOfRange { .. })
                ),
                "{s:?}"
            );
        }
        for s in [
            "",
            "13:45",
            "2024-03-01 13",
            "2024-03-01 13:4",
            "2024-03-01 13:45:0",
            "2024-03-01 America/New_York",
            "2024-03-01 13:45 +2:3",
            "2024-03-01 13:45 13:45",
            "2024-03-01 13:45 BC BC",
            "2024-03-01 13:45+02 +03",
        ] {
            assert!(
                matches!(
                    parse_datum(s, ScalarType::TimestampTz),
                    Err(ReprError::InvalidText { .. })
                ),
                "{s:?}"
            );
        }
    }

    #[test]
    fn interval_text_matches_postgres() {
        let cases = [
            (
                "1 year 2 mons 3 days 04:05:06.5",
                "1 year 2 mons 3 days 04:05:06.5",
            ),
            ("-1 days +02:00:00", "-1 days +02:00:00"),
            ("0", "00:00:00"),
            ("1 day", "1 day"),
            ("10 days 00:00:01", "10 days 00:00:01"),
            ("-1.5 seconds", "-00:00:01.5"),
            ("1.5 hours", "01:30:00"),
            ("1.5 days", "1 day 12:00:00"),
            ("1.5 months", "1 mon 15 days"),
            ("1.7 years", "1 year 8 mons"),
            ("3 weeks", "21 days"),
            ("1.5 weeks", "10 days 12:00:00"),
            ("@ 1 day ago", "-1 days"),
            ("1 day ago 2 hours", "-1 days -02:00:00"),
            ("P1Y2M3DT4H5M6S", "1 year 2 mons 3 days 04:05:06"),
            ("PT1H", "01:00:00"),
            ("P-1Y-2M", "-1 years -2 mons"),
            ("P0.5Y", "6 mons"),
            ("PT1.5S", "00:00:01.5"),
            ("P1W", "7 days"),
            ("-1 year +2 mons", "-10 mons"),
            ("-1 mons -2 days -03:00", "-1 mons -2 days -03:00:00"),
            ("1-2", "1 year 2 mons"),
            ("1 04:05:06", "1 day 04:05:06"),
            ("1:30.5", "00:01:30.5"),
            ("100:00:00", "100:00:00"),
            ("2 hours 30 minutes", "02:30:00"),
            ("1day", "1 day"),
            ("5", "00:00:05"),
            ("1 day 5", "1 day 00:00:05"),
            ("1.5 microseconds", "00:00:00.000001"),
            ("2.5 microseconds", "00:00:00.000002"),
            ("1 millisecond", "00:00:00.001"),
            ("3 centuries 2 decades 1 millennium", "1320 years"),
            ("1 mon -1 days", "1 mon -1 days"),
            ("-1 mons 1 day", "-1 mons +1 day"),
            ("-2 days 03:00", "-2 days +03:00:00"),
            (
                "178956970 years 7 mons 2147483647 days 2562047788:00:54.775807",
                "178956970 years 7 mons 2147483647 days 2562047788:00:54.775807",
            ),
            ("-178956970 years -8 mons", "-178956970 years -8 mons"),
            ("-2147483648 days", "-2147483648 days"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                text(parse(input, ScalarType::Interval)),
                expected,
                "{input:?}"
            );
        }
        assert_eq!(text(iv(0, 0, i64::MIN)), "-2562047788:00:54.775808");
        assert_eq!(text(iv(12, 1, 0)), "1 year 1 day");
        assert_eq!(text(iv(-13, 0, 1)), "-1 years -1 mons +00:00:00.000001");
        assert_eq!(
            parse("@ 2 HOURS", ScalarType::Interval),
            iv(0, 0, 2 * MICROS_PER_HOUR)
        );

        for s in [
            "",
            "ago",
            "1 fortnight",
            "1 2",
            "1 day 1 day",
            "1 day 02:00 03:00",
            "1:2:3:4",
            "P",
            "P1H",
            "PT1D",
            "1.5.5 days",
            "day",
        ] {
            assert!(
                matches!(
                    parse_datum(s, ScalarType::Interval),
                    Err(ReprError::InvalidText { .. })
                ),
                "{s:?}"
            );
        }
        for s in [
            "178956971 years",
            "2147483648 days",
            "3000000000:00:00",
            "99999999999999999999 hours",
            &format!("{} hours", "9".repeat(50)),
            &format!("{}:00", "9".repeat(50)),
        ] {
            assert!(
                matches!(
                    parse_datum(s, ScalarType::Interval),
                    Err(ReprError::OutOfRange { .. })
                ),
                "{s:?}"
            );
        }
    }

    #[test]
    fn text_array_text_matches_postgres() {
        let arr = |elems: &[Option<&str>]| {
            Datum::TextArray(elems.iter().map(|e| e.map(str::to_owned)).collect())
        };
        let d = arr(&[
            Some("a"),
            Some("b c"),
            None,
            Some("x\"y"),
            Some(""),
            Some("null"),
            Some("a\\b"),
            Some("{x}"),
            Some(" lead"),
            Some("x,y"),
        ]);
        let s = r#"{a,"b c",NULL,"x\"y","","null","a\\b","{x}"," lead","x,y"}"#;
        assert_eq!(text(d.clone()), s);
        assert_eq!(parse(s, ScalarType::TextArray), d);
        assert_eq!(text(arr(&[])), "{}");
        assert_eq!(parse(" { } ", ScalarType::TextArray), arr(&[]));
        assert_eq!(
            parse(r#"{  a  , "b" ,NULL, "NULL" , a\ }"#, ScalarType::TextArray),
            arr(&[Some("a"), Some("b"), None, Some("NULL"), Some("a ")])
        );
        assert_eq!(
            parse(r"{\NULL,nuLL}", ScalarType::TextArray),
            arr(&[Some("NULL"), None])
        );
        assert_eq!(
            parse("{é,ü ö}", ScalarType::TextArray),
            arr(&[Some("é"), Some("ü ö")])
        );
        for s in [
            "",
            "a",
            "{",
            "{a",
            "{a,}",
            "{,a}",
            "{a b\"c}",
            "{{a}}",
            r#"{"a"b}"#,
            r#"{"a}"#,
            r"{a\}",
        ] {
            assert!(
                matches!(
                    parse_datum(s, ScalarType::TextArray),
                    Err(ReprError::InvalidText { .. })
                ),
                "{s:?}"
            );
        }
    }

    #[test]
    fn json_keeps_its_text_as_written() {
        let j = |s| parse(s, ScalarType::Json);
        assert_eq!(
            j(r#" {"b":1,  "a":2, "a": 1.50} "#),
            Datum::Json(r#" {"b":1,  "a":2, "a": 1.50} "#.into())
        );
        assert_eq!(
            datum_to_text(&Datum::Json("[1,  2]".into())).as_deref(),
            Some("[1,  2]")
        );
        let err = parse_err("{x}", ScalarType::Json);
        assert_eq!(err, "invalid input syntax for type json: \"{x}\"");
    }

    #[test]
    fn jsonb_text_matches_postgres() {
        let j = |s| parse(s, ScalarType::Jsonb);
        assert_eq!(
            j(r#"{"bb": [1, 2], "a": 1, "a": 2, "ccc": {"z":1.5,"y":1e20, "x":"\u0001\n"}}"#),
            Datum::Jsonb(
                r#"{"a": 2, "bb": [1, 2], "ccc": {"x": "\u0001\n", "y": 100000000000000000000, "z": 1.5}}"#
                    .into()
            )
        );
        assert_eq!(j("1e-7"), Datum::Jsonb("0.0000001".into()));
        assert_eq!(j("1.0"), Datum::Jsonb("1".into()));
        assert_eq!(j("-0.0"), Datum::Jsonb("0".into()));
        assert_eq!(
            j("18446744073709551615"),
            Datum::Jsonb("18446744073709551615".into())
        );
        assert_eq!(j(" [] "), Datum::Jsonb("[]".into()));
        assert_eq!(j("{}"), Datum::Jsonb("{}".into()));
        assert_eq!(
            j(r#""tab\tquote\"slash\\\u001f\u00e9""#),
            Datum::Jsonb("\"tab\\tquote\\\"slash\\\\\\u001fé\"".into())
        );
        assert_eq!(
            j(r#"{"b": null, "a": [true, false]}"#),
            Datum::Jsonb(r#"{"a": [true, false], "b": null}"#.into())
        );
        assert_eq!(
            canonical_jsonb(&serde_json::json!({"aa": 1, "b": 2, "ab": 3})),
            r#"{"b": 2, "aa": 1, "ab": 3}"#
        );
        let err = parse_err("{x}", ScalarType::Jsonb);
        assert_eq!(err, "invalid input syntax for type jsonb: \"{x}\"");
        assert_round_trip(
            j(r#"{"a": {"b": [1, "x", null, 2.25]}}"#),
            ScalarType::Jsonb,
        );
    }

    #[test]
    fn text_is_verbatim() {
        assert_eq!(
            parse("  a b ", ScalarType::Text),
            Datum::Text("  a b ".into())
        );
        assert_eq!(text(Datum::Text("x\ny".into())), "x\ny");
    }

    #[test]
    fn errors_carry_a_reason() {
        match parse_datum("2024-03-01 Mars/Olympus", ScalarType::TimestampTz) {
            Err(ReprError::InvalidText { ty, value, reason }) => {
                assert_eq!(ty, ScalarType::TimestampTz);
                assert_eq!(value, "2024-03-01 Mars/Olympus");
                assert_eq!(reason, "time zone not recognized");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn extremes_round_trip() {
        let numeric = ScalarType::Numeric {
            precision: 38,
            scale: 0,
        };
        for d in [
            Datum::Int16(i16::MIN),
            Datum::Int32(i32::MIN),
            Datum::Int64(i64::MIN),
            Datum::Int64(i64::MAX),
        ] {
            let ty = match d {
                Datum::Int16(_) => ScalarType::Int16,
                Datum::Int32(_) => ScalarType::Int32,
                _ => ScalarType::Int64,
            };
            assert_round_trip(d, ty);
        }
        for v in [
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_round_trip(Datum::Float64(F64(v)), ScalarType::Float64);
        }
        assert_round_trip(
            Datum::Numeric(Numeric {
                mantissa: 10i128.pow(38) - 1,
                scale: 0,
            }),
            numeric,
        );
        for days in [
            i32::MIN,
            i32::MIN + 1,
            -719_529,
            -719_528,
            0,
            i32::MAX - 1,
            i32::MAX,
        ] {
            assert_round_trip(Datum::Date(days), ScalarType::Date);
        }
        for us in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
            assert_round_trip(Datum::Timestamp(us), ScalarType::Timestamp);
            assert_round_trip(Datum::TimestampTz(us), ScalarType::TimestampTz);
        }
        for (m, d, us) in [
            (i32::MIN, i32::MIN, i64::MIN),
            (i32::MAX, i32::MAX, i64::MAX),
            (0, 0, 0),
        ] {
            assert_round_trip(iv(m, d, us), ScalarType::Interval);
        }
    }

    fn text_array() -> impl Strategy<Value = Vec<Option<String>>> {
        let elem = prop_oneof![
            Just("NULL".to_owned()),
            Just(String::new()),
            "[a-c \\\\\"{},\t\n\u{b}é]{0,6}",
            any::<String>(),
        ];
        prop::collection::vec(prop::option::of(elem), 0..6)
    }

    proptest! {
        #[test]
        fn float8_round_trips(v in any::<f64>().prop_filter("not NaN", |v| !v.is_nan())) {
            let d = Datum::Float64(F64(v));
            prop_assert_eq!(parse_datum(&text(d.clone()), ScalarType::Float64)?, d);
        }

        #[test]
        fn numeric_round_trips(mantissa in -(10i128.pow(38) - 1)..10i128.pow(38), scale in -10i8..=38) {
            let d = Datum::Numeric(Numeric { mantissa, scale });
            let ty = ScalarType::Numeric { precision: 38, scale };
            prop_assert_eq!(parse_datum(&text(d.clone()), ty)?, d);
        }

        #[test]
        fn date_round_trips(days in any::<i32>()) {
            let d = Datum::Date(days);
            prop_assert_eq!(parse_datum(&text(d.clone()), ScalarType::Date)?, d);
        }

        #[test]
        fn timestamps_round_trip(us in any::<i64>()) {
            let d = Datum::Timestamp(us);
            prop_assert_eq!(parse_datum(&text(d.clone()), ScalarType::Timestamp)?, d);
            let d = Datum::TimestampTz(us);
            prop_assert_eq!(parse_datum(&text(d.clone()), ScalarType::TimestampTz)?, d);
        }

        #[test]
        fn interval_round_trips(months in any::<i32>(), days in any::<i32>(), micros in any::<i64>()) {
            let d = iv(months, days, micros);
            prop_assert_eq!(parse_datum(&text(d.clone()), ScalarType::Interval)?, d);
        }

        #[test]
        fn text_array_round_trips(elems in text_array()) {
            let d = Datum::TextArray(elems);
            prop_assert_eq!(parse_datum(&text(d.clone()), ScalarType::TextArray)?, d);
        }

        #[test]
        fn parsing_never_panics(s in any::<String>()) {
            for ty in [ScalarType::Bool, ScalarType::Int64, ScalarType::Float64, NUMERIC_10_2, ScalarType::Date, ScalarType::TimestampTz, ScalarType::Interval, ScalarType::Jsonb, ScalarType::TextArray] {
                let _ = parse_datum(&s, ty);
            }
        }

        #[test]
        fn date_time_parsing_never_panics(s in "[0-9 :.+\\-TZBCa-z]{0,30}") {
            for ty in [ScalarType::Date, ScalarType::Timestamp, ScalarType::TimestampTz, ScalarType::Interval] {
                let _ = parse_datum(&s, ty);
            }
        }
    }
}
