//! The session store when its files are damaged, truncated or gone: a clear error naming the
//! file (never a panic), and no start from nothing where a coordinator ran before unless asked
//! (`init`), so an epoch (and with it an XID) is never handed out twice.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars_coordinator::core::TransactionCore;
use tars_coordinator::store::{epoch_file, SessionStore, StoreError};
use tars_coordinator::xid::XidGenerator;

/// A store at `path` that ran some transactions; returns the epoch it ran.
fn run_once(path: &Path) -> u64 {
    let (store, recovered) = SessionStore::open(path).expect("open");
    let store = Arc::new(store);
    let core = TransactionCore::new(
        XidGenerator::new("127.0.0.1:17891", 1, recovered.epoch).expect("ids"),
    )
    .with_journal(store.clone());
    for i in 0..200 {
        core.begin(
            "app",
            &format!("tx{i}"),
            Duration::from_secs(60),
            Instant::now(),
        )
        .expect("begin");
    }
    store.sync().expect("sync");
    store.close();
    recovered.epoch
}

fn missing(err: StoreError, path: &Path, epoch: u64) {
    match &err {
        StoreError::Missing { file, epoch: e, .. } => {
            assert_eq!(file, &path.display().to_string());
            assert_eq!(*e, epoch);
        }
        other => panic!("expected Missing, got {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("--init"), "{text}");
}

#[test]
fn a_deleted_database_is_refused_unless_init_and_epochs_continue() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("coordinator.redb");
    run_once(&path);
    let epoch = run_once(&path);
    std::fs::remove_file(&path).expect("delete");
    missing(
        SessionStore::open(&path).expect_err("refused"),
        &path,
        epoch,
    );
    assert!(!path.exists(), "a refused start creates nothing");
    let (_, recovered) = SessionStore::open_with(&path, true).expect("init");
    assert_eq!(recovered.epoch, epoch + 1, "the epoch continues");
    assert!(recovered.sessions.is_empty());
}

#[test]
fn a_database_truncated_to_nothing_is_refused_unless_init() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("coordinator.redb");
    let epoch = run_once(&path);
    std::fs::File::create(&path).expect("truncate");
    missing(
        SessionStore::open(&path).expect_err("refused"),
        &path,
        epoch,
    );
    let (_, recovered) = SessionStore::open_with(&path, true).expect("init");
    assert_eq!(recovered.epoch, epoch + 1);
}

#[test]
fn a_database_replaced_by_a_fresh_one_is_refused_unless_init() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("coordinator.redb");
    let epoch = run_once(&path);
    // Someone else's fresh database in its place: it has no epoch of its own.
    std::fs::remove_file(&path).expect("delete");
    redb::Database::create(&path).expect("fresh database");
    missing(
        SessionStore::open(&path).expect_err("refused"),
        &path,
        epoch,
    );
    let (_, recovered) = SessionStore::open_with(&path, true).expect("init");
    assert_eq!(recovered.epoch, epoch + 1);
}

#[test]
fn the_epoch_file_is_written_before_the_database_and_never_behind_it() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("coordinator.redb");
    let epochs = epoch_file::path_of(&path);
    let e1 = run_once(&path);
    assert_eq!(epoch_file::read(&epochs).expect("read"), Some(e1));
    // An epoch file ahead of the database (a crash between the two writes): the next epoch
    // follows the larger one.
    epoch_file::write(&epochs, e1 + 5).expect("ahead");
    let e2 = run_once(&path);
    assert_eq!(e2, e1 + 6);
    // A data directory from before epoch files: the database's epoch is taken over.
    std::fs::remove_file(&epochs).expect("remove");
    let e3 = run_once(&path);
    assert_eq!(e3, e2 + 1);
    assert_eq!(epoch_file::read(&epochs).expect("read"), Some(e3));
    // A damaged epoch file is an error naming it.
    std::fs::write(&epochs, "x").expect("damage");
    let err = SessionStore::open(&path).expect_err("damaged epoch file");
    assert!(
        matches!(&err, StoreError::Damaged { file, .. } if file == &epochs.display().to_string()),
        "{err}"
    );
}

/// Every way of damaging the file tried here ends in a store that opens (the damage missed
/// what is read) or a clear error naming the file: never a panic out of the store.
#[test]
fn flipped_bytes_and_zeroed_pages_give_errors_not_panics() {
    let dir = tempfile::tempdir().expect("dir");
    let original = dir.path().join("original.redb");
    run_once(&original);
    run_once(&original);
    let len = std::fs::metadata(&original).expect("meta").len();
    assert!(len > 8192, "a database of {len} bytes");
    let mut cases: Vec<(String, u64, Vec<u8>)> = Vec::new();
    for offset in (0..len).step_by(4096) {
        cases.push((format!("zeroed page at {offset}"), offset, vec![0; 4096]));
    }
    for offset in (0..len).step_by(997).take(64) {
        cases.push((format!("flipped byte at {offset}"), offset, Vec::new()));
    }
    let mut errors = 0;
    for (i, (what, offset, bytes)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.redb"));
        std::fs::copy(&original, &path).expect("copy");
        std::fs::copy(epoch_file::path_of(&original), epoch_file::path_of(&path))
            .expect("copy epoch");
        {
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .expect("open");
            f.seek(SeekFrom::Start(*offset)).expect("seek");
            if bytes.is_empty() {
                let mut b = [0u8; 1];
                std::io::Read::read_exact(&mut f, &mut b).expect("read");
                f.seek(SeekFrom::Start(*offset)).expect("seek");
                f.write_all(&[b[0] ^ 0x5a]).expect("flip");
            } else {
                let n = bytes.len().min((len - offset) as usize);
                f.write_all(&bytes[..n]).expect("zero");
            }
        }
        let opened = std::panic::catch_unwind(|| SessionStore::open(&path).map(|_| ()));
        match opened {
            Err(_) => panic!("{what}: a panic escaped the store"),
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                errors += 1;
                let text = e.to_string();
                assert!(
                    text.contains(&path.display().to_string())
                        || matches!(e, StoreError::Corrupt { .. }),
                    "{what}: the error does not name the file: {text}"
                );
            }
        }
    }
    assert!(errors > 0, "no damage was ever noticed");
}
