//! Shadow packs (`serve --shadow CANDIDATE`): every decision request is evaluated against the
//! candidate as well, on a thread of its own after the primary answer is ready, so the
//! response never waits for it. The primary's request costs one queue push; when the queue is
//! full the comparison is skipped and counted. Agreements and disagreements are counted in
//! `/metrics`; each disagreement is written to the decision log (`"type": "shadow"`) with both
//! outcomes and the decision id.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use actix_web::web::Bytes;
use bumpalo::Bump;
use sentrie_vm::{json, target, Value};

use super::state::{App, PackState, Slot};

/// Requests that may wait for the shadow thread.
const QUEUE: usize = 1024;

pub struct Shadow {
    pub slot: Slot,
    tx: OnceLock<SyncSender<Job>>,
}

/// One request to evaluate again, with what the primary answered.
pub struct Job {
    pub bytes: Bytes,
    pub target_text: String,
    pub primary: Arc<PackState>,
    /// The members the primary wrote (`{"decisions":...}`), without the decision id.
    pub primary_body: String,
    pub decision_id: String,
    pub request_id: String,
}

impl Shadow {
    pub fn new(slot: Slot) -> Shadow {
        Shadow {
            slot,
            tx: OnceLock::new(),
        }
    }

    /// Starts the shadow thread. It holds the app weakly, so it never keeps the server (and
    /// its decision log) alive after shutdown.
    pub fn start(app: &Arc<App>) -> std::io::Result<()> {
        let Some(shadow) = &app.shadow else {
            return Ok(());
        };
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let weak = Arc::downgrade(app);
        std::thread::Builder::new()
            .name("shadow".into())
            .spawn(move || work(&weak, &rx))?;
        let _ = shadow.tx.set(tx);
        Ok(())
    }

    /// Queues a comparison; never waits.
    pub fn submit(&self, app: &App, job: Job) {
        let Some(tx) = self.tx.get() else { return };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(job) {
            app.metrics.shadow_skipped.inc();
        }
    }
}

fn work(app: &Weak<App>, rx: &Receiver<Job>) {
    let mut arena = Bump::new();
    while let Ok(job) = rx.recv() {
        let Some(app) = app.upgrade() else { return };
        let Some(shadow) = &app.shadow else { return };
        arena.reset();
        let Some(candidate) = shadow.slot.pack.load_full() else {
            continue;
        };
        let body = evaluate(&app, &candidate, &job, &arena);
        if body == job.primary_body {
            app.metrics.shadow_agreements.inc();
        } else {
            app.metrics.shadow_disagreements.inc();
            if let Some(log) = &app.audit {
                log.record(line(&job, &candidate, &body));
            }
        }
        if arena.allocated_bytes() > app.limits.arena_keep_bytes {
            arena = Bump::new();
        }
    }
}

/// The members the candidate writes for the job's request (as the primary's were written).
fn evaluate(app: &App, candidate: &PackState, job: &Job, bump: &Bump) -> String {
    let program = &candidate.program;
    let mut body = String::with_capacity(job.primary_body.len() + 64);
    let t = match target::resolve(program, &job.target_text) {
        Ok(t) => t,
        Err(e) => {
            body.push_str("{\"error\":");
            json::write_str(&mut body, &e);
            body.push('}');
            return body;
        }
    };
    let facts = match json::decode(&job.bytes, bump) {
        Ok(Value::Map(top)) => match sentrie_vm::value::map_get(top, "facts") {
            Some(v @ Value::Map(_)) => v,
            _ => Value::Map(&[]),
        },
        _ => Value::Map(&[]),
    };
    let limits = sentrie_vm::Limits {
        fuel: app.limits.fuel,
        deadline: Some(Instant::now() + app.limits.deadline),
        ..sentrie_vm::Limits::default()
    };
    let outcomes = sentrie_vm::evaluate(program, t.policy, &t.rules, facts, bump, limits);
    crate::output::write_response(&mut body, program, &outcomes);
    body
}

/// A `shadow` line: both packs and both outcomes of one request.
fn line(job: &Job, candidate: &PackState, shadow_body: &str) -> String {
    let mut line = String::with_capacity(job.primary_body.len() + shadow_body.len() + 512);
    line.push_str("{\"type\":\"shadow\",\"time\":\"");
    crate::clock::push_rfc3339_now(&mut line);
    line.push_str("\",\"decision_id\":");
    json::write_str(&mut line, &job.decision_id);
    line.push_str(",\"request_id\":");
    json::write_str(&mut line, &job.request_id);
    line.push_str(",\"target\":");
    json::write_str(&mut line, &job.target_text);
    line.push_str(",\"pack\":");
    super::log_line::push_pack(&mut line, &job.primary);
    line.push_str(",\"shadow_pack\":");
    super::log_line::push_pack(&mut line, candidate);
    line.push_str(",\"primary\":");
    line.push_str(&job.primary_body);
    line.push_str(",\"shadow\":");
    line.push_str(shadow_body);
    line.push('}');
    line
}
