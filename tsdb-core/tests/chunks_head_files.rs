//! The head chunk files on their own (write, rotate, reopen, repair, truncate) and under a
//! `Db` (damaged files cost nothing but replay time; head compaction deletes old files).

use std::path::Path;

use tsdb_core::chunks_head::format::{FILE_HEADER_SIZE, MAGIC_HEAD_CHUNKS};
use tsdb_core::chunks_head::{ChunkDiskMapper, HeadChunkRef};
use tsdb_core::db::{Db, DbOptions};
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{Labels, Matcher};

/// A chunk-like payload: a sample count, then bytes that differ per chunk.
fn payload(i: u64) -> Vec<u8> {
    let n = 2 + (i % 50) as usize;
    let mut v = vec![0, (i % 200) as u8];
    v.extend((0..n).map(|k| (i as usize * 31 + k) as u8));
    v
}

type Seen = Vec<(HeadChunkRef, u64, i64, i64, Vec<u8>)>;

fn open_collect(
    dir: &Path,
    max: u64,
) -> (
    ChunkDiskMapper,
    Seen,
    Option<tsdb_core::chunks_head::OpenRepair>,
) {
    let mut seen = Vec::new();
    let (m, rep) = ChunkDiskMapper::open_with_max_file_size(dir, max, |r| {
        seen.push((r.chunk_ref, r.series_ref, r.min_t, r.max_t, r.data.to_vec()));
        Ok(())
    })
    .unwrap();
    (m, seen, rep)
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn chunks_rotate_reopen_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, seen, rep) = open_collect(tmp.path(), 4096);
    assert!(seen.is_empty() && rep.is_none());
    let mut written = Vec::new();
    for i in 0..500u64 {
        let r = m
            .write_chunk(i % 7 + 1, i as i64 * 10, i as i64 * 10 + 9, 1, &payload(i))
            .unwrap();
        // Readable at once, from the write buffer's flush or the map.
        assert_eq!(&m.chunk(r).unwrap().1[..], &payload(i)[..]);
        written.push((r, i % 7 + 1, i as i64 * 10, i as i64 * 10 + 9, payload(i)));
    }
    let nfiles = files(tmp.path()).len();
    assert!(nfiles > 5, "{nfiles} files");
    assert!(written.windows(2).all(|w| w[0].0 < w[1].0));
    m.close().unwrap();
    // Each file starts with the header; none exceeds the size asked for.
    for f in files(tmp.path()) {
        let b = std::fs::read(tmp.path().join(&f)).unwrap();
        assert_eq!(
            u32::from_be_bytes(b[..4].try_into().unwrap()),
            MAGIC_HEAD_CHUNKS
        );
        assert_eq!(b[4], 1);
    }
    let (m, seen, rep) = open_collect(tmp.path(), 4096);
    assert!(rep.is_none());
    assert_eq!(seen, written);
    for w in &written {
        let (enc, bytes) = m.chunk(w.0).unwrap();
        assert_eq!((enc, &bytes[..]), (1, &w.4[..]));
    }
    // New chunks go to a new file after the existing ones.
    let r = m.write_chunk(1, 0, 1, 2, &payload(1)).unwrap();
    assert_eq!(r.seq() as usize, nfiles + 1);
    assert_eq!(r.offset() as usize, FILE_HEADER_SIZE);
    // Truncation deletes whole files before the one given, never the one written to.
    let deleted = m.truncate_before(4).unwrap();
    assert_eq!(deleted, vec![1, 2, 3]);
    assert!(matches!(
        m.chunk(written[0].0),
        Err(tsdb_core::chunks_head::ChunksHeadError::NoSuchFile(1))
    ));
    let deleted = m.truncate_before(u32::MAX).unwrap();
    assert_eq!(deleted.len(), nfiles - 3);
    assert_eq!(m.files(), vec![r.seq()]);
    assert_eq!(&m.chunk(r).unwrap().1[..], &payload(1)[..]);
}

#[test]
fn a_torn_or_damaged_file_is_cut_at_the_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, _, _) = open_collect(tmp.path(), 2048);
    let mut refs = Vec::new();
    for i in 0..200u64 {
        refs.push(
            m.write_chunk(1, i as i64, i as i64, 1, &payload(i))
                .unwrap(),
        );
    }
    m.close().unwrap();
    drop(m);
    let nfiles = files(tmp.path()).len();
    assert!(nfiles >= 4);
    // Damage a record in the middle of the second file.
    let victim = refs
        .iter()
        .copied()
        .filter(|r| r.seq() == 2)
        .nth(3)
        .unwrap();
    let p = tmp.path().join("000002");
    let mut b = std::fs::read(&p).unwrap();
    b[victim.offset() as usize + 30] ^= 0x40;
    std::fs::write(&p, &b).unwrap();
    let (m, seen, rep) = open_collect(tmp.path(), 2048);
    let rep = rep.expect("damage reported");
    assert_eq!((rep.seq, rep.offset), (2, u64::from(victim.offset())));
    assert_eq!(rep.removed, (3..=nfiles as u32).collect::<Vec<_>>());
    let kept: Vec<HeadChunkRef> = seen.iter().map(|s| s.0).collect();
    assert_eq!(
        kept,
        refs.iter()
            .copied()
            .filter(|r| *r < victim)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::metadata(&p).unwrap().len(),
        u64::from(victim.offset())
    );
    // Writing continues in a new file after the cut one.
    assert_eq!(m.write_chunk(1, 999, 999, 1, &[0, 0]).unwrap().seq(), 3);
    m.close().unwrap();
    drop(m);

    // A torn tail (the last record half written, zeros after it) and an empty last file.
    let p = tmp.path().join("000003");
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..FILE_HEADER_SIZE + 20]).unwrap();
    std::fs::write(tmp.path().join("000004"), [0u8; 3]).unwrap();
    let (_m, seen, rep) = open_collect(tmp.path(), 2048);
    assert_eq!(seen.len(), kept.len());
    let rep = rep.expect("torn record reported");
    assert_eq!((rep.seq, rep.offset), (3, FILE_HEADER_SIZE as u64));
    assert!(!tmp.path().join("000004").exists());
}

fn l(name: &str) -> Labels {
    Labels::from_pairs([("__name__", name)])
}

fn samples(db: &Db, name: &str) -> Vec<(i64, f64)> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q
        .select(true, None, &[Matcher::equal("__name__", name)])
        .unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            out.push(it.at());
        }
    }
    out
}

fn append_range(db: &Db, from: i64, to: i64) {
    for step in from..to {
        let mut app = db.appender();
        for s in 0..20 {
            app.append(&l(&format!("m{s}")), step * 15_000, (step * 3 + s) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
}

#[test]
fn db_survives_damaged_chunk_files_through_the_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    append_range(&db, 0, 400);
    let want = samples(&db, "m3");
    assert_eq!(want.len(), 400);
    // Only a little is left in memory: the full chunks are in the file.
    let in_mem = db.head().chunk_memory_bytes();
    db.close().unwrap();

    let p = tmp.path().join("chunks_head/000001");
    let mut b = std::fs::read(&p).unwrap();
    b[FILE_HEADER_SIZE + 500] ^= 0xff;
    std::fs::write(&p, &b).unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    assert!(db.open_report().chunks_head_repaired.is_some());
    assert!(db.open_report().replay.samples > 0);
    assert_eq!(samples(&db, "m3"), want);
    for s in 0..20 {
        assert_eq!(samples(&db, &format!("m{s}")).len(), 400);
    }
    // The replay wrote the lost chunks out again.
    assert!(db.head().chunk_memory_bytes() <= in_mem + 4096);
    db.close().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    assert!(db.open_report().chunks_head_repaired.is_none());
    assert_eq!(samples(&db, "m3"), want);
    db.close().unwrap();
}

#[test]
fn head_compaction_deletes_old_chunk_files() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    let dir = tmp.path().join("chunks_head");
    // 4 h of 15 s samples: one block cut, the file stays (it still holds head chunks).
    append_range(&db, 0, 960);
    assert_eq!(db.compact_head().unwrap().len(), 1);
    assert_eq!(files(&dir), vec!["000001"]);
    // 4 h more: new chunks go to a new file; the next cut leaves nothing in the first one.
    append_range(&db, 960, 1920);
    assert!(!db.compact_head().unwrap().is_empty());
    assert!(
        !files(&dir).contains(&"000001".to_string()),
        "{:?}",
        files(&dir)
    );
    let got = samples(&db, "m5");
    let want: Vec<(i64, f64)> = (0..1920)
        .map(|s| (s * 15_000, (s * 3 + 5) as f64))
        .collect();
    assert_eq!(got, want);
    db.close().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    assert!(db.open_report().chunks_head_repaired.is_none());
    assert_eq!(samples(&db, "m5"), want);
    db.close().unwrap();
}

#[test]
fn in_memory_option_leaves_chunks_head_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DbOptions {
        keep_head_chunks_in_memory: true,
        ..DbOptions::default()
    };
    let db = Db::open(tmp.path(), opts.clone()).unwrap();
    append_range(&db, 0, 400);
    assert!(db.head().chunk_mapper().is_none());
    db.close().unwrap();
    assert!(files(&tmp.path().join("chunks_head")).is_empty());
    let db = Db::open(tmp.path(), opts).unwrap();
    assert_eq!(samples(&db, "m1").len(), 400);
    db.close().unwrap();
}
