//! Memoization of calls written `f(x)!` or `f(x)!N` (LANGUAGE.md §14.14): results cached
//! process-wide by program instance, call site and argument values for N seconds (default
//! 300). Errors are never cached; `!0` disables caching. Results are stored as JSON text, so
//! a hit is decoded into the current decision's arena.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bumpalo::Bump;

use crate::value::Value;

/// Entries kept before expired ones are swept (and, if still full, everything is dropped).
const CAPACITY: usize = 16_384;

type Entry = (Instant, Option<String>);

static CACHE: Mutex<Option<HashMap<String, Entry>>> = Mutex::new(None);

/// The cache key of a call: instance, site kind and index, and the arguments as JSON.
pub fn key(instance: u64, site: &str, args: &[Value<'_>]) -> String {
    let mut k = format!("{instance}:{site}:");
    for a in args {
        if a.is_undefined() {
            k.push_str("~,");
        } else {
            crate::json::write_compact(&mut k, a.plain());
            k.push(',');
        }
    }
    k
}

/// Runs `call` unless a cached result exists for `key`; caches a successful result. A hit
/// keeps its original expiry. With no key (not memoized) this is just `call()`.
pub fn memoized<'a>(
    key: Option<(String, u32)>,
    bump: &'a Bump,
    call: impl FnOnce() -> Result<Value<'a>, String>,
) -> Result<Value<'a>, String> {
    let Some((k, ttl)) = key else { return call() };
    if let Some(hit) = get(&k, bump) {
        return Ok(hit);
    }
    let v = call()?;
    put(k, v, ttl);
    Ok(v)
}

/// A cached result, decoded into `bump`.
pub fn get<'a>(key: &str, bump: &'a Bump) -> Option<Value<'a>> {
    let guard = CACHE.lock().ok()?;
    let (expires, json) = guard.as_ref()?.get(key)?;
    if Instant::now() > *expires {
        return None;
    }
    match json {
        None => Some(Value::Undefined),
        Some(text) => crate::json::decode(text.as_bytes(), bump).ok(),
    }
}

pub fn put(key: String, v: Value<'_>, ttl_secs: u32) {
    let json = if v.is_undefined() {
        None
    } else {
        let mut s = String::new();
        crate::json::write_compact(&mut s, v.plain());
        Some(s)
    };
    let Ok(mut guard) = CACHE.lock() else { return };
    let map = guard.get_or_insert_with(HashMap::new);
    if map.len() >= CAPACITY {
        let now = Instant::now();
        map.retain(|_, (exp, _)| *exp > now);
        if map.len() >= CAPACITY {
            map.clear();
        }
    }
    map.insert(
        key,
        (
            Instant::now() + Duration::from_secs(u64::from(ttl_secs)),
            json,
        ),
    );
}
