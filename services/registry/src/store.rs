//! Durable registrations: every acknowledged register / deregister is committed to an embedded
//! redb database (copy-on-write B-trees, fsync on commit) before the call returns, so a
//! `kill -9` loses nothing that was acknowledged.
//!
//! Only registrations (object, endpoint, static metadata) are stored. Heartbeats are soft state:
//! after a restart every instance is inactive until its next heartbeat.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tars::codec::TarsStruct;
use tars_protocols::tarsrs::Instance;

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
    /// A stored record did not decode (the file was damaged or written by something else).
    #[error("registry store: record {key:?} is corrupt: {source}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why it did not decode.
        source: tars::codec::DecodeError,
    },
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// The record key of an instance.
pub fn record_key(obj: &str, host: &str, port: i32) -> String {
    format!("{obj}\0{host}\0{port}")
}

/// The embedded registration database.
pub struct RegistrationStore {
    db: Database,
}

impl std::fmt::Debug for RegistrationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationStore").finish_non_exhaustive()
    }
}

impl RegistrationStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<RegistrationStore, StoreError> {
        let db = Database::create(path).map_err(db_err)?;
        // Create the table so that reads of a fresh database succeed.
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(REGISTRATIONS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(RegistrationStore { db })
    }

    /// Stores (or replaces) an instance's registration durably.
    pub fn put(&self, instance: &Instance) -> Result<(), StoreError> {
        self.put_all(std::slice::from_ref(instance))
    }

    /// Stores (or replaces) several registrations in one durable commit.
    pub fn put_all(&self, instances: &[Instance]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
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

    /// Removes a registration durably; whether it existed.
    pub fn remove(&self, obj: &str, host: &str, port: i32) -> Result<bool, StoreError> {
        let key = record_key(obj, host, port);
        let tx = self.db.begin_write().map_err(db_err)?;
        let existed = {
            let mut table = tx.open_table(REGISTRATIONS).map_err(db_err)?;
            let removed = table.remove(key.as_str()).map_err(db_err)?;
            removed.is_some()
        };
        tx.commit().map_err(db_err)?;
        Ok(existed)
    }

    /// Every stored registration.
    pub fn load_all(&self) -> Result<Vec<Instance>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
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
}
