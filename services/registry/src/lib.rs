//! The tars-rs registry service.
//!
//! - [`Registry`]: registrations with static metadata (durable in a [`RegistrationBackend`]:
//!   an embedded redb database by default, see [`store`]; etcd in cluster mode), heartbeats with dynamic metadata, active/inactive by heartbeat age, and
//!   filtered listing.
//! - [`query`]: `tars.tarsregistry.QueryObj`, the framework's QueryF naming interface with IDC
//!   group and SET semantics, for any Tars client.
//! - [`servant`]: `tars.tarsregistry.RegistryObj`, the tars-rs interface (register with static
//!   metadata, heartbeat with dynamic metadata, deregister, list with filters).
//! - [`watch`]: the `watch` long poll of RegistryObj (changes pushed to clients).
//! - [`access`]: who may change which registrations.
//! - [`locator`]: resolution from the registry of the same process (no network).
//! - [`service`]: configuration and hosting (alone, or inside `tarsd`).
#![deny(missing_docs)]

pub mod access;
pub mod locator;
pub mod query;
pub mod registry;
pub mod servant;
pub mod service;
pub mod store;
pub mod watch;

pub use access::{RegistryAccess, WriteRule};
pub use locator::InProcessLocator;
pub use query::{GroupRule, QueryService};
pub use registry::{matches, ChangeListener, HeartbeatOutcome, Registry, RemoteChange};
pub use servant::RegistryServantImpl;
pub use service::{RegistryConfig, RegistryService, DEFAULT_PORT, QUERY_OBJ, REGISTRY_OBJ};
pub use store::{HeartbeatRecord, RegistrationBackend, RegistrationStore, StoreError};
pub use watch::{WatchConfig, WatchHub, WATCH_BUSY};
