//! `@sentrie/uuid`: `v4()`, `v6()`, `v7()` as lowercase canonical strings.

use super::{alloc_str, arity, Env, Export};
use sentrie_vm::value::Value;

use crate::native::core::{format_uuid as format, random_bytes};

fn v4<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("v4", args, 0, 0)?;
    Ok(alloc_str(env, &crate::native::core::uuid_v4()))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn v7<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("v7", args, 0, 0)?;
    let mut b = random_bytes();
    b[..6].copy_from_slice(&unix_ms().to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(alloc_str(env, &format(b)))
}

fn v6<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("v6", args, 0, 0)?;
    // 60-bit count of 100 ns intervals since 1582-10-15, most significant bits first.
    let ticks = unix_ms() * 10_000 + 0x01B2_1DD2_1381_4000;
    let mut b = random_bytes();
    let t = ticks << 4;
    b[..6].copy_from_slice(&t.to_be_bytes()[..6]);
    b[6] = 0x60 | ((ticks >> 8) & 0x0f) as u8;
    b[7] = (ticks & 0xff) as u8;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(alloc_str(env, &format(b)))
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
