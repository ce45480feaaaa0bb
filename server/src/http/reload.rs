//! Hot reload without downtime: a reloader thread compiles the pack off the request path and
//! swaps it in atomically; a failed load keeps the old pack serving and is logged with its
//! diagnostics. Triggers: SIGHUP, and with `--watch` a polling watcher over the pack files
//! (debounced: a change must be stable for one poll interval before it triggers).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::state::{App, PackState};

/// Starts the reloader thread; send `()` to request a reload.
pub fn start(app: Arc<App>) -> std::io::Result<Sender<()>> {
    let (tx, rx) = channel::<()>();
    std::thread::Builder::new()
        .name("reloader".into())
        .spawn(move || reloader(&app, &rx))?;
    Ok(tx)
}

fn reloader(app: &App, rx: &Receiver<()>) {
    while rx.recv().is_ok() {
        // Coalesce a burst of triggers into one reload.
        while rx.try_recv().is_ok() {}
        reload(app);
    }
}

/// Loads the pack again and swaps it in, or keeps the old one on failure.
pub fn reload(app: &App) {
    let started = std::time::Instant::now();
    match sentrie_compiler::load_pack(&app.location) {
        Ok(loaded) => {
            for d in &loaded.diagnostics {
                tracing::warn!(diagnostic = %d.render_plain(&loaded.sources), "policy error in reloaded pack");
            }
            let state = PackState::from_loaded(loaded);
            tracing::info!(pack = %state.name, hash = %state.hash, ms = started.elapsed().as_millis() as u64, "pack reloaded");
            app.pack.store(Arc::new(state));
            app.metrics.reloads.inc();
        }
        Err(e) => {
            app.metrics.reload_failures.inc();
            for d in &e.diagnostics {
                tracing::error!(diagnostic = %d.render_plain(&e.sources), "reload rejected; the previous pack keeps serving");
            }
        }
    }
}

/// A cheap fingerprint of every file under the pack location: paths, sizes, mtimes.
fn fingerprint(root: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
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
pub fn watch(location: PathBuf, interval: Duration, trigger: Sender<()>) -> std::io::Result<()> {
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
                    if trigger.send(()).is_err() {
                        return;
                    }
                } else {
                    pending = Some(now);
                }
            }
        })?;
    Ok(())
}
