//! Signals of `sentrie serve`: SIGHUP reloads the packs (local ones at once, remote ones
//! polled at once), the API tokens and the TLS certificate, and reopens the decision log;
//! SIGUSR1 reopens the decision log; SIGXFSZ is caught so that a file-size limit fails a write
//! instead of killing the server.

use std::sync::mpsc::Sender;
use std::sync::Arc;

use super::reload;
use super::state::App;
use super::tls;

/// The signal number of SIGXFSZ (file size limit exceeded) on Linux.
const SIGXFSZ: i32 = 25;

/// Installs the handlers on the running actix system.
pub fn spawn(
    app: &Arc<App>,
    trigger: Sender<reload::Which>,
    certificate: Option<Arc<tls::Certificate>>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let hup_app = Arc::clone(app);
    actix_web::rt::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the pack, reopening the decision log");
            if let Some(log) = &hup_app.audit {
                log.reopen();
            }
            if let Some(tokens) = &hup_app.tokens {
                match tokens.reload() {
                    Ok(n) => tracing::info!(tokens = n, "SIGHUP: API tokens reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "SIGHUP: API tokens not reloaded; the current ones stay")
                    }
                }
            }
            if let Some(c) = &certificate {
                match c.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "SIGHUP: TLS certificate not reloaded; the current one stays")
                    }
                }
            }
            if trigger.send(reload::Which::All).is_err() {
                return;
            }
        }
    });
    let usr1_app = Arc::clone(app);
    actix_web::rt::spawn(async move {
        let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
            return;
        };
        while usr1.recv().await.is_some() {
            tracing::info!("SIGUSR1: reopening the decision log");
            if let Some(log) = &usr1_app.audit {
                log.reopen();
            }
        }
    });
    // A file-size limit (SIGXFSZ) must not kill the server: with a handler installed
    // the write fails with EFBIG instead, and is counted as a failed write.
    actix_web::rt::spawn(async move {
        let Ok(mut xfsz) = signal(SignalKind::from_raw(SIGXFSZ)) else {
            return;
        };
        while xfsz.recv().await.is_some() {}
    });
}
