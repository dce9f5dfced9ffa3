//! The delete API for the head: deleted intervals are logged to the WAL as a tombstones
//! record (so that a restart replays them) and kept in memory; queriers hide the samples at
//! once and [`Head::persist`] leaves them out of the blocks it writes.

use tsdb_index::Matcher;

use super::Head;
use crate::record::{self, RefTombstone};
use crate::wlog::WalError;

impl Head {
    /// Marks the samples in `[mint, maxt]` (inclusive) of every series matching `matchers`
    /// deleted, clamped to each series' own time span. The tombstones record is committed to
    /// the WAL (fsynced) before the deletion shows. Returns the number of series affected.
    ///
    /// An empty matcher list selects nothing, as in [`crate::delete::delete_in_block`].
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<usize, WalError> {
        if matchers.is_empty() || mint > maxt {
            return Ok(0);
        }
        // Holding the WAL lock orders the record after every commit it could affect.
        let mut wal = self.wal.lock().unwrap_or_else(|e| e.into_inner());
        let stones: Vec<RefTombstone> = self
            .querier(mint, maxt)
            .matching_refs(matchers)
            .into_iter()
            .filter_map(|(r, _)| {
                let s = self.series_by_ref(r)?;
                let (first, last) = s.lock().time_range()?;
                let (from, to) = (mint.max(first), maxt.min(last));
                (from <= to).then_some(RefTombstone {
                    series_ref: r,
                    mint: from,
                    maxt: to,
                })
            })
            .collect();
        if stones.is_empty() {
            return Ok(0);
        }
        if let Some(w) = wal.as_mut() {
            let mut buf = Vec::new();
            record::encode_tombstones(&stones, &mut buf);
            w.commit(&[&buf])?;
        }
        let mut deleted = self.tombstones.write().unwrap_or_else(|e| e.into_inner());
        for st in &stones {
            deleted
                .entry(st.series_ref)
                .or_default()
                .push((st.mint, st.maxt));
        }
        Ok(stones.len())
    }
}
