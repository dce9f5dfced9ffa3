//! The delete API for the head: deleted intervals are logged to the WAL as a tombstones
//! record (so that a restart replays them) and kept in memory; queriers hide the samples at
//! once and [`Head::persist`] leaves them out of the blocks it writes. Out-of-order samples
//! in the intervals are dropped outright and the WBL rewritten without them.

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
                let (first, last) = s.lock().full_time_range()?;
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
        drop(deleted);
        // Out-of-order samples are removed outright, and the WBL is rewritten without them:
        // tombstones only outlive the head's in-order data, not the WBL's.
        let mut removed_ooo = false;
        for st in &stones {
            if let Some(s) = self.series_by_ref(st.series_ref) {
                let mut d = s.lock();
                let before = d.ooo.len();
                d.ooo.retain(|&(t, _)| t < st.mint || t > st.maxt);
                removed_ooo |= d.ooo.len() != before;
            }
        }
        if removed_ooo {
            let mut wbl = self.wbl.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(w) = wbl.as_mut() {
                let cut = w.next_segment()?;
                self.log_remaining_ooo(w)?;
                w.truncate(cut)?;
            }
        }
        Ok(stones.len())
    }
}
