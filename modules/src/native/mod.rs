//! Builtin `@sentrie/*` modules (LANGUAGE.md §16.4), implemented natively: they sit on the hot
//! path. The compiler asks [`lookup`] whether a module exports a name; the program stores
//! `(module, export)` pairs and resolves them to function pointers once, when it is prepared.
//!
//! Argument conventions: a string parameter receives `String(x)` of a non-string argument
//! and a number parameter `Number(x)` (JavaScript conversions); wrong argument counts raise
//! "F requires …" errors.

mod collection;
pub mod core;
mod encoding;
mod hash;

pub use hash::hex;
mod js;
mod json;
mod jwt;
mod net;
mod regex;
mod semver;
mod time;
mod url;
mod uuid;

use sentrie_vm::program::Const;
use sentrie_vm::value::{number_text, Value};

pub use sentrie_vm::host::{NativeEnv as Env, NativeFn};

/// One export of a builtin module.
pub enum Export {
    Function(NativeFn),
    Const(Const),
}

/// Builtin module names (after `@sentrie/`).
pub const MODULES: &[&str] = &[
    "js",
    "hash",
    "crypto",
    "encoding",
    "json",
    "regex",
    "uuid",
    "collection",
    "time",
    "jwt",
    "net",
    "url",
    "semver",
    "math",
    "string",
];

pub fn module_exists(name: &str) -> bool {
    MODULES.contains(&name)
}

/// The export `name` of builtin module `module`.
pub fn lookup(module: &str, name: &str) -> Option<Export> {
    match module {
        "js" => js::lookup(name),
        "hash" => hash::lookup(name),
        "crypto" => hash::lookup_crypto(name),
        "encoding" => encoding::lookup(name),
        "json" => json::lookup(name),
        "regex" => regex::lookup(name),
        "uuid" => uuid::lookup(name),
        "collection" => collection::lookup(name),
        "time" => time::lookup(name),
        "jwt" => jwt::lookup(name),
        "net" => net::lookup(name),
        "url" => url::lookup(name),
        "semver" => semver::lookup(name),
        // They exist and export nothing (their functions moved to @sentrie/js).
        "math" | "string" => None,
        // Not importable: the language's own builtins that need hashing or encoding.
        core::MODULE => core::lookup(name).map(|(f, _, _)| Export::Function(f)),
        _ => None,
    }
}

pub fn function(module: &str, name: &str) -> Option<NativeFn> {
    match lookup(module, name) {
        Some(Export::Function(f)) => Some(f),
        _ => None,
    }
}

// ---- argument helpers shared by the modules ----

/// `2`, `at least 1` or `1 to 3`: how many arguments a function takes.
pub fn arity_text(min: usize, max: usize) -> String {
    if min == max {
        format!("{min}")
    } else if max == usize::MAX {
        format!("at least {min}")
    } else {
        format!("{min} to {max}")
    }
}

/// Fails unless `args.len()` is within `min..=max`.
pub fn arity(name: &str, args: &[Value<'_>], min: usize, max: usize) -> Result<(), String> {
    if args.len() < min || args.len() > max {
        let want = arity_text(min, max);
        let plural = if max == 1 && min == 1 {
            "argument"
        } else {
            "arguments"
        };
        return Err(format!(
            "{name} requires {want} {plural}, found {}",
            args.len()
        ));
    }
    Ok(())
}

/// JavaScript `String(x)`.
pub fn js_string(v: Value<'_>) -> String {
    match v.plain() {
        Value::Undefined | Value::Pending => "undefined".to_string(),
        Value::Null | Value::Unknown => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Num(n) => number_text(n),
        Value::Str(s) => s.to_string(),
        Value::List(items) => items
            .iter()
            .map(|x| match x.plain() {
                Value::Undefined | Value::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Map(_) => "[object Object]".to_string(),
        Value::Decision(d) => js_string(d.value),
    }
}

/// JavaScript `Number(x)`.
pub fn js_number(v: Value<'_>) -> f64 {
    match v.plain() {
        Value::Undefined | Value::Pending => f64::NAN,
        Value::Null | Value::Unknown => 0.0,
        Value::Bool(b) => f64::from(u8::from(b)),
        Value::Num(n) => n,
        Value::Str(s) => parse_js_number(s),
        Value::List(items) => match items {
            [] => 0.0,
            [x] => js_number(*x),
            _ => f64::NAN,
        },
        Value::Map(_) => f64::NAN,
        Value::Decision(d) => js_number(d.value),
    }
}

/// JavaScript string-to-number conversion (`Number("...")`).
pub fn parse_js_number(s: &str) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    let (sign, body) = match t.as_bytes()[0] {
        b'-' => (-1.0, &t[1..]),
        b'+' => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    let radix = |p: &str, r: u32| u64::from_str_radix(p, r).map_or(f64::NAN, |n| n as f64);
    if sign > 0.0 || body.len() == t.len() {
        if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            return radix(h, 16);
        }
        if let Some(o) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
            return radix(o, 8);
        }
        if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
            return radix(b, 2);
        }
    }
    let valid = !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == b'.');
    if !valid {
        return f64::NAN;
    }
    body.parse::<f64>().map_or(f64::NAN, |n| sign * n)
}

pub fn str_arg<'a>(args: &[Value<'a>], i: usize) -> String {
    js_string(args.get(i).copied().unwrap_or(Value::Undefined))
}

pub fn num_arg(args: &[Value<'_>], i: usize) -> f64 {
    js_number(args.get(i).copied().unwrap_or(Value::Undefined))
}

pub fn alloc_str<'a>(env: &Env<'a>, s: &str) -> Value<'a> {
    Value::Str(env.bump.alloc_str(s))
}

pub fn list<'a>(env: &Env<'a>, items: impl IntoIterator<Item = Value<'a>>) -> Value<'a> {
    let mut v = bumpalo::collections::Vec::new_in(env.bump);
    v.extend(items);
    Value::List(v.into_bump_slice())
}

#[cfg(test)]
mod tests;
