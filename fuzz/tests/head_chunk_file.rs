//! Runs the `head_chunk_file` fuzz body over head chunk files our head writes (float and
//! histogram chunks) and deterministic pseudo-random mutations of them; a share of the
//! mutations also goes through `ChunkDiskMapper::open`, whose repair must leave a directory
//! that reopens cleanly with the same chunks.

use tsdb_core::chunks_head::ChunkDiskMapper;
use tsdb_core::db::{Db, DbOptions};
use tsdb_fuzz::harness::{mutate_bytes, SplitMix64};
use tsdb_fuzz::head_chunk_file::head_chunk_file;
use tsdb_index::Labels;

fn seed() -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), DbOptions::default()).unwrap();
    for step in 0..300i64 {
        let mut app = db.appender();
        for s in 0..3 {
            let l = Labels::from_pairs([("__name__", format!("m{s}"))]);
            app.append(&l, step * 15_000, (step * 7 + s) as f64 / 3.0)
                .unwrap();
        }
        let h = chunkenc::Histogram {
            count: step as u64 + 2,
            zero_count: 1,
            sum: step as f64,
            schema: 0,
            zero_threshold: 1e-128,
            positive_spans: vec![chunkenc::Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![step + 1],
            ..Default::default()
        };
        app.append_histogram(&Labels::from_pairs([("__name__", "h")]), step * 15_000, &h)
            .unwrap();
        app.commit().unwrap();
    }
    db.close().unwrap();
    let b = std::fs::read(tmp.path().join("chunks_head/000001")).unwrap();
    // Keep the written part and a little of the zero tail.
    let end = b.iter().rposition(|&x| x != 0).unwrap() + 1;
    b[..(end + 40).min(b.len())].to_vec()
}

/// Records as (ref, series ref, mint, maxt, data).
type Records = Vec<(u64, u64, i64, i64, Vec<u8>)>;

fn reopen_records(dir: &std::path::Path) -> (Records, bool) {
    let mut seen = Vec::new();
    let (m, rep) = ChunkDiskMapper::open(dir, |r| {
        seen.push((
            r.chunk_ref.0,
            r.series_ref,
            r.min_t,
            r.max_t,
            r.data.to_vec(),
        ));
        Ok(())
    })
    .unwrap();
    drop(m);
    (seen, rep.is_some())
}

#[test]
fn seeds_and_mutations() {
    let seed = seed();
    assert!(seed.len() > 1000);
    head_chunk_file(&seed);
    let mut rng = SplitMix64(0xc4_0001);
    for i in 0..4000 {
        let d = if rng.below(2) == 0 {
            mutate_bytes(&mut rng, &seed, &[])
        } else {
            let mut d = seed.clone();
            let at = rng.below(d.len());
            d[at] ^= 1 << rng.below(8);
            d
        };
        head_chunk_file(&d);
        if i % 20 == 0 {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::write(tmp.path().join("000001"), &d).unwrap();
            std::fs::write(tmp.path().join("000002"), &seed).unwrap();
            let (first, _) = reopen_records(tmp.path());
            let (second, repaired) = reopen_records(tmp.path());
            assert!(!repaired, "a repaired directory must reopen cleanly");
            assert_eq!(first, second);
        }
    }
}
