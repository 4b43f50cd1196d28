//! `tars.tarsregistry.RegistryObj`: the tars-rs registry interface ([`tarsrs::Registry`])
//! over the [`Registry`].
//!
//! Return codes:
//! - `registerInstance`: 0 registered (durable before the answer); [`INVALID_INSTANCE`] when
//!   `objName` or `endpoint.host` is empty or the port is not 1..=65535; [`STORAGE_FAILED`]
//!   when it could not be stored (not registered; retry); [`STORE_UNAVAILABLE`] when the store
//!   cannot commit now (cluster mode: etcd has no majority): nothing was half-written; retry.
//! - `heartbeat`: 0 recorded; 1 unknown instance (register again).
//! - `registerInstance`, `heartbeat`, `deregister`: [`ACCESS_DENIED`] when the caller may not
//!   change that object's registrations; `list`, `watch` too when reads need a principal
//!   ([`crate::access`]).
//! - `deregister`: 0 removed; 1 was not registered; [`STORAGE_FAILED`]; [`STORE_UNAVAILABLE`].
//! - `list`: 0 and the matching instances.
//! - `watch`: 0 and the changed objects (none when the wait ended), [`WATCH_BUSY`](crate::watch::WATCH_BUSY) when the
//!   registry holds as many watches as it allows (see [`crate::watch`]).
//!
//! [`tarsrs::Registry`]: tars_protocols::tarsrs::Registry

use std::collections::BTreeMap;
use std::sync::Arc;
use tars::TarsString;

use tars::server::{Current, ServantError};
use tars_protocols::tarsrs::{self, DynamicMeta, Instance, InstanceFilter, ObjectInstances};

use crate::access::RegistryAccess;
use crate::registry::{HeartbeatOutcome, Registry};
use crate::store::StoreError;
use crate::watch::{WatchConfig, WatchHub};

/// `registerInstance` refused an instance without object name, host or valid port.
pub const INVALID_INSTANCE: i32 = -1;
/// The registration store failed; nothing changed.
pub const STORAGE_FAILED: i32 = -2;
/// The registration store cannot commit now (cluster mode: etcd has no majority or does not
/// answer in time); nothing was half-written. Lookups keep being answered; retry the write.
pub const STORE_UNAVAILABLE: i32 = -3;

/// `registerInstance` refused: the object or the host has as many instances as the
/// registry allows (`RegistrationLimits`).
pub const LIMIT_REACHED: i32 = -4;

/// The caller's principal may not do this ([`crate::access`]); nothing changed.
pub const ACCESS_DENIED: i32 = -5;

/// The return code of a failed write.
fn write_failed(e: &StoreError, what: &str) -> i32 {
    match e {
        StoreError::LimitReached(_) => {
            tracing::warn!(error = %e, "{what} refused");
            LIMIT_REACHED
        }
        StoreError::Unavailable(_) => {
            tracing::warn!(error = %e, "cannot store a {what}: store unavailable");
            STORE_UNAVAILABLE
        }
        _ => {
            tracing::error!(error = %e, "cannot store a {what}");
            STORAGE_FAILED
        }
    }
}

/// The Registry servant.
#[derive(Debug)]
pub struct RegistryServantImpl {
    registry: Arc<Registry>,
    watch: Arc<WatchHub>,
    access: RegistryAccess,
}

impl RegistryServantImpl {
    /// Serves `registry`, with a watch hub of its own (default limits).
    pub fn new(registry: Arc<Registry>) -> RegistryServantImpl {
        let watch = WatchHub::start(registry.clone(), WatchConfig::default());
        RegistryServantImpl::with_watch(registry, watch)
    }

    /// Serves `registry`, holding `watch` calls in `watch` (shared by every servant of the
    /// registry).
    pub fn with_watch(registry: Arc<Registry>, watch: Arc<WatchHub>) -> RegistryServantImpl {
        RegistryServantImpl {
            registry,
            watch,
            access: RegistryAccess::default(),
        }
    }

    /// Checks calls against `access`.
    pub fn with_access(mut self, access: RegistryAccess) -> RegistryServantImpl {
        self.access = access;
        self
    }

    /// Whether the caller of `current` may change registrations of `obj` (refusals logged).
    fn may_write(&self, current: &Current, what: &str, obj: &str) -> bool {
        match self.access.may_write(current.principal(), obj) {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!(peer = ?current.peer_addr(), "{what} refused: {why}");
                false
            }
        }
    }

    fn may_read(&self, current: &Current) -> bool {
        self.access.may_read(current.principal()).is_ok()
    }
}

fn valid(instance: &Instance) -> bool {
    !instance.obj_name.is_empty()
        && !instance.endpoint.host.is_empty()
        && (1..=65535).contains(&instance.endpoint.port)
}

impl tarsrs::Registry for RegistryServantImpl {
    fn register_instance(
        &self,
        current: &mut Current,
        instance: Instance,
    ) -> Result<i32, ServantError> {
        if !valid(&instance) {
            return Ok(INVALID_INSTANCE);
        }
        if !self.may_write(current, "registration", &instance.obj_name) {
            return Ok(ACCESS_DENIED);
        }
        match self.registry.register(instance) {
            Ok(()) => Ok(0),
            Err(e) => Ok(write_failed(&e, "registration")),
        }
    }

    fn heartbeat(
        &self,
        current: &mut Current,
        obj_name: TarsString,
        host: TarsString,
        port: i32,
        load: DynamicMeta,
    ) -> Result<i32, ServantError> {
        if !self.may_write(current, "heartbeat", &obj_name) {
            return Ok(ACCESS_DENIED);
        }
        Ok(
            match self.registry.heartbeat(&obj_name, &host, port, load) {
                HeartbeatOutcome::Recorded => 0,
                HeartbeatOutcome::Unknown => 1,
            },
        )
    }

    fn deregister(
        &self,
        current: &mut Current,
        obj_name: TarsString,
        host: TarsString,
        port: i32,
    ) -> Result<i32, ServantError> {
        if !self.may_write(current, "deregistration", &obj_name) {
            return Ok(ACCESS_DENIED);
        }
        match self.registry.deregister(&obj_name, &host, port) {
            Ok(true) => Ok(0),
            Ok(false) => Ok(1),
            Err(e) => Ok(write_failed(&e, "deregistration")),
        }
    }

    fn list(
        &self,
        current: &mut Current,
        filter: InstanceFilter,
    ) -> Result<(i32, Vec<Instance>), ServantError> {
        if !self.may_read(current) {
            return Ok((ACCESS_DENIED, Vec::new()));
        }
        Ok((0, self.registry.list(&filter)))
    }

    fn watch(
        &self,
        current: &mut Current,
        known: BTreeMap<TarsString, i64>,
        wait_ms: i32,
    ) -> Result<(i32, Vec<ObjectInstances>), ServantError> {
        if !self.may_read(current) {
            return Ok((ACCESS_DENIED, Vec::new()));
        }
        Ok(self.watch.watch(current, known, wait_ms))
    }
}
