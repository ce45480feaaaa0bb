//! JSON in and out: facts are decoded straight from bytes into arena values (no intermediate
//! `serde_json::Value`); decision values are turned into `serde_json::Value` for output.

use std::fmt;

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::value::Value;

mod parse;

struct Seed<'a> {
    bump: &'a Bump,
}

impl<'de, 'a> DeserializeSeed<'de> for Seed<'a> {
    type Value = Value<'a>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value<'a>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'a> Visitor<'de> for Seed<'a> {
    type Value = Value<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value<'a>, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value<'a>, E> {
        Ok(Value::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value<'a>, E> {
        Ok(Value::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value<'a>, E> {
        Ok(Value::Num(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value<'a>, E> {
        Ok(Value::Str(self.bump.alloc_str(v)))
    }
    fn visit_unit<E>(self) -> Result<Value<'a>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value<'a>, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'a>, A::Error> {
        let mut items = BumpVec::new_in(self.bump);
        while let Some(v) = seq.next_element_seed(Seed { bump: self.bump })? {
            items.push(v);
        }
        Ok(Value::List(items.into_bump_slice()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'a>, A::Error> {
        let mut entries: BumpVec<'a, (&'a str, Value<'a>)> = BumpVec::new_in(self.bump);
        while let Some(key) = map.next_key_seed(KeySeed { bump: self.bump })? {
            let v = map.next_value_seed(Seed { bump: self.bump })?;
            entries.push((key, v));
        }
        Ok(Value::Map(sort_entries(self.bump, entries)))
    }
}

/// A map key copied straight into the arena (a `Cow<str>` key would be a heap `String`
/// per key: serde hands out owned strings for `Cow`).
struct KeySeed<'a> {
    bump: &'a Bump,
}

impl<'de, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = &'a str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'a str, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'a> Visitor<'de> for KeySeed<'a> {
    type Value = &'a str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E>(self, v: &str) -> Result<&'a str, E> {
        Ok(self.bump.alloc_str(v))
    }
}

/// Sorts map entries by key; for duplicate keys the last one wins.
pub fn sort_entries<'a>(
    bump: &'a Bump,
    mut entries: BumpVec<'a, (&'a str, Value<'a>)>,
) -> &'a [(&'a str, Value<'a>)] {
    // Keys written in order (most map literals and `with` lists) need neither the sort nor
    // the copy that drops repeated keys.
    if entries.windows(2).all(|w| w[0].0 < w[1].0) {
        return entries.into_bump_slice();
    }
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut out: BumpVec<'a, (&'a str, Value<'a>)> = BumpVec::with_capacity_in(entries.len(), bump);
    for e in entries {
        match out.last_mut() {
            Some(last) if last.0 == e.0 => *last = e,
            _ => out.push(e),
        }
    }
    out.into_bump_slice()
}

/// Decodes JSON bytes into an arena value. Nesting deeper than serde_json's limit (128) and
/// numbers out of range are errors. Text the direct reader takes whole is decoded by it; any
/// other text goes to serde_json, so answers and error messages are serde_json's.
pub fn decode<'a>(bytes: &[u8], bump: &'a Bump) -> Result<Value<'a>, String> {
    match parse::parse(bytes, bump) {
        Some(v) => Ok(v),
        None => decode_with_serde(bytes, bump),
    }
}

/// [`decode`] through serde_json only (public so that tests and fuzzing can hold the direct
/// reader against it).
pub fn decode_with_serde<'a>(bytes: &[u8], bump: &'a Bump) -> Result<Value<'a>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Seed { bump }
        .deserialize(&mut de)
        .map_err(|e| format!("invalid JSON: {e}"))?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(v)
}

/// Checks that JSON text nests at most `max` levels of arrays and objects, without parsing
/// it (a linear scan that skips strings). Malformed text is left for the parser to report.
pub fn check_depth(bytes: &[u8], max: usize) -> Result<(), String> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip the string: to its closing quote, stepping over escapes (a search for
                // the next quote or backslash, not a loop over every byte).
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[i.min(bytes.len())..]) {
                        None => return Ok(()),
                        Some(at) if bytes[i + at] == b'\\' => i += at + 2,
                        Some(at) => {
                            i += at;
                            break;
                        }
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(format!("JSON nested more than {max} levels deep"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Converts a value for output (LANGUAGE.md §4.2).
pub fn to_json(v: Value<'_>) -> serde_json::Value {
    to_json_depth(v, 0)
}

fn to_json_depth(v: Value<'_>, depth: u32) -> serde_json::Value {
    use serde_json::Value as J;
    if !crate::work::enter(depth) {
        return J::Null;
    }
    match v {
        Value::Undefined | Value::Null | Value::Unknown | Value::Pending => J::Null,
        Value::Bool(b) => J::Bool(b),
        Value::Num(n) => number_json(n),
        Value::Str(s) => J::String(s.to_string()),
        Value::List(items) => {
            J::Array(items.iter().map(|x| to_json_depth(*x, depth + 1)).collect())
        }
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, x)| ((*k).to_string(), to_json_depth(*x, depth + 1)))
                .collect(),
        ),
        Value::Decision(d) => to_json_depth(d.value, depth + 1),
    }
}

/// Appends the compact JSON text of a value (keys in map order, which is sorted). Numbers are
/// written as JavaScript's `Number::toString` writes them (LANGUAGE.md §4.2): `15`, `0.000001`,
/// `12345678901234567000`, `1e+21`; non-finite numbers as `null`.
pub fn write_compact(out: &mut String, v: Value<'_>) {
    write_depth(out, v, 0);
}

fn write_depth(out: &mut String, v: Value<'_>, depth: u32) {
    if !crate::work::enter(depth) {
        out.push_str("null");
        return;
    }
    match v {
        Value::Undefined | Value::Null | Value::Unknown | Value::Pending => out.push_str("null"),
        Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Value::Num(n) => write_number(out, n),
        Value::Str(s) => write_str(out, s),
        Value::List(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_depth(out, *x, depth + 1);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, x)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_depth(out, *x, depth + 1);
            }
            out.push('}');
        }
        Value::Decision(d) => write_depth(out, d.value, depth + 1),
    }
}

/// A number as JSON text: the ECMAScript number-to-string algorithm, `null` when not finite.
pub fn write_number(out: &mut String, n: f64) {
    if !n.is_finite() {
        out.push_str("null");
    } else if n == 0.0 {
        out.push('0');
    } else {
        out.push_str(ryu_js::Buffer::new().format_finite(n));
    }
}

/// A JSON string literal with the escapes serde_json uses.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    // Copy runs of bytes that need no escape at once; only `"`, `\\` and control characters
    // (all ASCII, so never inside a multi-byte character) are escaped.
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip eight plain bytes at a time.
        if let Some(word) = bytes.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            if !needs_escape(u64::from_le_bytes(w)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        i += 1;
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[run..i - 1]);
        if escaped.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escaped);
        }
        run = i;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Does any byte of `w` need escaping: a control character, `"` or `\\`?
fn needs_escape(w: u64) -> bool {
    escape_mask(w) != 0
}

/// The high bit of every lane of `w` (little-endian) that holds a control character, `"` or
/// `\\`, tested on all eight lanes at once. The lowest set bit is exact (a lane's borrow only
/// reaches lanes above one that already matched), so `trailing_zeros() / 8` is the first.
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let zero_lane = |x: u64| x.wrapping_sub(ONES) & !x;
    (below_space | zero_lane(quote) | zero_lane(backslash)) & HIGH
}

/// Integral numbers print without a fraction; non-finite numbers become `null`.
pub fn number_json(n: f64) -> serde_json::Value {
    if !n.is_finite() {
        return serde_json::Value::Null;
    }
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        return serde_json::Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Converts a constant to an arena value.
pub fn const_value<'a>(c: &'a crate::program::Const, bump: &'a Bump) -> Value<'a> {
    use crate::program::Const;
    // Elements and entries that are scalars are converted in place, without a call.
    let item = |x: &'a Const| match x {
        Const::Num(n) => Value::Num(*n),
        Const::Str(s) => Value::Str(s),
        Const::Bool(b) => Value::Bool(*b),
        other => const_value(other, bump),
    };
    match c {
        Const::Num(n) => Value::Num(*n),
        Const::Str(s) => Value::Str(s),
        Const::Bool(b) => Value::Bool(*b),
        Const::Unknown => Value::Unknown,
        Const::Null => Value::Null,
        Const::List(items) => Value::List(bump.alloc_slice_fill_iter(items.iter().map(item))),
        Const::Map(entries) => Value::Map(
            bump.alloc_slice_fill_iter(entries.iter().map(|(k, x)| (k.as_str(), item(x)))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_check_counts_brackets_outside_strings() {
        assert!(check_depth(br#"{"a":[[1]]}"#, 3).is_ok());
        assert!(check_depth(br#"{"a":[[1]]}"#, 2).is_err());
        assert!(check_depth(br#"{"a":"[[[[[[\"[["}"#, 1).is_ok());
        assert!(check_depth(br#"{"a":"x\\"}[[["#, 3).is_ok());
        assert!(check_depth(br#"{"a":"x\\"}[[["#, 2).is_err());
        assert!(check_depth(br#"["\"#, 1).is_ok());
    }

    /// The byte-by-byte reading of nesting that `check_depth` must match.
    fn depth_by_bytes(bytes: &[u8], max: usize) -> bool {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for &b in bytes {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max {
                        return false;
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        true
    }

    #[test]
    fn depth_check_agrees_with_a_byte_by_byte_reading() {
        // Every string of up to 7 bytes over the characters that matter (5^7 inputs).
        let alphabet = [b'"', b'\\', b'[', b']', b'a'];
        let mut text = Vec::new();
        for len in 0..=7u32 {
            for mut n in 0..alphabet.len().pow(len) {
                text.clear();
                for _ in 0..len {
                    text.push(alphabet[n % alphabet.len()]);
                    n /= alphabet.len();
                }
                for max in 0..3 {
                    assert_eq!(
                        check_depth(&text, max).is_ok(),
                        depth_by_bytes(&text, max),
                        "{:?} max {max}",
                        String::from_utf8_lossy(&text)
                    );
                }
            }
        }
    }

    #[test]
    fn escape_scan_finds_every_special_byte_in_any_lane() {
        for lane in 0..8 {
            for special in (0u8..0x20).chain([b'"', b'\\']) {
                let mut w = *b"abcdefgh";
                w[lane] = special;
                assert!(
                    needs_escape(u64::from_le_bytes(w)),
                    "{special} in lane {lane}"
                );
                // The first special lane is found exactly, whatever follows it.
                for after in [b'a', b'"', 0, 0xff] {
                    let mut v = w;
                    v[lane + 1..].fill(after);
                    let first = escape_mask(u64::from_le_bytes(v)).trailing_zeros() / 8;
                    assert_eq!(
                        first as usize, lane,
                        "{special} in lane {lane}, then {after}"
                    );
                }
            }
        }
        for plain in [*b"abcdefgh", *b"        ", *b"\x7f\x80\xff\xe9!#$~"] {
            assert!(!needs_escape(u64::from_le_bytes(plain)));
        }
    }

    #[test]
    fn compact_writer_matches_serde_json_apart_from_number_text() {
        let bump = Bump::new();
        let text = r#"{"b":[1,2.5,-0,"q\"\\\n\u0001é"],"a":{"x":null,"y":true}}"#;
        let v = decode(text.as_bytes(), &bump).unwrap();
        let mut out = String::new();
        write_compact(&mut out, v);
        assert_eq!(out, to_json(v).to_string());
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        let cases = [
            (9_007_199_254_740_992.0, "9007199254740992"),
            (1.234_567_890_123_456_7e19, "12345678901234567000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1e21, "1e+21"),
            (-0.0, "0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-3.5, "-3.5"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
        ];
        for (n, want) in cases {
            let mut out = String::new();
            write_compact(&mut out, Value::Num(n));
            assert_eq!(out, want, "{n}");
            if n.is_finite() {
                assert_eq!(crate::value::number_text(n), want, "{n}");
            }
        }
        let list = [Value::Num(1e-6), Value::Num(9_007_199_254_740_992.0)];
        assert_eq!(
            crate::value::canonical_text(Value::List(&list)),
            "[0.000001,9007199254740992]"
        );
    }

    #[test]
    fn decode_sorts_keys_and_keeps_the_last_duplicate() {
        let bump = Bump::new();
        let v = decode(br#"{"b":1,"a":2,"b":3}"#, &bump).unwrap();
        assert_eq!(to_json(v).to_string(), r#"{"a":2,"b":3}"#);
        assert!(decode(b"{} x", &bump).is_err());
        assert_eq!(to_json(Value::Num(2.0)).to_string(), "2");
        assert_eq!(to_json(Value::Num(f64::NAN)).to_string(), "null");
        // Already in order: kept as written; a repeated key in order keeps the last.
        let v = decode(br#"{"a":1,"b":2,"c":3}"#, &bump).unwrap();
        assert_eq!(to_json(v).to_string(), r#"{"a":1,"b":2,"c":3}"#);
        let v = decode(br#"{"a":1,"a":2,"b":3}"#, &bump).unwrap();
        assert_eq!(to_json(v).to_string(), r#"{"a":2,"b":3}"#);
    }
}
