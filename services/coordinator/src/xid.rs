//! Global transaction ids in the form Seata clients require: `"{host}:{port}:{id}"`.
//!
//! Java clients parse the text between the last two colons as the coordinator's port and the
//! part after the last colon as a `long` (protocols/seata-v1.md, "XID"), so the XID carries
//! the issuing coordinator's advertised address and a positive 63-bit [`TxId`] that packs:
//!
//! | bits | field | range |
//! |---|---|---|
//! | 62..53 | `fragment`: the coordinator fragment owning the transaction (TaaS-style sharding: any node can tell from the XID which fragment, and so which leader, handles it) | 0..=1023 |
//! | 52..32 | `epoch`: bumped durably every time a leader of the fragment starts | 1..=2,097,151 |
//! | 31..0 | `sequence`: unique within an epoch, in an order only the issuer knows | 1..=4,294,967,295 |
//!
//! The sequence is a counter passed through a keyed permutation of the 32-bit numbers (a
//! four-round Feistel network whose round function is a SipHash of a key drawn from the
//! operating system when the generator is made), so consecutive XIDs look unrelated: seeing
//! some XIDs does not tell the next, and guessing an open one succeeds with probability about
//! (open transactions) / 2³² per try. That is defense in depth only — the access rules
//! ([`crate::access`]) decide who may act on a transaction whose XID they hold.
//!
//! Ids never repeat across restarts or failovers: a new leader always takes a new epoch
//! before issuing anything. The address is informational (where the transaction began); the
//! owner is found from the fragment, so an XID stays valid after its fragment moves.
//! Branch ids use the same packing (a per-epoch counter in the low bits), so they are unique
//! across fragments and restarts too.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Fragments: ids `0..=MAX_FRAGMENT`.
pub const MAX_FRAGMENT: u32 = (1 << 10) - 1;
/// The largest epoch; a fragment whose epoch would pass it refuses to start.
pub const MAX_EPOCH: u64 = (1 << 21) - 1;
/// The largest sequence number within one epoch.
pub const MAX_SEQUENCE: u64 = (1 << 32) - 1;

/// The numeric part of an XID (and the layout of branch ids): fragment, epoch, sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId {
    /// The owning fragment.
    pub fragment: u32,
    /// The leader epoch that issued it.
    pub epoch: u64,
    /// Its number within the epoch.
    pub sequence: u64,
}

impl TxId {
    /// Packs into a positive `i64` (see the module docs); `None` when a field is out of range.
    pub fn to_i64(self) -> Option<i64> {
        if self.fragment > MAX_FRAGMENT || self.epoch > MAX_EPOCH || self.sequence > MAX_SEQUENCE {
            return None;
        }
        i64::try_from((u64::from(self.fragment) << 53) | (self.epoch << 32) | self.sequence).ok()
    }

    /// Unpacks a positive `i64`.
    pub fn from_i64(id: i64) -> Option<TxId> {
        let id = u64::try_from(id).ok()?;
        Some(TxId {
            fragment: u32::try_from(id >> 53).ok()?,
            epoch: (id >> 32) & MAX_EPOCH,
            sequence: id & MAX_SEQUENCE,
        })
    }
}

/// A parsed XID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Xid {
    /// `host:port` of the coordinator that issued it.
    pub address: String,
    /// Fragment, epoch and sequence.
    pub id: TxId,
}

impl Xid {
    /// The fragment named by `xid`, if it is an XID.
    pub fn fragment_of(xid: &str) -> Option<u32> {
        xid.parse::<Xid>().ok().map(|x| x.id.fragment)
    }
}

impl fmt::Display for Xid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Constructed from fields in range (the generator checks), so packing succeeds.
        write!(f, "{}:{}", self.address, self.id.to_i64().unwrap_or(0))
    }
}

/// Why a string is not an XID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid XID {0:?}: expected host:port:id (id a positive 63-bit integer)")]
pub struct XidError(pub String);

impl FromStr for Xid {
    type Err = XidError;

    fn from_str(s: &str) -> Result<Xid, XidError> {
        let bad = || XidError(s.to_owned());
        let (address, id) = s.rsplit_once(':').ok_or_else(bad)?;
        let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
        // Plain decimal digits only (no sign, no spaces), so the text form is canonical.
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if host.is_empty() || !digits(port) || !digits(id) || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        let id = id
            .parse::<i64>()
            .ok()
            .and_then(TxId::from_i64)
            .ok_or_else(bad)?;
        if id.epoch == 0 || id.sequence == 0 {
            return Err(bad());
        }
        Ok(Xid {
            address: address.to_owned(),
            id,
        })
    }
}

/// Why an id could not be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The fragment or epoch does not fit the id layout.
    #[error("fragment {fragment} / epoch {epoch} out of range (fragment <= {MAX_FRAGMENT}, 1 <= epoch <= {MAX_EPOCH})")]
    OutOfRange {
        /// The fragment.
        fragment: u32,
        /// The epoch.
        epoch: u64,
    },
    /// Every sequence number of this epoch was used: the fragment needs a new epoch (a new
    /// leadership: restart, or hand the fragment over).
    #[error("the sequence of fragment {fragment}, epoch {epoch} is exhausted")]
    Exhausted {
        /// The fragment.
        fragment: u32,
        /// The epoch.
        epoch: u64,
    },
}

/// Issues the XIDs of one fragment leader during one epoch.
#[derive(Debug)]
pub struct XidGenerator {
    address: parking_lot::RwLock<String>,
    fragment: u32,
    epoch: u64,
    next: AtomicU64,
    key: [u64; 2],
}

/// A secret key for the sequence permutation, from the operating system's random source
/// (else, should that fail, from std's randomly keyed hasher state).
fn secret_key() -> [u64; 2] {
    match (getrandom::u64(), getrandom::u64()) {
        (Ok(a), Ok(b)) => [a, b],
        _ => {
            use std::hash::{BuildHasher, Hasher};
            tracing::warn!("no OS randomness; XID sequence key from std's hasher keys");
            let state = std::collections::hash_map::RandomState::new();
            let mut a = state.build_hasher();
            a.write_u8(1);
            let mut b = state.build_hasher();
            b.write_u8(2);
            [a.finish(), b.finish()]
        }
    }
}

/// The keyed permutation of 32-bit numbers the sequence goes through.
fn permute(key: [u64; 2], n: u32) -> u32 {
    use std::hash::Hasher;
    let (mut left, mut right) = ((n >> 16) as u16, n as u16);
    for round in 0u8..4 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write_u64(key[0]);
        h.write_u64(key[1]);
        h.write_u8(round);
        h.write_u16(right);
        let f = h.finish() as u16;
        (left, right) = (right, left ^ f);
    }
    (u32::from(left) << 16) | u32::from(right)
}

impl XidGenerator {
    /// Ids of `fragment` in `epoch`, issued by the coordinator at `address` (`host:port`); the
    /// epoch must be new (stored durably before use).
    pub fn new(address: &str, fragment: u32, epoch: u64) -> Result<XidGenerator, IdError> {
        if fragment > MAX_FRAGMENT || epoch == 0 || epoch > MAX_EPOCH {
            return Err(IdError::OutOfRange { fragment, epoch });
        }
        Ok(XidGenerator {
            address: parking_lot::RwLock::new(address.to_owned()),
            fragment,
            epoch,
            next: AtomicU64::new(0),
            key: secret_key(),
        })
    }

    /// The fragment.
    pub fn fragment(&self) -> u32 {
        self.fragment
    }

    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Sets the address later XIDs carry (once the server knows its port).
    pub fn set_address(&self, address: &str) {
        *self.address.write() = address.to_owned();
    }

    /// The next id.
    pub fn next_xid(&self) -> Result<Xid, IdError> {
        // The counter runs through 0..=MAX_SEQUENCE; the one count the permutation maps to
        // 0 (not a valid sequence) is skipped.
        let sequence = loop {
            let count = self.next.fetch_add(1, Ordering::Relaxed);
            if count > MAX_SEQUENCE {
                self.next.store(MAX_SEQUENCE + 1, Ordering::Relaxed);
                return Err(IdError::Exhausted {
                    fragment: self.fragment,
                    epoch: self.epoch,
                });
            }
            let permuted = permute(self.key, count as u32);
            if permuted != 0 {
                break u64::from(permuted);
            }
        };
        Ok(Xid {
            address: self.address.read().clone(),
            id: TxId {
                fragment: self.fragment,
                epoch: self.epoch,
                sequence,
            },
        })
    }

    /// The first branch id of this epoch minus one: branch ids of the epoch count up from it.
    pub fn branch_base(&self) -> i64 {
        TxId {
            fragment: self.fragment,
            epoch: self.epoch,
            sequence: 0,
        }
        .to_i64()
        .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_a_keyed_permutation_not_a_count() {
        let key = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];
        // A bijection: distinct inputs, distinct outputs (checked on a large sample).
        let mut seen: Vec<u32> = (0..200_000).map(|n| permute(key, n)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 200_000);
        // Consecutive ids are far apart, and two generators (two keys) differ.
        let g = XidGenerator::new("h:1", 0, 1).expect("in range");
        let ids: Vec<u64> = (0..1000)
            .map(|_| g.next_xid().expect("id").id.sequence)
            .collect();
        let close = ids
            .windows(2)
            .filter(|w| w[0].abs_diff(w[1]) < 1000)
            .count();
        assert!(close < 5, "{close} of 999 neighbours are within 1000");
        let h = XidGenerator::new("h:1", 0, 1).expect("in range");
        assert_ne!(h.next_xid().expect("id").id.sequence, ids[0]);
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let g = XidGenerator::new("10.0.0.7:8091", 3, 17).expect("in range");
        let x = g.next_xid().expect("id");
        let text = x.to_string();
        assert_eq!(
            text,
            format!(
                "10.0.0.7:8091:{}",
                (3i64 << 53) | (17 << 32) | x.id.sequence as i64
            )
        );
        assert_eq!(text.parse::<Xid>(), Ok(x.clone()));
        assert_eq!(Xid::fragment_of(&text), Some(3));
        // Java's XID.getTransactionId: the part after the last ':' is a long; the port parses.
        let (rest, id) = text.rsplit_once(':').expect("colon");
        assert!(id.parse::<i64>().expect("long") > 0);
        assert!(rest
            .rsplit_once(':')
            .expect("port")
            .1
            .parse::<u16>()
            .is_ok());
        for bad in [
            "",
            "3:17",
            "3:17:42",
            "host:1:0",
            "host:70000:5",
            "host:port:5",
            "host:1:-5",
            "host:1: 5",
            ":1:5",
            "host:1:99999999999999999999",
        ] {
            assert!(bad.parse::<Xid>().is_err(), "{bad:?}");
        }
        // IPv6-ish hosts keep their colons: only the last two separate port and id.
        let v6 = format!("::1:8091:{}", x.id.to_i64().expect("packs"));
        assert_eq!(v6.parse::<Xid>().expect("v6").address, "::1:8091");
    }

    #[test]
    fn ids_are_unique_within_and_across_epochs_and_fragments() {
        let mut all = Vec::new();
        for (fragment, epoch) in [(1, 1), (1, 2), (2, 1), (MAX_FRAGMENT, MAX_EPOCH)] {
            let g = XidGenerator::new("h:1", fragment, epoch).expect("in range");
            for _ in 0..3 {
                let x = g.next_xid().expect("id");
                assert_eq!((x.id.fragment, x.id.epoch), (fragment, epoch));
                all.push(x.id.to_i64().expect("packs"));
            }
            assert!(g.branch_base() < all[all.len() - 3]);
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all.iter().all(|id| *id > 0));
    }

    #[test]
    fn out_of_range_and_exhaustion_are_errors_not_repeats() {
        assert!(XidGenerator::new("h:1", MAX_FRAGMENT + 1, 1).is_err());
        assert!(XidGenerator::new("h:1", 0, 0).is_err());
        assert!(XidGenerator::new("h:1", 0, MAX_EPOCH + 1).is_err());
        let g = XidGenerator::new("h:1", 0, 1).expect("in range");
        g.next.store(MAX_SEQUENCE - 1, Ordering::Relaxed);
        // The last two counts: at most one of them is the skipped one.
        let _ = g.next_xid().expect("last");
        if g.next.load(Ordering::Relaxed) <= MAX_SEQUENCE {
            let _ = g.next_xid().expect("very last");
        }
        assert!(matches!(g.next_xid(), Err(IdError::Exhausted { .. })));
        assert!(matches!(g.next_xid(), Err(IdError::Exhausted { .. })));
    }
}
