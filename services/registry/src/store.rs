//! Durable registrations: every acknowledged register / deregister is committed to an embedded
//! redb database (copy-on-write B-trees, fsync on commit) before the call returns, so a
//! `kill -9` loses nothing that was acknowledged.
//!
//! Only registrations (object, endpoint, static metadata) are stored. Heartbeats are soft state:
//! after a restart every instance is inactive until its next heartbeat.
//!
//! The store is one [`RegistrationBackend`], the durable part of a [`Registry`]; cluster mode
//! (`tars-cluster`) puts the registrations in etcd behind the same trait.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tars::codec::TarsStruct;
use tars_protocols::tarsrs::{DynamicMeta, Instance};

use crate::registry::Registry;

/// Key: `objName \0 host \0 port`; value: the Tars-encoded `tarsrs.Instance`.
const REGISTRATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("registrations");

/// A failure of the registration store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("registry store: {0}")]
    Db(String),
    /// The data directory could not be created.
    #[error("registry store directory: {0}")]
    Io(#[from] std::io::Error),
    /// The store cannot be reached or cannot commit now (in cluster mode: etcd has no
    /// majority, or does not answer in time). Nothing was half-written; the write may be
    /// retried (registering and deregistering are idempotent).
    #[error("registry store unavailable: {0}")]
    Unavailable(String),
    /// The registration was refused: it would pass a limit of the registry
    /// ([`crate::registry::RegistrationLimits`]). Nothing was written.
    #[error("registration refused: {0}")]
    LimitReached(String),
    /// The database file is damaged: the storage engine could not read it or failed on it.
    #[error("registry store: {file} is damaged: {what}")]
    Damaged {
        /// The file.
        file: String,
        /// What failed.
        what: String,
    },
    /// A stored record did not decode (the file was damaged or written by something else).
    #[error("registry store: record {key:?} is corrupt: {source}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why it did not decode.
        source: tars::codec::DecodeError,
    },
}

/// Runs `f`, which calls the storage engine; a panic in it (redb panics on some damaged
/// pages) becomes [`StoreError::Damaged`] naming `file` and what was being done.
fn engine<T>(
    file: &str,
    doing: &str,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    tars::panic::catch(f).unwrap_or_else(|message| {
        Err(StoreError::Damaged {
            file: file.to_owned(),
            what: format!("the storage engine failed {doing}: {message}"),
        })
    })
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// The record key of an instance.
pub fn record_key(obj: &str, host: &str, port: i32) -> String {
    format!("{obj}\0{host}\0{port}")
}

/// A heartbeat the registry recorded, as [`RegistrationBackend::heartbeat`] hears of it.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatRecord<'a> {
    /// The instance's object.
    pub obj: &'a str,
    /// The instance's host.
    pub host: &'a str,
    /// The instance's port.
    pub port: i32,
    /// The load it reported.
    pub load: &'a DynamicMeta,
    /// When it was recorded (wall clock, ms since the Unix epoch).
    pub at_ms: i64,
    /// Whether the instance was listed inactive before this heartbeat.
    pub revived: bool,
}

/// The durable part of a [`Registry`]: where registrations are kept. [`RegistrationStore`]
/// (embedded redb) is the one-node backend; cluster mode keeps them in etcd.
///
/// Writes are all-or-nothing and acknowledged only once durable. A backend whose
/// registrations also change elsewhere (other nodes) feeds those changes into the registry
/// through [`Registry::apply`] and [`Registry::reset`], with the revisions its writes return,
/// so that a late notification never undoes a newer write.
pub trait RegistrationBackend: Send + Sync + 'static {
    /// The registrations to start with (listed inactive until their first heartbeat). A
    /// backend that fills the registry in [`RegistrationBackend::attach`] may return none.
    fn load_all(&self) -> Result<Vec<Instance>, StoreError>;

    /// Stores (or replaces) `instances` durably in one commit; `Ok` once they are durable.
    /// Returns the revision of the commit, 0 for a backend without revisions.
    fn put_all(&self, instances: &[Instance]) -> Result<i64, StoreError>;

    /// Removes a registration durably: whether it existed, and the revision of the commit
    /// (0 for a backend without revisions).
    fn remove(&self, obj: &str, host: &str, port: i32) -> Result<(bool, i64), StoreError>;

    /// A heartbeat was recorded (soft state, which a backend may share at its own pace).
    /// Called with no registry lock held; must not wait for I/O. The default ignores it.
    fn heartbeat(&self, _beat: &HeartbeatRecord<'_>) {}

    /// `registry` was opened over this backend (called once, before it serves): a backend
    /// whose registrations also change elsewhere starts feeding it here. The default does
    /// nothing.
    fn attach(&self, _registry: &Arc<Registry>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The embedded registration database.
pub struct RegistrationStore {
    /// Replaced by a reopened database after a failed write (redb refuses writes after an
    /// I/O error until the database is reopened).
    /// `None` only when reopening failed.
    db: parking_lot::RwLock<Option<Database>>,
    path: std::path::PathBuf,
    /// The database file (for errors).
    file: String,
}

impl std::fmt::Debug for RegistrationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationStore").finish_non_exhaustive()
    }
}

impl RegistrationStore {
    /// Opens (or creates) the database file at `path`. A damaged file is an error naming
    /// it ([`StoreError::Damaged`]), also where the storage engine panics on it.
    pub fn open(path: &Path) -> Result<RegistrationStore, StoreError> {
        let file = path.display().to_string();
        let db = open_db(path, &file)?;
        Ok(RegistrationStore {
            db: parking_lot::RwLock::new(Some(db)),
            path: path.to_owned(),
            file,
        })
    }

    /// Runs a write with the database; when it fails, reopens the database and tries once
    /// more (a write refused after a full disk succeeds again once there is space), and
    /// reports the first failure if that fails too.
    fn write<T>(
        &self,
        doing: &str,
        f: impl Fn(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let first = self.with_db(doing, &f);
        let Err(error) = first else {
            return first;
        };
        {
            let mut db = self.db.write();
            // The old handle goes first: it holds the file's lock.
            *db = None;
            *db = open_db(&self.path, &self.file).ok();
        }
        self.with_db(doing, &f).map_err(|_| error)
    }

    fn with_db<T>(
        &self,
        doing: &str,
        f: impl Fn(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = self.db.read();
        let Some(db) = db.as_ref() else {
            return Err(StoreError::Db(format!(
                "{}: the database could not be reopened",
                self.file
            )));
        };
        engine(&self.file, doing, || f(db))
    }

    /// Stores (or replaces) an instance's registration durably.
    pub fn put(&self, instance: &Instance) -> Result<(), StoreError> {
        self.put_all(std::slice::from_ref(instance))
    }

    /// Stores (or replaces) several registrations in one durable commit.
    pub fn put_all(&self, instances: &[Instance]) -> Result<(), StoreError> {
        self.write("writing", |db| put_all_in(db, instances))
    }

    /// Removes a registration durably; whether it existed.
    pub fn remove(&self, obj: &str, host: &str, port: i32) -> Result<bool, StoreError> {
        self.write("removing", |db| remove_in(db, obj, host, port))
    }

    /// Every stored registration.
    pub fn load_all(&self) -> Result<Vec<Instance>, StoreError> {
        self.with_db("reading", load_all_in)
    }
}

fn open_db(path: &Path, file: &str) -> Result<Database, StoreError> {
    engine(file, "opening it", || {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::Storage(redb::StorageError::Corrupted(what)) => {
                StoreError::Damaged {
                    file: file.to_owned(),
                    what,
                }
            }
            other => StoreError::Db(format!("{file}: {other}")),
        })?;
        // Create the table so that reads of a fresh database succeed.
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(REGISTRATIONS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(db)
    })
}

fn put_all_in(db: &Database, instances: &[Instance]) -> Result<(), StoreError> {
    let tx = db.begin_write().map_err(db_err)?;
    {
        let mut table = tx.open_table(REGISTRATIONS).map_err(db_err)?;
        for instance in instances {
            let key = record_key(
                &instance.obj_name,
                &instance.endpoint.host,
                instance.endpoint.port,
            );
            let value = instance.encode_to_bytes();
            table.insert(key.as_str(), &value[..]).map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)
}

fn remove_in(db: &Database, obj: &str, host: &str, port: i32) -> Result<bool, StoreError> {
    let key = record_key(obj, host, port);
    let tx = db.begin_write().map_err(db_err)?;
    let existed = {
        let mut table = tx.open_table(REGISTRATIONS).map_err(db_err)?;
        let removed = table.remove(key.as_str()).map_err(db_err)?;
        removed.is_some()
    };
    tx.commit().map_err(db_err)?;
    Ok(existed)
}

fn load_all_in(db: &Database) -> Result<Vec<Instance>, StoreError> {
    let tx = db.begin_read().map_err(db_err)?;
    let table = tx.open_table(REGISTRATIONS).map_err(db_err)?;
    let mut out = Vec::new();
    for row in table.iter().map_err(db_err)? {
        let (key, value) = row.map_err(db_err)?;
        let instance =
            Instance::decode_from(value.value()).map_err(|source| StoreError::Corrupt {
                key: key.value().to_owned(),
                source,
            })?;
        out.push(instance);
    }
    Ok(out)
}

impl RegistrationBackend for RegistrationStore {
    fn load_all(&self) -> Result<Vec<Instance>, StoreError> {
        RegistrationStore::load_all(self)
    }

    fn put_all(&self, instances: &[Instance]) -> Result<i64, StoreError> {
        RegistrationStore::put_all(self, instances).map(|()| 0)
    }

    fn remove(&self, obj: &str, host: &str, port: i32) -> Result<(bool, i64), StoreError> {
        RegistrationStore::remove(self, obj, host, port).map(|existed| (existed, 0))
    }
}
