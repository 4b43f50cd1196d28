//! The rollup store: one-minute rollups in an embedded redb database (`stat.redb`).
//!
//! Reports are merged in memory first ([`StatStore::add_calls`], [`StatStore::add_props`]) and
//! written in one commit by [`StatStore::flush`] (the service flushes every
//! `flush_interval_ms`, before every query and at shutdown): a crash loses at most the reports
//! of the last flush interval, which statistics can afford, while many reporters do not cost
//! one fsync each.
//!
//! Keys start with the minute (big-endian), so rows sort oldest first: range queries read
//! just their minutes and trimming drops from the front.
//!
//! - `calls`: minute (8 bytes) · side (1 byte: 1 = reported by the caller) · the Tars encoding
//!   of the report's `StatMicMsgHead` → a Tars-encoded `tarsstat.CallRow`;
//! - `props`: minute (8 bytes) · length of the head (4 bytes) · the Tars encoding of the
//!   `StatPropMsgHead` · the policy → a Tars-encoded `tarsstat.PropRow`.

use std::collections::BTreeMap;
use std::path::Path;

use parking_lot::Mutex;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tars::codec::TarsStruct;
use tars::protocol::tars::{StatMicMsgBody, StatMicMsgHead, StatPropMsgBody, StatPropMsgHead};
use tars_protocols::tarsstat::{CallRow, PropRow};

use crate::rollup::{call_row, merge_calls, merge_props, prop_row};

const CALLS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("calls");
const PROPS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("props");

/// Pending rollups past this many keys are written at once, not at the next flush.
const MAX_PENDING: usize = 100_000;

/// A failure of the rollup store.
#[derive(Debug, thiserror::Error)]
pub enum StatError {
    /// The database could not be opened, read or written.
    #[error("stat store: {0}")]
    Db(String),
    /// The data directory could not be created.
    #[error("stat store directory: {0}")]
    Io(#[from] std::io::Error),
    /// The database file is damaged: the storage engine failed on it.
    #[error("stat store: {file} is damaged: {what}")]
    Damaged {
        /// The file.
        file: String,
        /// What failed.
        what: String,
    },
    /// A stored rollup did not decode.
    #[error("stat store: a {table} row is corrupt: {source}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// Why it did not decode.
        source: tars::codec::DecodeError,
    },
}

fn db_err(e: impl std::fmt::Display) -> StatError {
    StatError::Db(e.to_string())
}

/// What a query reads: minutes `[from_minute, to_minute)` (minutes since the Unix epoch) and,
/// when not empty, only these names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowFilter {
    /// First minute.
    pub from_minute: i64,
    /// Minute after the last.
    pub to_minute: i64,
    /// Calls: the callee (`slaveName`); properties: the module. Empty: any.
    pub name: String,
    /// Calls: the function (`interfaceName`); properties: the property. Empty: any.
    pub item: String,
}

impl RowFilter {
    fn matches(&self, name: &str, item: &str) -> bool {
        (self.name.is_empty() || self.name == name) && (self.item.is_empty() || self.item == item)
    }
}

#[derive(Default)]
struct Pending {
    calls: BTreeMap<Vec<u8>, CallRow>,
    props: BTreeMap<Vec<u8>, PropRow>,
}

impl Pending {
    fn len(&self) -> usize {
        self.calls.len() + self.props.len()
    }
}

/// What [`StatStore::trim`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Rows older than the retention.
    pub expired: u64,
    /// Rows of the oldest minutes, dropped to stay within the row bound.
    pub over_bound: u64,
}

/// The embedded rollup database with its pending (not yet written) rollups.
pub struct StatStore {
    db: Database,
    file: String,
    pending: Mutex<Pending>,
    /// Serialises writers (flush, trim) so a flush's read-merge-write sees the latest rows.
    write: Mutex<()>,
}

impl std::fmt::Debug for StatStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatStore")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

fn minute_prefix(minute: i64) -> [u8; 8] {
    u64::try_from(minute.max(0)).unwrap_or(0).to_be_bytes()
}

fn minute_of(key: &[u8]) -> i64 {
    key.get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(|b| i64::try_from(u64::from_be_bytes(b)).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn call_key(minute: i64, from_client: bool, head: &StatMicMsgHead) -> Vec<u8> {
    let head = head.encode_to_bytes();
    let mut key = Vec::with_capacity(9 + head.len());
    key.extend_from_slice(&minute_prefix(minute));
    key.push(u8::from(from_client));
    key.extend_from_slice(&head);
    key
}

fn prop_key(minute: i64, head: &StatPropMsgHead, policy: &str) -> Vec<u8> {
    let head = head.encode_to_bytes();
    let mut key = Vec::with_capacity(12 + head.len() + policy.len());
    key.extend_from_slice(&minute_prefix(minute));
    key.extend_from_slice(&u32::try_from(head.len()).unwrap_or(u32::MAX).to_be_bytes());
    key.extend_from_slice(&head);
    key.extend_from_slice(policy.as_bytes());
    key
}

impl StatStore {
    /// Opens (or creates) the database file at `path`. A damaged file is an error naming it
    /// ([`StatError::Damaged`]), also where the storage engine panics on it.
    pub fn open(path: &Path) -> Result<StatStore, StatError> {
        let file = path.display().to_string();
        let db = engine(&file, "opening it", || {
            let db = Database::create(path).map_err(|e| match e {
                redb::DatabaseError::Storage(redb::StorageError::Corrupted(what)) => {
                    StatError::Damaged {
                        file: file.clone(),
                        what,
                    }
                }
                other => StatError::Db(format!("{file}: {other}")),
            })?;
            let tx = db.begin_write().map_err(db_err)?;
            tx.open_table(CALLS).map_err(db_err)?;
            tx.open_table(PROPS).map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(db)
        })?;
        Ok(StatStore {
            db,
            file,
            pending: Mutex::new(Pending::default()),
            write: Mutex::new(()),
        })
    }

    /// Adds a `reportMicMsg` received in `minute` to the pending rollups.
    pub fn add_calls(
        &self,
        minute: i64,
        from_client: bool,
        msg: &BTreeMap<StatMicMsgHead, StatMicMsgBody>,
    ) -> Result<(), StatError> {
        let full = {
            let mut pending = self.pending.lock();
            for (head, body) in msg {
                let row = call_row(minute, from_client, head, body);
                match pending.calls.entry(call_key(minute, from_client, head)) {
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        merge_calls(e.get_mut(), &row)
                    }
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(row);
                    }
                }
            }
            pending.len() >= MAX_PENDING
        };
        if full {
            self.flush()?;
        }
        Ok(())
    }

    /// Adds a `reportPropMsg` received in `minute` to the pending rollups.
    pub fn add_props(
        &self,
        minute: i64,
        msg: &BTreeMap<StatPropMsgHead, StatPropMsgBody>,
    ) -> Result<(), StatError> {
        let full = {
            let mut pending = self.pending.lock();
            for (head, body) in msg {
                for info in &body.v_info {
                    let policy = info.policy.as_str();
                    let row = prop_row(minute, head, policy, info.value.as_str());
                    match pending.props.entry(prop_key(minute, head, policy)) {
                        std::collections::btree_map::Entry::Occupied(mut e) => {
                            merge_props(e.get_mut(), &row)
                        }
                        std::collections::btree_map::Entry::Vacant(e) => {
                            e.insert(row);
                        }
                    }
                }
            }
            pending.len() >= MAX_PENDING
        };
        if full {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending rollups, merged into the stored ones, in one commit; how many
    /// rollups were written. On failure they are pending again (merged with newer reports).
    pub fn flush(&self) -> Result<usize, StatError> {
        let _writer = self.write.lock();
        let batch = std::mem::take(&mut *self.pending.lock());
        if batch.len() == 0 {
            return Ok(0);
        }
        let n = batch.len();
        let result = engine(&self.file, "writing", || {
            let tx = self.db.begin_write().map_err(db_err)?;
            {
                let mut calls = tx.open_table(CALLS).map_err(db_err)?;
                for (key, row) in &batch.calls {
                    let merged = match calls.get(key.as_slice()).map_err(db_err)? {
                        Some(old) => {
                            let mut old = CallRow::decode_from(old.value()).map_err(|source| {
                                StatError::Corrupt {
                                    table: "calls",
                                    source,
                                }
                            })?;
                            merge_calls(&mut old, row);
                            old
                        }
                        None => row.clone(),
                    };
                    calls
                        .insert(key.as_slice(), &merged.encode_to_bytes()[..])
                        .map_err(db_err)?;
                }
                let mut props = tx.open_table(PROPS).map_err(db_err)?;
                for (key, row) in &batch.props {
                    let merged = match props.get(key.as_slice()).map_err(db_err)? {
                        Some(old) => {
                            let mut old = PropRow::decode_from(old.value()).map_err(|source| {
                                StatError::Corrupt {
                                    table: "props",
                                    source,
                                }
                            })?;
                            merge_props(&mut old, row);
                            old
                        }
                        None => row.clone(),
                    };
                    props
                        .insert(key.as_slice(), &merged.encode_to_bytes()[..])
                        .map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)
        });
        if let Err(e) = result {
            // Back to pending, in front of what arrived meanwhile.
            let mut pending = self.pending.lock();
            for (key, mut row) in batch.calls {
                if let Some(newer) = pending.calls.remove(&key) {
                    merge_calls(&mut row, &newer);
                }
                pending.calls.insert(key, row);
            }
            for (key, mut row) in batch.props {
                if let Some(newer) = pending.props.remove(&key) {
                    merge_props(&mut row, &newer);
                }
                pending.props.insert(key, row);
            }
            return Err(e);
        }
        Ok(n)
    }

    /// The stored call rollups `filter` selects (after a flush), oldest first. One row per
    /// minute, side and reported head (caller, IPs, return value): merge them with
    /// [`crate::query`].
    pub fn call_rows(&self, filter: &RowFilter) -> Result<Vec<CallRow>, StatError> {
        self.flush()?;
        self.read_rows(CALLS, "calls", filter, |row: &CallRow| {
            filter.matches(row.slave_name.as_str(), row.interface_name.as_str())
        })
    }

    /// The stored property rollups `filter` selects (after a flush), oldest first.
    pub fn prop_rows(&self, filter: &RowFilter) -> Result<Vec<PropRow>, StatError> {
        self.flush()?;
        self.read_rows(PROPS, "props", filter, |row: &PropRow| {
            filter.matches(row.module_name.as_str(), row.property_name.as_str())
        })
    }

    fn read_rows<T: TarsStruct>(
        &self,
        table: TableDefinition<&[u8], &[u8]>,
        name: &'static str,
        filter: &RowFilter,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>, StatError> {
        if filter.to_minute <= filter.from_minute {
            return Ok(Vec::new());
        }
        let from = minute_prefix(filter.from_minute);
        let to = minute_prefix(filter.to_minute);
        engine(&self.file, "reading", || {
            let tx = self.db.begin_read().map_err(db_err)?;
            let table = tx.open_table(table).map_err(db_err)?;
            let mut out = Vec::new();
            for entry in table.range::<&[u8]>(&from[..]..&to[..]).map_err(db_err)? {
                let (_, value) = entry.map_err(db_err)?;
                let row = T::decode_from(value.value()).map_err(|source| StatError::Corrupt {
                    table: name,
                    source,
                })?;
                if keep(&row) {
                    out.push(row);
                }
            }
            Ok(out)
        })
    }

    /// Stored rows (both tables; pending rollups not counted).
    pub fn rows(&self) -> Result<u64, StatError> {
        engine(&self.file, "reading", || {
            let tx = self.db.begin_read().map_err(db_err)?;
            let calls = tx
                .open_table(CALLS)
                .map_err(db_err)?
                .len()
                .map_err(db_err)?;
            let props = tx
                .open_table(PROPS)
                .map_err(db_err)?
                .len()
                .map_err(db_err)?;
            Ok(calls + props)
        })
    }

    /// Removes the rows of minutes before `keep_from_minute`, then the rows of the oldest
    /// minutes until at most `max_rows` remain (a minute goes as a whole, calls and
    /// properties alike).
    pub fn trim(&self, keep_from_minute: i64, max_rows: u64) -> Result<Trimmed, StatError> {
        let _writer = self.write.lock();
        engine(&self.file, "trimming", || {
            let tx = self.db.begin_write().map_err(db_err)?;
            let mut trimmed = Trimmed::default();
            {
                let mut calls = tx.open_table(CALLS).map_err(db_err)?;
                let mut props = tx.open_table(PROPS).map_err(db_err)?;
                let cut = minute_prefix(keep_from_minute);
                for table in [&mut calls, &mut props] {
                    let before = table.len().map_err(db_err)?;
                    table
                        .retain_in::<&[u8], _>(..&cut[..], |_, _| false)
                        .map_err(db_err)?;
                    trimmed.expired += before - table.len().map_err(db_err)?;
                }
                loop {
                    let total = calls.len().map_err(db_err)? + props.len().map_err(db_err)?;
                    if total <= max_rows {
                        break;
                    }
                    let first = |t: &redb::Table<&[u8], &[u8]>| -> Result<Option<i64>, StatError> {
                        Ok(t.first()
                            .map_err(db_err)?
                            .map(|(k, _)| minute_of(k.value())))
                    };
                    let oldest = match (first(&calls)?, first(&props)?) {
                        (Some(a), Some(b)) => a.min(b),
                        (Some(a), None) | (None, Some(a)) => a,
                        (None, None) => break,
                    };
                    let end = minute_prefix(oldest.saturating_add(1));
                    for table in [&mut calls, &mut props] {
                        table
                            .retain_in::<&[u8], _>(..&end[..], |_, _| false)
                            .map_err(db_err)?;
                    }
                    let now = calls.len().map_err(db_err)? + props.len().map_err(db_err)?;
                    trimmed.over_bound += total - now;
                }
            }
            tx.commit().map_err(db_err)?;
            Ok(trimmed)
        })
    }
}

/// Runs `f`, which calls the storage engine; a panic in it (redb panics on some damaged
/// pages) becomes [`StatError::Damaged`].
fn engine<T>(
    file: &str,
    doing: &str,
    f: impl FnOnce() -> Result<T, StatError>,
) -> Result<T, StatError> {
    tars::panic::catch(f).unwrap_or_else(|message| {
        Err(StatError::Damaged {
            file: file.to_owned(),
            what: format!("the storage engine failed {doing}: {message}"),
        })
    })
}
