//! Runtime values. `Value` is `Copy`: strings, lists and maps are references into the
//! per-decision arena (or into the `Program` for constants), so moving a register is a memcpy.

use std::cmp::Ordering;

use crate::program::RuleId;

/// The three outcomes of a decision and of every logical operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    #[inline]
    pub fn from_bool(b: bool) -> Tri {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }

    pub fn negate(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }

    pub fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::True, Tri::True) => Tri::True,
            _ => Tri::Unknown,
        }
    }

    pub fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::False, Tri::False) => Tri::False,
            _ => Tri::Unknown,
        }
    }

    pub fn xor(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::Unknown, _) | (_, Tri::Unknown) => Tri::Unknown,
            (a, b) => Tri::from_bool(a != b),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tri::True => "TRUE",
            Tri::False => "FALSE",
            Tri::Unknown => "UNKNOWN",
        }
    }

    #[inline]
    pub fn value<'a>(self) -> Value<'a> {
        match self {
            Tri::True => Value::Bool(true),
            Tri::False => Value::Bool(false),
            Tri::Unknown => Value::Unknown,
        }
    }
}

/// A map: entries sorted by key, keys unique.
pub type MapRef<'a> = &'a [(&'a str, Value<'a>)];

#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Undefined,
    Null,
    Bool(bool),
    Unknown,
    Num(f64),
    Str(&'a str),
    List(&'a [Value<'a>]),
    Map(MapRef<'a>),
    Decision(&'a DecisionVal<'a>),
    /// Internal: a lazy local that has not been evaluated yet. Never visible to policies.
    Pending,
}

/// The result of referencing a rule (LANGUAGE.md §11.4).
#[derive(Debug)]
pub struct DecisionVal<'a> {
    pub rule: RuleId,
    pub state: Tri,
    /// Never a decision itself: the interpreter stores the plain value of what a rule
    /// yielded (an imported decision is kept in `imported`).
    pub value: Value<'a>,
    /// Attachment values, in the order of the rule's export (empty if not exported, and
    /// while the attachments themselves are being computed).
    pub attachments: &'a [Value<'a>],
    /// For an import rule: the imported decision (its attachments are readable).
    pub imported: Option<&'a DecisionVal<'a>>,
}

impl<'a> Value<'a> {
    /// `T(v)` (LANGUAGE.md §4.3).
    #[inline]
    pub fn truthy(self) -> Tri {
        match self {
            Value::Bool(b) => Tri::from_bool(b),
            Value::Unknown => Tri::Unknown,
            Value::Undefined | Value::Null | Value::Pending => Tri::False,
            Value::Num(n) => Tri::from_bool(n != 0.0),
            Value::Str(s) => Tri::from_bool(!s.is_empty()),
            Value::List(l) => Tri::from_bool(!l.is_empty()),
            Value::Map(m) => Tri::from_bool(!m.is_empty()),
            Value::Decision(d) => d.state,
        }
    }

    /// A decision stands for its value in every operator but truthiness. A decision's value
    /// is itself plain (see [`DecisionVal::value`]), so one step suffices.
    #[inline(always)]
    pub fn plain(self) -> Value<'a> {
        match self {
            Value::Decision(d) => d.value,
            other => other,
        }
    }

    #[inline]
    pub fn is_undefined(self) -> bool {
        matches!(self.plain(), Value::Undefined)
    }

    pub fn kind_name(self) -> &'static str {
        match self.plain() {
            Value::Undefined | Value::Pending => "undefined",
            Value::Null => "null",
            Value::Bool(_) | Value::Unknown => "trinary",
            Value::Num(_) => "number",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Decision(_) => "decision",
        }
    }
}

/// Looks a key up in a sorted map. Small maps (most fact documents) are scanned comparing
/// lengths first, which rejects most keys without touching their bytes; larger ones are
/// binary-searched.
#[inline]
pub fn map_get<'a>(m: MapRef<'a>, key: &str) -> Option<Value<'a>> {
    let key = key.as_bytes();
    if m.len() <= 8 {
        return m
            .iter()
            .find(|(k, _)| k.len() == key.len() && bytes_cmp(k.as_bytes(), key).is_eq())
            .map(|(_, v)| *v);
    }
    m.binary_search_by(|(k, _)| bytes_cmp(k.as_bytes(), key))
        .ok()
        .map(|i| m[i].1)
}

/// Byte-wise ordering of two keys, the same as `str::cmp`. Keys are short and usually differ
/// in their first bytes, so an inline loop beats a call to the C library's `memcmp`.
#[inline]
pub(crate) fn key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    bytes_cmp(a.as_bytes(), b.as_bytes())
}

#[inline]
fn bytes_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Deep structural equality (LANGUAGE.md §14.6) for defined operands. `depth` bounds recursion.
pub fn deep_eq(a: Value<'_>, b: Value<'_>, depth: u32) -> bool {
    if !crate::work::enter(depth) {
        return false;
    }
    match (a.plain(), b.plain()) {
        (Value::Undefined, Value::Undefined)
        | (Value::Null, Value::Null)
        | (Value::Unknown, Value::Unknown) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Num(x), Value::Num(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| deep_eq(*p, *q, depth + 1))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_eq(*v1, *v2, depth + 1))
        }
        _ => false,
    }
}

/// Order used by sorting helpers: numbers, then strings, then everything else (stable).
pub fn sort_key_cmp(a: Value<'_>, b: Value<'_>) -> Ordering {
    match (a.plain(), b.plain()) {
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Value::Num(_), _) => Ordering::Less,
        (_, Value::Num(_)) => Ordering::Greater,
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Str(_), _) => Ordering::Less,
        (_, Value::Str(_)) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// ECMAScript `Number::toString` text of a number (LANGUAGE.md §4.2).
pub fn number_text(n: f64) -> String {
    if n.is_nan() {
        return "NaN".to_string();
    }
    if n.is_infinite() {
        return if n > 0.0 {
            "Infinity".to_string()
        } else {
            "-Infinity".to_string()
        };
    }
    if n == 0.0 {
        return "0".to_string();
    }
    let mut buf = ryu_js::Buffer::new();
    buf.format(n).to_string()
}

/// Canonical text (`cast … as string`, `%v`): strings unchanged, compact JSON otherwise.
pub fn canonical_text(v: Value<'_>) -> String {
    match v.plain() {
        Value::Str(s) => s.to_string(),
        Value::Num(n) => number_text(n),
        Value::Bool(b) => b.to_string(),
        Value::Unknown => "unknown".to_string(),
        Value::Null => "null".to_string(),
        Value::Undefined | Value::Pending => "undefined".to_string(),
        other => {
            let mut out = String::new();
            crate::json::write_compact(&mut out, other);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_is_string_order() {
        let words = ["", "a", "ab", "abc", "b", "ba", "é", "z", "zz"];
        for a in words {
            for b in words {
                assert_eq!(key_cmp(a, b), a.cmp(b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn map_get_finds_every_key_in_small_and_large_maps() {
        for n in [0usize, 1, 3, 8, 9, 40] {
            let keys: Vec<String> = (0..n).map(|i| format!("k{i:03}")).collect();
            let mut entries: Vec<(&str, Value<'_>)> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.as_str(), Value::Num(i as f64)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (i, k) in keys.iter().enumerate() {
                assert!(matches!(map_get(&entries, k), Some(Value::Num(x)) if x == i as f64));
            }
            assert!(map_get(&entries, "k").is_none());
            assert!(map_get(&entries, "k0000").is_none());
            assert!(map_get(&entries, "zzzz").is_none());
            assert!(map_get(&entries, "").is_none());
        }
    }
}
