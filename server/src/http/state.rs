//! Shared server state: the served packs (each swapped atomically on its own reload), limits,
//! metrics and the decision log. Requests take a snapshot of a pack (`Arc`) and finish on it
//! even if a reload swaps in a new one meanwhile.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use sentrie_vm::VerifiedProgram;

use super::audit::AuditLog;
use super::metrics::Metrics;
use super::module_pool::ModulePool;

/// One loaded pack version.
pub struct PackState {
    pub program: Arc<VerifiedProgram>,
    pub name: String,
    pub version: String,
    pub hash: String,
    /// Where it was loaded from: an absolute path, or the URL it was fetched from.
    pub location: String,
    /// Fact pointers the decision log masks (`[decision_log] mask` of the manifest).
    pub mask: Vec<String>,
    /// The namespaces the pack defines (`a/b`), which route decisions to it.
    pub namespaces: Vec<String>,
    /// When it became the served version (RFC 3339).
    pub activated: String,
}

impl PackState {
    /// A loaded pack as served from `location` (already absolute or a URL).
    pub fn new(l: sentrie_compiler::Loaded, location: String) -> PackState {
        let mut namespaces: Vec<String> = l.program.program().namespaces.to_vec();
        namespaces.sort();
        namespaces.dedup();
        PackState {
            program: l.program,
            name: l.manifest.name,
            version: l.manifest.version,
            hash: l.hash,
            location,
            mask: l.manifest.decision_log_mask,
            namespaces,
            activated: crate::clock::rfc3339_now(),
        }
    }

    /// Whether `target` (`ns/.../policy[/rule]`) lies in one of the pack's namespaces.
    pub fn owns(&self, target: &str) -> bool {
        let target = target.trim_start_matches('/');
        self.namespaces.iter().any(|ns| within(target, ns))
    }
}

/// Whether `path` is `ns` or lies below it, segment-wise (`a/bc` is not below `a/b`).
pub fn within(path: &str, ns: &str) -> bool {
    path.strip_prefix(ns)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Per-request limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub body_bytes: usize,
    /// Time to receive a request body.
    pub body_timeout: Duration,
    pub json_depth: usize,
    pub fuel: u64,
    pub deadline: Duration,
    /// Arenas grown past this by one decision are freed afterwards.
    pub arena_keep_bytes: usize,
}

/// Where a slot's pack comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A directory, manifest or compiled file on local disk (reloaded on SIGHUP or `--watch`).
    Local(PathBuf),
    /// A compiled pack fetched from `http(s)://` or `s3://` and polled for changes.
    Remote(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Local(p) => write!(f, "{}", p.display()),
            Source::Remote(url) => f.write_str(url),
        }
    }
}

/// One served pack: where it comes from, the version served now (none until the first load
/// succeeds), and why the last reload failed, while none has succeeded since.
pub struct Slot {
    /// `--pack NAME=...`, or the manifest's name for a pack given alone.
    pub name: String,
    pub source: Source,
    pub pack: ArcSwapOption<PackState>,
    pub last_reload_error: Mutex<Option<ReloadError>>,
    /// A remote pack's poller, woken to poll at once (SIGHUP).
    pub poller: std::sync::OnceLock<std::sync::mpsc::SyncSender<()>>,
}

impl Slot {
    pub fn new(name: String, source: Source, pack: Option<PackState>) -> Slot {
        Slot {
            name,
            source,
            pack: ArcSwapOption::from(pack.map(Arc::new)),
            last_reload_error: Mutex::new(None),
            poller: std::sync::OnceLock::new(),
        }
    }

    pub fn last_error(&self) -> Option<ReloadError> {
        self.last_reload_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn set_error(&self, message: String) {
        if let Ok(mut last) = self.last_reload_error.lock() {
            *last = Some(ReloadError {
                message,
                time: crate::clock::rfc3339_now(),
            });
        }
    }

    /// Asks a remote pack's poller to poll now (a no-op for local packs, or when a poll is
    /// already pending).
    pub fn poll_now(&self) {
        if let Some(tx) = self.poller.get() {
            let _ = tx.try_send(());
        }
    }

    pub fn clear_error(&self) {
        if let Ok(mut last) = self.last_reload_error.lock() {
            *last = None;
        }
    }
}

pub struct App {
    /// `--auth-token-file`: the bearer tokens decision endpoints require.
    pub tokens: Option<super::auth::Tokens>,
    /// The packs that answer requests, each owning its namespaces.
    pub packs: Vec<Slot>,
    /// `--shadow`: a candidate evaluated on the side (with a single pack only).
    pub shadow: Option<super::shadow::Shadow>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub audit: Option<AuditLog>,
    /// Runs the decisions that call user modules.
    pub modules: ModulePool,
    /// What a pack must pass to be served (at start and on every reload).
    pub checks: super::reload::Checks,
}

/// Where a decision goes.
pub enum Route {
    Pack(Arc<PackState>),
    /// The slot that may own the target has no pack yet (or, with several packs, some slot has
    /// none, so the owner cannot be known).
    NotReady(String),
    /// No pack owns the target's namespace.
    NoOwner,
}

impl App {
    /// The pack that answers for `target`. With one pack, that pack (target resolution then
    /// reports what is missing); with several, the one whose namespaces contain the target.
    pub fn route(&self, target: &str) -> Route {
        if let [only] = self.packs.as_slice() {
            return match only.pack.load_full() {
                Some(p) => Route::Pack(p),
                None => Route::NotReady(only.name.clone()),
            };
        }
        let mut waiting = None;
        for slot in &self.packs {
            match slot.pack.load_full() {
                Some(p) if p.owns(target) => return Route::Pack(p),
                Some(_) => {}
                None => waiting = waiting.or(Some(slot.name.clone())),
            }
        }
        waiting.map_or(Route::NoOwner, Route::NotReady)
    }

    /// Whether every pack has a served version.
    pub fn ready(&self) -> bool {
        self.packs.iter().all(|s| s.pack.load().is_some())
    }

    /// The name of another pack whose namespaces overlap `namespaces` (equal, or one below
    /// the other), with the two namespaces.
    pub fn overlap(&self, except: &str, namespaces: &[String]) -> Option<(String, String, String)> {
        self.packs
            .iter()
            .filter(|s| s.name != except)
            .find_map(|s| {
                let other = s.pack.load_full()?;
                overlapping(namespaces, &other.namespaces).map(|(a, b)| (s.name.clone(), a, b))
            })
    }
}

/// The first pair of overlapping namespaces (equal, or one below the other).
pub fn overlapping(a: &[String], b: &[String]) -> Option<(String, String)> {
    a.iter().find_map(|x| {
        b.iter()
            .find(|y| within(x, y) || within(y, x))
            .map(|y| (x.clone(), y.clone()))
    })
}

/// A refused reload, as `/health` reports it.
#[derive(Clone, Debug)]
pub struct ReloadError {
    pub message: String,
    /// RFC 3339.
    pub time: String,
}

#[cfg(test)]
mod tests {
    use super::{overlapping, within};

    #[test]
    fn namespaces_nest_by_whole_segments() {
        assert!(within("a/b/p/r", "a/b"));
        assert!(within("a/b", "a/b"));
        assert!(!within("a/bc/p", "a/b"));
        assert!(!within("a", "a/b"));
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            overlapping(&s(&["x/y"]), &s(&["a", "x"])),
            Some(("x/y".into(), "x".into()))
        );
        assert_eq!(overlapping(&s(&["x/yz"]), &s(&["x/y"])), None);
    }
}
