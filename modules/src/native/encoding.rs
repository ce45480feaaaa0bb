//! `@sentrie/encoding`: base64 (standard and URL alphabets, padded), hex, URL query escaping.
//! Decoders fail on malformed input; decoded bytes are read as UTF-8 with U+FFFD replacement.

use super::{alloc_str, arity, str_arg, Env, Export};
use crate::native::core::{base64_decode, base64_encode};
use sentrie_vm::value::Value;

fn text<'a>(env: &Env<'a>, bytes: &[u8]) -> Value<'a> {
    alloc_str(env, &String::from_utf8_lossy(bytes))
}

fn b64_encode<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("base64Encode", args, 1, 1)?;
    Ok(alloc_str(env, &base64_encode(str_arg(args, 0).as_bytes())))
}

fn b64_decode<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("base64Decode", args, 1, 1)?;
    let bytes = base64_decode(&str_arg(args, 0)).ok_or("base64Decode: invalid base64 input")?;
    Ok(text(env, &bytes))
}

fn b64url_encode<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("base64UrlEncode", args, 1, 1)?;
    let s = base64_encode(str_arg(args, 0).as_bytes())
        .replace('+', "-")
        .replace('/', "_");
    Ok(alloc_str(env, &s))
}

fn b64url_decode<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("base64UrlDecode", args, 1, 1)?;
    let s = str_arg(args, 0);
    if s.contains(['+', '/']) {
        return Err("base64UrlDecode: invalid base64url input".to_string());
    }
    let bytes = base64_decode(&s.replace('-', "+").replace('_', "/"))
        .ok_or("base64UrlDecode: invalid base64url input")?;
    Ok(text(env, &bytes))
}

fn hex_encode<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("hexEncode", args, 1, 1)?;
    Ok(alloc_str(env, &super::hex(str_arg(args, 0).as_bytes())))
}

fn hex_decode<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("hexDecode", args, 1, 1)?;
    let bytes = hex::decode(str_arg(args, 0)).map_err(|e| match e {
        hex::FromHexError::OddLength => "hexDecode: odd number of hex digits",
        _ => "hexDecode: invalid hex input",
    })?;
    Ok(text(env, &bytes))
}

/// Query escaping: unreserved `A–Z a–z 0–9 - _ . ~` kept, space → `+`, others `%XX`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

pub fn url_decode(s: &str) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let h = s.get(i + 1..i + 3).ok_or("urlDecode: truncated escape")?;
                out.push(
                    u8::from_str_radix(h, 16)
                        .map_err(|_| "urlDecode: invalid escape".to_string())?,
                );
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn url_encode_fn<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("urlEncode", args, 1, 1)?;
    Ok(alloc_str(env, &url_encode(&str_arg(args, 0))))
}

fn url_decode_fn<'a>(args: &[Value<'a>], env: &Env<'a>) -> Result<Value<'a>, String> {
    arity("urlDecode", args, 1, 1)?;
    Ok(text(env, &url_decode(&str_arg(args, 0))?))
}

pub fn lookup(name: &str) -> Option<Export> {
    let f: super::NativeFn = match name {
        "base64Encode" => b64_encode,
        "base64Decode" => b64_decode,
        "base64UrlEncode" => b64url_encode,
        "base64UrlDecode" => b64url_decode,
        "hexEncode" => hex_encode,
        "hexDecode" => hex_decode,
        "urlEncode" => url_encode_fn,
        "urlDecode" => url_decode_fn,
        _ => return None,
    };
    Some(Export::Function(f))
}
