//! A fixed set of threads for decisions that call user modules.
//!
//! A QuickJS runtime belongs to the thread that made it, so every thread that runs module code
//! keeps one (up to the per-runtime memory limit). Running those decisions on a fixed pool
//! bounds the number of runtimes, and with it their memory: `threads × per-runtime limit` is
//! the server's module memory budget (`--module-memory-bytes`). The pool also bounds how many
//! slow module calls run at once; a full queue is answered at once rather than queued without
//! end.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// Stack of each pool thread: QuickJS gets [`sentrie_modules::quickjs`]'s stack limit below
/// the point of the call, and the VM's own frames sit above it.
const THREAD_STACK: usize = 16 * 1024 * 1024;

type Task = Box<dyn FnOnce() + Send>;

/// Why a task did not run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// Every thread is busy and the queue is full.
    Busy,
    /// The task panicked or the pool is gone.
    Lost,
}

pub struct ModulePool {
    tx: SyncSender<Task>,
}

impl ModulePool {
    /// Starts `threads` threads sharing a queue of `queue` waiting tasks.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<ModulePool> {
        let (tx, rx) = mpsc::sync_channel::<Task>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("sentrie-modules-{i}"))
                .stack_size(THREAD_STACK)
                .spawn(move || work(&rx))?;
        }
        Ok(ModulePool { tx })
    }

    /// Queues `f` for a pool thread; the returned future gives its result without blocking
    /// the caller's thread. `Busy` at once when the queue is full.
    pub fn submit<T, F>(
        &self,
        f: F,
    ) -> Result<impl std::future::Future<Output = Result<T, PoolError>>, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let task: Task = Box::new(move || {
            let _ = done.send(f());
        });
        match self.tx.try_send(task) {
            Ok(()) => Ok(async move { result.await.map_err(|_| PoolError::Lost) }),
            Err(TrySendError::Full(_)) => Err(PoolError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(PoolError::Lost),
        }
    }

    /// [`ModulePool::submit`] and wait.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.submit(f)?.await
    }
}

fn work(rx: &Mutex<Receiver<Task>>) {
    loop {
        // The lock is held only while waiting for the next task, never while running one.
        let task = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(task) = task else { return };
        // A panic is a bug; the sender sees a dropped channel (`Lost`) and the thread goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn runs_tasks_and_refuses_when_full() {
        let pool = ModulePool::start(1, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));
        assert_eq!(
            pool.run(|| -> u8 { panic!("bug") }).await,
            Err(PoolError::Lost)
        );
        // The thread survived the panic.
        assert_eq!(pool.run(|| 1).await, Ok(1));
        // One task running, one waiting: a third is refused at once.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let first = pool
            .submit(move || {
                let _ = started_tx.send(());
                let _ = wait.recv();
            })
            .unwrap_or_else(|e| panic!("{e:?}"));
        let _ = actix_web::rt::task::spawn_blocking(move || started.recv()).await;
        let second = pool.submit(|| 2).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(matches!(pool.submit(|| 3), Err(PoolError::Busy)));
        let _ = release.send(());
        assert_eq!(first.await, Ok(()));
        assert_eq!(second.await, Ok(2));
    }
}
