//! What the fuzz tests share: a deterministic pseudo-random source, the seed inputs read from
//! Prometheus-written fixtures, and the mutations applied to chunk seeds. Test support only:
//! these functions panic when a fixture is missing.

use std::path::PathBuf;

/// The splitmix64 generator: tiny, fast and fully deterministic, so that every CI run feeds
/// the fuzz bodies the same mutations and a failure is reproducible.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// `seed` after one to four random edits: a byte overwritten with a random one, a cut at a
/// random length, or a byte of `alphabet` inserted (a random byte when it is empty).
pub fn mutate_bytes(rng: &mut SplitMix64, seed: &[u8], alphabet: &[u8]) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(3) {
            0 => {
                let i = rng.below(d.len().max(1));
                if let Some(b) = d.get_mut(i) {
                    *b = rng.next_u64() as u8;
                }
            }
            1 => d.truncate(rng.below(d.len() + 1)),
            _ => {
                let i = rng.below(d.len() + 1);
                let b = if alphabet.is_empty() {
                    rng.next_u64() as u8
                } else {
                    alphabet[rng.below(alphabet.len())]
                };
                d.insert(i, b);
            }
        }
    }
    d
}

/// The `shared/` directory beside the workspace: `$SHARED_DIR` if set, else `../shared`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

/// The data of every XOR chunk in the fixture blocks' segment files (framing only).
pub fn fixture_xor_chunks() -> Vec<Vec<u8>> {
    let dir = shared_dir().join("fixtures/prom-blocks");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "fixture blocks missing at {} ({e}); set SHARED_DIR",
            dir.display()
        )
    });
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path().join("chunks/000001");
        let Ok(file) = std::fs::read(&path) else {
            continue;
        };
        let mut pos = 8;
        while pos < file.len() {
            let (mut len, mut shift) = (0usize, 0);
            loop {
                let b = file[pos];
                pos += 1;
                len |= ((b & 0x7f) as usize) << shift;
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
            if file[pos] == 1 {
                out.push(file[pos + 1..pos + 1 + len].to_vec());
            }
            pos += 1 + len + 4;
        }
    }
    assert!(out.len() > 100, "found only {} fixture chunks", out.len());
    out
}

/// A random damage of an XOR/XOR2 chunk: bit flips, truncation, insertion, a wrong count
/// header, or random bytes.
pub fn mutate_xor_chunk(rng: &mut SplitMix64, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(data.len().max(1));
                if let Some(b) = data.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        1 => data.truncate(rng.below(data.len() + 1)),
        2 => {
            let i = rng.below(data.len() + 1);
            data.insert(i, rng.next_u64() as u8);
        }
        3 => {
            // Make the header claim more samples than there are.
            if data.len() >= 2 {
                data[0] = rng.next_u64() as u8;
                data[1] = rng.next_u64() as u8;
            }
        }
        _ => data = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
    }
    data
}

/// The reference chunks Prometheus 3.5 wrote (`chunkenc/testdata/histograms`) with `encoding`.
pub fn histogram_reference_chunks(encoding: u64) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../chunkenc/testdata/histograms"
    ));
    let manifest = std::fs::read_to_string(dir.join("fixture.json"))
        .unwrap_or_else(|e| panic!("histogram fixtures missing at {} ({e})", dir.display()));
    // Lines of the manifest are not needed: the file names carry the kind.
    let prefix = if encoding == 2 { "int_" } else { "float_" };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with(prefix) && name.ends_with(".chunk") {
            assert!(manifest.contains(&name), "{name} not in fixture.json");
            out.push(std::fs::read(&path).unwrap());
        }
    }
    assert!(out.len() >= 20, "found only {} fixture chunks", out.len());
    out
}

/// A random damage of a histogram chunk: like [`mutate_xor_chunk`] plus a wrong header byte or a
/// corrupted layout region.
pub fn mutate_histogram_chunk(rng: &mut SplitMix64, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    match rng.below(6) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(data.len().max(1));
                if let Some(b) = data.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        1 => data.truncate(rng.below(data.len() + 1)),
        2 => {
            let i = rng.below(data.len() + 1);
            data.insert(i, rng.next_u64() as u8);
        }
        3 => {
            // Make the header claim another number of samples or another reset header.
            if data.len() >= 3 {
                data[rng.below(3)] = rng.next_u64() as u8;
            }
        }
        4 => {
            // Corrupt the layout region right after the header.
            let end = data.len().min(24);
            if end > 3 {
                let i = 3 + rng.below(end - 3);
                data[i] = rng.next_u64() as u8;
            }
        }
        _ => data = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
    }
    data
}
