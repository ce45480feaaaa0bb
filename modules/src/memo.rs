//! The cache behind memoized calls, `f(x)!` or `f(x)!N` (LANGUAGE.md §14.14). One cache belongs
//! to one loaded pack (it lives in that pack's [`crate::Runtime`]), so a reload starts empty
//! and two packs never see each other's results. Results are stored as JSON text and decoded
//! into the current decision's arena on a hit; errors are never cached (the VM only stores
//! successes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bumpalo::Bump;

use sentrie_vm::value::Value;

/// Entries kept before expired ones are swept (and, if still full, everything is dropped).
const CAPACITY: usize = 16_384;

/// Bytes of keys and results kept (arguments and results can be large: a count alone does
/// not bound memory). A result larger than a quarter of it is not cached at all.
pub const DEFAULT_BYTES: usize = 64 * 1024 * 1024;

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_BYTES);
/// Bytes held by every live cache of the process.
static HELD: AtomicUsize = AtomicUsize::new(0);
/// Results not kept or thrown away for lack of room, in every cache of the process.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Sets the byte budget of the caches of packs loaded from now on (`serve --memo-bytes`).
pub fn set_default_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::Relaxed);
}

/// Process-wide figures for `/metrics`: bytes held by all caches, and results dropped (not
/// cached, or evicted) because a cache was full.
pub fn stats() -> (usize, u64) {
    (
        HELD.load(Ordering::Relaxed),
        DROPPED.load(Ordering::Relaxed),
    )
}

type Entry = (Instant, Option<String>);

/// A map from call keys to results with an expiry, bounded by entries and by bytes.
pub struct Memo {
    entries: Mutex<Entries>,
    max_bytes: usize,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    bytes: usize,
}

fn size(key: &str, entry: &Entry) -> usize {
    key.len() + entry.1.as_ref().map_or(0, String::len) + 64
}

impl Default for Memo {
    fn default() -> Memo {
        Memo::with_budget(BUDGET.load(Ordering::Relaxed))
    }
}

impl Memo {
    pub fn new() -> Memo {
        Memo::default()
    }

    /// A cache holding at most `max_bytes` of keys and results.
    pub fn with_budget(max_bytes: usize) -> Memo {
        Memo {
            entries: Mutex::new(Entries::default()),
            max_bytes,
        }
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.bytes)
    }

    /// A live cached result, decoded into `bump`.
    pub fn get<'a>(&self, key: &str, bump: &'a Bump) -> Option<Value<'a>> {
        let guard = self.entries.lock().ok()?;
        let (expires, json) = guard.map.get(key)?;
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
        let entry = (
            Instant::now() + Duration::from_secs(u64::from(ttl_secs)),
            json,
        );
        let add = size(&key, &entry);
        if add > self.max_bytes / 4 {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Ok(mut e) = self.entries.lock() else {
            return;
        };
        let before = e.bytes;
        if e.map.len() >= CAPACITY || e.bytes + add > self.max_bytes {
            let now = Instant::now();
            let count = e.map.len();
            e.map.retain(|_, (exp, _)| *exp > now);
            if e.map.len() >= CAPACITY || e.bytes + add > self.max_bytes {
                e.map.clear();
            }
            e.bytes = e.map.iter().map(|(k, v)| size(k, v)).sum();
            DROPPED.fetch_add((count - e.map.len()) as u64, Ordering::Relaxed);
        }
        if let Some(old) = e.map.insert(key.clone(), entry) {
            e.bytes -= size(&key, &old).min(e.bytes);
        }
        e.bytes += add;
        account(before, e.bytes);
    }
}

/// Moves the process-wide total from a cache's old size to its new one.
fn account(before: usize, after: usize) {
    if after >= before {
        HELD.fetch_add(after - before, Ordering::Relaxed);
    } else {
        HELD.fetch_sub(before - after, Ordering::Relaxed);
    }
}

impl Drop for Memo {
    fn drop(&mut self) {
        let held = self.entries.get_mut().map_or(0, |e| e.bytes);
        account(held, 0);
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
    fn the_cache_is_bounded_by_bytes() {
        let memo = Memo::with_budget(10_000);
        let bump = Bump::new();
        let big = "x".repeat(1_000);
        for i in 0..100 {
            memo.put(format!("k{i}"), Value::Str(&big), 60);
            assert!(memo.bytes() <= 10_000, "{}", memo.bytes());
        }
        // The newest entry is always there; a result too large for the budget is not cached.
        assert!(memo.get("k99", &bump).is_some());
        let huge = "y".repeat(5_000);
        let dropped = stats().1;
        memo.put("huge".into(), Value::Str(&huge), 60);
        assert!(memo.get("huge", &bump).is_none());
        assert!(stats().1 > dropped);
        // The process-wide total includes this cache and forgets it when it goes.
        let held = memo.bytes();
        assert!(stats().0 >= held);
        drop(memo);
    }

    #[test]
    fn two_caches_are_independent() {
        let (a, b) = (Memo::new(), Memo::new());
        let bump = Bump::new();
        a.put("k".into(), Value::Num(1.0), 60);
        assert!(b.get("k", &bump).is_none());
    }
}
