//! AT row locks. A branch's lock keys `table:pk1,pk2;table2:pk3` on resource `r` are the rows
//! `r^^^table^^^pk1`, `r^^^table^^^pk2`, `r^^^table2^^^pk3`. Acquiring is all-or-nothing: if
//! any row is held by another global transaction, nothing is taken and the conflict is
//! reported. Rows already held by the same transaction (any of its branches) are re-entrant.

use std::collections::{BTreeSet, HashMap};

use parking_lot::Mutex;

/// Separator of the parts of a row key (as Seata).
pub const ROW_KEY_SEPARATOR: &str = "^^^";

/// Why lock keys were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The lock-key text is malformed.
    #[error("invalid lock keys {keys:?}: {reason}")]
    Invalid {
        /// The text given.
        keys: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A row is held by another global transaction.
    #[error("row {row} is locked by {holder}")]
    Conflict {
        /// The contested row key.
        row: String,
        /// The XID holding it.
        holder: String,
    },
}

/// The row keys of `lock_keys` on `resource_id`, deduplicated and sorted.
pub fn row_keys(resource_id: &str, lock_keys: &str) -> Result<Vec<String>, LockError> {
    let invalid = |reason| LockError::Invalid {
        keys: lock_keys.to_owned(),
        reason,
    };
    if resource_id.is_empty() {
        return Err(invalid("empty resource id"));
    }
    let mut rows = BTreeSet::new();
    for part in lock_keys
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (table, pks) = part
            .split_once(':')
            .ok_or_else(|| invalid("expected table:pk[,pk...]"))?;
        let table = table.trim();
        if table.is_empty() {
            return Err(invalid("empty table name"));
        }
        let mut any = false;
        for pk in pks.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            rows.insert(format!(
                "{resource_id}{ROW_KEY_SEPARATOR}{table}{ROW_KEY_SEPARATOR}{pk}"
            ));
            any = true;
        }
        if !any {
            return Err(invalid("a table without primary keys"));
        }
    }
    Ok(rows.into_iter().collect())
}

/// Who holds a row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    xid: String,
    branch_id: i64,
}

/// The row locks of one coordinator.
#[derive(Debug, Default)]
pub struct LockManager {
    rows: Mutex<HashMap<String, Holder>>,
}

impl LockManager {
    /// No rows locked.
    pub fn new() -> LockManager {
        LockManager::default()
    }

    /// Locks every row of `lock_keys` on `resource_id` for branch `branch_id` of `xid`, or
    /// none of them.
    pub fn acquire(
        &self,
        xid: &str,
        branch_id: i64,
        resource_id: &str,
        lock_keys: &str,
    ) -> Result<(), LockError> {
        let keys = row_keys(resource_id, lock_keys)?;
        let mut rows = self.rows.lock();
        if let Some((row, holder)) = keys
            .iter()
            .find_map(|k| rows.get(k).filter(|h| h.xid != xid).map(|h| (k, h)))
        {
            return Err(LockError::Conflict {
                row: row.clone(),
                holder: holder.xid.clone(),
            });
        }
        for k in keys {
            rows.entry(k).or_insert_with(|| Holder {
                xid: xid.to_owned(),
                branch_id,
            });
        }
        Ok(())
    }

    /// Whether `xid` could lock these rows now (free, or already its own).
    pub fn is_lockable(
        &self,
        xid: &str,
        resource_id: &str,
        lock_keys: &str,
    ) -> Result<bool, LockError> {
        let keys = row_keys(resource_id, lock_keys)?;
        let rows = self.rows.lock();
        Ok(keys
            .iter()
            .all(|k| rows.get(k).is_none_or(|h| h.xid == xid)))
    }

    /// Of `rows`, those `xid` does not hold yet (free, or held by another transaction).
    pub fn not_held_by(&self, xid: &str, rows: &[String]) -> Vec<String> {
        let held = self.rows.lock();
        rows.iter()
            .filter(|r| held.get(*r).is_none_or(|h| h.xid != xid))
            .cloned()
            .collect()
    }

    /// Releases the rows branch `branch_id` of `xid` took; returns them.
    pub fn release_branch(&self, xid: &str, branch_id: i64) -> Vec<String> {
        self.release(|h| h.xid == xid && h.branch_id == branch_id)
    }

    /// Releases every row of `xid`; returns them.
    pub fn release_global(&self, xid: &str) -> Vec<String> {
        self.release(|h| h.xid == xid)
    }

    fn release(&self, matches: impl Fn(&Holder) -> bool) -> Vec<String> {
        let mut rows = self.rows.lock();
        let mut released = Vec::new();
        rows.retain(|k, h| {
            let keep = !matches(h);
            if !keep {
                released.push(k.clone());
            }
            keep
        });
        released
    }

    /// The rows `xid` holds, sorted.
    pub fn held_by(&self, xid: &str) -> Vec<String> {
        let mut held: Vec<String> = self
            .rows
            .lock()
            .iter()
            .filter(|(_, h)| h.xid == xid)
            .map(|(k, _)| k.clone())
            .collect();
        held.sort();
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_become_row_keys() {
        assert_eq!(
            row_keys("jdbc:db", "account:1,2; orders:9").unwrap(),
            [
                "jdbc:db^^^account^^^1",
                "jdbc:db^^^account^^^2",
                "jdbc:db^^^orders^^^9"
            ]
        );
        assert_eq!(row_keys("db", "t:1,1;t:1").unwrap().len(), 1);
        assert!(row_keys("db", "").unwrap().is_empty());
        for bad in ["t", ":1", "t:", "t: , "] {
            assert!(
                matches!(row_keys("db", bad), Err(LockError::Invalid { .. })),
                "{bad:?}"
            );
        }
        assert!(row_keys("", "t:1").is_err());
    }

    #[test]
    fn conflicts_are_all_or_nothing_and_locks_reentrant() {
        let locks = LockManager::new();
        locks.acquire("x1", 1, "db", "t:1,2").unwrap();
        // Same transaction, another branch, overlapping rows: re-entrant.
        locks.acquire("x1", 2, "db", "t:2,3").unwrap();
        assert_eq!(locks.held_by("x1").len(), 3);
        // Another transaction wanting a free row and a held one gets neither.
        let err = locks.acquire("x2", 7, "db", "t:4,3").unwrap_err();
        assert_eq!(
            err,
            LockError::Conflict {
                row: "db^^^t^^^3".into(),
                holder: "x1".into()
            }
        );
        assert!(locks.held_by("x2").is_empty());
        assert!(locks.is_lockable("x2", "db", "t:4").unwrap());
        assert!(!locks.is_lockable("x2", "db", "t:1").unwrap());
        assert!(locks.is_lockable("x1", "db", "t:1").unwrap());
        // Same table name on another resource is another row.
        locks.acquire("x2", 7, "db2", "t:1").unwrap();
        // Releasing branch 2 frees only the row it took first (t:3); t:2 stays with branch 1.
        assert_eq!(locks.release_branch("x1", 2).len(), 1);
        assert_eq!(locks.held_by("x1"), ["db^^^t^^^1", "db^^^t^^^2"]);
        assert_eq!(locks.release_global("x1").len(), 2);
        locks.acquire("x2", 7, "db", "t:1,2,3,4").unwrap();
        assert_eq!(locks.held_by("x2").len(), 5);
    }
}
