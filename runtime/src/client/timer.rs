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
        // The thread sleeps until the earliest deadline: only an earlier one needs it awake
        // (waking it for every call's timeout cost more than the calls' own work).
        let earlier = st.heap.peek().is_none_or(|Reverse((first, _))| at < *first);
        st.heap.push(Reverse((at, id)));
        if earlier {
            cv.notify_one();
        }
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

/// A future that completes once a duration has passed, on any executor (tokio's included) and
/// under [`block_on`](crate::client::block_on): the runtime's timer thread wakes it. Made by
/// [`sleep`]. Dropping it cancels its timer.
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    shared: Option<(Arc<Mutex<SleepState>>, TimerId)>,
}

#[derive(Debug, Default)]
struct SleepState {
    fired: bool,
    waker: Option<std::task::Waker>,
}

/// A future that completes after `duration` (see [`Sleep`]).
pub fn sleep(duration: std::time::Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + duration,
        shared: None,
    }
}

impl std::future::Future for Sleep {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if Instant::now() >= self.deadline {
            return std::task::Poll::Ready(());
        }
        if let Some((state, _)) = &self.shared {
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            if st.fired {
                return std::task::Poll::Ready(());
            }
            st.waker = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        let state = Arc::new(Mutex::new(SleepState {
            fired: false,
            waker: Some(cx.waker().clone()),
        }));
        let fired = state.clone();
        let id = Timer::global().schedule(self.deadline, move || {
            let waker = {
                let mut st = fired.lock().unwrap_or_else(|p| p.into_inner());
                st.fired = true;
                st.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
        self.shared = Some((state, id));
        std::task::Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((_, id)) = self.shared.take() {
            Timer::global().cancel(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::time::Duration;

    #[test]
    fn sleep_completes_after_its_duration_under_block_on() {
        let started = Instant::now();
        crate::client::block_on(sleep(Duration::from_millis(60)));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(60), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        // Zero completes at once.
        crate::client::block_on(sleep(Duration::ZERO));
    }

    #[test]
    fn a_dropped_sleep_cancels_its_timer() {
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(s.as_mut().poll(&mut cx).is_pending());
        let Some((_, id)) = s.shared else {
            panic!("scheduled")
        };
        drop(s);
        let (m, _) = &*Timer::global().shared;
        assert!(!lock(m).tasks.contains_key(&id.0));
    }
}
