//! PostgreSQL's binary wire format for the types Vigil serves.
//!
//! Drivers such as tokio-postgres, asyncpg and pgjdbc exchange parameters and results
//! in binary. The layouts are PostgreSQL's `*send`/`*recv` functions: big-endian
//! integers, dates and timestamps counted from 2000-01-01 rather than 1970-01-01,
//! numeric as base-10000 digits, jsonb as a version byte then text, json as bare text,
//! and arrays with a dimension header.
//!
//! Decoding never trusts a length or count from the client: every read is bounds
//! checked and nothing is allocated ahead of the bytes that back it.

use bytes::{BufMut, BytesMut};
use vigil_engine::repr::{Datum, F64, Interval, Numeric};

use super::types::oid;

/// Days from 1970-01-01 (Vigil's epoch) to 2000-01-01 (PostgreSQL's).
const EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const EPOCH_MICROS: i64 = 946_684_800_000_000;

const NUMERIC_POSITIVE: u16 = 0x0000;
const NUMERIC_NEGATIVE: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
const NUMERIC_DSCALE_MASK: u16 = 0x3FFF;

const JSONB_VERSION: u8 = 1;

/// Why a binary value could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error("the value ends early")]
    Truncated,
    #[error("{0} unexpected bytes after the value")]
    TrailingBytes(usize),
    #[error("invalid byte sequence for encoding \"UTF8\"")]
    InvalidUtf8,
    #[error("invalid byte sequence for encoding \"UTF8\": 0x00")]
    NulByte,
    #[error("unsupported jsonb version number {0}")]
    JsonbVersion(u8),
    #[error("invalid sign in external \"numeric\" value")]
    NumericSign(u16),
    #[error("invalid scale in external \"numeric\" value")]
    NumericScale(u16),
    #[error("invalid digit in external \"numeric\" value")]
    NumericDigit(i16),
    #[error("invalid length in external \"numeric\" value")]
    NumericLength(i16),
    #[error("numeric NaN and infinity are not supported")]
    NumericSpecial,
    #[error("invalid number of dimensions: {0}")]
    ArrayDimensions(i32),
    #[error("invalid array flags")]
    ArrayFlags(i32),
    #[error("wrong element type: array elements must be text, not type {0}")]
    ArrayElementType(u32),
    #[error("invalid array length {0}")]
    ArrayLength(i32),
    #[error("{0} out of range")]
    OutOfRange(&'static str),
}

/// A decoded binary value. Numeric and JSON travel as text inside their binary form;
/// they are returned as that text so the SQL layer's text input can give them the
/// target column's scale or canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Datum(Datum),
    Text(String),
}

/// Whether [`decode`] reads the binary form of this type OID.
pub fn decodes(type_oid: u32) -> bool {
    matches!(
        type_oid,
        oid::BOOL
            | oid::INT2
            | oid::INT4
            | oid::INT8
            | oid::FLOAT4
            | oid::FLOAT8
            | oid::NUMERIC
            | oid::TEXT
            | oid::VARCHAR
            | oid::BPCHAR
            | oid::NAME
            | oid::DATE
            | oid::TIMESTAMP
            | oid::TIMESTAMPTZ
            | oid::INTERVAL
            | oid::JSON
            | oid::JSONB
            | oid::TEXT_ARRAY
            | oid::VARCHAR_ARRAY
    )
}

/// Reads the binary form of a value of type `type_oid` (one of those [`decodes`]
/// accepts; any other OID reads as text).
pub fn decode(type_oid: u32, bytes: &[u8]) -> Result<Decoded, BinaryError> {
    let mut r = Reader::new(bytes);
    let decoded = match type_oid {
        oid::BOOL => Decoded::Datum(Datum::Bool(r.u8()? != 0)),
        oid::INT2 => Decoded::Datum(Datum::Int16(r.i16()?)),
        oid::INT4 => Decoded::Datum(Datum::Int32(r.i32()?)),
        oid::INT8 => Decoded::Datum(Datum::Int64(r.i64()?)),
        oid::FLOAT4 => Decoded::Datum(Datum::Float64(F64(f64::from(f32::from_bits(r.u32()?))))),
        oid::FLOAT8 => Decoded::Datum(Datum::Float64(F64(f64::from_bits(r.u64()?)))),
        oid::NUMERIC => Decoded::Text(read_numeric(&mut r)?),
        oid::DATE => {
            let days = r
                .i32()?
                .checked_add(EPOCH_DAYS)
                .ok_or(BinaryError::OutOfRange("date"))?;
            Decoded::Datum(Datum::Date(days))
        }
        oid::TIMESTAMP => Decoded::Datum(Datum::Timestamp(read_timestamp(&mut r)?)),
        oid::TIMESTAMPTZ => Decoded::Datum(Datum::TimestampTz(read_timestamp(&mut r)?)),
        oid::INTERVAL => {
            let micros = r.i64()?;
            let days = r.i32()?;
            let months = r.i32()?;
            Decoded::Datum(Datum::Interval(Interval {
                months,
                days,
                micros,
            }))
        }
        oid::JSONB => {
            let version = r.u8()?;
            if version != JSONB_VERSION {
                return Err(BinaryError::JsonbVersion(version));
            }
            Decoded::Text(text(r.rest())?)
        }
        oid::JSON => Decoded::Text(text(r.rest())?),
        oid::TEXT_ARRAY | oid::VARCHAR_ARRAY => Decoded::Datum(read_text_array(&mut r)?),
        _ => Decoded::Datum(Datum::Text(text(r.rest())?)),
    };
    r.finish()?;
    Ok(decoded)
}

/// Appends the binary form of a non-NULL datum, the layout of its own type's OID.
pub fn encode(datum: &Datum, buf: &mut BytesMut) -> Result<(), BinaryError> {
    match datum {
        // The caller writes NULL as a -1 length; an empty value is the closest
        // thing if one slips through.
        Datum::Null => {}
        Datum::Bool(b) => buf.put_u8(u8::from(*b)),
        Datum::Int16(i) => buf.put_i16(*i),
        Datum::Int32(i) => buf.put_i32(*i),
        Datum::Int64(i) => buf.put_i64(*i),
        Datum::Float64(f) => buf.put_f64(f.0),
        Datum::Numeric(n) => write_numeric(*n, buf),
        Datum::Text(s) => buf.put_slice(s.as_bytes()),
        Datum::Date(days) => buf.put_i32(
            days.checked_sub(EPOCH_DAYS)
                .ok_or(BinaryError::OutOfRange("date"))?,
        ),
        Datum::Timestamp(micros) | Datum::TimestampTz(micros) => buf.put_i64(
            micros
                .checked_sub(EPOCH_MICROS)
                .ok_or(BinaryError::OutOfRange("timestamp"))?,
        ),
        Datum::Interval(i) => {
            buf.put_i64(i.micros);
            buf.put_i32(i.days);
            buf.put_i32(i.months);
        }
        Datum::Jsonb(json) => {
            buf.put_u8(JSONB_VERSION);
            buf.put_slice(json.as_bytes());
        }
        Datum::TextArray(elements) => write_text_array(elements, buf),
        // json_send: the text, with no version byte.
        Datum::Json(json) => buf.put_slice(json.as_bytes()),
    }
    Ok(())
}

fn text(bytes: &[u8]) -> Result<String, BinaryError> {
    let s = std::str::from_utf8(bytes).map_err(|_| BinaryError::InvalidUtf8)?;
    // PostgreSQL text cannot hold NUL; letting one in would break every client that
    // reads it back as a C string.
    if s.contains('\0') {
        return Err(BinaryError::NulByte);
    }
    Ok(s.to_owned())
}

fn read_timestamp(r: &mut Reader<'_>) -> Result<i64, BinaryError> {
    r.i64()?
        .checked_add(EPOCH_MICROS)
        .ok_or(BinaryError::OutOfRange("timestamp"))
}

/// Reads a binary numeric and returns its decimal text, e.g. `-12.50`.
fn read_numeric(r: &mut Reader<'_>) -> Result<String, BinaryError> {
    let ndigits = r.i16()?;
    let weight = i32::from(r.i16()?);
    let sign = r.u16()?;
    let dscale = r.u16()?;
    match sign {
        NUMERIC_POSITIVE | NUMERIC_NEGATIVE => {}
        NUMERIC_NAN | NUMERIC_PINF | NUMERIC_NINF => return Err(BinaryError::NumericSpecial),
        other => return Err(BinaryError::NumericSign(other)),
    }
    if dscale & !NUMERIC_DSCALE_MASK != 0 {
        return Err(BinaryError::NumericScale(dscale));
    }
    let ndigits = usize::try_from(ndigits).map_err(|_| BinaryError::NumericLength(ndigits))?;
    let mut digits = Vec::new();
    for _ in 0..ndigits {
        let digit = r.i16()?;
        if !(0..10_000).contains(&digit) {
            return Err(BinaryError::NumericDigit(digit));
        }
        digits.push(digit);
    }
    // Digit `i` is worth 10000^(weight - i); positions outside `digits` are zeros.
    let digit_at = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };

    let mut out = String::new();
    if sign == NUMERIC_NEGATIVE && digits.iter().any(|d| *d != 0) {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit_at(0).to_string());
        for i in 1..=weight {
            out.push_str(&format!("{:04}", digit_at(i)));
        }
    }
    if dscale > 0 {
        let dscale = usize::from(dscale);
        let mut fraction = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit_at(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

/// Writes `mantissa × 10^-scale` as PostgreSQL's base-10000 numeric.
fn write_numeric(n: Numeric, buf: &mut BytesMut) {
    let digits = n.mantissa.unsigned_abs().to_string();
    let (int_part, frac_part, dscale) = if n.scale <= 0 {
        let zeros = "0".repeat(usize::from(n.scale.unsigned_abs()));
        (format!("{digits}{zeros}"), String::new(), 0u16)
    } else {
        let scale = usize::from(n.scale.unsigned_abs());
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int_part, frac_part) = padded.split_at(padded.len() - scale);
        (
            int_part.to_owned(),
            frac_part.to_owned(),
            u16::from(n.scale.unsigned_abs()),
        )
    };
    let int_padded = format!(
        "{int_part:0>width$}",
        width = int_part.len().div_ceil(4) * 4
    );
    let frac_padded = format!(
        "{frac_part:0<width$}",
        width = frac_part.len().div_ceil(4) * 4
    );
    let group = |chunk: &[u8]| {
        chunk
            .iter()
            .fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0'))
    };
    let mut groups: Vec<i16> = int_padded
        .as_bytes()
        .chunks(4)
        .chain(frac_padded.as_bytes().chunks(4))
        .map(group)
        .collect();
    // At most 39 decimal digits, so every count below fits an i16.
    let mut weight = (int_padded.len() / 4) as i16 - 1;
    let leading_zeros = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading_zeros);
    weight -= leading_zeros as i16;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign = if n.mantissa < 0 {
        NUMERIC_NEGATIVE
    } else {
        NUMERIC_POSITIVE
    };
    buf.put_i16(groups.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(sign);
    buf.put_u16(dscale);
    for g in groups {
        buf.put_i16(g);
    }
}

fn read_text_array(r: &mut Reader<'_>) -> Result<Datum, BinaryError> {
    let ndim = r.i32()?;
    let flags = r.i32()?;
    let element_type = r.u32()?;
    if flags != 0 && flags != 1 {
        return Err(BinaryError::ArrayFlags(flags));
    }
    if !matches!(
        element_type,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME
    ) {
        return Err(BinaryError::ArrayElementType(element_type));
    }
    match ndim {
        0 => return Ok(Datum::TextArray(Vec::new())),
        1 => {}
        other => return Err(BinaryError::ArrayDimensions(other)),
    }
    let len = r.i32()?;
    let _lower_bound = r.i32()?;
    if len < 0 {
        return Err(BinaryError::ArrayLength(len));
    }
    let mut elements = Vec::new();
    for _ in 0..len {
        let element_len = r.i32()?;
        match element_len {
            -1 => elements.push(None),
            n if n < 0 => return Err(BinaryError::ArrayLength(n)),
            n => elements.push(Some(text(r.take(n as usize)?)?)),
        }
    }
    Ok(Datum::TextArray(elements))
}

fn write_text_array(elements: &[Option<String>], buf: &mut BytesMut) {
    let has_null = elements.iter().any(Option::is_none);
    buf.put_i32(if elements.is_empty() { 0 } else { 1 });
    buf.put_i32(i32::from(has_null));
    buf.put_u32(oid::TEXT);
    if elements.is_empty() {
        return;
    }
    buf.put_i32(elements.len() as i32);
    buf.put_i32(1);
    for element in elements {
        match element {
            None => buf.put_i32(-1),
            Some(s) => {
                buf.put_i32(s.len() as i32);
                buf.put_slice(s.as_bytes());
            }
        }
    }
}

/// A bounds-checked cursor over a value's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BinaryError> {
        if self.bytes.len() < n {
            return Err(BinaryError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BinaryError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, BinaryError> {
        Ok(self.array::<1>()?[0])
    }
    fn i16(&mut self) -> Result<i16, BinaryError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, BinaryError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, BinaryError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, BinaryError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, BinaryError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, BinaryError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn finish(self) -> Result<(), BinaryError> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(BinaryError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(d: &Datum) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode(d, &mut buf).unwrap();
        buf.to_vec()
    }

    fn numeric_bytes(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(ndigits.to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    fn numeric(mantissa: i128, scale: i8) -> Datum {
        Datum::Numeric(Numeric { mantissa, scale })
    }

    /// Layouts as PostgreSQL's `numeric_send` writes them.
    #[test]
    fn numeric_matches_postgres_layout() {
        assert_eq!(
            encoded(&numeric(1250, 2)),
            numeric_bytes(2, 0, 0x0000, 2, &[12, 5000])
        );
        assert_eq!(
            encoded(&numeric(-5, 2)),
            numeric_bytes(1, -1, 0x4000, 2, &[500])
        );
        assert_eq!(encoded(&numeric(0, 3)), numeric_bytes(0, 0, 0x0000, 3, &[]));
        assert_eq!(
            encoded(&numeric(100_000_000, 0)),
            numeric_bytes(1, 2, 0x0000, 0, &[1])
        );
        assert_eq!(
            encoded(&numeric(12_345, -2)),
            numeric_bytes(2, 1, 0x0000, 0, &[123, 4500])
        );
        assert_eq!(
            encoded(&numeric(123_456_789, 5)),
            numeric_bytes(3, 0, 0x0000, 5, &[1234, 5678, 9000])
        );
        assert_eq!(
            encoded(&numeric(1, 10)),
            numeric_bytes(1, -3, 0x0000, 10, &[100])
        );
    }

    #[test]
    fn numeric_reads_back_as_decimal_text() {
        let text = |bytes: Vec<u8>| decode(oid::NUMERIC, &bytes).unwrap();
        assert_eq!(
            text(numeric_bytes(2, 0, 0x0000, 2, &[12, 5000])),
            Decoded::Text("12.50".into())
        );
        assert_eq!(
            text(numeric_bytes(1, -1, 0x4000, 2, &[500])),
            Decoded::Text("-0.05".into())
        );
        assert_eq!(
            text(numeric_bytes(0, 0, 0x0000, 3, &[])),
            Decoded::Text("0.000".into())
        );
        assert_eq!(
            text(numeric_bytes(1, 2, 0x0000, 0, &[1])),
            Decoded::Text("100000000".into())
        );
        assert_eq!(
            text(numeric_bytes(1, -3, 0x0000, 10, &[100])),
            Decoded::Text("0.0000000001".into())
        );
        assert_eq!(
            text(numeric_bytes(3, 0, 0x4000, 5, &[1234, 5678, 9000])),
            Decoded::Text("-1234.56789".into())
        );
    }

    #[test]
    fn numeric_round_trips_through_text() {
        for (mantissa, scale) in [
            (0, 0),
            (7, 0),
            (-7, 1),
            (i128::from(i64::MAX), 4),
            (10i128.pow(37), 10),
        ] {
            let Decoded::Text(text) =
                decode(oid::NUMERIC, &encoded(&numeric(mantissa, scale))).unwrap()
            else {
                panic!("numeric decodes to text")
            };
            let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
            let value: i128 = digits.parse().unwrap();
            assert_eq!(
                if text.starts_with('-') { -value } else { value },
                mantissa,
                "{text}"
            );
            assert_eq!(
                text.split('.').nth(1).map_or(0, str::len),
                scale.max(0) as usize,
                "{text}"
            );
        }
    }

    #[test]
    fn numeric_special_values_and_bad_digits_are_errors() {
        assert_eq!(
            decode(oid::NUMERIC, &numeric_bytes(0, 0, 0xC000, 0, &[])),
            Err(BinaryError::NumericSpecial)
        );
        assert_eq!(
            decode(oid::NUMERIC, &numeric_bytes(0, 0, 0x1234, 0, &[])),
            Err(BinaryError::NumericSign(0x1234))
        );
        assert_eq!(
            decode(oid::NUMERIC, &numeric_bytes(1, 0, 0, 0, &[10_000])),
            Err(BinaryError::NumericDigit(10_000))
        );
        assert_eq!(
            decode(oid::NUMERIC, &numeric_bytes(-1, 0, 0, 0, &[])),
            Err(BinaryError::NumericLength(-1))
        );
        // Claims 3 digits, carries 1.
        assert_eq!(
            decode(oid::NUMERIC, &numeric_bytes(3, 0, 0, 0, &[1])),
            Err(BinaryError::Truncated)
        );
    }

    #[test]
    fn dates_and_timestamps_count_from_2000() {
        // 2000-01-01 is day 0 and microsecond 0 on the wire.
        assert_eq!(encoded(&Datum::Date(EPOCH_DAYS)), 0i32.to_be_bytes());
        assert_eq!(
            encoded(&Datum::TimestampTz(EPOCH_MICROS)),
            0i64.to_be_bytes()
        );
        assert_eq!(
            decode(oid::DATE, &(-1i32).to_be_bytes()),
            Ok(Decoded::Datum(Datum::Date(EPOCH_DAYS - 1)))
        );
        assert_eq!(
            decode(oid::TIMESTAMP, &1i64.to_be_bytes()),
            Ok(Decoded::Datum(Datum::Timestamp(EPOCH_MICROS + 1)))
        );
        // PostgreSQL's `infinity` is i64::MAX on the wire; Vigil has no infinite timestamps.
        assert_eq!(
            decode(oid::TIMESTAMPTZ, &i64::MAX.to_be_bytes()),
            Err(BinaryError::OutOfRange("timestamp"))
        );
    }

    #[test]
    fn fixed_width_types_round_trip() {
        let cases = [
            (oid::BOOL, Datum::Bool(true)),
            (oid::INT2, Datum::Int16(-2)),
            (oid::INT4, Datum::Int32(i32::MIN)),
            (oid::INT8, Datum::Int64(i64::MAX)),
            (oid::FLOAT8, Datum::Float64(F64(-0.5))),
            (oid::DATE, Datum::Date(19_000)),
            (oid::TIMESTAMP, Datum::Timestamp(1_700_000_000_123_456)),
            (oid::TIMESTAMPTZ, Datum::TimestampTz(-1)),
            (
                oid::INTERVAL,
                Datum::Interval(Interval {
                    months: 14,
                    days: -3,
                    micros: 3_600_000_000,
                }),
            ),
            (oid::TEXT, Datum::Text("grüße".into())),
            (
                oid::TEXT_ARRAY,
                Datum::TextArray(vec![Some("a".into()), None, Some(String::new())]),
            ),
            (oid::TEXT_ARRAY, Datum::TextArray(vec![])),
        ];
        for (type_oid, datum) in cases {
            assert_eq!(
                decode(type_oid, &encoded(&datum)),
                Ok(Decoded::Datum(datum.clone())),
                "{datum:?}"
            );
        }
    }

    #[test]
    fn interval_layout_is_micros_days_months() {
        let bytes = encoded(&Datum::Interval(Interval {
            months: 1,
            days: 2,
            micros: 3,
        }));
        assert_eq!(
            bytes,
            [
                &3i64.to_be_bytes()[..],
                &2i32.to_be_bytes(),
                &1i32.to_be_bytes()
            ]
            .concat()
        );
    }

    #[test]
    fn jsonb_carries_a_version_byte() {
        assert_eq!(
            encoded(&Datum::Jsonb("{\"a\": 1}".into())),
            b"\x01{\"a\": 1}"
        );
        assert_eq!(
            decode(oid::JSONB, b"\x01[1]"),
            Ok(Decoded::Text("[1]".into()))
        );
        assert_eq!(
            decode(oid::JSONB, b"\x02[1]"),
            Err(BinaryError::JsonbVersion(2))
        );
        assert_eq!(decode(oid::JSON, b"[1]"), Ok(Decoded::Text("[1]".into())));
    }

    #[test]
    fn json_is_its_text_without_a_version_byte() {
        assert_eq!(
            encoded(&Datum::Json("{\"b\":1,  \"a\":2}".into())),
            b"{\"b\":1,  \"a\":2}"
        );
    }

    #[test]
    fn float4_widens_to_float8() {
        assert_eq!(
            decode(oid::FLOAT4, &1.5f32.to_be_bytes()),
            Ok(Decoded::Datum(Datum::Float64(F64(1.5))))
        );
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        assert_eq!(decode(oid::INT4, &[0, 0, 1]), Err(BinaryError::Truncated));
        assert_eq!(
            decode(oid::INT4, &[0, 0, 0, 1, 9]),
            Err(BinaryError::TrailingBytes(1))
        );
        assert_eq!(
            decode(oid::TEXT, &[0xff, 0xfe]),
            Err(BinaryError::InvalidUtf8)
        );
        assert_eq!(decode(oid::TEXT, b"a\0b"), Err(BinaryError::NulByte));
        assert_eq!(decode(oid::BOOL, &[]), Err(BinaryError::Truncated));

        let array = |ndim: i32, flags: i32, elem: u32, rest: &[u8]| {
            [
                &ndim.to_be_bytes()[..],
                &flags.to_be_bytes(),
                &elem.to_be_bytes(),
                rest,
            ]
            .concat()
        };
        assert_eq!(
            decode(oid::TEXT_ARRAY, &array(2, 0, 25, &[])),
            Err(BinaryError::ArrayDimensions(2))
        );
        assert_eq!(
            decode(oid::TEXT_ARRAY, &array(1, 0, 23, &[])),
            Err(BinaryError::ArrayElementType(23))
        );
        assert_eq!(
            decode(oid::TEXT_ARRAY, &array(1, 7, 25, &[])),
            Err(BinaryError::ArrayFlags(7))
        );
        // A huge element count with no elements behind it fails without allocating.
        let huge = [&i32::MAX.to_be_bytes()[..], &1i32.to_be_bytes()].concat();
        assert_eq!(
            decode(oid::TEXT_ARRAY, &array(1, 0, 25, &huge)),
            Err(BinaryError::Truncated)
        );
        let negative = [&(-5i32).to_be_bytes()[..], &1i32.to_be_bytes()].concat();
        assert_eq!(
            decode(oid::TEXT_ARRAY, &array(1, 0, 25, &negative)),
            Err(BinaryError::ArrayLength(-5))
        );
    }
}
