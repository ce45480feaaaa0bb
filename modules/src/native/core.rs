//! The language's own builtins (LANGUAGE.md §15) that need hashing, encoding or randomness:
//! `crypto.hash`, `crypto.verify`, `base64.encode`, `base64.decode` and `uuid`. They are
//! lowered to native calls of the internal module [`MODULE`], which `use` cannot import, so
//! the VM links no hash or encoding crate. The shared helpers (base64, UUID text, random
//! bytes) also serve `@sentrie/encoding`, `@sentrie/jwt`, `@sentrie/uuid` and `@sentrie/js`.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use sentrie_vm::value::Value;

use super::{alloc_str, Env, NativeFn};

/// The internal module name of these functions.
pub const MODULE: &str = "core";

/// A builtin's function and arity range, as the compiler needs them.
pub fn lookup(name: &str) -> Option<(NativeFn, usize, usize)> {
    Some(match name {
        "uuid" => (uuid as NativeFn, 0, 0),
        "base64.encode" => (b64_encode, 1, 1),
        "base64.decode" => (b64_decode, 1, 1),
        "crypto.hash" => (hash, 1, 1),
        "crypto.verify" => (verify, 2, 2),
        _ => return None,
    })
}

/// String argument `i` of builtin `name`; another type is a run-time error (§14.14).
fn text_arg<'a>(name: &str, args: &[Value<'a>], i: usize) -> Result<&'a str, String> {
    match args.get(i).map_or(Value::Undefined, |v| v.plain()) {
        Value::Str(s) => Ok(s),
        other => Err(format!(
            "{name}: expects a string, found {}",
            other.kind_name()
        )),
    }
}

fn uuid<'a>(_args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    Ok(alloc_str(env, &uuid_v4()))
}

fn b64_encode<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    let s = text_arg("base64.encode", args, 0)?;
    Ok(alloc_str(env, &base64_encode(s.as_bytes())))
}

fn b64_decode<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    let s = text_arg("base64.decode", args, 0)?;
    let bytes = base64_decode(s).ok_or("base64.decode: invalid base64 input")?;
    Ok(alloc_str(env, &String::from_utf8_lossy(&bytes)))
}

fn hash<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    Ok(alloc_str(
        env,
        &sha256_hex(text_arg("crypto.hash", args, 0)?),
    ))
}

fn verify<'a>(args: &[Value<'a>], _env: &Env<'a>) -> Result<Value<'a>, String> {
    let s = text_arg("crypto.verify", args, 0)?;
    let digest = text_arg("crypto.verify", args, 1)?;
    Ok(Value::Bool(sha256_hex(s).eq_ignore_ascii_case(digest)))
}

/// Lowercase hex SHA-256 of the text.
pub fn sha256_hex(s: &str) -> String {
    super::hash::hex(&Sha256::digest(s.as_bytes()))
}

/// Standard alphabet, padding required on decode; set bits after the last full byte are
/// tolerated (the language reference does not ask for canonical encodings).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

pub fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    BASE64.decode(s).ok()
}

/// 16 random bytes from the operating system's secure generator. Should the OS refuse (no
/// entropy source at all), process-random hasher keys mixed with a counter and the clock are
/// used instead, so a UUID is still unique within and across processes.
pub fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        b[..8].copy_from_slice(&unique_u64().to_le_bytes());
        b[8..].copy_from_slice(&unique_u64().to_le_bytes());
    }
    b
}

/// 64 bits unique within and across processes (process-random hasher keys, a counter and the
/// clock), without a system call: not secret, so only for identifiers.
pub fn unique_u64() -> u64 {
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

/// A time-ordered version-7 UUID (RFC 9562 §5.7): 48 bits of Unix milliseconds, then the
/// given random bits (version and variant set).
pub fn uuid_v7_from(unix_ms: u64, random: [u8; 10]) -> String {
    ::uuid::Builder::from_unix_timestamp_millis(unix_ms, &random)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A version-7 UUID for an identifier (decision ids): now, with [`unique_u64`] bits, so no
/// system call is made.
pub fn uuid_v7_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&unique_u64().to_le_bytes());
    random[8..].copy_from_slice(&unique_u64().to_le_bytes()[..2]);
    uuid_v7_from(ms, random)
}

/// A random version-4 UUID, lowercase.
pub fn uuid_v4() -> String {
    uuid_v4_from(random_bytes())
}

/// The version-4 UUID text made from 16 random bytes (version and variant bits set).
pub fn uuid_v4_from(bytes: [u8; 16]) -> String {
    ::uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_requires_padding() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).as_deref(), Some(s.as_bytes()));
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("Zm9=v").is_none());
        assert!(base64_decode("Zm8").is_none());
        // Trailing bits after the last byte are accepted, as before.
        assert_eq!(base64_decode("Zm9=").as_deref(), Some(&b"fo"[..]));
    }

    #[test]
    fn uuid_is_v4_shaped() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(u, uuid_v4());
    }

    #[test]
    fn v7_ids_are_v7_shaped_and_time_ordered() {
        let a = uuid_v7_from(1, [0xff; 10]);
        let b = uuid_v7_from(2, [0; 10]);
        assert_eq!(&a[14..15], "7");
        assert!(a < b, "{a} {b}");
        let (x, y) = (uuid_v7_id(), uuid_v7_id());
        assert_ne!(x, y);
        assert_eq!(&x[14..15], "7");
    }
}
