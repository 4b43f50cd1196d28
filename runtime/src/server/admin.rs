//! `AdminObj`: the administration servant every Tars server hosts (interface `tars::AdminF`:
//! `void shutdown()`, `string notify(string command)`, `long getPid()`).
//!
//! Built-in commands: `tars.viewstatus`, `tars.setloglevel LEVEL`, `tars.connection`; more are
//! added with [`AdminServant::register_command`]. Implemented directly on [`Dispatch`] (the
//! runtime cannot depend on the generated protocols crate) with the same wire layout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::current::Current;
use super::dispatch::{Dispatch, DispatchError};
use crate::packet::{ParamReader, ParamWriter};

/// A user command: receives the text after the command name, returns the reply.
pub type CommandHandler = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Log levels settable with `tars.setloglevel`, as in TarsCpp.
pub const LOG_LEVELS: [&str; 6] = ["NONE", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/// The administration servant.
pub struct AdminServant {
    server_name: String,
    started: Instant,
    log_level: Arc<AtomicU8>,
    commands: RwLock<BTreeMap<String, CommandHandler>>,
    on_shutdown: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for AdminServant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminServant")
            .field("server", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl AdminServant {
    /// An admin servant for the server called `server_name` (`App.Server`), log level INFO.
    pub fn new(server_name: impl Into<String>) -> AdminServant {
        AdminServant {
            server_name: server_name.into(),
            started: Instant::now(),
            log_level: Arc::new(AtomicU8::new(3)),
            commands: RwLock::new(BTreeMap::new()),
            on_shutdown: Mutex::new(None),
        }
    }

    /// Adds (or replaces) the command `name`.
    pub fn register_command(
        &self,
        name: impl Into<String>,
        handler: impl Fn(&str) -> String + Send + Sync + 'static,
    ) {
        self.commands.write().insert(name.into(), Arc::new(handler));
    }

    /// Runs `f` (once) when a `shutdown` call arrives, e.g. to call `Server::shutdown`.
    pub fn on_shutdown(&self, f: impl FnOnce() + Send + 'static) {
        *self.on_shutdown.lock() = Some(Box::new(f));
    }

    /// The current log level name (one of [`LOG_LEVELS`]).
    pub fn log_level(&self) -> &'static str {
        LOG_LEVELS[(self.log_level.load(Ordering::Relaxed) as usize).min(LOG_LEVELS.len() - 1)]
    }

    /// Shared handle to the log level index into [`LOG_LEVELS`], for a logging filter.
    pub fn log_level_handle(&self) -> Arc<AtomicU8> {
        self.log_level.clone()
    }

    /// Runs one admin command line and returns the reply text.
    pub fn run_command(&self, line: &str) -> String {
        let line = line.trim();
        let (name, args) = line
            .split_once(char::is_whitespace)
            .map(|(n, a)| (n, a.trim()))
            .unwrap_or((line, ""));
        match name {
            "tars.viewstatus" => {
                let commands: Vec<String> = self.commands.read().keys().cloned().collect();
                format!(
                    "server: {}\npid: {}\nuptime: {}s\nlog level: {}\ncommands: {}",
                    self.server_name,
                    std::process::id(),
                    self.started.elapsed().as_secs(),
                    self.log_level(),
                    commands.join(", ")
                )
            }
            "tars.setloglevel" => {
                match LOG_LEVELS.iter().position(|l| l.eq_ignore_ascii_case(args)) {
                    Some(i) => {
                        self.log_level.store(i as u8, Ordering::Relaxed);
                        format!("set log level [{}] ok", LOG_LEVELS[i])
                    }
                    None => format!(
                        "invalid log level [{args}], expected one of {}",
                        LOG_LEVELS.join("|")
                    ),
                }
            }
            _ => {
                let handler = self.commands.read().get(name).cloned();
                match handler {
                    Some(h) => h(args),
                    None => format!("unknown command [{name}]"),
                }
            }
        }
    }
}

impl Dispatch for AdminServant {
    fn functions(&self) -> &'static [&'static str] {
        &["shutdown", "notify", "getPid"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        match current.func_name() {
            "shutdown" => {
                tracing::info!("shutdown requested through AdminObj");
                if let Some(f) = self.on_shutdown.lock().take() {
                    // Off the business thread: a graceful shutdown waits for these threads.
                    std::thread::spawn(f);
                }
            }
            "notify" => {
                let command: String = params.read(1, "command")?;
                out.write_return(&self.run_command(&command));
            }
            "getPid" => out.write_return(&(std::process::id() as i64)),
            other => return Err(DispatchError::NoFunc(other.to_owned())),
        }
        Ok(())
    }
}
