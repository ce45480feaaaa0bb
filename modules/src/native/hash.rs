//! `@sentrie/hash` (md5, sha1, sha256, sha512, hmac) and `@sentrie/crypto` (sha256):
//! lowercase hex digests of the UTF-8 bytes.

use hmac::{Hmac, Mac};
use sha2::Digest;

use super::{alloc_str, arity, str_arg, Env, Export};
use sentrie_vm::value::Value;

/// Lowercase hex of bytes (into one buffer: `hex::encode` builds the text a char at a time).
pub fn hex(bytes: &[u8]) -> String {
    let mut buf = vec![0u8; bytes.len() * 2];
    if ::hex::encode_to_slice(bytes, &mut buf).is_err() {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

fn digest<D: Digest>(s: &str) -> String {
    hex(&D::digest(s.as_bytes()))
}

macro_rules! hasher {
    ($name:ident, $label:literal, $ty:ty) => {
        fn $name<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
            arity($label, args, 1, 1)?;
            Ok(alloc_str(env, &digest::<$ty>(&str_arg(args, 0))))
        }
    };
}

hasher!(md5, "md5", md5::Md5);
hasher!(sha1, "sha1", sha1::Sha1);
hasher!(sha256, "sha256", sha2::Sha256);
hasher!(sha512, "sha512", sha2::Sha512);

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Result<String, String> {
    let mut m =
        <M as hmac::digest::KeyInit>::new_from_slice(key).map_err(|e| format!("hmac: {e}"))?;
    m.update(data);
    Ok(hex(&m.finalize().into_bytes()))
}

/// `hmac(alg, data, key)`.
pub fn hmac_hex(alg: &str, data: &[u8], key: &[u8]) -> Result<String, String> {
    match alg {
        "md5" => mac::<Hmac<md5::Md5>>(key, data),
        "sha1" => mac::<Hmac<sha1::Sha1>>(key, data),
        "sha256" => mac::<Hmac<sha2::Sha256>>(key, data),
        "sha384" => mac::<Hmac<sha2::Sha384>>(key, data),
        "sha512" => mac::<Hmac<sha2::Sha512>>(key, data),
        other => Err(format!("hmac: unsupported algorithm `{other}`")),
    }
}

fn hmac<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("hmac", args, 3, 3)?;
    let out = hmac_hex(
        &str_arg(args, 0),
        str_arg(args, 1).as_bytes(),
        str_arg(args, 2).as_bytes(),
    )?;
    Ok(alloc_str(env, &out))
}

pub fn lookup(name: &str) -> Option<Export> {
    let f: super::NativeFn = match name {
        "md5" => md5,
        "sha1" => sha1,
        "sha256" => sha256,
        "sha512" => sha512,
        "hmac" => hmac,
        _ => return None,
    };
    Some(Export::Function(f))
}

pub fn lookup_crypto(name: &str) -> Option<Export> {
    match name {
        "sha256" => Some(Export::Function(sha256)),
        _ => None,
    }
}
