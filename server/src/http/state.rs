//! Shared server state: the current pack (swapped atomically on reload), limits, metrics and
//! the decision log. Requests take a snapshot of the pack (`Arc`) and finish on it even if a
//! reload swaps in a new one meanwhile.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
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
    /// Where it was loaded from, as given on the command line.
    pub location: String,
    /// Fact pointers the decision log masks (`[decision_log] mask` of the manifest).
    pub mask: Vec<String>,
}

impl PackState {
    pub fn from_loaded(l: sentrie_compiler::Loaded, location: &std::path::Path) -> PackState {
        PackState {
            program: l.program,
            name: l.manifest.name,
            version: l.manifest.version,
            hash: l.hash,
            // Absolute, so that `sentrie replay` finds it from anywhere.
            location: std::fs::canonicalize(location)
                .unwrap_or_else(|_| location.to_path_buf())
                .display()
                .to_string(),
            mask: l.manifest.decision_log_mask,
        }
    }
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

/// One pack location and what is served from it: the current pack (swapped atomically on
/// reload) and why the last reload was refused, while no reload has succeeded since.
pub struct Slot {
    pub location: PathBuf,
    pub pack: ArcSwap<PackState>,
    pub last_reload_error: std::sync::Mutex<Option<ReloadError>>,
}

impl Slot {
    pub fn new(location: PathBuf, loaded: sentrie_compiler::Loaded) -> Slot {
        let pack = ArcSwap::from_pointee(PackState::from_loaded(loaded, &location));
        Slot {
            location,
            pack,
            last_reload_error: std::sync::Mutex::new(None),
        }
    }

    pub fn last_error(&self) -> Option<ReloadError> {
        self.last_reload_error.lock().ok().and_then(|e| e.clone())
    }
}

pub struct App {
    /// The pack that answers requests.
    pub primary: Slot,
    /// `--shadow`: a candidate evaluated on the side.
    pub shadow: Option<super::shadow::Shadow>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub audit: Option<AuditLog>,
    /// Runs the decisions that call user modules.
    pub modules: ModulePool,
    /// What a pack must pass to be served (at start and on every reload).
    pub checks: super::reload::Checks,
}

/// A refused reload, as `/health` reports it.
#[derive(Clone, Debug)]
pub struct ReloadError {
    pub message: String,
    /// RFC 3339.
    pub time: String,
}
