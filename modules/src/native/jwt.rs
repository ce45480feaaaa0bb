//! `@sentrie/jwt`: decoding and HMAC verification of JSON Web Tokens (no creation, no
//! `exp`/`nbf` checks). Segments are unpadded base64url.

use hmac::Mac;

use super::{arity, str_arg, Env, Export};
use sentrie_vm::value::Value;

type R<'a> = Result<Value<'a>, String>;

fn b64url(seg: &str) -> Option<Vec<u8>> {
    if seg.contains(['+', '/', '=']) {
        return None;
    }
    let mut s = seg.replace('-', "+").replace('_', "/");
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    crate::native::core::base64_decode(&s)
}

struct Parts<'t> {
    header: serde_json::Value,
    payload_b64: &'t str,
    signing_input: &'t str,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts<'_>, String> {
    let pieces: Vec<&str> = token.split('.').collect();
    if pieces.len() != 3 {
        return Err("invalid token format".to_string());
    }
    let header_bytes = b64url(pieces[0]).ok_or("invalid token format: header is not base64url")?;
    let header: serde_json::Value = serde_json::from_slice(&header_bytes)
        .map_err(|_| "invalid token format: header is not JSON".to_string())?;
    let signature = b64url(pieces[2]).ok_or("invalid token format: signature is not base64url")?;
    let signing_input = &token[..pieces[0].len() + 1 + pieces[1].len()];
    Ok(Parts {
        header,
        payload_b64: pieces[1],
        signing_input,
        signature,
    })
}

fn json_value<'a>(bytes: &[u8], env: &Env<'a>, what: &str) -> R<'a> {
    sentrie_vm::json::decode(bytes, env.bump)
        .map_err(|_| format!("invalid token format: {what} is not JSON"))
}

fn payload<'a>(p: &Parts<'_>, env: &Env<'a>) -> R<'a> {
    let bytes = b64url(p.payload_b64).ok_or("invalid token format: payload is not base64url")?;
    json_value(&bytes, env, "payload")
}

/// Checks the HMAC signature for `alg`; `Err` for an unsupported algorithm.
fn signature_ok(alg: &str, input: &[u8], key: &[u8], sig: &[u8]) -> Result<bool, String> {
    macro_rules! check {
        ($d:ty) => {{
            let mut m = <hmac::Hmac<$d> as hmac::digest::KeyInit>::new_from_slice(key)
                .map_err(|e| e.to_string())?;
            m.update(input);
            Ok(m.verify_slice(sig).is_ok())
        }};
    }
    match alg {
        "HS256" => check!(sha2::Sha256),
        "HS384" => check!(sha2::Sha384),
        "HS512" => check!(sha2::Sha512),
        other => Err(format!("unsupported algorithm `{other}`")),
    }
}

fn decode<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("decode", args, 1, 2)?;
    let token = str_arg(args, 0);
    let parts = split(&token)?;
    let secret = if args.len() > 1 {
        str_arg(args, 1)
    } else {
        String::new()
    };
    if !secret.is_empty() {
        let alg = parts
            .header
            .get("alg")
            .and_then(|a| a.as_str())
            .unwrap_or("");
        if !signature_ok(
            alg,
            parts.signing_input.as_bytes(),
            secret.as_bytes(),
            &parts.signature,
        )? {
            return Err("token signature is invalid".to_string());
        }
    }
    payload(&parts, env)
}

fn verify<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("verify", args, 2, 3)?;
    let token = str_arg(args, 0);
    let want = if args.len() > 2 {
        str_arg(args, 2)
    } else {
        "HS256".to_string()
    };
    let Ok(parts) = split(&token) else {
        return Ok(Value::Bool(false));
    };
    let alg = parts
        .header
        .get("alg")
        .and_then(|a| a.as_str())
        .unwrap_or("");
    if alg != want {
        return Ok(Value::Bool(false));
    }
    let ok = signature_ok(
        alg,
        parts.signing_input.as_bytes(),
        str_arg(args, 1).as_bytes(),
        &parts.signature,
    )
    .unwrap_or(false)
        && b64url(parts.payload_b64).is_some();
    Ok(Value::Bool(ok))
}

fn get_payload<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("getPayload", args, 1, 1)?;
    let token = str_arg(args, 0);
    payload(&split(&token)?, env)
}

fn get_header<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("getHeader", args, 1, 1)?;
    let token = str_arg(args, 0);
    let parts = split(&token)?;
    json_value(parts.header.to_string().as_bytes(), env, "header")
}

pub fn lookup(name: &str) -> Option<Export> {
    let f: super::NativeFn = match name {
        "decode" => decode,
        "verify" => verify,
        "getPayload" => get_payload,
        "getHeader" => get_header,
        _ => return None,
    };
    Some(Export::Function(f))
}
