//! Fuzz body for the WAL segment reader: any bytes read as records then either the end or a
//! typed corruption error whose truncation point reads back cleanly.

use tsdb_core::wlog::{SegmentReader, WalError};

use crate::wal_records::wal_records;

/// Reads `data` as WAL segment 0, decoding each record; on corruption, checks that cutting the
/// segment at the reported record offset leaves the same intact records and no error.
pub fn wal_segment(data: &[u8]) {
    let mut r = SegmentReader::from_bytes(0, data.to_vec());
    let mut good = 0usize;
    let cut = loop {
        match r.next_record() {
            Ok(Some(rec)) => {
                wal_records(rec);
                good += 1;
            }
            Ok(None) => break None,
            Err(WalError::Corruption(c)) => break Some(c.record_offset as usize),
            Err(e) => panic!("segment in memory failed with a non-corruption error: {e}"),
        }
    };
    assert!(r.next_record().expect("reader stays finished").is_none());
    if let Some(cut) = cut {
        let cut = cut.min(data.len());
        let mut r = SegmentReader::from_bytes(0, data[..cut].to_vec());
        let mut n = 0;
        while let Some(_rec) = r.next_record().expect("a repaired segment reads cleanly") {
            n += 1;
        }
        assert_eq!(n, good, "repair point keeps the intact records");
    }
}
