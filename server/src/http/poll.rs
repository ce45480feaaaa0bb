//! Remote packs (`--pack-url`, `--pack NAME=URL`): one poller thread per remote pack fetches
//! it on a jittered interval with `If-None-Match`, checks and verifies a new version off the
//! request path, swaps it in atomically and stores it in the cache directory. A failed fetch
//! or a refused pack keeps the current version serving and is reported (`/health`, metrics,
//! log). At start the cached copy, when there is one and it passes the same checks, serves
//! until the origin answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cache::Cache;
use super::origin::{Fetched, Origin};
use super::reload::{activate, refused};
use super::state::{App, PackState, Slot};

/// What every poller shares.
#[derive(Clone)]
pub struct Config {
    pub interval: Duration,
    pub cache: Option<Arc<Cache>>,
}

/// Checks fetched or cached bytes: decode, verify the signature (`--verify-key`), verify the
/// bytecode and link. Nothing is served unless all of it passed.
fn check(bytes: &[u8], url: &str) -> Result<PackState, String> {
    let loaded = sentrie_compiler::load_compiled_bytes(bytes, url, crate::commands::trusted())
        .map_err(|e| {
            e.diagnostics
                .iter()
                .map(|d| d.render_plain(&e.sources))
                .collect::<Vec<_>>()
                .join("\n")
        })?;
    Ok(PackState::new(loaded, url.to_string()))
}

/// The cached copy of `url`'s pack when it passes the checks, with its ETag and file hash.
pub fn from_cache(cache: &Cache, url: &str) -> Option<(PackState, Option<String>, String)> {
    let entry = cache.read(url)?;
    match check(&entry.bytes, url) {
        Ok(state) => {
            tracing::info!(url, hash = %state.hash, "serving the cached copy until the origin answers");
            Some((
                state,
                entry.etag,
                sentrie_artifact::sha256_hex(&entry.bytes),
            ))
        }
        Err(e) => {
            tracing::warn!(url, error = %e, "the cached copy is not usable; ignoring it");
            None
        }
    }
}

/// Where a poller starts from: the ETag and file hash of the version served now (from the
/// cache), if any.
pub struct Start {
    pub etag: Option<String>,
    pub file_hash: Option<String>,
}

/// A remote pack's origin and where its poller starts from.
pub struct Pending {
    pub origin: Origin,
    pub etag: Option<String>,
    pub file_hash: Option<String>,
}

/// Starts the poller of `app.packs[index]`. It holds the app weakly and stops with it.
pub fn start(
    app: &Arc<App>,
    index: usize,
    origin: Origin,
    config: Config,
    from: Start,
) -> std::io::Result<()> {
    let weak = Arc::downgrade(app);
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    if let Some(slot) = app.packs.get(index) {
        let _ = slot.poller.set(wake);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(format!("pack-poller-{index}"))
        .spawn(move || {
            let mut poller = Poller {
                origin,
                config,
                etag: from.etag,
                file_hash: from.file_hash,
                fetch_failed: false,
            };
            loop {
                {
                    let Some(app) = weak.upgrade() else { return };
                    let Some(slot) = app.packs.get(index) else {
                        return;
                    };
                    rt.block_on(poller.poll(&app, slot));
                }
                // Until the next poll is due, or SIGHUP asks for one now.
                let _ = woken.recv_timeout(jittered(poller.config.interval));
                if weak.strong_count() == 0 {
                    return;
                }
            }
        })?;
    Ok(())
}

struct Poller {
    origin: Origin,
    config: Config,
    /// The ETag of the last version fetched (served or refused): not fetched again.
    etag: Option<String>,
    /// SHA-256 of the file served now: an unchanged file under a new ETag is not reloaded.
    file_hash: Option<String>,
    /// Whether the last error shown for this pack is a failed fetch (cleared when the origin
    /// answers again), rather than a refused pack (cleared only by a good one).
    fetch_failed: bool,
}

impl Poller {
    async fn poll(&mut self, app: &App, slot: &Slot) {
        let started = Instant::now();
        let url = self.origin.url.clone();
        // A whole poll, retries included, gets three request timeouts.
        let deadline = self.origin.timeout * 3;
        let fetched = tokio::time::timeout(deadline, self.origin.fetch(self.etag.as_deref())).await;
        let (bytes, etag) = match fetched {
            Ok(Ok(Fetched::NotModified)) => {
                self.origin_answered(slot);
                return;
            }
            Ok(Ok(Fetched::New { bytes, etag })) => (bytes, etag),
            Ok(Err(e)) => return self.failed(app, slot, &format!("cannot fetch {url}: {e}")),
            Err(_) => {
                let message = format!(
                    "cannot fetch {url}: no complete answer within {} ms",
                    deadline.as_millis()
                );
                return self.failed(app, slot, &message);
            }
        };
        app.metrics.pack_fetches.inc();
        let file_hash = sentrie_artifact::sha256_hex(&bytes);
        self.etag = etag;
        if self.file_hash.as_deref() == Some(file_hash.as_str()) && slot.pack.load().is_some() {
            self.origin_answered(slot);
            return;
        }
        let state = match check(&bytes, &url) {
            Ok(s) => s,
            Err(message) => {
                self.fetch_failed = false;
                return refused(app, slot, message);
            }
        };
        match activate(app, slot, state, started) {
            Ok(()) => {
                self.fetch_failed = false;
                self.file_hash = Some(file_hash);
                if let Some(cache) = &self.config.cache {
                    if let Err(e) = cache.write(&url, &bytes, self.etag.as_deref()) {
                        app.metrics.pack_cache_failures.inc();
                        tracing::error!(url, dir = %cache.dir().display(), error = %e, "cannot store the pack in the cache directory; serving it anyway");
                    }
                }
            }
            Err(message) => {
                self.fetch_failed = false;
                refused(app, slot, message);
            }
        }
    }

    /// The origin answered with what is served: a shown fetch failure is over.
    fn origin_answered(&mut self, slot: &Slot) {
        if self.fetch_failed {
            self.fetch_failed = false;
            slot.clear_error();
        }
    }

    fn failed(&mut self, app: &App, slot: &Slot, message: &str) {
        app.metrics.pack_fetch_failures.inc();
        tracing::error!(pack = %slot.name, error = %message, "pack fetch failed; the current pack keeps serving");
        // A refused pack stays the reported problem until a good one comes.
        if self.fetch_failed || slot.last_error().is_none() {
            self.fetch_failed = true;
            slot.set_error(message.to_string());
        }
    }
}

/// `interval` give or take a tenth, so that a fleet started together does not poll together.
fn jittered(interval: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // A factor in [0.9, 1.1).
    let factor = 0.9 + f64::from(nanos % 1000) / 5000.0;
    interval.mul_f64(factor)
}
