//! The fast path of [`super::decode`]: a direct reading of JSON text into arena values.
//!
//! It accepts only what it reads with certainty and gives up (`None`) on everything else:
//! malformed text, lone surrogates, nesting deeper than [`MAX_DEPTH`], numbers that do not
//! fit an `f64`. The caller then decodes the same bytes with serde_json, which either
//! reports the error or produces the value; so every answer and every error message is
//! serde_json's. Numbers are read as serde_json reads them with `float_roundtrip`
//! (correctly rounded), and map keys go through the same [`super::sort_entries`].

use bumpalo::collections::{String as BumpString, Vec as BumpVec};
use bumpalo::Bump;

use crate::value::{key_cmp, Value};

/// Deeper input is left to serde_json (whose own limit is 128).
const MAX_DEPTH: u32 = 100;

/// Integers of at most this many digits are exact in an `f64` (< 2^53) and read directly.
const EXACT_DIGITS: usize = 15;

pub(super) fn parse<'a>(bytes: &[u8], bump: &'a Bump) -> Option<Value<'a>> {
    // One UTF-8 check for the whole text: every string then ends at an ASCII quote, so each
    // slice between quotes is valid too. The text is copied into the arena once, and strings
    // without escapes are slices of that copy (one copy instead of one per string).
    let text: &'a str = bump.alloc_str(std::str::from_utf8(bytes).ok()?);
    let mut p = Parser {
        text,
        b: text.as_bytes(),
        i: 0,
        depth: 0,
        bump,
        entries: BumpVec::with_capacity_in(32, bump),
        items: BumpVec::with_capacity_in(32, bump),
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    (p.i == p.b.len()).then_some(v)
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    depth: u32,
    bump: &'a Bump,
    /// Entries and items of the maps and lists being read, innermost last: each is copied
    /// at its exact size when it closes (no vector per map or list growing in the arena).
    entries: BumpVec<'a, (&'a str, Value<'a>)>,
    items: BumpVec<'a, Value<'a>>,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn value(&mut self) -> Option<Value<'a>> {
        match *self.b.get(self.i)? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => {
                self.i += 1;
                self.string().map(Value::Str)
            }
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, v: Value<'a>) -> Option<Value<'a>> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        self.i += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn object(&mut self) -> Option<Value<'a>> {
        self.enter()?;
        let mark = self.entries.len();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if self.next()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                self.ws();
                if self.next()? != b':' {
                    return None;
                }
                self.ws();
                let v = self.value()?;
                self.entries.push((key, v));
                self.ws();
                match self.next()? {
                    b',' => {}
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        let map = self.bump.alloc_slice_copy(&self.entries[mark..]);
        let map = if map.windows(2).all(|w| key_cmp(w[0].0, w[1].0).is_lt()) {
            map
        } else {
            // Stable, so that of repeated keys the last one written is the last one kept.
            map.sort_by(|a, b| key_cmp(a.0, b.0));
            if map.windows(2).any(|w| w[0].0 == w[1].0) {
                let sorted = BumpVec::from_iter_in(map.iter().copied(), self.bump);
                super::sort_entries(self.bump, sorted)
            } else {
                map
            }
        };
        self.entries.truncate(mark);
        Some(Value::Map(map))
    }

    fn array(&mut self) -> Option<Value<'a>> {
        self.enter()?;
        let mark = self.items.len();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                let v = self.value()?;
                self.items.push(v);
                self.ws();
                match self.next()? {
                    b',' => {}
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        let list = self.bump.alloc_slice_copy(&self.items[mark..]);
        self.items.truncate(mark);
        Some(Value::List(list))
    }

    /// The string after its opening quote, up to and past the closing one.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.i;
        loop {
            // Eight bytes at a time: the first quote, backslash or control character is
            // found exactly from the lane mask; byte by byte near the end of the text.
            if let Some(chunk) = self.b.get(self.i..self.i + 8) {
                let mask = super::escape_mask(u64::from_le_bytes(chunk.try_into().ok()?));
                if mask == 0 {
                    self.i += 8;
                    continue;
                }
                self.i += (mask.trailing_zeros() / 8) as usize;
            } else {
                while let Some(&c) = self.b.get(self.i) {
                    if c == b'"' || c == b'\\' || c < 0x20 {
                        break;
                    }
                    self.i += 1;
                }
            }
            return match *self.b.get(self.i)? {
                b'"' => {
                    let s = self.text.get(start..self.i)?;
                    self.i += 1;
                    Some(s)
                }
                b'\\' => self.escaped(start),
                _ => None,
            };
        }
    }

    /// The rest of a string that holds escapes; `self.i` is at the first backslash.
    fn escaped(&mut self, start: usize) -> Option<&'a str> {
        let mut out = BumpString::from_str_in(self.text.get(start..self.i)?, self.bump);
        loop {
            let run = self.i;
            while let Some(&c) = self.b.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(self.text.get(run..self.i)?);
            match self.next()? {
                b'"' => return Some(out.into_bump_str()),
                b'\\' => {}
                _ => return None,
            }
            let c = match self.next()? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return None,
            };
            out.push(c);
        }
    }

    /// `\uXXXX` after the `u`, with a surrogate pair read whole; a lone surrogate gives up.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if !(0xD800..0xDC00).contains(&hi) {
            return char::from_u32(hi);
        }
        if self.next()? != b'\\' || self.next()? != b'u' {
            return None;
        }
        let lo = self.hex4()?;
        if !(0xDC00..0xE000).contains(&lo) {
            return None;
        }
        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let mut n = 0;
        for &d in digits {
            n = n * 16 + char::from(d).to_digit(16)?;
        }
        self.i += 4;
        Some(n)
    }

    fn digits(&mut self) -> usize {
        let from = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        self.i - from
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.i;
        let neg = self.b[self.i] == b'-';
        if neg {
            self.i += 1;
        }
        let int_start = self.i;
        let int_digits = match self.b.get(self.i)? {
            b'0' => {
                self.i += 1;
                1
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        };
        let mut integral = true;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
            integral = false;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            integral = false;
        }
        if integral && int_digits <= EXACT_DIGITS {
            let n = self.b[int_start..self.i]
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            // As serde_json: `-0` is negative zero.
            let n = n as f64;
            return Some(Value::Num(if neg { -n } else { n }));
        }
        let n: f64 = self.text.get(start..self.i)?.parse().ok()?;
        n.is_finite().then_some(Value::Num(n))
    }
}
