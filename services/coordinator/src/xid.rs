//! Global transaction ids: `"{fragment}:{epoch}:{sequence}"`.
//!
//! - `fragment`: the coordinator fragment owning the transaction (TaaS-style sharding: any node
//!   can tell from the XID which fragment, and so which leader, handles it).
//! - `epoch`: incremented durably every time a fragment leader starts, so ids never repeat
//!   across restarts or failovers even though the sequence restarts.
//! - `sequence`: counts up within an epoch.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// A parsed XID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Xid {
    /// The owning fragment.
    pub fragment: u32,
    /// The leader epoch that issued it.
    pub epoch: u64,
    /// Its number within the epoch.
    pub sequence: u64,
}

impl fmt::Display for Xid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.fragment, self.epoch, self.sequence)
    }
}

/// Why a string is not an XID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid XID {0:?}: expected fragment:epoch:sequence")]
pub struct XidError(pub String);

impl FromStr for Xid {
    type Err = XidError;

    fn from_str(s: &str) -> Result<Xid, XidError> {
        let bad = || XidError(s.to_owned());
        let mut parts = s.split(':');
        let (Some(f), Some(e), Some(q), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        // Plain decimal digits only (no sign, no spaces), so the text form is canonical.
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !(digits(f) && digits(e) && digits(q)) {
            return Err(bad());
        }
        Ok(Xid {
            fragment: f.parse().map_err(|_| bad())?,
            epoch: e.parse().map_err(|_| bad())?,
            sequence: q.parse().map_err(|_| bad())?,
        })
    }
}

/// Issues the XIDs of one fragment leader during one epoch.
#[derive(Debug)]
pub struct XidGenerator {
    fragment: u32,
    epoch: u64,
    next: AtomicU64,
}

impl XidGenerator {
    /// Ids of `fragment` in `epoch`; the epoch must be new (stored durably before use).
    pub fn new(fragment: u32, epoch: u64) -> XidGenerator {
        XidGenerator {
            fragment,
            epoch,
            next: AtomicU64::new(1),
        }
    }

    /// The next id.
    pub fn next_xid(&self) -> Xid {
        Xid {
            fragment: self.fragment,
            epoch: self.epoch,
            sequence: self.next.fetch_add(1, Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let x = Xid {
            fragment: 3,
            epoch: 17,
            sequence: 42,
        };
        assert_eq!(x.to_string(), "3:17:42");
        assert_eq!("3:17:42".parse::<Xid>(), Ok(x));
        for bad in [
            "",
            "3:17",
            "3:17:42:1",
            "a:1:2",
            "-1:1:2",
            "1: 2:3",
            "1::3",
            "99999999999:1:1",
        ] {
            assert!(bad.parse::<Xid>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_unique_within_and_across_epochs() {
        let g1 = XidGenerator::new(1, 1);
        let a: Vec<Xid> = (0..3).map(|_| g1.next_xid()).collect();
        let g2 = XidGenerator::new(1, 2); // after a restart: a new epoch
        let b: Vec<Xid> = (0..3).map(|_| g2.next_xid()).collect();
        let mut all: Vec<String> = a.iter().chain(&b).map(Xid::to_string).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 6);
        assert_eq!(a[0].fragment, 1);
    }
}
