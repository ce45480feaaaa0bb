//! `@sentrie/uuid`: `v4()`, `v6()`, `v7()` as lowercase canonical strings.

use super::{alloc_str, arity, Env, Export};
use sentrie_vm::value::Value;

use crate::native::core::random_bytes;

fn v4<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("v4", args, 0, 0)?;
    Ok(alloc_str(env, &crate::native::core::uuid_v4()))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Time-ordered: 48 bits of Unix milliseconds, then random bits (RFC 9562 §5.7).
fn v7<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("v7", args, 0, 0)?;
    let r = random_bytes();
    let mut rest = [0u8; 10];
    rest.copy_from_slice(&r[..10]);
    let id = crate::native::core::uuid_v7_from(unix_ms(), rest);
    Ok(alloc_str(env, &id))
}

/// Time-ordered Gregorian: 60 bits of 100 ns ticks since 1582-10-15, most significant
/// first, then a random clock sequence and node (RFC 9562 §5.6).
fn v6<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("v6", args, 0, 0)?;
    let ticks = unix_ms() * 10_000 + 0x01B2_1DD2_1381_4000;
    let r = random_bytes();
    let counter = u16::from_be_bytes([r[0], r[1]]);
    let mut node = [0u8; 6];
    node.copy_from_slice(&r[2..8]);
    let id = uuid::Builder::from_sorted_gregorian_timestamp(ticks, counter, &node).into_uuid();
    Ok(alloc_str(env, &id.hyphenated().to_string()))
}

pub fn lookup(name: &str) -> Option<Export> {
    let f: super::NativeFn = match name {
        "v4" => v4,
        "v6" => v6,
        "v7" => v7,
        _ => return None,
    };
    Some(Export::Function(f))
}
