//! The epoch kept beside the database file (`<database>.epoch`), so that a database that went
//! missing, was truncated or replaced is noticed instead of silently starting over — which
//! would start the epoch at 1 again and hand out XIDs that were handed out before.
//!
//! The file holds one line, `tars-rs coordinator epoch <N>`, and is replaced atomically
//! (written beside it, synced, renamed over it, the directory synced). It is written with a
//! new epoch **before** the database is, so it never falls behind an epoch in use: a crash
//! between the two leaves it ahead, and the next start skips an epoch instead of repeating
//! one.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::StoreError;

const PREFIX: &str = "tars-rs coordinator epoch ";

/// The epoch file of the database at `db`.
pub fn path_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".epoch");
    PathBuf::from(name)
}

/// The epoch recorded in `file`, `None` when there is no such file.
pub fn read(file: &Path) -> Result<Option<u64>, StoreError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::Io(format!("{}: {e}", file.display()))),
    };
    text.trim_end()
        .strip_prefix(PREFIX)
        .and_then(|n| n.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| StoreError::Damaged {
            file: file.display().to_string(),
            what: format!("not an epoch file (expected {PREFIX:?}<number>, found {text:?})"),
        })
}

/// Records `epoch` in `file`, atomically and durably.
pub fn write(file: &Path, epoch: u64) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", file.display()));
    let mut temp = file.as_os_str().to_owned();
    temp.push(".new");
    let temp = PathBuf::from(temp);
    {
        let mut f = std::fs::File::create(&temp).map_err(io)?;
        writeln!(f, "{PREFIX}{epoch}").map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&temp, file).map_err(io)?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_absent_and_damaged() {
        let dir = tempfile::tempdir().expect("dir");
        let file = path_of(&dir.path().join("coordinator.redb"));
        assert!(file.ends_with("coordinator.redb.epoch"));
        assert_eq!(read(&file).expect("absent"), None);
        write(&file, 41).expect("write");
        write(&file, 42).expect("replace");
        assert_eq!(read(&file).expect("read"), Some(42));
        std::fs::write(&file, "garbage").expect("damage");
        let err = read(&file).expect_err("damaged");
        assert!(
            matches!(&err, StoreError::Damaged { file: f, .. } if f.ends_with("coordinator.redb.epoch")),
            "{err}"
        );
    }
}
