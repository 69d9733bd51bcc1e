//! Serde helpers for the proto3 JSON encodings the Live API uses.
//!
//! The server speaks proto3 JSON, which has a few conventions plain serde does not
//! follow, and the official SDKs add their own variations. Every helper here is
//! *forgiving on input* and *canonical on output*:
//!
//! * int64 fields: accepted as a JSON number or a decimal string, written as a string.
//! * int32 / float fields: accepted as a number or a numeric string, written as a number.
//! * `google.protobuf.Duration`: accepted as `"1.5s"`, `"50s"`, `"0.000000001s"` (or a bare
//!   number of seconds), written as `"<seconds>[.<fraction>]s"`.
//! * bytes: accepted in the standard *and* URL-safe base64 alphabets, padded or not,
//!   written as standard padded base64.
//!
//! Each submodule is meant for `#[serde(with = "...")]` on a field of the matching type.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose::STANDARD};
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::ser::Serializer;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Decodes base64 in either alphabet (standard `+/` or URL-safe `-_`), padded or not.
///
/// ASCII whitespace (which some encoders insert every 76 characters) is ignored.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    // The fast path first: what the server sends (standard alphabet, no whitespace)
    // decodes in one pass; only input that fails gets the scans below.
    if let Ok(data) = STANDARD_LENIENT.decode(text.as_bytes()) {
        return Ok(data);
    }
    let bytes = text.as_bytes();
    if bytes.iter().any(|b| b.is_ascii_whitespace()) {
        let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        return decode_base64(&cleaned);
    }
    if bytes.iter().any(|&b| b == b'-' || b == b'_') {
        URL_SAFE_LENIENT.decode(bytes)
    } else {
        STANDARD_LENIENT.decode(bytes)
    }
}

/// Encodes bytes as standard, padded base64 (what the server and the JS SDK send).
pub fn encode_base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// `Vec<u8>` as base64 (both alphabets on input, standard padded on output).
pub mod base64_bytes {
    use super::*;

    /// Writes standard padded base64.
    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode_base64(data))
    }

    /// Reads base64 in either alphabet; `null` reads as empty.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(Base64Visitor)
    }
}

/// `Option<Vec<u8>>` as base64.
pub mod base64_opt {
    use super::*;

    /// Writes standard padded base64 (callers skip `None`).
    pub fn serialize<S: Serializer>(data: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match data {
            Some(d) => s.serialize_str(&encode_base64(d)),
            None => s.serialize_none(),
        }
    }

    /// Reads base64 in either alphabet; `null` reads as `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        d.deserialize_option(OptVisitor(Base64Visitor))
    }
}

struct Base64Visitor;

impl<'de> Visitor<'de> for Base64Visitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a base64 string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        decode_base64(v).map_err(|e| E::custom(format_args!("invalid base64: {e}")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<u8>, E> {
        Ok(Vec::new())
    }
}

/// Wraps a visitor so that `null`/absent reads as `None`.
struct OptVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptVisitor<V> {
    type Value = Option<V::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self.0).map(Some)
    }
}

struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer or a decimal string")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // proto3 JSON allows `1.0` / `1e3` for integers when the value is integral.
        if v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64 {
            Ok(v as i64)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        let t = v.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Ok(n);
        }
        match t.parse::<f64>() {
            Ok(f) if f.is_finite() => self.visit_f64(f),
            _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }
}

/// `Option<i64>` for proto3 int64: number or string in, string out.
pub mod int64_opt {
    use super::*;

    /// Writes the number as a decimal string (proto3 JSON for int64).
    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.collect_str(n),
            None => s.serialize_none(),
        }
    }

    /// Reads a number or a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_option(OptVisitor(IntVisitor))
    }
}

/// `Option<i32>` for proto3 int32: number or string in, number out.
pub mod int32_opt {
    use super::*;

    /// Writes a JSON number.
    pub fn serialize<S: Serializer>(v: &Option<i32>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_i32(*n),
            None => s.serialize_none(),
        }
    }

    /// Reads a number or a decimal string that fits in an i32.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
        match d.deserialize_option(OptVisitor(IntVisitor))? {
            None => Ok(None),
            Some(n) => i32::try_from(n)
                .map(Some)
                .map_err(|_| de::Error::custom(format_args!("{n} does not fit in an int32"))),
        }
    }
}

struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a numeric string")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        v.trim()
            .parse::<f64>()
            .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
    }
}

/// `Option<f32>` for proto3 float: number or numeric string in, number out.
pub mod float_opt {
    use super::*;

    /// Writes a JSON number.
    pub fn serialize<S: Serializer>(v: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_f32(*n),
            None => s.serialize_none(),
        }
    }

    /// Reads a number or a numeric string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
        Ok(d.deserialize_option(OptVisitor(FloatVisitor))?
            .map(|f| f as f32))
    }
}

/// Parses a proto3 JSON Duration (`"1.5s"`, `"50s"`, `"-0.1s"`).
///
/// The trailing `s` is optional; more than nine fractional digits are truncated; a
/// negative duration reads as zero (a `std::time::Duration` cannot be negative, and
/// every Live API duration is a remaining or elapsed time).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let t = t.strip_suffix('s').unwrap_or(t).trim_end();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (secs, frac) = match t.split_once('.') {
        Some((s, f)) => (s, f),
        None => (t, ""),
    };
    if secs.is_empty() && frac.is_empty() {
        return None;
    }
    if !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = if secs.is_empty() {
        0
    } else {
        secs.parse().ok()?
    };
    let mut nanos: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    if negative {
        return Some(Duration::ZERO);
    }
    Some(Duration::new(secs, nanos))
}

/// Formats a Duration as proto3 JSON: `"50s"`, `"1.5s"`, `"0.000000001s"`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        format!("{}s", d.as_secs())
    } else {
        let frac = format!("{nanos:09}");
        format!("{}.{}s", d.as_secs(), frac.trim_end_matches('0'))
    }
}

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration string like \"1.5s\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v.max(0) as u64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        if v.is_finite() && v <= 1e15 {
            Ok(Duration::from_secs_f64(v.max(0.0)))
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
}

/// `Option<Duration>` as a proto3 Duration string.
pub mod duration_opt {
    use super::*;

    /// Writes `"<secs>[.<frac>]s"`.
    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads a duration string (or a bare number of seconds).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_option(OptVisitor(DurationVisitor))
    }
}

/// `Option<Duration>` for fields whose wire form is not confirmed: anything that is not
/// a readable duration becomes `None` instead of failing the whole frame.
pub mod duration_lenient {
    use super::*;

    /// Writes `"<secs>[.<frac>]s"`.
    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        duration_opt::serialize(v, s)
    }

    /// Reads a duration; anything unreadable gives `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let v = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
        Ok(match v {
            serde_json::Value::String(s) => parse_duration(&s),
            serde_json::Value::Number(n) => n
                .as_f64()
                .filter(|f| f.is_finite() && *f <= 1e15)
                .map(|f| Duration::from_secs_f64(f.max(0.0))),
            _ => None,
        })
    }
}

/// A JSON value that must be an object; `null` reads as `{}` (used for function call
/// `args` and function response `response`).
pub mod object_or_empty {
    use super::*;
    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    /// Writes the value as is.
    pub fn serialize<S: Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    /// Reads any JSON value; `null` becomes `{}`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Value::Object(Default::default()),
            v => v,
        })
    }
}

/// The default for object-valued fields: `{}`.
pub(crate) fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// Serde `skip_serializing_if` helper for `false` booleans.
#[allow(dead_code)]
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_both_alphabets_padded_or_not() {
        assert_eq!(
            decode_base64("__79_P_-_fw=").unwrap(),
            decode_base64("//79/P/+/fw=").unwrap()
        );
        assert_eq!(
            decode_base64("//79/P/+/fw").unwrap(),
            vec![0xff, 0xfe, 0xfd, 0xfc, 0xff, 0xfe, 0xfd, 0xfc]
        );
        assert_eq!(decode_base64("AAE=").unwrap(), vec![0, 1]);
        assert_eq!(decode_base64("AAE").unwrap(), vec![0, 1]);
        assert_eq!(decode_base64("AA\nE=").unwrap(), vec![0, 1]);
        assert_eq!(decode_base64("").unwrap(), Vec::<u8>::new());
        assert!(decode_base64("A*==").is_err());
        assert!(decode_base64("A").is_err());
        assert_eq!(encode_base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("50s"), Some(Duration::from_secs(50)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_duration("0.000000001s"),
            Some(Duration::from_nanos(1))
        );
        assert_eq!(parse_duration(".25s"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("-1.5s"), Some(Duration::ZERO));
        assert_eq!(
            parse_duration("1.1234567891s"),
            Some(Duration::new(1, 123_456_789))
        );
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("1.2.3s"), None);
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration("99999999999999999999999s"), None);
        assert_eq!(format_duration(Duration::from_secs(50)), "50s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_nanos(1)), "0.000000001s");
        for s in ["0s", "1.5s", "10.25s", "0.000000001s", "123.456789s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    struct Ints {
        #[serde(default, with = "int64_opt", skip_serializing_if = "Option::is_none")]
        a: Option<i64>,
        #[serde(default, with = "int32_opt", skip_serializing_if = "Option::is_none")]
        b: Option<i32>,
        #[serde(default, with = "float_opt", skip_serializing_if = "Option::is_none")]
        c: Option<f32>,
    }

    #[test]
    fn int64_as_string_or_number() {
        let v: Ints = serde_json::from_str(r#"{"a":"25600","b":"7","c":"0.5"}"#).unwrap();
        assert_eq!(
            v,
            Ints {
                a: Some(25600),
                b: Some(7),
                c: Some(0.5)
            }
        );
        let v: Ints = serde_json::from_str(r#"{"a":25600,"b":7,"c":1}"#).unwrap();
        assert_eq!(
            v,
            Ints {
                a: Some(25600),
                b: Some(7),
                c: Some(1.0)
            }
        );
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"a":"25600","b":7,"c":1.0}"#
        );
        let v: Ints = serde_json::from_str(r#"{"a":null}"#).unwrap();
        assert_eq!(v.a, None);
        assert!(serde_json::from_str::<Ints>(r#"{"a":"x"}"#).is_err());
        assert!(serde_json::from_str::<Ints>(r#"{"a":1e300}"#).is_err());
        assert!(serde_json::from_str::<Ints>(r#"{"a":99999999999999999999999}"#).is_err());
        assert!(serde_json::from_str::<Ints>(r#"{"b":"4294967296"}"#).is_err());
        assert!(serde_json::from_str::<Ints>(r#"{"a":[]}"#).is_err());
        let v: Ints = serde_json::from_str(r#"{"a":"-9223372036854775808"}"#).unwrap();
        assert_eq!(v.a, Some(i64::MIN));
    }
}
