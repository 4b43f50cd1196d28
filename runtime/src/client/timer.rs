//! A process-wide timer thread that fires call timeouts without depending on an executor.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

type Task = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    tasks: HashMap<u64, Task>,
    next_id: u64,
}

/// Runs scheduled tasks at their deadlines on one background thread.
pub(crate) struct Timer {
    shared: Arc<(Mutex<State>, Condvar)>,
}

/// Identifies a scheduled task, for cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerId(u64);

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking task runs outside the lock, so the state is never left half-updated.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Timer {
    /// The process-wide timer, started on first use.
    pub(crate) fn global() -> &'static Timer {
        static TIMER: OnceLock<Timer> = OnceLock::new();
        TIMER.get_or_init(Timer::start)
    }

    fn start() -> Timer {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let worker = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("tars-timer".into())
            .spawn(move || run(&worker));
        if let Err(e) = spawned {
            // Without the thread, timeouts would never fire; nothing can work then.
            panic!("cannot start the tars timer thread: {e}");
        }
        Timer { shared }
    }

    /// Runs `task` at `at` unless cancelled first.
    pub(crate) fn schedule(&self, at: Instant, task: impl FnOnce() + Send + 'static) -> TimerId {
        let (m, cv) = &*self.shared;
        let mut st = lock(m);
        st.next_id += 1;
        let id = st.next_id;
        st.tasks.insert(id, Box::new(task));
        st.heap.push(Reverse((at, id)));
        cv.notify_one();
        TimerId(id)
    }

    /// Cancels a task that has not run yet.
    pub(crate) fn cancel(&self, id: TimerId) {
        let (m, _) = &*self.shared;
        lock(m).tasks.remove(&id.0);
    }
}

fn run(shared: &(Mutex<State>, Condvar)) {
    let (m, cv) = shared;
    let mut st = lock(m);
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(Reverse((at, id))) = st.heap.peek().copied() {
            if at > now {
                break;
            }
            st.heap.pop();
            if let Some(task) = st.tasks.remove(&id) {
                due.push(task);
            }
        }
        if !due.is_empty() {
            drop(st);
            for task in due {
                task();
            }
            st = lock(m);
            continue;
        }
        st = match st.heap.peek() {
            Some(Reverse((at, _))) => {
                let wait = at.saturating_duration_since(now);
                cv.wait_timeout(st, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0)
            }
            None => cv.wait(st).unwrap_or_else(|p| p.into_inner()),
        };
    }
}
