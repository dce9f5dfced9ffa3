//! Runs the `wal_records` fuzz body over every record of Prometheus' fixture WAL, records from
//! our encoders of every type, and deterministic pseudo-random mutations of them.

use chunkenc::{Histogram, Span};
use tsdb_core::record::*;
use tsdb_core::wlog::SegmentReader;
use tsdb_fuzz::harness::{shared_dir, SplitMix64};
use tsdb_fuzz::wal_records::wal_records;
use tsdb_index::Labels;

fn seeds() -> Vec<Vec<u8>> {
    let dir = shared_dir().join("fixtures/prom-wal/wal");
    assert!(
        dir.exists(),
        "fixture WAL missing at {}; set SHARED_DIR",
        dir.display()
    );
    let mut r = SegmentReader::open_dir(&dir).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        out.push(rec.to_vec());
    }
    let mut buf = Vec::new();
    let labels = Labels::from_pairs([("__name__", "x"), ("trace_id", "abc")]);
    encode_tombstones(
        &[RefTombstone {
            series_ref: 3,
            mint: -5,
            maxt: 99,
        }],
        &mut buf,
    );
    out.push(buf.clone());
    encode_mmap_markers(
        &[RefMmapMarker {
            series_ref: 3,
            mmap_ref: 1 << 33,
        }],
        &mut buf,
    );
    out.push(buf.clone());
    encode_metadata(
        &[RefMetadata {
            series_ref: 9,
            typ: 1,
            unit: "seconds".into(),
            help: "help".into(),
        }],
        &mut buf,
    );
    out.push(buf.clone());
    encode_exemplars(
        &[RefExemplar {
            series_ref: 2,
            t: 10,
            v: 0.5,
            labels: labels.clone(),
        }],
        &mut buf,
    );
    out.push(buf.clone());
    let h = Histogram {
        schema: 1,
        count: 5,
        sum: 3.5,
        positive_spans: vec![Span {
            offset: -2,
            length: 2,
        }],
        positive_buckets: vec![2, 1],
        ..Default::default()
    };
    let hs = vec![
        RefHistogramSample {
            series_ref: 4,
            st: 0,
            t: 100,
            h: h.clone(),
        },
        RefHistogramSample {
            series_ref: 5,
            st: 7,
            t: 200,
            h: Histogram {
                schema: -53,
                custom_values: vec![1.0, 2.0],
                ..h.clone()
            },
        },
    ];
    encode_histogram_samples(&hs, &mut buf);
    out.push(buf.clone());
    encode_custom_buckets_histogram_samples(&hs[1..], &mut buf);
    out.push(buf.clone());
    encode_histogram_samples_v2(&hs, &mut buf);
    out.push(buf.clone());
    let fhs: Vec<_> = hs
        .iter()
        .map(|s| RefFloatHistogramSample {
            series_ref: s.series_ref,
            st: s.st,
            t: s.t,
            fh: s.h.to_float(),
        })
        .collect();
    encode_float_histogram_samples(&fhs, &mut buf);
    out.push(buf.clone());
    encode_float_histogram_samples_v2(&fhs, &mut buf);
    out.push(buf.clone());
    encode_samples_v2(
        &[
            RefSample {
                series_ref: 1,
                st: 5,
                t: 10,
                v: 1.0,
            },
            RefSample {
                series_ref: 2,
                st: 5,
                t: 11,
                v: 2.0,
            },
        ],
        &mut buf,
    );
    out.push(buf.clone());
    out
}

#[test]
fn seeds_and_mutations() {
    let seeds = seeds();
    for s in &seeds {
        wal_records(s);
    }
    let mut rng = SplitMix64(0xfeed_beef);
    for _ in 0..5000 {
        let mut d = seeds[rng.below(seeds.len())].clone();
        match rng.below(4) {
            0 => {
                let n = rng.below(d.len());
                d.truncate(n);
            }
            1 => {
                for _ in 0..=rng.below(4) {
                    let i = rng.below(d.len());
                    d[i] ^= 1 << rng.below(8);
                }
            }
            2 => {
                let i = rng.below(d.len());
                d[i] = rng.next_u64() as u8;
            }
            _ => {
                let n = rng.below(64);
                d = (0..n).map(|_| rng.next_u64() as u8).collect();
                if !d.is_empty() {
                    d[0] = (rng.below(14)) as u8;
                }
            }
        }
        wal_records(&d);
    }
}
