//! Damage to Prometheus' WAL: truncated at many offsets or with a flipped byte, opening never
//! panics, repairs the tail the way Prometheus does, and keeps exactly the records that lie
//! entirely before the damage.

use std::path::PathBuf;

use tsdb_core::db::{Db, DbOptions};
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_core::wlog::{CorruptionKind, SegmentReader, WalError, WalOptions, WalWriter};
use tsdb_index::{Labels, MatchType, Matcher};

fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn segment() -> Vec<u8> {
    let p = shared_dir().join("fixtures/prom-wal/wal/00000000");
    std::fs::read(&p)
        .unwrap_or_else(|e| panic!("fixture {} missing ({e}): set SHARED_DIR", p.display()))
}

type Samples = Vec<(String, i64, u64)>;

fn samples(db: &Db) -> Samples {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let m = Matcher::new(MatchType::Regexp, "__name__", ".*").unwrap();
    let mut set = q.select(false, None, &[m]).unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let l = s.labels().to_string();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push((l.clone(), t, v.to_bits()));
        }
    }
    out
}

/// Records of the fixture with the offset where each ends.
fn records() -> Vec<(Vec<u8>, u64)> {
    let mut r = SegmentReader::from_bytes(0, segment());
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        let rec = rec.to_vec();
        out.push((rec, r.offset()));
    }
    out
}

/// What replaying only the first `k` records gives.
fn reference(recs: &[(Vec<u8>, u64)], k: usize) -> Samples {
    let tmp = tempfile::tempdir().unwrap();
    let wal = tmp.path().join("wal");
    let mut w = WalWriter::open(&wal, WalOptions::default()).unwrap();
    for (r, _) in &recs[..k] {
        w.log(&[r]).unwrap();
    }
    w.close().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    samples(&db)
}

fn open_damaged(data: &[u8]) -> (tempfile::TempDir, Db) {
    let tmp = tempfile::tempdir().unwrap();
    let wal = tmp.path().join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    std::fs::write(wal.join("00000000"), data).unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    (tmp, db)
}

fn kept_records(recs: &[(Vec<u8>, u64)], damage_at: u64) -> usize {
    recs.iter().take_while(|(_, end)| *end <= damage_at).count()
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Reads damaged bytes in memory: the records before the damage come back intact, then a
/// typed corruption error whose `record_offset` is a safe truncation point (cutting there
/// leaves a segment that reads cleanly with the same records).
fn check_in_memory(data: &[u8], recs: &[(Vec<u8>, u64)], k: usize, what: &str) {
    let mut r = SegmentReader::from_bytes(0, data.to_vec());
    let mut n = 0;
    let err = loop {
        match r.next_record() {
            Ok(Some(rec)) => {
                assert!(n < k, "{what}: read more than the {k} intact records");
                assert!(rec == recs[n].0.as_slice(), "{what}: record {n} differs");
                n += 1;
            }
            Ok(None) => break None,
            Err(WalError::Corruption(c)) => break Some(c),
            Err(e) => panic!("{what}: unexpected error {e}"),
        }
    };
    assert_eq!(n, k, "{what}: expected {k} intact records");
    if let Some(c) = err {
        let cut = c.record_offset as usize;
        assert!(
            k == 0 || cut as u64 >= recs[k - 1].1,
            "{what}: cut {cut} loses data"
        );
        let mut r = SegmentReader::from_bytes(0, data[..cut].to_vec());
        let mut m = 0;
        while let Some(_rec) = r.next_record().unwrap() {
            m += 1;
        }
        assert_eq!(
            m, k,
            "{what}: truncating at {cut} does not keep {k} records"
        );
    }
}

#[test]
fn truncation_at_many_offsets_keeps_every_complete_record() {
    let seg = segment();
    let recs = records();
    let mut offsets: Vec<usize> = (0..seg.len()).step_by(97).collect();
    // Around every record end and page boundary.
    for (_, end) in &recs {
        let e = *end as usize;
        offsets.extend([e.saturating_sub(1), e, e + 1, e + 7]);
    }
    offsets.extend([32768 - 1, 32768, 32768 + 3, 65536, 65536 + 6, seg.len()]);
    offsets.sort_unstable();
    offsets.dedup();
    offsets.retain(|&o| o <= seg.len());
    // A torn page reads as zero-padded, so cutting off zero bytes damages nothing: the damage
    // starts at the first non-zero byte removed.
    let damage = |off: usize| (off..seg.len()).find(|&i| seg[i] != 0).unwrap_or(seg.len());
    for &off in &offsets {
        let k = kept_records(&recs, damage(off) as u64);
        check_in_memory(&seg[..off], &recs, k, &format!("truncated at {off}"));
    }
    // The full path (open, repair on disk, reopen) on a sample of the offsets.
    let refs: Vec<Samples> = (0..=recs.len()).map(|k| reference(&recs, k)).collect();
    let mut repaired = 0;
    for &off in offsets.iter().step_by(offsets.len() / 24) {
        let (tmp, db) = open_damaged(&seg[..off]);
        let k = kept_records(&recs, damage(off) as u64);
        assert!(
            samples(&db) == refs[k],
            "truncated at {off}: expected the first {k} records"
        );
        if db.open_report().repaired.is_some() {
            repaired += 1;
        }
        db.close().unwrap();
        // Repaired for good: a second open finds no damage and the same data.
        let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
        assert!(
            db.open_report().repaired.is_none(),
            "still damaged after repair at {off}"
        );
        assert!(samples(&db) == refs[k]);
        db.close().unwrap();
    }
    assert!(
        repaired > 5,
        "torn records must have been repaired ({repaired})"
    );
}

#[test]
fn flipped_bytes_keep_every_record_before_the_damage() {
    let seg = segment();
    let recs = records();
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut cases = Vec::new();
    for i in 0..1500 {
        let pos = if i < 60 {
            // The headers of the first records.
            i * 3 / 2
        } else {
            (splitmix(&mut rng) % seg.len() as u64) as usize
        };
        let mask = (splitmix(&mut rng) % 255 + 1) as u8;
        cases.push((pos, mask));
    }
    for &(pos, mask) in &cases {
        let mut data = seg.clone();
        data[pos] ^= mask;
        let k = kept_records(&recs, pos as u64);
        check_in_memory(&data, &recs, k, &format!("flip {mask:#x} at {pos}"));
    }
    let refs: Vec<Samples> = (0..=recs.len()).map(|k| reference(&recs, k)).collect();
    for &(pos, mask) in cases.iter().step_by(60) {
        let mut data = seg.clone();
        data[pos] ^= mask;
        let (_tmp, db) = open_damaged(&data);
        let k = kept_records(&recs, pos as u64);
        assert!(
            samples(&db) == refs[k],
            "flip {mask:#x} at {pos}: expected the first {k} records"
        );
        assert!(
            db.open_report().repaired.is_some(),
            "flip at {pos} not detected"
        );
        db.close().unwrap();
    }
}

#[test]
fn reader_reports_typed_errors_with_position() {
    let seg = segment();
    let recs = records();
    // Cut inside the second record's data.
    let cut = recs[0].1 as usize + 20;
    let mut r = SegmentReader::from_bytes(7, seg[..cut].to_vec());
    assert!(r.next_record().unwrap().is_some());
    match r.next_record() {
        Err(WalError::Corruption(c)) => {
            assert_eq!(c.segment, 7);
            assert_eq!(c.record_offset, recs[0].1);
            assert!(matches!(c.kind, CorruptionKind::Checksum { .. }), "{c}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(r.next_record().unwrap().is_none());
}

#[test]
fn repaired_wal_takes_new_appends() {
    let seg = segment();
    let recs = records();
    let cut = recs[5].1 as usize + 100;
    let (tmp, db) = open_damaged(&seg[..cut]);
    assert!(db.open_report().repaired.is_some());
    let mut app = db.appender();
    let l = Labels::from_pairs([("__name__", "after_repair")]);
    let t = db.head().max_time() + 1;
    app.append(&l, t, 3.0).unwrap();
    app.commit().unwrap();
    db.close().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    assert!(db.open_report().repaired.is_none());
    let s = samples(&db);
    assert!(s.contains(&(
        "{__name__=\"after_repair\"}".to_string(),
        t,
        3.0f64.to_bits()
    )));
    assert_eq!(s.len(), reference(&recs, 6).len() + 1);
    db.close().unwrap();
}
