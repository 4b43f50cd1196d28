//! The key layout in etcd. Everything lives below one prefix (default `/tars/`), so several
//! clusters can share an etcd and a test can wipe its own.
//!
//! | key | value | lease |
//! |---|---|---|
//! | `nodes/<node>` | [`crate::keys::NodeInfo`] (JSON) | the node's |
//! | `scheduler` | the scheduler's node id | the scheduler's node lease |
//! | `fragments/<f>/meta` | JSON: when and why the fragment was created | none |
//! | `fragments/<f>/assign` | JSON: wanted leader and standbys (written by the scheduler) | none |
//! | `fragments/<f>/leader` | JSON: the leader's node id, epoch and address | the leader's |
//! | `fragments/<f>/epoch` | decimal: the last epoch a leader of `f` took | none |
//! | `fragments/<f>/handover` | decimal: the last epoch that ended in a graceful handover | none |
//! | `fragments/<f>/load` | JSON: active transactions, sampled by the leader | none |
//! | `tx/<f>/log/<seq>` | a batch of session changes of fragment `f` (the session log) | none |
//! | `tx/<f>/checkpoint` | which image holds fragment `f`'s sessions up to which log entry | none |
//! | `tx/<f>/image/<gen>/<i>` | chunk `i` of a checkpoint's image of the open sessions | none |
//! | `locks/<row>` | the XID holding the AT row lock `resource^^^table^^^pk` | none |
//! | `registry/...` | registry instances (see the registry module) | |
//!
//! Fragment ids are written with 5 digits (`00003`) so they sort numerically. Sessions live
//! outside `fragments/`, so reading every fragment's placement is one small range read.

use serde::{Deserialize, Serialize};

/// The default prefix of every key.
pub const DEFAULT_PREFIX: &str = "/tars/";

/// Builds the keys below one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Default for Keys {
    fn default() -> Self {
        Keys::new(DEFAULT_PREFIX)
    }
}

impl Keys {
    /// Keys below `prefix` (a trailing `/` is added when missing).
    pub fn new(prefix: &str) -> Keys {
        let mut prefix = prefix.to_owned();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Keys { prefix }
    }

    /// The prefix, ending in `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `nodes/`: every live node.
    pub fn nodes(&self) -> String {
        format!("{}nodes/", self.prefix)
    }

    /// `nodes/<node>`.
    pub fn node(&self, node: &str) -> String {
        format!("{}nodes/{node}", self.prefix)
    }

    /// `scheduler`: held by the elected scheduler.
    pub fn scheduler(&self) -> String {
        format!("{}scheduler", self.prefix)
    }

    /// `fragments/`: every fragment's keys.
    pub fn fragments(&self) -> String {
        format!("{}fragments/", self.prefix)
    }

    /// `fragments/<f>/`: one fragment's keys.
    pub fn fragment(&self, f: u32) -> String {
        format!("{}fragments/{f:05}/", self.prefix)
    }

    /// `fragments/<f>/meta`: exists once the fragment exists.
    pub fn fragment_meta(&self, f: u32) -> String {
        format!("{}meta", self.fragment(f))
    }

    /// `fragments/<f>/assign`: the scheduler's placement of `f`.
    pub fn assignment(&self, f: u32) -> String {
        format!("{}assign", self.fragment(f))
    }

    /// `fragments/<f>/leader`: held (with its lease) by the leader of `f`.
    pub fn leader(&self, f: u32) -> String {
        format!("{}leader", self.fragment(f))
    }

    /// `fragments/<f>/epoch`: the last epoch a leader of `f` took.
    pub fn epoch(&self, f: u32) -> String {
        format!("{}epoch", self.fragment(f))
    }

    /// `fragments/<f>/handover`: the epoch whose leader handed the fragment over gracefully
    /// (flushed and resigned), so its successor keeps undecided transactions open.
    pub fn handover(&self, f: u32) -> String {
        format!("{}handover", self.fragment(f))
    }

    /// `fragments/<f>/load`: the leader's load samples.
    pub fn load(&self, f: u32) -> String {
        format!("{}load", self.fragment(f))
    }

    /// `tx/<f>/`: the open transactions of `f`.
    pub fn sessions(&self, f: u32) -> String {
        format!("{}tx/{f:05}/", self.prefix)
    }

    /// `tx/<f>/log/`: the session log of `f` (see `coordinator::log`).
    pub fn log(&self, f: u32) -> String {
        format!("{}log/", self.sessions(f))
    }

    /// `tx/<f>/log/<seq>`: one entry of the session log (`seq` in 16 hex digits, so the
    /// entries sort in order).
    pub fn log_entry(&self, f: u32, seq: u64) -> String {
        format!("{}{seq:016x}", self.log(f))
    }

    /// `tx/<f>/checkpoint`: the last checkpoint of `f`'s session log.
    pub fn checkpoint(&self, f: u32) -> String {
        format!("{}checkpoint", self.sessions(f))
    }

    /// `tx/<f>/image/`: the images of `f`'s checkpoints.
    pub fn images(&self, f: u32) -> String {
        format!("{}image/", self.sessions(f))
    }

    /// `tx/<f>/image/<gen>/`: the chunks of one image.
    pub fn image(&self, f: u32, generation: u64) -> String {
        format!("{}{generation:016x}/", self.images(f))
    }

    /// `tx/<f>/image/<gen>/<i>`: chunk `i` of an image.
    pub fn image_chunk(&self, f: u32, generation: u64, i: u32) -> String {
        format!("{}{i:04x}", self.image(f, generation))
    }

    /// `locks/`: every AT row lock.
    pub fn locks(&self) -> String {
        format!("{}locks/", self.prefix)
    }

    /// `locks/<row>`: the lock of one row (`resource^^^table^^^pk`).
    pub fn lock(&self, row: &str) -> String {
        format!("{}locks/{row}", self.prefix)
    }

    /// `registry/`: the registry's keys.
    pub fn registry(&self) -> String {
        format!("{}registry/", self.prefix)
    }

    /// The fragment id in a key below `fragments/`, if it is one.
    pub fn fragment_of(&self, key: &str) -> Option<u32> {
        let rest = key.strip_prefix(&self.fragments())?;
        rest.split('/').next()?.parse().ok()
    }
}

/// What a node publishes about itself under `nodes/<node>` (with its lease: it disappears
/// when the node dies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's id (`--node-id`).
    pub node_id: String,
    /// The host other nodes and clients reach it on (`--advertise`).
    pub advertise: String,
    /// Its registry port.
    pub registry_port: u16,
    /// Its coordinator port.
    pub coordinator_port: u16,
    /// When it started (ms since the Unix epoch).
    pub started_ms: i64,
}

/// The scheduler's placement of one fragment, under `fragments/<f>/assign`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Assignment {
    /// The node that should lead.
    pub leader: String,
    /// The nodes that should stand by, in order of preference.
    pub standbys: Vec<String>,
}

/// The current leader of a fragment, under `fragments/<f>/leader` (with the leader's lease).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderInfo {
    /// The leading node.
    pub node_id: String,
    /// The epoch it took.
    pub epoch: u64,
    /// Where its coordinator listens (`host:port`).
    pub coordinator: String,
}

/// A leader's load sample, under `fragments/<f>/load`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoadSample {
    /// Open transactions when sampled.
    pub active: u64,
    /// When (ms since the Unix epoch).
    pub at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_keys_sort_numerically_and_parse_back() {
        let k = Keys::new("/x");
        assert_eq!(k.leader(3), "/x/fragments/00003/leader");
        assert!(k.fragment(9) < k.fragment(10));
        assert_eq!(k.fragment_of(&k.assignment(12)), Some(12));
        assert_eq!(k.log_entry(12, 26), "/x/tx/00012/log/000000000000001a");
        assert!(k.log_entry(12, 255) < k.log_entry(12, 256));
        assert_eq!(
            k.image_chunk(1, 2, 3),
            "/x/tx/00001/image/0000000000000002/0003"
        );
        assert!(k.image(1, 2) < k.image_chunk(1, 2, 0));
        assert!(k.image_chunk(1, 1, 9) < k.image(1, 2));
        assert_eq!(k.fragment_of(&k.node("n1")), None);
    }
}
