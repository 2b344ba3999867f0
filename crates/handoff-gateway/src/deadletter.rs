//! The dead-letter file: one JSON line per delivery that exhausted its retries, fsync'd before
//! the request is answered, taken out for replay by renaming and never rewritten in place.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A delivery that did not reach its upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) id: String,
    /// The rule whose output it is; its `[forward.RULE]` decides where a replay goes.
    pub(crate) rule: String,
    pub(crate) request_id: String,
    pub(crate) rule_set_hash: String,
    /// RFC 3339, when it was first written.
    pub(crate) failed_at: String,
    pub(crate) attempts: u32,
    /// Replay rounds that failed since.
    #[serde(default)]
    pub(crate) replays: u32,
    /// The upstream's last status, if it answered.
    pub(crate) status: Option<u16>,
    pub(crate) error: String,
    /// The transformed output, as the JSON text that would have been POSTed.
    pub(crate) body: String,
}

/// The file and a count of its lines. Appends and the replay's take/put-back are serialized by
/// a lock; the file only ever grows, except when it is renamed away for a replay.
#[derive(Debug)]
pub(crate) struct DeadLetter {
    path: PathBuf,
    /// `PATH.replaying`: the entries a replay has taken out. Merged back at the next open if
    /// the process stopped in between, so nothing is lost (a delivery may be repeated).
    replaying: PathBuf,
    lock: Mutex<()>,
    /// Lines in the file (changed under `lock`).
    in_file: AtomicU64,
    /// Lines a running replay has taken out of the file (changed under `lock`).
    taken: AtomicU64,
    /// Entries not delivered yet, in the file or taken out: changed only by an append (+1) and
    /// by the end of a replay (- those delivered), so a reader never sees a round in flight as
    /// an empty file.
    undelivered: AtomicU64,
}

impl DeadLetter {
    /// Opens (or prepares to create) the file, first merging back an interrupted replay.
    pub(crate) fn open(path: &Path) -> io::Result<DeadLetter> {
        let mut replaying = path.as_os_str().to_owned();
        replaying.push(".replaying");
        let dl = DeadLetter {
            path: path.to_path_buf(),
            replaying: PathBuf::from(replaying),
            lock: Mutex::new(()),
            in_file: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            undelivered: AtomicU64::new(0),
        };
        if dl.replaying.exists() {
            let lines = read_lines(&dl.replaying)?;
            dl.append_lines(&lines)?;
            std::fs::remove_file(&dl.replaying)?;
            sync_dir(&dl.path)?;
        }
        let n = match read_lines(&dl.path) {
            Ok(lines) => lines.len() as u64,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        dl.in_file.store(n, Ordering::Relaxed);
        dl.undelivered.store(n, Ordering::Relaxed);
        Ok(dl)
    }

    /// Entries not delivered yet: those in the file and those a running replay has taken out.
    pub(crate) fn len(&self) -> u64 {
        self.undelivered.load(Ordering::Relaxed)
    }

    /// The file's size in bytes.
    pub(crate) fn bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry and syncs it to disk. Blocking.
    pub(crate) fn append(&self, entry: &Entry) -> io::Result<()> {
        let line = serde_json::to_string(entry).map_err(io::Error::other)?;
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.append_lines(&[line])?;
        self.undelivered.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Takes every line out for a replay (the file is renamed to `PATH.replaying`). Blocking.
    pub(crate) fn take(&self) -> io::Result<Vec<String>> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.in_file.load(Ordering::Relaxed) == 0 {
            return Ok(Vec::new());
        }
        std::fs::rename(&self.path, &self.replaying)?;
        sync_dir(&self.path)?;
        self.in_file.store(0, Ordering::Relaxed);
        let lines = read_lines(&self.replaying)?;
        self.taken.store(lines.len() as u64, Ordering::Relaxed);
        Ok(lines)
    }

    /// Ends a replay: the lines still undelivered go back into the file, then the taken-out
    /// file is removed. Blocking.
    pub(crate) fn put_back(&self, lines: &[String]) -> io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.append_lines(lines)?;
        let delivered = (self.taken.swap(0, Ordering::Relaxed)).saturating_sub(lines.len() as u64);
        self.undelivered.fetch_sub(delivered, Ordering::Relaxed);
        match std::fs::remove_file(&self.replaying) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        sync_dir(&self.path)
    }

    fn append_lines(&self, lines: &[String]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let mut buf = String::new();
        for l in lines {
            buf.push_str(l);
            buf.push('\n');
        }
        file.write_all(buf.as_bytes())?;
        file.sync_data()?;
        self.in_file
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// The non-empty lines of a file.
fn read_lines(path: &Path) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    for line in BufReader::new(File::open(path)?).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// Makes a rename or removal in the file's folder durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> Entry {
        Entry {
            id: id.to_owned(),
            rule: "r".to_owned(),
            request_id: "req".to_owned(),
            rule_set_hash: "h".to_owned(),
            failed_at: "2026-01-01T00:00:00.000Z".to_owned(),
            attempts: 3,
            replays: 0,
            status: Some(503),
            error: "upstream answered 503".to_owned(),
            body: "{\"a\":1}".to_owned(),
        }
    }

    #[test]
    fn entries_survive_a_reopen_and_an_interrupted_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl.jsonl");
        let dl = DeadLetter::open(&path).unwrap();
        assert_eq!(dl.len(), 0);
        dl.append(&entry("a")).unwrap();
        dl.append(&entry("b")).unwrap();
        assert_eq!(DeadLetter::open(&path).unwrap().len(), 2);

        let taken = dl.take().unwrap();
        assert_eq!(taken.len(), 2);
        assert_eq!(dl.len(), 2, "taken out for a replay, still undelivered");
        dl.append(&entry("c")).unwrap();
        assert_eq!(dl.len(), 3);
        drop(dl);
        // The process stopped mid-replay: the taken entries come back at the next open.
        let dl = DeadLetter::open(&path).unwrap();
        assert_eq!(dl.len(), 3);
        let ids: Vec<String> = read_lines(&path)
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str::<Entry>(l).unwrap().id)
            .collect();
        assert_eq!(ids, ["c", "a", "b"]);

        let taken = dl.take().unwrap();
        dl.put_back(&taken[1..]).unwrap();
        assert_eq!(dl.len(), 2);
        assert!(!dir.path().join("dl.jsonl.replaying").exists());
    }
}
