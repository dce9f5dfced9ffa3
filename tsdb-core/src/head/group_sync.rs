//! Group commit: commits write their WAL records under the WAL lock, then wait for an fsync
//! outside it. One fsync covers every write made before it started, so concurrent commits
//! share fsyncs instead of queueing one each behind the lock.

use std::fs::File;
use std::sync::{Arc, Mutex};

/// The WAL writes of a head and how far they are durable.
#[derive(Default)]
pub struct GroupSync {
    /// Number of the latest write and the segment file it went to (set under the WAL lock).
    latest: Mutex<(u64, Option<Arc<File>>)>,
    /// Number of the latest write known durable; held while an fsync runs.
    synced: Mutex<u64>,
}

impl GroupSync {
    /// Records a write to `file`, made under the WAL lock; returns its number.
    pub fn wrote(&self, file: Arc<File>) -> u64 {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.0 += 1;
        latest.1 = Some(file);
        latest.0
    }

    /// Returns once write `n` is durable: at once if an fsync that started after it has
    /// finished, else after an fsync of the newest segment, which also covers every write
    /// made before that fsync started.
    pub fn wait_durable(&self, n: u64) -> std::io::Result<()> {
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if *synced >= n {
            return Ok(());
        }
        let (upto, file) = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(f) = file {
            f.sync_data()?;
        }
        *synced = upto;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_fsync_covers_every_earlier_write() {
        let dir = tempfile::tempdir().unwrap();
        let f = Arc::new(File::create(dir.path().join("seg")).unwrap());
        let g = GroupSync::default();
        let a = g.wrote(f.clone());
        let b = g.wrote(f.clone());
        g.wait_durable(a).unwrap();
        // b was written before the fsync for a started: covered.
        assert_eq!(*g.synced.lock().unwrap(), b);
        g.wait_durable(b).unwrap();
        let c = g.wrote(f);
        assert!(*g.synced.lock().unwrap() < c);
        g.wait_durable(c).unwrap();
        assert_eq!(*g.synced.lock().unwrap(), c);
    }
}
