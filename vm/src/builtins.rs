//! Core builtin functions (LANGUAGE.md §15), implemented natively. Arity was checked by the
//! compiler; argument kinds are checked here and reported as runtime errors.

use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use sha2::{Digest, Sha256};

use crate::program::Builtin;
use crate::value::{canonical_text, Value};

pub type BuiltinResult<'a> = Result<Value<'a>, String>;

/// Builtin name, arity range and id, as seen by the compiler.
pub fn lookup(name: &str) -> Option<(Builtin, usize, usize)> {
    Some(match name {
        "count" => (Builtin::Count, 1, 1),
        "merge" => (Builtin::Merge, 2, 2),
        "error" => (Builtin::Error, 1, usize::MAX),
        "as_list" => (Builtin::AsList, 1, 1),
        "flatten" => (Builtin::Flatten, 1, 2),
        "flatten_deep" => (Builtin::FlattenDeep, 1, 1),
        "normalise_list" => (Builtin::NormaliseList, 1, 1),
        "uuid" => (Builtin::Uuid, 0, 0),
        "base64.encode" => (Builtin::Base64Encode, 1, 1),
        "base64.decode" => (Builtin::Base64Decode, 1, 1),
        "crypto.hash" => (Builtin::CryptoHash, 1, 1),
        "crypto.verify" => (Builtin::CryptoVerify, 2, 2),
        _ => return None,
    })
}

pub fn call<'a>(b: Builtin, args: &[Value<'a>], bump: &'a Bump) -> BuiltinResult<'a> {
    let arg = |i: usize| args.get(i).map_or(Value::Undefined, |v| v.plain());
    match b {
        Builtin::Count => Ok(Value::Num(count(arg(0)))),
        Builtin::Merge => match (arg(0), arg(1)) {
            (Value::Map(a), Value::Map(b)) => Ok(merge(a, b, bump, 0)),
            _ => Err("type error: merge expects two maps".to_string()),
        },
        Builtin::Error => Err(format_error(args)),
        Builtin::AsList => Ok(match arg(0) {
            Value::Undefined => Value::Undefined,
            Value::List(items) if items.iter().any(|x| x.is_undefined()) => Value::Undefined,
            v @ Value::List(_) => v,
            v => Value::List(bump.alloc_slice_copy(&[v])),
        }),
        Builtin::Flatten | Builtin::FlattenDeep => {
            let depth = if b == Builtin::FlattenDeep {
                u32::MAX
            } else {
                match arg(1) {
                    Value::Undefined if args.len() > 1 => return Ok(Value::Undefined),
                    Value::Undefined => 1,
                    Value::Num(n) if n >= 0.0 && n.fract() == 0.0 => n.min(u32::MAX as f64) as u32,
                    _ => return Err("flatten: depth must be a non-negative integer".to_string()),
                }
            };
            match arg(0) {
                Value::Undefined => Ok(Value::Undefined),
                Value::List(items) => {
                    let mut out = BumpVec::new_in(bump);
                    if flatten_into(items, depth, &mut out, 0) {
                        Ok(Value::List(out.into_bump_slice()))
                    } else {
                        Ok(Value::Undefined)
                    }
                }
                _ => Err("flatten: first argument must be a list".to_string()),
            }
        }
        Builtin::NormaliseList => {
            let v = arg(0);
            let items: &[Value<'a>] = match v {
                Value::Undefined => return Ok(Value::Undefined),
                Value::List(items) => items,
                other => bump.alloc_slice_copy(&[other]),
            };
            let mut out = BumpVec::new_in(bump);
            for x in items {
                match x.plain() {
                    Value::Undefined => return Ok(Value::Undefined),
                    Value::List(inner) => {
                        for y in inner {
                            match y.plain() {
                                Value::Undefined => return Ok(Value::Undefined),
                                Value::List(_) => {
                                    return Err("normalise_list: input contains deeper than one level of nesting".to_string())
                                }
                                other => out.push(other),
                            }
                        }
                    }
                    other => out.push(other),
                }
            }
            Ok(Value::List(out.into_bump_slice()))
        }
        Builtin::Uuid => Ok(Value::Str(bump.alloc_str(&uuid_v4()))),
        Builtin::Base64Encode => {
            let s = canonical_text(arg(0));
            Ok(Value::Str(bump.alloc_str(&base64_encode(s.as_bytes()))))
        }
        Builtin::Base64Decode => {
            let s = canonical_text(arg(0));
            let bytes = base64_decode(&s)
                .ok_or_else(|| "base64.decode: invalid base64 input".to_string())?;
            Ok(Value::Str(bump.alloc_str(&String::from_utf8_lossy(&bytes))))
        }
        Builtin::CryptoHash => Ok(Value::Str(
            bump.alloc_str(&sha256_hex(&canonical_text(arg(0)))),
        )),
        Builtin::CryptoVerify => {
            let digest = canonical_text(arg(1));
            Ok(Value::Bool(
                sha256_hex(&canonical_text(arg(0))).eq_ignore_ascii_case(&digest),
            ))
        }
    }
}

pub fn count(v: Value<'_>) -> f64 {
    match v.plain() {
        Value::List(items) => items.len() as f64,
        Value::Str(s) => s.chars().count() as f64,
        Value::Map(m) => m.len() as f64,
        _ => 0.0,
    }
}

fn merge<'a>(
    a: crate::value::MapRef<'a>,
    b: crate::value::MapRef<'a>,
    bump: &'a Bump,
    depth: u32,
) -> Value<'a> {
    let mut out: BumpVec<'a, (&'a str, Value<'a>)> =
        BumpVec::with_capacity_in(a.len() + b.len(), bump);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if !crate::work::visit() {
            break;
        }
        if j >= b.len() || (i < a.len() && a[i].0 < b[j].0) {
            out.push(a[i]);
            i += 1;
        } else if i >= a.len() || b[j].0 < a[i].0 {
            out.push(b[j]);
            j += 1;
        } else {
            let merged = match (a[i].1.plain(), b[j].1.plain()) {
                (Value::Map(x), Value::Map(y)) if crate::work::enter(depth + 1) => {
                    merge(x, y, bump, depth + 1)
                }
                _ => b[j].1,
            };
            out.push((a[i].0, merged));
            i += 1;
            j += 1;
        }
    }
    Value::Map(out.into_bump_slice())
}

/// Returns false when an undefined element was met (the result is then undefined).
fn flatten_into<'a>(
    items: &[Value<'a>],
    depth: u32,
    out: &mut BumpVec<'a, Value<'a>>,
    level: u32,
) -> bool {
    for x in items {
        if !crate::work::visit() {
            return false;
        }
        match x.plain() {
            Value::Undefined => return false,
            Value::List(inner) if depth > 0 => {
                if !crate::work::enter(level + 1) {
                    return false;
                }
                if !flatten_into(inner, depth - 1, out, level + 1) {
                    return false;
                }
            }
            other => out.push(other),
        }
    }
    true
}

/// `error(fmt, args...)` formatting: `%v %s %d %%`, other verbs copied, missing → `%!v(MISSING)`.
pub fn format_error(args: &[Value<'_>]) -> String {
    let fmt = match args.first().map(|v| v.plain()) {
        Some(Value::Str(s)) => s,
        Some(other) => return canonical_text(other),
        None => return String::new(),
    };
    let mut out = String::new();
    let mut next = 1;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('v' | 's' | 'd')) => match args.get(next) {
                Some(v) => {
                    next += 1;
                    match (verb, v.plain()) {
                        ('d', Value::Num(n)) => out.push_str(&crate::value::number_text(n.trunc())),
                        (_, other) => out.push_str(&canonical_text(other)),
                    }
                }
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    if out.len() > MAX_ERROR_TEXT {
        let mut cut = MAX_ERROR_TEXT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("… (truncated)");
    }
    out
}

/// Longest message `error(...)` raises; longer formatted text is cut.
const MAX_ERROR_TEXT: usize = 16 << 10;

pub fn sha256_hex(s: &str) -> String {
    crate::modules::hex(&Sha256::digest(s.as_bytes()))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, chunk) in s.chunks(4).enumerate() {
        let last = ci == s.len() / 4 - 1;
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = if c == b'=' && last && i >= 2 {
                pad += 1;
                0
            } else if pad > 0 {
                return None;
            } else {
                B64.iter().position(|&x| x == c)? as u32
            };
            n = (n << 6) | v;
        }
        out.push((n >> 16) as u8);
        if pad < 2 {
            out.push((n >> 8) as u8);
        }
        if pad < 1 {
            out.push(n as u8);
        }
    }
    Some(out)
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// 16 random bytes from the operating system's secure generator. Should the OS refuse (no
/// entropy source at all), process-random hasher keys mixed with a counter and the clock are
/// used instead, so a UUID is still unique within and across processes.
pub fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        b[..8].copy_from_slice(&random_u64().to_le_bytes());
        b[8..].copy_from_slice(&random_u64().to_le_bytes());
    }
    b
}

/// The canonical `8-4-4-4-12` lowercase text of a UUID.
pub fn format_uuid(b: [u8; 16]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}

/// A random version-4 UUID, lowercase.
pub fn uuid_v4() -> String {
    v4_from(random_bytes())
}

/// A version-4 UUID that is unique (process-random keys, a counter and the clock) but not
/// secret: for request ids, where a system call per request would be wasted.
pub fn uuid_v4_unique() -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&random_u64().to_le_bytes());
    b[8..].copy_from_slice(&random_u64().to_le_bytes());
    v4_from(b)
}

fn v4_from(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_uuid(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).unwrap(), s.as_bytes());
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("Zm9=v").is_none());
    }

    #[test]
    fn error_formatting_follows_the_go_subset() {
        let bump = Bump::new();
        let args = [
            Value::Str("%s has %d items, %v%% %x %v"),
            Value::Str("cart"),
            Value::Num(3.9),
            Value::Bool(true),
        ];
        assert_eq!(
            format_error(&args),
            "cart has 3 items, true% %x %!v(MISSING)"
        );
        let _ = &bump;
    }

    #[test]
    fn uuid_is_v4_shaped() {
        for make in [uuid_v4, uuid_v4_unique] {
            let u = make();
            assert_eq!(u.len(), 36);
            assert_eq!(&u[14..15], "4");
            assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
            assert_ne!(u, make());
        }
        assert_eq!(
            format_uuid([
                0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
                0x40, 0x00
            ]),
            "123e4567-e89b-12d3-a456-426614174000"
        );
    }
}
