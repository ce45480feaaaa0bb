//! Hot reload without downtime: a reloader thread compiles the pack off the request path and
//! swaps it in atomically; a failed load keeps the old pack serving and is logged with its
//! diagnostics. Triggers: SIGHUP, and with `--watch` a polling watcher over the pack files
//! (debounced: a change must be stable for one poll interval before it triggers).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sentrie_compiler::{LoadError, Loaded};

use super::state::{App, PackState, Slot, Source};

/// Why a pack was refused: its diagnostics, and whether they are policy errors only (which
/// `--allow-policy-errors` would accept).
pub struct Refused {
    pub diagnostics: Vec<sentrie_grammar::Diagnostic>,
    pub sources: sentrie_grammar::SourceMap,
    pub policy_errors_only: bool,
}

/// What a pack must pass to be served.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checks {
    /// `--allow-policy-errors`: serve packs with policy errors.
    pub allow_policy_errors: bool,
    /// `--strict`: warnings refuse the pack.
    pub strict: bool,
}

/// How many times a load is retried when the files changed while they were being read.
const SNAPSHOT_ATTEMPTS: u32 = 5;

/// Loads the pack at `location` from a consistent snapshot of its files (the load is repeated
/// when a file changed while it was being read), and refuses it when it has any load error, or
/// policy errors unless `allow_policy_errors`.
pub fn load_checked(location: &Path, checks: Checks) -> Result<Loaded, Refused> {
    let Checks {
        allow_policy_errors,
        strict,
    } = checks;
    let root = match sentrie_compiler::pack::locate(location) {
        Ok(sentrie_compiler::pack::Location::Source { root, .. }) => Some(root),
        _ => None,
    };
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let before = root.as_deref().map(fingerprint);
        let opts = sentrie_compiler::LoadOptions {
            strict,
            ..crate::commands::load_options()
        };
        let result = sentrie_compiler::load_pack_with(location, opts);
        let after = root.as_deref().map(fingerprint);
        if before == after || attempt >= SNAPSHOT_ATTEMPTS {
            break result;
        }
        std::thread::sleep(Duration::from_millis(20 * u64::from(attempt)));
    };
    match result {
        Err(LoadError {
            diagnostics,
            sources,
        }) => Err(Refused {
            diagnostics,
            sources,
            policy_errors_only: false,
        }),
        Ok(l) if !l.diagnostics.is_empty() && !allow_policy_errors => Err(Refused {
            diagnostics: l.diagnostics,
            sources: l.sources,
            policy_errors_only: true,
        }),
        Ok(l) => Ok(l),
    }
}

/// Which pack a reload request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The served pack at this index of `App::packs`.
    Pack(usize),
    Shadow,
    /// Every pack (remote ones are polled at once) and the shadow (SIGHUP).
    All,
}

/// Starts the reloader thread; send a [`Which`] to request a reload.
pub fn start(app: Arc<App>) -> std::io::Result<Sender<Which>> {
    let (tx, rx) = channel::<Which>();
    std::thread::Builder::new()
        .name("reloader".into())
        .spawn(move || reloader(&app, &rx))?;
    Ok(tx)
}

fn reloader(app: &App, rx: &Receiver<Which>) {
    while let Ok(first) = rx.recv() {
        // Coalesce a burst of triggers into one reload of each pack asked for.
        let mut packs = vec![false; app.packs.len()];
        let mut shadow = false;
        for which in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            match which {
                Which::Pack(i) => {
                    if let Some(p) = packs.get_mut(i) {
                        *p = true;
                    }
                }
                Which::Shadow => shadow = true,
                Which::All => {
                    packs.iter_mut().for_each(|p| *p = true);
                    shadow = true;
                }
            }
        }
        for (slot, _) in app.packs.iter().zip(packs).filter(|(_, asked)| *asked) {
            match &slot.source {
                Source::Local(location) => reload(app, slot, location),
                Source::Remote(_) => slot.poll_now(),
            }
        }
        if let (true, Some(s)) = (shadow, &app.shadow) {
            if let Source::Local(location) = &s.slot.source {
                reload(app, &s.slot, location);
            }
        }
    }
}

/// Loads a local pack again and swaps it in, or keeps the old one on failure (and reports the
/// pack as degraded until a reload succeeds).
pub fn reload(app: &App, slot: &Slot, location: &Path) {
    let started = std::time::Instant::now();
    match load_checked(location, app.checks) {
        Ok(loaded) => {
            for d in &loaded.diagnostics {
                tracing::warn!(diagnostic = %d.render_plain(&loaded.sources), "policy error in reloaded pack");
            }
            let state = PackState::new(loaded, absolute(location));
            if let Err(message) = activate(app, slot, state, started) {
                refused(app, slot, message);
            }
        }
        Err(e) => {
            for d in &e.diagnostics {
                tracing::error!(pack = %slot.name, diagnostic = %d.render_plain(&e.sources), "reload rejected; the previous pack keeps serving");
            }
            let mut message: Vec<String> = e
                .diagnostics
                .iter()
                .map(|d| d.render_plain(&e.sources))
                .collect();
            if e.policy_errors_only {
                message.push(
                    "the pack has policy errors (serve with --allow-policy-errors to accept them)"
                        .to_string(),
                );
            }
            app.metrics.reload_failures.inc();
            slot.set_error(message.join("\n"));
        }
    }
}

/// Records a refused reload: counted, logged, and shown by `/health` until a reload succeeds.
pub fn refused(app: &App, slot: &Slot, message: String) {
    app.metrics.reload_failures.inc();
    tracing::error!(pack = %slot.name, error = %message, "reload rejected; the previous pack keeps serving");
    slot.set_error(message);
}

/// Makes `state` the served version of `slot`, unless its namespaces overlap another served
/// pack's (then the message says which; the shadow candidate is not checked).
pub fn activate(
    app: &App,
    slot: &Slot,
    state: PackState,
    started: std::time::Instant,
) -> Result<(), String> {
    // The shadow candidate shares the primary's namespaces by design; served packs must not.
    let served = app.packs.iter().any(|s| std::ptr::eq(s, slot));
    let overlap = served
        .then(|| app.overlap(&slot.name, &state.namespaces))
        .flatten();
    if let Some((other, mine, theirs)) = overlap {
        return Err(format!(
            "pack `{}` defines namespace `{mine}`, which overlaps namespace `{theirs}` of pack `{other}`",
            slot.name
        ));
    }
    tracing::info!(pack = %slot.name, hash = %state.hash, ms = started.elapsed().as_millis() as u64, "pack activated");
    slot.pack.store(Some(Arc::new(state)));
    app.metrics.reloads.inc();
    slot.clear_error();
    Ok(())
}

/// A local location as an absolute path, so that `sentrie replay` finds it from anywhere.
pub fn absolute(location: &Path) -> String {
    std::fs::canonicalize(location)
        .unwrap_or_else(|_| location.to_path_buf())
        .display()
        .to_string()
}

/// A cheap fingerprint of every file under the pack location: paths, sizes, mtimes. Symbolic
/// links to directories are not followed (as pack loading does not follow them), so a link
/// loop or a link out of the pack is never walked; a link to a file counts with its target.
fn fingerprint(root: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(mut meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.file_type().is_symlink() && p != root {
            match std::fs::metadata(&p) {
                Ok(target) if target.is_file() => meta = target,
                _ => continue,
            }
        } else if meta.file_type().is_symlink() {
            let Ok(target) = std::fs::metadata(&p) else {
                continue;
            };
            meta = target;
        }
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else {
            out.push((p, meta.len(), meta.modified().ok()));
        }
        if out.len() > 100_000 {
            break;
        }
    }
    out.sort();
    out
}

/// Starts the polling watcher (`--watch`).
pub fn watch(
    location: PathBuf,
    interval: Duration,
    trigger: Sender<Which>,
    which: Which,
) -> std::io::Result<()> {
    let root = match sentrie_compiler::pack::locate(&location) {
        Ok(sentrie_compiler::pack::Location::Source { root, .. }) => root,
        _ => location,
    };
    std::thread::Builder::new()
        .name("pack-watcher".into())
        .spawn(move || {
            let mut current = fingerprint(&root);
            let mut pending: Option<Vec<(PathBuf, u64, Option<SystemTime>)>> = None;
            loop {
                std::thread::sleep(interval);
                let now = fingerprint(&root);
                // A change triggers once it has been stable for one interval.
                let stable = pending.take().is_some_and(|prev| prev == now);
                if now == current {
                    continue;
                }
                if stable {
                    current = now;
                    if trigger.send(which).is_err() {
                        return;
                    }
                } else {
                    pending = Some(now);
                }
            }
        })?;
    Ok(())
}
