//! The decision audit log: one JSON line per decision request (see [`super::log_line`]),
//! written by a background thread from a queue bounded by bytes. When the queue is full,
//! `--decision-log-on-full` decides: `block` (the default) makes the request wait for room,
//! so no line is ever lost; `drop` drops the line, counts it, and the writer reports the
//! count in the log itself once lines flow again. Lines count as written only when their
//! write succeeded; failed writes are counted apart. SIGUSR1 and SIGHUP reopen the file (log
//! rotation). Dropping the `AuditLog` flushes the queue and joins the writer.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
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

/// What happens to a line when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnFull {
    /// The request waits until the writer has made room: no line is lost.
    Block,
    /// The line is dropped and counted.
    Drop,
}

pub struct AuditLog {
    tx: Option<SyncSender<String>>,
    writer: Option<JoinHandle<()>>,
    pub facts: FactsMode,
    /// Fact pointers masked in every line (`--decision-log-mask`), besides the pack's own.
    pub mask: Vec<String>,
    metrics: Arc<Metrics>,
    /// Lines dropped and not yet reported in the log.
    unreported: Arc<AtomicU64>,
    reopen: Arc<AtomicBool>,
    /// Bytes of lines queued and not yet taken by the writer.
    queued: Arc<AtomicUsize>,
    queue: Queue,
}

/// How much may wait for the writer.
#[derive(Clone, Copy, Debug)]
pub struct Queue {
    /// Bytes of queued lines (large facts make lines large: a count alone does not bound
    /// memory).
    pub bytes: usize,
    pub on_full: OnFull,
}

/// Queue length before lines are dropped.
const QUEUE: usize = 16_384;

/// Where the log goes, from the command line.
#[derive(Clone, Debug)]
pub enum Destination {
    /// A file path, or `-` for stdout (`--decision-log`).
    Path(String),
    /// An HTTP collector (`--decision-log-url`).
    Url(String),
}

/// Where lines go: stdout, a file reopened by path on request (log rotation), or an HTTP
/// collector.
enum Sink {
    Stdout,
    File { path: String, file: std::fs::File },
    Http(super::shipper::Shipper),
}

impl Sink {
    fn open(to: &Destination) -> std::io::Result<Sink> {
        let path = match to {
            Destination::Url(url) => {
                return super::shipper::Shipper::new(url)
                    .map(Sink::Http)
                    .map_err(std::io::Error::other)
            }
            Destination::Path(p) => p.as_str(),
        };
        if path == "-" {
            return Ok(Sink::Stdout);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Sink::File {
            path: path.to_string(),
            file,
        })
    }

    /// Opens the path again (after the file was rotated away); keeps the old file on failure.
    fn reopen(&mut self) {
        if let Sink::File { path, file } = self {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&*path)
            {
                Ok(f) => *file = f,
                Err(e) => {
                    tracing::error!(path = %path, error = %e, "cannot reopen the decision log")
                }
            }
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Sink::File { file, .. } => file.write_all(bytes),
            Sink::Http(shipper) => shipper.post(bytes),
        }
    }
}

impl AuditLog {
    /// Opens `path` for appending (`-` is stdout) and starts the writer thread.
    pub fn open(
        to: &Destination,
        facts: FactsMode,
        mask: Vec<String>,
        queue: Queue,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<AuditLog> {
        let mut sink = Sink::open(to)?;
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let reopen = Arc::new(AtomicBool::new(false));
        let queued = Arc::new(AtomicUsize::new(0));
        let unreported = Arc::new(AtomicU64::new(0));
        let shared = Shared {
            metrics: Arc::clone(&metrics),
            reopen: Arc::clone(&reopen),
            queued: Arc::clone(&queued),
            unreported: Arc::clone(&unreported),
        };
        let writer = std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || write_loop(&rx, &mut sink, &shared))?;
        Ok(AuditLog {
            tx: Some(tx),
            writer: Some(writer),
            facts,
            mask,
            metrics,
            unreported,
            reopen,
            queued,
            queue,
        })
    }

    /// Queues one line. In `drop` mode it never waits: a line that would take the queue past
    /// its byte budget (or its length limit) is dropped and counted. In `block` mode it waits
    /// for room (a line larger than the whole budget waits for an empty queue).
    pub fn record(&self, line: String) {
        let Some(tx) = &self.tx else { return };
        let len = line.len();
        match self.queue.on_full {
            OnFull::Drop => {
                let before = self.queued.fetch_add(len, Ordering::Relaxed);
                if before + len > self.queue.bytes {
                    self.queued.fetch_sub(len, Ordering::Relaxed);
                    self.dropped();
                    return;
                }
                if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                    tx.try_send(line)
                {
                    self.queued.fetch_sub(len, Ordering::Relaxed);
                    self.dropped();
                }
            }
            OnFull::Block => {
                self.wait_for_room(len);
                // `send` waits while the queue holds its maximum number of lines.
                if tx.send(line).is_err() {
                    self.queued.fetch_sub(len, Ordering::Relaxed);
                    self.dropped();
                }
            }
        }
    }

    /// Reserves `len` bytes of the queue, waiting while it is full (and the writer is alive).
    fn wait_for_room(&self, len: usize) {
        let mut pause = std::time::Duration::from_micros(50);
        loop {
            let before = self.queued.fetch_add(len, Ordering::Relaxed);
            if before == 0 || before + len <= self.queue.bytes {
                return;
            }
            self.queued.fetch_sub(len, Ordering::Relaxed);
            if self.writer.as_ref().is_none_or(JoinHandle::is_finished) {
                // Nobody will make room: take it anyway rather than wait forever.
                self.queued.fetch_add(len, Ordering::Relaxed);
                return;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(BATCH_INTERVAL);
        }
    }

    fn dropped(&self) {
        self.metrics.log_dropped.inc();
        self.unreported.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the writer to reopen the file before its next write (SIGUSR1, SIGHUP).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }
}

/// Drains the queue in batches and sleeps between them: a blocked `recv` would make every
/// request wake this thread (a context switch per decision), which costs far more than the
/// write itself on a small machine. Each batch is one write; its lines count as written only
/// when the write succeeded (a full disk or a file-size limit counts them as failed).
fn write_loop(rx: &Receiver<String>, sink: &mut Sink, shared: &Shared) {
    let Shared {
        metrics: m,
        reopen,
        queued,
        unreported,
    } = shared;
    let mut batch: Vec<u8> = Vec::with_capacity(1 << 16);
    loop {
        let mut lines = 0u64;
        let mut done = false;
        // Lines flow again after some were dropped: say how many, in the log itself, before
        // the lines queued since.
        let lost = unreported.swap(0, Ordering::Relaxed);
        if lost > 0 {
            batch.extend_from_slice(super::log_line::dropped(lost).as_bytes());
            batch.push(b'\n');
        }
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    queued.fetch_sub(line.len(), Ordering::Relaxed);
                    batch.extend_from_slice(line.as_bytes());
                    batch.push(b'\n');
                    lines += 1;
                    if batch.len() >= 1 << 16 {
                        break;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    done = true;
                    break;
                }
            }
        }
        if reopen.swap(false, Ordering::Relaxed) {
            sink.reopen();
        }

        if !batch.is_empty() {
            match sink.write_all(&batch) {
                Ok(()) => {
                    m.log_written.inc_by(lines);
                }
                Err(e) => {
                    m.log_failed.inc_by(lines);
                    tracing::error!(error = %e, lines, "decision log write failed");
                }
            }
            batch.clear();
        }
        if done {
            return;
        }
        if lines == 0 {
            std::thread::sleep(BATCH_INTERVAL);
        }
    }
}

/// What the writer thread shares with the request side.
struct Shared {
    metrics: Arc<Metrics>,
    reopen: Arc<AtomicBool>,
    queued: Arc<AtomicUsize>,
    unreported: Arc<AtomicU64>,
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
