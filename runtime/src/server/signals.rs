//! Termination signals (SIGTERM, SIGINT) turned into a graceful shutdown, through
//! [`signal-hook`](https://docs.rs/signal-hook) (no signal handler is written here).
//!
//! While a [`ShutdownSignals`] is installed, the first SIGTERM or SIGINT calls its callback
//! (on a watcher thread, never inside the signal handler); a second one while the process
//! still runs ends it at once with status `128 + signal` (a stuck shutdown can still be
//! interrupted). Before one is installed and after it is dropped, both signals keep their
//! default action: the process ends.
//!
//! Only one [`ShutdownSignals`] can be installed at a time in a process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use signal_hook::consts::{SIGINT, SIGTERM};

/// How often the watcher thread looks at the signal flags.
const POLL: Duration = Duration::from_millis(20);

/// A termination signal that asks for a graceful shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutdownSignal {
    /// SIGTERM (`kill PID`, service managers, container runtimes).
    Terminate,
    /// SIGINT (Ctrl-C).
    Interrupt,
}

impl ShutdownSignal {
    /// The signal number.
    pub fn number(self) -> i32 {
        match self {
            ShutdownSignal::Terminate => SIGTERM,
            ShutdownSignal::Interrupt => SIGINT,
        }
    }

    /// `SIGTERM` or `SIGINT`.
    pub fn name(self) -> &'static str {
        match self {
            ShutdownSignal::Terminate => "SIGTERM",
            ShutdownSignal::Interrupt => "SIGINT",
        }
    }
}

impl std::fmt::Display for ShutdownSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const SIGNALS: [ShutdownSignal; 2] = [ShutdownSignal::Terminate, ShutdownSignal::Interrupt];

/// The process-wide signal actions, registered once (signal-hook cannot restore the default
/// action after an unregistration, so the actions stay and these flags decide what they do).
struct Actions {
    /// No [`ShutdownSignals`] is installed: the signal takes its default action.
    idle: Arc<AtomicBool>,
    /// A signal arrived while installed: the next one ends the process.
    armed: Arc<AtomicBool>,
    /// Per signal of [`SIGNALS`]: arrived and not yet seen by the watcher.
    received: [Arc<AtomicBool>; 2],
    /// A [`ShutdownSignals`] is installed.
    installed: AtomicBool,
}

fn actions() -> Result<&'static Actions, std::io::Error> {
    static ACTIONS: OnceLock<Result<Actions, std::io::ErrorKind>> = OnceLock::new();
    ACTIONS
        .get_or_init(|| {
            let actions = Actions {
                idle: Arc::new(AtomicBool::new(true)),
                armed: Arc::new(AtomicBool::new(false)),
                received: [
                    Arc::new(AtomicBool::new(false)),
                    Arc::new(AtomicBool::new(false)),
                ],
                installed: AtomicBool::new(false),
            };
            for (signal, received) in SIGNALS.iter().zip(&actions.received) {
                let n = signal.number();
                // The order matters: each action sees the flags as the earlier ones left them.
                signal_hook::flag::register_conditional_default(n, actions.idle.clone())
                    .and_then(|_| {
                        signal_hook::flag::register_conditional_shutdown(
                            n,
                            128 + n,
                            actions.armed.clone(),
                        )
                    })
                    .and_then(|_| signal_hook::flag::register(n, actions.armed.clone()))
                    .and_then(|_| signal_hook::flag::register(n, received.clone()))
                    .map_err(|e| e.kind())?;
            }
            Ok(actions)
        })
        .as_ref()
        .map_err(|kind| std::io::Error::new(*kind, "cannot register the signal actions"))
}

/// SIGTERM and SIGINT caught for a graceful shutdown while this value lives.
///
/// ```no_run
/// use tars::server::ShutdownSignals;
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// let _signals = ShutdownSignals::install(move |signal| {
///     let _ = tx.send(signal);
/// })?;
/// let signal = rx.recv();
/// println!("stopping on {signal:?}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ShutdownSignals {
    stop: Option<Sender<()>>,
    watcher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ShutdownSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownSignals").finish_non_exhaustive()
    }
}

impl ShutdownSignals {
    /// Catches SIGTERM and SIGINT from now on: the first one calls `on_signal` once, from a
    /// watcher thread; a second one ends the process with status `128 + signal`.
    ///
    /// Fails with [`std::io::ErrorKind::AlreadyExists`] while another one is installed, or
    /// when the signal actions or the watcher thread cannot be set up.
    pub fn install(
        on_signal: impl FnOnce(ShutdownSignal) + Send + 'static,
    ) -> Result<ShutdownSignals, std::io::Error> {
        let actions = actions()?;
        if actions
            .installed
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "shutdown signals are already caught in this process",
            ));
        }
        for r in &actions.received {
            r.store(false, Ordering::SeqCst);
        }
        actions.armed.store(false, Ordering::SeqCst);
        actions.idle.store(false, Ordering::SeqCst);
        let (stop, stopped) = bounded::<()>(1);
        let mut on_signal = Some(on_signal);
        let watcher = std::thread::Builder::new()
            .name("tars-signals".into())
            .spawn(move || loop {
                match stopped.recv_timeout(POLL) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let arrived = SIGNALS
                    .iter()
                    .zip(&actions.received)
                    .find(|(_, r)| r.swap(false, Ordering::SeqCst))
                    .map(|(s, _)| *s);
                if let Some(signal) = arrived {
                    tracing::info!(%signal, "shutdown signal received");
                    if let Some(f) = on_signal.take() {
                        f(signal);
                    }
                }
            });
        match watcher {
            Ok(watcher) => Ok(ShutdownSignals {
                stop: Some(stop),
                watcher: Some(watcher),
            }),
            Err(e) => {
                release(actions);
                Err(e)
            }
        }
    }
}

/// Back to the default actions, and free for the next [`ShutdownSignals::install`].
fn release(actions: &Actions) {
    actions.idle.store(true, Ordering::SeqCst);
    actions.armed.store(false, Ordering::SeqCst);
    actions.installed.store(false, Ordering::SeqCst);
}

impl Drop for ShutdownSignals {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        if let Ok(actions) = actions() {
            release(actions);
        }
    }
}
