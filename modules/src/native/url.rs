//! `@sentrie/url`: parsing into scheme, host (with port), path, query, fragment and user,
//! joining path segments, and accessors. Unparseable input raises errors (except `isValid`).
//!
//! Hand-written on purpose: the language reference follows Go's `net/url` (relative
//! references parse, paths and hosts are kept as written, `host` keeps an explicit default
//! port), while the `url` crate implements the WHATWG URL standard, which rejects relative
//! references without a base, normalises paths (`/a/../b` → `/b`), drops default ports and
//! percent-encodes, so it would change answers.

use super::{alloc_str, arity, str_arg, Env, Export};
use sentrie_vm::value::Value;

type R<'a> = Result<Value<'a>, String>;

#[derive(Default, Debug, PartialEq)]
pub struct Url {
    pub scheme: String,
    pub user: String,
    pub host: String,
    pub path: String,
    pub query: String,
    pub fragment: String,
}

/// Splits a URL (`scheme:[//[user@]host]path[?query][#fragment]`); relative references have
/// an empty scheme.
pub fn parse_url(s: &str) -> Result<Url, String> {
    if s.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!("invalid URL `{s}`"));
    }
    let mut u = Url::default();
    let mut rest = s;
    if let Some((frag_rest, frag)) = rest.split_once('#') {
        u.fragment = frag.to_string();
        rest = frag_rest;
    }
    if let Some((q_rest, q)) = rest.split_once('?') {
        u.query = q.to_string();
        rest = q_rest;
    }
    if let Some(colon) = rest.find(':') {
        let scheme = &rest[..colon];
        let valid = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid && !scheme.contains('/') {
            u.scheme = scheme.to_ascii_lowercase();
            rest = &rest[colon + 1..];
        } else if !rest[..colon].contains('/') {
            return Err(format!("invalid URL `{s}`: bad scheme"));
        }
    }
    if let Some(auth_rest) = rest.strip_prefix("//") {
        let end = auth_rest.find('/').unwrap_or(auth_rest.len());
        let authority = &auth_rest[..end];
        rest = &auth_rest[end..];
        let host = match authority.rsplit_once('@') {
            Some((user, host)) => {
                u.user = user.to_string();
                host
            }
            None => authority,
        };
        if let Some(port) = host
            .rsplit_once(':')
            .map(|(_, p)| p)
            .filter(|_| !host.ends_with(']'))
        {
            if !port.is_empty()
                && !port.chars().all(|c| c.is_ascii_digit())
                && !host.starts_with('[')
            {
                return Err(format!("invalid URL `{s}`: bad port"));
            }
        }
        u.host = host.to_string();
    }
    u.path = rest.to_string();
    Ok(u)
}

fn parse<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("parse", args, 1, 1)?;
    let u = parse_url(&str_arg(args, 0))?;
    let mut entries = bumpalo::collections::Vec::new_in(env.bump);
    for (k, v) in [
        ("fragment", &u.fragment),
        ("host", &u.host),
        ("path", &u.path),
        ("query", &u.query),
        ("scheme", &u.scheme),
        ("user", &u.user),
    ] {
        entries.push((k, alloc_str(env, v)));
    }
    Ok(Value::Map(entries.into_bump_slice()))
}

fn join<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("join", args, 1, usize::MAX)?;
    let mut out = str_arg(args, 0);
    for part in &args[1..] {
        if matches!(part.plain(), Value::Null | Value::Undefined) {
            continue;
        }
        let p = super::js_string(*part);
        let p = p.trim_matches('/');
        if p.is_empty() {
            continue;
        }
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(p);
    }
    Ok(alloc_str(env, &out))
}

macro_rules! getter {
    ($name:ident, $label:literal, $field:ident) => {
        fn $name<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
            arity($label, args, 1, 1)?;
            Ok(alloc_str(env, &parse_url(&str_arg(args, 0))?.$field))
        }
    };
}

getter!(get_host, "getHost", host);
getter!(get_path, "getPath", path);
getter!(get_query, "getQuery", query);

fn is_valid<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("isValid", args, 1, 1)?;
    Ok(Value::Bool(
        parse_url(&str_arg(args, 0)).is_ok_and(|u| !u.scheme.is_empty() && !u.host.is_empty()),
    ))
}

pub fn lookup(name: &str) -> Option<Export> {
    let f: super::NativeFn = match name {
        "parse" => parse,
        "join" => join,
        "getHost" => get_host,
        "getPath" => get_path,
        "getQuery" => get_query,
        "isValid" => is_valid,
        _ => return None,
    };
    Some(Export::Function(f))
}
