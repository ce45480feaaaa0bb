//! The decision audit log: one JSON line per decision request, written by a background thread
//! from a bounded queue. A slow disk never blocks a request: when the queue is full the line
//! is dropped and counted. Dropping the `AuditLog` flushes the queue and joins the writer.

use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::metrics::Metrics;

/// What the log records about the facts of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FactsMode {
    /// The facts object itself.
    Full,
    /// Only the SHA-256 of the request body's facts.
    Hash,
    /// Nothing about the facts.
    None,
}

pub struct AuditLog {
    tx: Option<SyncSender<String>>,
    writer: Option<JoinHandle<()>>,
    pub facts: FactsMode,
    metrics: Arc<Metrics>,
}

/// Queue length before lines are dropped.
const QUEUE: usize = 16_384;

impl AuditLog {
    /// Opens `path` for appending (`-` is stdout) and starts the writer thread.
    pub fn open(path: &str, facts: FactsMode, metrics: Arc<Metrics>) -> std::io::Result<AuditLog> {
        let mut out: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )
        };
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let m = Arc::clone(&metrics);
        let writer = std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || write_loop(&rx, &mut out, &m))?;
        Ok(AuditLog {
            tx: Some(tx),
            writer: Some(writer),
            facts,
            metrics,
        })
    }

    /// Queues one line; never blocks.
    pub fn record(&self, line: String) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.log_dropped.inc();
            }
        }
    }
}

/// Drains the queue in batches and sleeps between them: a blocked `recv` would make every
/// request wake this thread (a context switch per decision), which costs far more than the
/// write itself on a small machine.
fn write_loop(
    rx: &std::sync::mpsc::Receiver<String>,
    out: &mut Box<dyn Write + Send>,
    m: &Metrics,
) {
    use std::sync::mpsc::TryRecvError;
    let mut buf = std::io::BufWriter::with_capacity(1 << 16, out);
    loop {
        let mut wrote = false;
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    let ok = buf
                        .write_all(line.as_bytes())
                        .and_then(|()| buf.write_all(b"\n"))
                        .is_ok();
                    let counter = if ok { &m.log_written } else { &m.log_dropped };
                    counter.inc();
                    wrote = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = buf.flush();
                    return;
                }
            }
        }
        if wrote {
            let _ = buf.flush();
        }
        std::thread::sleep(BATCH_INTERVAL);
    }
}

/// How long the writer sleeps between batches; bounds how stale the file can be.
const BATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

impl Drop for AuditLog {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}
