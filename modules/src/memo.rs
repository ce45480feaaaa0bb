//! The cache behind memoized calls, `f(x)!` or `f(x)!N` (LANGUAGE.md §14.14). One cache belongs
//! to one loaded pack (it lives in that pack's [`crate::Runtime`]), so a reload starts empty
//! and two packs never see each other's results. Results are stored as JSON text and decoded
//! into the current decision's arena on a hit; errors are never cached (the VM only stores
//! successes).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bumpalo::Bump;

use sentrie_vm::value::Value;

/// Entries kept before expired ones are swept (and, if still full, everything is dropped).
const CAPACITY: usize = 16_384;

type Entry = (Instant, Option<String>);

/// A bounded map from call keys to results with an expiry.
#[derive(Default)]
pub struct Memo {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Memo {
    pub fn new() -> Memo {
        Memo::default()
    }

    /// A live cached result, decoded into `bump`.
    pub fn get<'a>(&self, key: &str, bump: &'a Bump) -> Option<Value<'a>> {
        let guard = self.entries.lock().ok()?;
        let (expires, json) = guard.get(key)?;
        if Instant::now() > *expires {
            return None;
        }
        match json {
            None => Some(Value::Undefined),
            Some(text) => sentrie_vm::json::decode(text.as_bytes(), bump).ok(),
        }
    }

    /// Caches `v` under `key` for `ttl_secs` seconds.
    pub fn put(&self, key: String, v: Value<'_>, ttl_secs: u32) {
        let json = if v.is_undefined() {
            None
        } else {
            let mut s = String::new();
            sentrie_vm::json::write_compact(&mut s, v.plain());
            Some(s)
        };
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_decodes_into_the_callers_arena_and_expires() {
        let memo = Memo::new();
        let bump = Bump::new();
        assert!(memo.get("k", &bump).is_none());
        memo.put("k".into(), Value::Str("v"), 60);
        assert!(matches!(memo.get("k", &bump), Some(Value::Str("v"))));
        memo.put("u".into(), Value::Undefined, 60);
        assert!(matches!(memo.get("u", &bump), Some(Value::Undefined)));
        memo.put("gone".into(), Value::Num(1.0), 0);
        std::thread::sleep(Duration::from_millis(5));
        assert!(memo.get("gone", &bump).is_none());
    }

    #[test]
    fn two_caches_are_independent() {
        let (a, b) = (Memo::new(), Memo::new());
        let bump = Bump::new();
        a.put("k".into(), Value::Num(1.0), 60);
        assert!(b.get("k", &bump).is_none());
    }
}
