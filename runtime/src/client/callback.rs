//! [`AsyncThreads`]: the small pool of threads that runs the callbacks of callback-form calls
//! (`op_callback(args, cb)`), as TarsCpp's AsyncThreads do.
//!
//! The pool drives futures itself, so it works with any transport: a spawned future is a
//! task; a worker polls it, and when it is pending its waker puts it back on the pool's queue
//! once it can make progress. A callback-form call is the call's [`CallFuture`](super::CallFuture)
//! followed by the callback, run as one task; the callback therefore runs on a `tars-async-N`
//! thread. A task that panics (a panicking callback) is caught, logged with
//! `tracing::error!`, and dropped; the thread goes on serving the next tasks.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

/// Threads of [`AsyncThreads::global`], and the usual size of a pool (as TarsCpp's default
/// `asyncthread`).
pub const DEFAULT_ASYNC_THREADS: usize = 2;

/// Prefix of the pool's thread names: `tars-async-0`, `tars-async-1`, ...
pub const ASYNC_THREAD_PREFIX: &str = "tars-async-";

/// Why a pool could not be started or could not take a task.
#[derive(Debug, thiserror::Error)]
pub enum AsyncThreadsError {
    /// Not one worker thread could be started.
    #[error("cannot start an async-callback thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// A pool of zero threads was asked for.
    #[error("an async-callback pool needs at least one thread")]
    NoThreads,
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Not queued, not running: waiting for a wake.
const IDLE: u8 = 0;
/// On the queue (at most once).
const SCHEDULED: u8 = 1;
/// Being polled by a worker.
const RUNNING: u8 = 2;
/// Being polled, and woken meanwhile: queued again after this poll.
const NOTIFIED: u8 = 3;
/// Finished (or panicked): wakes are ignored.
const DONE: u8 = 4;

/// One spawned future and its scheduling state.
struct Task {
    state: AtomicU8,
    /// Only the worker polling the task locks it (the state guarantees one at a time).
    future: Mutex<Option<BoxFuture>>,
    /// The pool's queue while the task is not finished. Released when it finishes, so the
    /// workers stop once the pool's handles are gone and every task has finished.
    queue: Mutex<Option<Sender<Arc<Task>>>>,
    /// The pool's count of tasks not yet finished.
    pending: Arc<AtomicUsize>,
}

impl Task {
    fn enqueue(self: &Arc<Task>) {
        let queue = self.queue.lock().clone();
        if let Some(queue) = queue {
            // Fails only when every worker is gone; the task is dropped then.
            if queue.send(self.clone()).is_err() {
                tracing::error!("async-callback pool stopped: a task is dropped");
            }
        }
    }

    /// Polls the task once on a worker.
    fn run(self: &Arc<Task>) {
        self.state.store(RUNNING, Ordering::Release);
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut slot = self.future.lock();
            match slot.as_mut() {
                Some(future) => future.as_mut().poll(&mut cx),
                None => Poll::Ready(()),
            }
        }));
        match outcome {
            Ok(Poll::Pending) => {
                if self
                    .state
                    .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // Woken while it ran: run it again after the tasks already queued.
                    self.state.store(SCHEDULED, Ordering::Release);
                    self.enqueue();
                }
            }
            Ok(Poll::Ready(())) => self.finish(),
            Err(panic) => {
                let what = crate::panic::message(panic.as_ref());
                tracing::error!(panic = %what, "an async callback panicked; the thread goes on");
                self.finish();
            }
        }
    }

    fn finish(&self) {
        self.state.store(DONE, Ordering::Release);
        // Dropping the future may run user code (captured values' destructors).
        let future = self.future.lock().take();
        if catch_unwind(AssertUnwindSafe(move || drop(future))).is_err() {
            tracing::error!("dropping a finished async task panicked");
        }
        self.queue.lock().take();
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return,
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if next == SCHEDULED {
                        self.enqueue();
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }
}

/// What the handles of one pool share. Tasks do not hold it (only a queue sender each), so
/// the workers stop once the handles are gone and the tasks have finished.
struct Pool {
    queue: Sender<Arc<Task>>,
    /// The workers' end of the queue, until they are started.
    tasks: Mutex<Option<Receiver<Arc<Task>>>>,
    /// Threads asked for.
    wanted: usize,
    /// Threads running, once started.
    started: OnceLock<usize>,
    /// Tasks spawned and not finished yet.
    pending: Arc<AtomicUsize>,
}

/// A pool of async-callback threads (`tars-async-N`) that drives futures to completion; the
/// callbacks of callback-form calls run on it.
///
/// Cheap to clone: clones share the same threads. The threads stop by themselves once every
/// handle is dropped and every task spawned on the pool has finished (a call's task finishes
/// at the latest at the call's timeout), so dropping the pool never loses a callback.
/// [`AsyncThreads::global`] is the process-wide pool used by proxies that were not given one
/// with [`ServantProxy::with_async_threads`](super::ServantProxy::with_async_threads).
/// [`AsyncThreads::new`] starts its threads at once, [`AsyncThreads::lazy`] (and the global
/// pool) on first use.
#[derive(Clone)]
pub struct AsyncThreads {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for AsyncThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncThreads")
            .field("wanted", &self.pool.wanted)
            .field("threads", &self.threads())
            .field("pending", &self.pending())
            .finish()
    }
}

impl AsyncThreads {
    /// Starts a pool of `threads` threads named `tars-async-0` ... If only some threads can
    /// be started, the pool runs with those (and logs the failure).
    pub fn new(threads: usize) -> Result<AsyncThreads, AsyncThreadsError> {
        if threads == 0 {
            return Err(AsyncThreadsError::NoThreads);
        }
        let pool = AsyncThreads::lazy(threads);
        pool.start()?;
        Ok(pool)
    }

    /// A pool of `threads` threads (at least one) that starts them on first use: what an
    /// owner that may never make a callback-form call (such as a communicator) holds.
    pub fn lazy(threads: usize) -> AsyncThreads {
        let (queue, tasks) = crossbeam_channel::unbounded::<Arc<Task>>();
        AsyncThreads {
            pool: Arc::new(Pool {
                queue,
                tasks: Mutex::new(Some(tasks)),
                wanted: threads.max(1),
                started: OnceLock::new(),
                pending: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }

    /// The process-wide pool of [`DEFAULT_ASYNC_THREADS`] threads, started on first use.
    pub fn global() -> AsyncThreads {
        static GLOBAL: OnceLock<AsyncThreads> = OnceLock::new();
        GLOBAL
            .get_or_init(|| AsyncThreads::lazy(DEFAULT_ASYNC_THREADS))
            .clone()
    }

    /// Starts the threads if they are not running yet; returns how many run. `Err` when not
    /// one could be started (a later call tries again).
    pub fn start(&self) -> Result<usize, AsyncThreadsError> {
        if let Some(&n) = self.pool.started.get() {
            return Ok(n);
        }
        let mut tasks = self.pool.tasks.lock();
        if let Some(&n) = self.pool.started.get() {
            return Ok(n);
        }
        let Some(receiver) = tasks.as_ref() else {
            return Err(AsyncThreadsError::NoThreads);
        };
        let mut started = 0;
        let mut first_error = None;
        for n in 0..self.pool.wanted {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{ASYNC_THREAD_PREFIX}{n}"))
                .spawn(move || worker(receiver));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => {
                    tracing::error!(error = %e, thread = n, "cannot start an async-callback thread");
                    first_error.get_or_insert(e);
                }
            }
        }
        if started == 0 {
            return Err(match first_error {
                Some(e) => AsyncThreadsError::Spawn(e),
                None => AsyncThreadsError::NoThreads,
            });
        }
        // The workers hold the receivers now.
        *tasks = None;
        let _ = self.pool.started.set(started);
        Ok(started)
    }

    /// The number of threads running (0 until a lazy pool's first use).
    pub fn threads(&self) -> usize {
        self.pool.started.get().copied().unwrap_or(0)
    }

    /// Tasks spawned on the pool that have not finished yet.
    pub fn pending(&self) -> usize {
        self.pool.pending.load(Ordering::Acquire)
    }

    /// Runs `future` to completion on the pool's threads (starting them if needed). A panic
    /// while it is polled is caught and logged, and the future is dropped. `Err` (and the
    /// future dropped unpolled) only when no thread can be started.
    pub fn spawn(
        &self,
        future: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AsyncThreadsError> {
        self.start()?;
        self.pool.pending.fetch_add(1, Ordering::AcqRel);
        let task = Arc::new(Task {
            state: AtomicU8::new(SCHEDULED),
            future: Mutex::new(Some(Box::pin(future))),
            queue: Mutex::new(Some(self.pool.queue.clone())),
            pending: self.pool.pending.clone(),
        });
        task.enqueue();
        Ok(())
    }

    /// Runs `callback` with the output of `future` on the pool's threads, once the future
    /// completes. A panicking callback is caught and logged; the thread goes on. `Err` (and
    /// neither run) only when no thread can be started.
    pub fn spawn_callback<T, F, C>(&self, future: F, callback: C) -> Result<(), AsyncThreadsError>
    where
        F: Future<Output = T> + Send + 'static,
        C: FnOnce(T) + Send + 'static,
    {
        self.spawn(async move { callback(future.await) })
    }
}

fn worker(tasks: Receiver<Arc<Task>>) {
    // Ends when every sender is gone: the pool's handles and every unfinished task.
    while let Ok(task) = tasks.recv() {
        task.run();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Pending on its first poll; wakes itself from another thread a little later.
    struct WakeLater {
        woken: Arc<AtomicBool>,
        polls: usize,
    }

    impl Future for WakeLater {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.woken.load(Ordering::SeqCst) {
                return Poll::Ready(self.polls);
            }
            let (woken, waker) = (self.woken.clone(), cx.waker().clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                woken.store(true, Ordering::SeqCst);
                waker.wake();
            });
            Poll::Pending
        }
    }

    #[test]
    fn a_woken_future_completes_and_its_callback_runs_on_a_pool_thread() {
        let pool = AsyncThreads::new(1).unwrap();
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        let fut = WakeLater {
            woken: Arc::new(AtomicBool::new(false)),
            polls: 0,
        };
        pool.spawn_callback(fut, move |polls| {
            let name = std::thread::current().name().map(str::to_string);
            *s.lock() = Some((polls, name));
        })
        .unwrap();
        wait_for("the callback", || seen.lock().is_some());
        let (polls, name) = seen.lock().take().unwrap();
        assert_eq!(polls, 2, "polled once pending, once after the wake");
        assert_eq!(name.as_deref(), Some("tars-async-0"));
        wait_for("no pending task", || pool.pending() == 0);
    }

    #[test]
    fn a_self_waking_future_is_polled_again() {
        let pool = AsyncThreads::new(2).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let mut left = 100;
        let fut = std::future::poll_fn(move |cx| {
            if left == 0 {
                return Poll::Ready(());
            }
            left -= 1;
            cx.waker().wake_by_ref(); // woken while running
            Poll::Pending
        });
        pool.spawn_callback(fut, move |()| d.store(true, Ordering::SeqCst))
            .unwrap();
        wait_for("the yielding future", || done.load(Ordering::SeqCst));
    }

    #[test]
    fn a_panic_is_contained_and_the_thread_goes_on() {
        let pool = AsyncThreads::new(1).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        for i in 0..5 {
            let ran = ran.clone();
            pool.spawn(async move {
                if i % 2 == 0 {
                    panic!("callback {i} panics");
                }
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        wait_for("the pool to drain", || pool.pending() == 0);
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert_eq!(pool.threads(), 1);
    }

    #[test]
    fn a_lazy_pool_starts_its_threads_on_first_use() {
        let pool = AsyncThreads::lazy(3);
        assert_eq!(pool.threads(), 0);
        let (tx, rx) = crossbeam_channel::bounded(1);
        pool.spawn(async move {
            let _ = tx.send(std::thread::current().name().map(str::to_string));
        })
        .unwrap();
        let name = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        assert!(name.starts_with(ASYNC_THREAD_PREFIX), "{name}");
        assert_eq!(pool.threads(), 3);
        assert_eq!(pool.start().unwrap(), 3);
        assert_eq!(AsyncThreads::lazy(0).start().unwrap(), 1);
    }

    #[test]
    fn zero_threads_is_refused() {
        assert!(matches!(
            AsyncThreads::new(0),
            Err(AsyncThreadsError::NoThreads)
        ));
    }

    #[test]
    fn a_dropped_pool_still_finishes_its_tasks() {
        let pool = AsyncThreads::new(1).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let fut = WakeLater {
            woken: Arc::new(AtomicBool::new(false)),
            polls: 0,
        };
        pool.spawn_callback(fut, move |_| d.store(true, Ordering::SeqCst))
            .unwrap();
        drop(pool);
        wait_for("the callback after the pool was dropped", || {
            done.load(Ordering::SeqCst)
        });
    }
}
