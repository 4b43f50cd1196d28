//! How a fragment's open transactions are laid out in etcd: a **session log** with
//! checkpoints.
//!
//! One etcd key per session cost about 70 µs of etcd CPU per key write (summed over three
//! members), five key writes per TCC transaction: etcd's per-key work (index, bbolt, watch
//! events) was two thirds of the cluster's CPU. The log writes one key per write of the
//! fragment store instead, whatever the number of sessions it changed.
//!
//! Below `tx/<f>/`:
//! - `log/<seq>`: one entry per write: the records of the sessions it changed and the XIDs it
//!   removed ([`Changes`]). A write holds each XID once, so the entries of one write (more
//!   than one only past etcd's request size) may commit in any order.
//! - `checkpoint`: a [`Checkpoint`]: image `generation` holds every open session as of log
//!   entry `covers`.
//! - `image/<generation>/<i>`: chunk `i` of that image ([`Changes`] with records only).
//!
//! Log entries and image chunks are stored LZ4-compressed ([`pack`]): the records of one batch
//! repeat their resource ids and names, and every byte etcd takes is written to its WAL, sent
//! to each member and to every watcher.
//!
//! Reading back ([`replay`]): the checkpoint's image, then every log entry after `covers`, in
//! order. The writer checkpoints when [`checkpoint_due`] says so (the log is long, and long
//! against the image, so a large image is not rewritten every few batches): it writes the
//! image chunks, then one transaction that puts the
//! checkpoint and deletes the log up to `covers` and every older image. At every revision the
//! checkpoint and the log after it hold every session; a checkpoint that failed half-way
//! leaves an image nobody names, deleted by the next one. Sequence numbers and generations are
//! drawn from one counter, above everything found at takeover.

use std::collections::{BTreeMap, HashMap};

use etcd_client::{DeleteOptions, TxnOp};
use tars::bytes::Bytes;
use tars::codec::TarsStruct;
use tars::TarsStruct as DeriveTarsStruct;

use crate::etcd::ClusterError;
use crate::keys::Keys;

/// A checkpoint needs at least this many log entries since the last one.
pub const CHECKPOINT_ENTRIES: u64 = 64;
/// ... or this many bytes of records in the log (and twice the image).
pub const CHECKPOINT_BYTES: usize = 8 * 1024 * 1024;

/// Whether the writer should checkpoint, with `entries` log entries holding `log_bytes` bytes
/// of records since the last checkpoint and an image of `image_bytes`: after
/// [`CHECKPOINT_ENTRIES`] entries once the log holds at least half the image's bytes (each
/// byte logged then costs at most two bytes of image; a takeover reads at most about three
/// times the image), or once the log is past [`CHECKPOINT_BYTES`] and twice the image,
/// however few its entries.
pub fn checkpoint_due(entries: u64, log_bytes: usize, image_bytes: usize) -> bool {
    (entries >= CHECKPOINT_ENTRIES && log_bytes.saturating_mul(2) >= image_bytes)
        || log_bytes >= CHECKPOINT_BYTES.max(image_bytes.saturating_mul(2))
}
/// The first byte of a packed value: an LZ4 block, after its size (u32, little-endian).
const PACKED_LZ4: u8 = 1;
/// The largest unpacked value accepted (etcd's values are at most 1.5 MiB; LZ4 expands at
/// most 255 times).
const MAX_UNPACKED: usize = 64 * 1024 * 1024;

/// `changes` as stored: encoded, then compressed.
pub fn pack(changes: &Changes) -> Vec<u8> {
    let encoded = changes.encode_to_bytes();
    let size = u32::try_from(encoded.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(5 + lz4_flex::block::get_maximum_output_size(encoded.len()));
    out.push(PACKED_LZ4);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress(&encoded));
    out
}

/// The changes stored under `key` as `value` (see [`pack`]).
pub fn unpack(key: &str, value: &[u8]) -> Result<Changes, ClusterError> {
    let [PACKED_LZ4, a, b, c, d, block @ ..] = value else {
        return Err(corrupt(key, "not a packed session log value".into()));
    };
    let size = u32::from_le_bytes([*a, *b, *c, *d]) as usize;
    if size > MAX_UNPACKED {
        return Err(corrupt(key, format!("unpacks to {size} bytes")));
    }
    let encoded =
        lz4_flex::block::decompress(block, size).map_err(|e| corrupt(key, e.to_string()))?;
    if encoded.len() != size {
        return Err(corrupt(
            key,
            format!("unpacked to {} bytes, not {size}", encoded.len()),
        ));
    }
    Changes::decode_from(&encoded).map_err(|e| corrupt(key, e.to_string()))
}

/// A log entry, or a chunk of an image (records only).
#[derive(Debug, Clone, PartialEq, Default, DeriveTarsStruct)]
#[tars(class = "tarscluster.SessionChanges")]
pub struct Changes {
    /// The current record of each session changed (the coordinator's stored session, which
    /// names its XID).
    #[tars(tag = 0)]
    pub records: Vec<Bytes>,
    /// The XIDs of the sessions removed.
    #[tars(tag = 1)]
    pub removed: Vec<String>,
}

/// The value of `tx/<f>/checkpoint`.
#[derive(Debug, Clone, PartialEq, Default, DeriveTarsStruct)]
#[tars(class = "tarscluster.SessionCheckpoint")]
pub struct Checkpoint {
    /// The image: `image/<generation>/`.
    #[tars(tag = 0, require)]
    pub generation: i64,
    /// The last log entry the image includes.
    #[tars(tag = 1, require)]
    pub covers: i64,
    /// How many chunks the image has.
    #[tars(tag = 2, require)]
    pub chunks: i32,
}

/// A fragment's sessions read back from its log: XID → record.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The record of every open session, by XID.
    pub records: HashMap<String, Bytes>,
    /// The next free sequence number (above every log entry and image found).
    pub next_seq: u64,
    /// Log entries after the checkpoint.
    pub entries: u64,
    /// The bytes of the records and XIDs they hold.
    pub bytes: usize,
}

impl Replayed {
    /// Applies one log entry or image chunk (`key` names it in errors). Returns the bytes of
    /// the records and XIDs it held.
    fn apply(&mut self, key: &str, value: &[u8]) -> Result<usize, ClusterError> {
        let changes = unpack(key, value)?;
        let bytes = changes.records.iter().map(Bytes::len).sum::<usize>()
            + changes.removed.iter().map(String::len).sum::<usize>();
        for record in changes.records {
            // Only the XID (the record's first field) here: the records that survive the
            // replay are decoded whole by whoever takes the sessions over.
            let xid: String = tars::codec::Reader::new(&record)
                .read_required(0, "xid")
                .map_err(|e| corrupt(key, format!("a record's XID: {e}")))?;
            self.records.insert(xid, record);
        }
        for xid in changes.removed {
            self.records.remove(&xid);
        }
        Ok(bytes)
    }
}

fn corrupt(key: &str, reason: String) -> ClusterError {
    ClusterError::Corrupt {
        key: key.to_owned(),
        reason,
    }
}

fn hex(key: &str, s: &str) -> Result<u64, ClusterError> {
    u64::from_str_radix(s, 16).map_err(|_| corrupt(key, format!("`{s}` is not a hex number")))
}

/// The open sessions of fragment `f` from every key below `tx/<f>/`, read at one revision.
pub fn replay(keys: &Keys, f: u32, kvs: &[(String, Vec<u8>)]) -> Result<Replayed, ClusterError> {
    let prefix = keys.sessions(f);
    let mut checkpoint = None;
    let mut images: BTreeMap<(u64, u32), (&str, &[u8])> = BTreeMap::new();
    let mut log: BTreeMap<u64, (&str, &[u8])> = BTreeMap::new();
    let mut highest = 0u64;
    for (key, value) in kvs {
        let rest = key.strip_prefix(&prefix).unwrap_or(key);
        if rest == "checkpoint" {
            let c = Checkpoint::decode_from(value).map_err(|e| corrupt(key, e.to_string()))?;
            let (Ok(generation), Ok(covers)) =
                (u64::try_from(c.generation), u64::try_from(c.covers))
            else {
                return Err(corrupt(key, format!("negative numbers in {c:?}")));
            };
            highest = highest.max(generation).max(covers);
            checkpoint = Some((generation, covers, c.chunks, key.as_str()));
        } else if let Some(seq) = rest.strip_prefix("log/") {
            let seq = hex(key, seq)?;
            highest = highest.max(seq);
            log.insert(seq, (key, value));
        } else if let Some((generation, i)) =
            rest.strip_prefix("image/").and_then(|r| r.split_once('/'))
        {
            let generation = hex(key, generation)?;
            let i = u32::try_from(hex(key, i)?).map_err(|_| corrupt(key, "chunk number".into()))?;
            highest = highest.max(generation);
            images.insert((generation, i), (key, value));
        } else {
            return Err(corrupt(key, "not a key of the session log".into()));
        }
    }
    let mut replayed = Replayed {
        next_seq: highest + 1,
        ..Replayed::default()
    };
    let mut covers = 0;
    if let Some((generation, upto, chunks, key)) = checkpoint {
        covers = upto;
        for i in 0..u32::try_from(chunks).unwrap_or(0) {
            let Some((chunk_key, value)) = images.get(&(generation, i)) else {
                return Err(corrupt(
                    key,
                    format!("names chunk {i} of image {generation}, which is missing"),
                ));
            };
            replayed.apply(chunk_key, value)?;
        }
    }
    for (key, value) in log.range(covers + 1..).map(|(_, kv)| kv) {
        replayed.bytes += replayed.apply(key, value)?;
        replayed.entries += 1;
    }
    Ok(replayed)
}

/// `records` and `removed` packed into values of at most about `max_bytes` each before
/// compression (each record and XID counted with a little framing; one larger than that is a
/// value of its own): the entries of one log write, or the chunks of an image (no removals).
/// None when there is nothing to pack.
pub fn packed_chunks<'a>(
    records: impl Iterator<Item = &'a Bytes>,
    removed: impl Iterator<Item = &'a str>,
    max_bytes: usize,
) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut current = Changes::default();
    let mut bytes = 0;
    let mut room_for = |current: &mut Changes, bytes: &mut usize, len: usize| {
        let empty = current.records.is_empty() && current.removed.is_empty();
        if !empty && *bytes + len + 8 > max_bytes {
            chunks.push(pack(&std::mem::take(current)));
            *bytes = 0;
        }
        *bytes += len + 8;
    };
    for r in records {
        room_for(&mut current, &mut bytes, r.len());
        current.records.push(r.clone());
    }
    for xid in removed {
        room_for(&mut current, &mut bytes, xid.len());
        current.removed.push(xid.to_owned());
    }
    if !current.records.is_empty() || !current.removed.is_empty() {
        chunks.push(pack(&current));
    }
    chunks
}

/// The operations that make image `generation` (of `chunks` chunks, written before or in the
/// same transaction) the checkpoint of fragment `f` as of log entry `covers`: put the
/// checkpoint, delete the log up to `covers` and every older image.
pub fn checkpoint_ops(
    keys: &Keys,
    f: u32,
    generation: u64,
    covers: u64,
    chunks: usize,
) -> Vec<TxnOp> {
    let checkpoint = Checkpoint {
        generation: i64::try_from(generation).unwrap_or(i64::MAX),
        covers: i64::try_from(covers).unwrap_or(i64::MAX),
        chunks: i32::try_from(chunks).unwrap_or(i32::MAX),
    };
    vec![
        TxnOp::put(
            keys.checkpoint(f),
            checkpoint.encode_to_bytes().to_vec(),
            None,
        ),
        TxnOp::delete(
            keys.log(f),
            Some(DeleteOptions::new().with_range(keys.log_entry(f, covers + 1))),
        ),
        TxnOp::delete(
            keys.images(f),
            Some(DeleteOptions::new().with_range(keys.image(f, generation))),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tars::codec::Writer;
    use tars_coordinator::session::GlobalSession;
    use tars_coordinator::store::encode_record;

    fn record(xid: &str, name: &str) -> Bytes {
        let s = GlobalSession {
            xid: xid.into(),
            application_id: "app".into(),
            owner: String::new(),
            transaction_name: name.into(),
            status: tars_protocols::tarstx::GlobalStatus::Begin,
            active: true,
            began: std::time::Instant::now(),
            begin_time_ms: 1,
            timeout: std::time::Duration::from_secs(60),
            branches: Vec::new(),
        };
        let mut w = Writer::new();
        encode_record(&s, &mut w);
        w.into_bytes()
    }

    fn entry(records: &[Bytes], removed: &[&str]) -> Vec<u8> {
        pack(&Changes {
            records: records.to_vec(),
            removed: removed.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn the_image_then_the_log_after_it_in_order() {
        let k = Keys::new("/t");
        let (a1, a2, b, c) = (
            record("a", "1"),
            record("a", "2"),
            record("b", "1"),
            record("c", "1"),
        );
        let chunks = packed_chunks([a1.clone(), b.clone()].iter(), std::iter::empty(), 1 << 20);
        assert_eq!(chunks.len(), 1);
        let kvs = vec![
            (k.checkpoint(3), checkpoint_value(5, 4, 1)),
            (k.image_chunk(3, 2, 0), entry(std::slice::from_ref(&c), &[])), // an older image: ignored
            (k.image_chunk(3, 5, 0), chunks[0].clone()),
            (k.log_entry(3, 4), entry(std::slice::from_ref(&c), &[])), // covered: ignored
            (k.log_entry(3, 7), entry(std::slice::from_ref(&c), &["b"])),
            (k.log_entry(3, 6), entry(std::slice::from_ref(&a2), &[])),
        ];
        let r = replay(&k, 3, &kvs).expect("replay");
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records["a"], a2);
        assert_eq!(r.records["c"], c);
        assert_eq!((r.next_seq, r.entries), (8, 2));
        // Without a checkpoint the whole log counts.
        let r = replay(&k, 3, &kvs[3..]).expect("replay");
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.entries, 3);
    }

    fn checkpoint_value(generation: i64, covers: i64, chunks: i32) -> Vec<u8> {
        Checkpoint {
            generation,
            covers,
            chunks,
        }
        .encode_to_bytes()
        .to_vec()
    }

    #[test]
    fn broken_logs_are_errors_that_name_the_key() {
        let k = Keys::new("/t");
        let missing = vec![(k.checkpoint(1), checkpoint_value(5, 4, 2))];
        let e = replay(&k, 1, &missing).unwrap_err().to_string();
        assert!(e.contains("checkpoint") && e.contains("chunk 0"), "{e}");
        let stray = vec![(format!("{}h:1:2", k.sessions(1)), b"x".to_vec())];
        let e = replay(&k, 1, &stray).unwrap_err().to_string();
        assert!(
            e.contains("h:1:2") && e.contains("not a key of the session log"),
            "{e}"
        );
        let garbage = vec![(k.log_entry(1, 1), vec![0xff, 0x01])];
        assert!(replay(&k, 1, &garbage).is_err());
        // A size past the limit is refused before anything is allocated; a block that does
        // not unpack to its size is refused.
        let mut huge = vec![PACKED_LZ4];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        let e = replay(&k, 1, &[(k.log_entry(1, 1), huge)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unpacks to"), "{e}");
        let mut short = entry(&[record("a", "1")], &[]);
        short[1] = short[1].wrapping_add(1);
        assert!(replay(&k, 1, &[(k.log_entry(1, 1), short)]).is_err());
        let bad_seq = vec![(format!("{}zz", k.log(1)), entry(&[], &[]))];
        assert!(replay(&k, 1, &bad_seq)
            .unwrap_err()
            .to_string()
            .contains("hex"));
    }

    #[test]
    fn checkpoints_come_with_the_log_long_against_the_image() {
        let n = CHECKPOINT_ENTRIES;
        // A small image: every CHECKPOINT_ENTRIES entries.
        assert!(!checkpoint_due(n - 1, 1 << 20, 10_000));
        assert!(checkpoint_due(n, 5_000, 10_000));
        // A large image is not rewritten every few batches: the log must hold half of it.
        assert!(!checkpoint_due(10 * n, 49 << 20, 100 << 20));
        assert!(checkpoint_due(10 * n, 50 << 20, 100 << 20));
        // A few huge entries: past CHECKPOINT_BYTES and twice the image.
        assert!(checkpoint_due(2, CHECKPOINT_BYTES, 1_000));
        assert!(!checkpoint_due(2, CHECKPOINT_BYTES, CHECKPOINT_BYTES));
        assert!(!checkpoint_due(0, 0, 0));
    }

    #[test]
    fn images_split_by_size_and_keep_every_record() {
        let records: Vec<Bytes> = (0..50)
            .map(|i| record(&format!("x{i}"), &"n".repeat(100)))
            .collect();
        let chunks = packed_chunks(records.iter(), std::iter::empty(), 1000);
        assert!(chunks.len() > 5, "{}", chunks.len());
        let mut r = Replayed::default();
        for c in &chunks {
            assert!(c.len() < 1300, "{}", c.len());
            assert!(unpack("k", c).expect("unpacks").records.len() < 10);
            r.apply("k", c).expect("chunk");
        }
        assert_eq!(r.records.len(), 50);
        assert!(packed_chunks(std::iter::empty(), std::iter::empty(), 1000).is_empty());
    }
}
