//! Runs the `index_reader` fuzz body over the Prometheus-written fixture indexes, an index from
//! our writer, and deterministic pseudo-random mutations of them.

use tsdb_fuzz::harness::{shared_dir, SplitMix64};
use tsdb_fuzz::index_reader::index_reader;
use tsdb_index::{ChunkMeta, Labels, Writer};

fn seeds() -> Vec<Vec<u8>> {
    let dir = shared_dir().join("fixtures/prom-blocks");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "fixture blocks missing at {} ({e}); set SHARED_DIR",
            dir.display()
        )
    });
    let mut out: Vec<Vec<u8>> = entries
        .filter_map(|e| std::fs::read(e.unwrap().path().join("index")).ok())
        .collect();
    assert_eq!(
        out.len(),
        3,
        "expected three fixture indexes in {}",
        dir.display()
    );

    // One of ours, with several chunks per series and many values per name.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("index");
    let mut w = Writer::create(&path).unwrap();
    let mut series: Vec<Labels> = (0..80)
        .map(|i| Labels::from_pairs([("a", format!("v{}", i % 40)), ("b", format!("{i}"))]))
        .collect();
    series.sort();
    let mut syms: Vec<String> = series
        .iter()
        .flat_map(|l| {
            l.iter()
                .flat_map(|l| [l.name.to_string(), l.value.to_string()])
        })
        .collect();
    syms.sort();
    syms.dedup();
    for s in &syms {
        w.add_symbol(s).unwrap();
    }
    for (i, l) in series.iter().enumerate() {
        let c: Vec<ChunkMeta> = (0..3)
            .map(|k| ChunkMeta {
                chunk_ref: (i * 3 + k) as u64 * 100,
                min_time: k as i64 * 1000,
                max_time: k as i64 * 1000 + 500,
            })
            .collect();
        w.add_series(l, &c).unwrap();
    }
    w.finish().unwrap();
    out.push(std::fs::read(&path).unwrap());
    out
}

/// Mutations per run: enough to reach odd corners, fast enough for every CI run.
const ITERATIONS: usize = 4_000;

fn mutate(rng: &mut SplitMix64, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    match rng.below(6) {
        0 | 1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(data.len());
                if let Some(b) = data.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        2 => data.truncate(rng.below(data.len() + 1)),
        3 => {
            // Overwrite a 4-byte big-endian field (a length, count or ID) with something wild.
            let i = rng.below(data.len().saturating_sub(4));
            let v = match rng.below(3) {
                0 => u32::MAX,
                1 => rng.next_u64() as u32,
                _ => (data.len() + rng.below(64)) as u32,
            };
            if i + 4 <= data.len() {
                data[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
        }
        4 => {
            let i = rng.below(data.len() + 1);
            data.insert(i, rng.next_u64() as u8);
        }
        _ => data = (0..rng.below(256)).map(|_| rng.next_u64() as u8).collect(),
    }
    data
}

#[test]
fn index_reader_survives_seeds_and_mutations() {
    let seeds = seeds();
    for s in &seeds {
        index_reader(s);
    }
    let mut rng = SplitMix64(0x1dec5);
    for _ in 0..ITERATIONS {
        let seed = &seeds[rng.below(seeds.len())];
        index_reader(&mutate(&mut rng, seed));
    }
}
