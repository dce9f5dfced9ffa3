//! Proof against what Prometheus wrote: every chunk of the fixture blocks (written by
//! `promtool` 3.5) decodes to a contiguous run of one series' samples from `promtool tsdb dump`,
//! all chunks together cover every dumped sample exactly once, and re-encoding each chunk's
//! samples with our appender gives byte-identical chunk data.
//!
//! Chunks are read by the segment-file framing only (the index is another crate's job), so the
//! test matches chunks to series by their samples.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chunkenc::{Encoding, XorAppender, XorIterator};

fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn blocks_dir() -> PathBuf {
    let dir = shared_dir().join("fixtures/prom-blocks");
    assert!(
        dir.join("expected.dump").is_file(),
        "fixture blocks not found at {} (set SHARED_DIR to the shared folder)",
        dir.display()
    );
    dir
}

/// One chunk of a segment file: its encoding byte and data.
struct RawChunk {
    encoding: u8,
    data: Vec<u8>,
    offset: usize,
}

fn read_uvarint(b: &[u8], pos: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*pos];
        *pos += 1;
        value |= ((byte & 0x7f) as u64) << shift;
        if byte < 0x80 {
            return value;
        }
    }
    panic!("uvarint overflow at {pos}");
}

/// Splits a chunk segment file into its chunks, verifying magic, version and every CRC32C.
fn read_segment(path: &Path) -> Vec<RawChunk> {
    let file = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &file[..4],
        &0x85BD40DDu32.to_be_bytes(),
        "{}: magic",
        path.display()
    );
    assert_eq!(file[4], 1, "{}: version", path.display());
    let mut pos = 8;
    let mut chunks = Vec::new();
    while pos < file.len() {
        let offset = pos;
        let len = read_uvarint(&file, &mut pos) as usize;
        let body = &file[pos..pos + 1 + len];
        let crc = u32::from_be_bytes(file[pos + 1 + len..pos + 5 + len].try_into().unwrap());
        assert_eq!(
            crc32c::crc32c(body),
            crc,
            "{}: CRC at {offset}",
            path.display()
        );
        chunks.push(RawChunk {
            encoding: body[0],
            data: body[1..].to_vec(),
            offset,
        });
        pos += 5 + len;
    }
    chunks
}

/// Every sample of `expected.dump`, per series, in time order: (timestamp, value bits).
fn read_dump(path: &Path) -> HashMap<String, Vec<(i64, u64)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut series: HashMap<String, Vec<(i64, u64)>> = HashMap::new();
    for line in text.lines() {
        let mut parts = line.rsplitn(3, ' ');
        let t: i64 = parts.next().unwrap().parse().unwrap();
        let v: f64 = parts.next().unwrap().parse().unwrap();
        let labels = parts.next().unwrap().to_string();
        series.entry(labels).or_default().push((t, v.to_bits()));
    }
    series
}

fn decode(data: &[u8]) -> Vec<(i64, u64)> {
    let mut it = XorIterator::new(data).unwrap();
    let mut out = Vec::with_capacity(it.num_samples());
    while it.next().unwrap() {
        let (t, v) = it.at();
        out.push((t, v.to_bits()));
    }
    out
}

#[test]
fn fixture_chunks_decode_to_dump_and_reencode_identically() {
    let dir = blocks_dir();
    let dump = read_dump(&dir.join("expected.dump"));
    let total_samples: usize = dump.values().map(Vec::len).sum();
    // Where each (series, first sample) run may start: keyed by the first sample.
    let mut starts: HashMap<(i64, u64), Vec<(&str, usize)>> = HashMap::new();
    for (labels, samples) in &dump {
        for (i, &s) in samples.iter().enumerate() {
            starts.entry(s).or_default().push((labels.as_str(), i));
        }
    }
    let mut covered: HashMap<&str, Vec<bool>> = dump
        .iter()
        .map(|(l, s)| (l.as_str(), vec![false; s.len()]))
        .collect();

    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().join("chunks/000001"))
        .filter(|p| p.is_file())
        .collect();
    segments.sort();
    assert_eq!(segments.len(), 3, "expected three fixture blocks");

    let mut chunk_count = 0;
    let mut decoded_samples = 0;
    for segment in &segments {
        for chunk in read_segment(segment) {
            let at = format!("{} offset {}", segment.display(), chunk.offset);
            assert_eq!(
                Encoding::try_from(chunk.encoding).unwrap(),
                Encoding::Xor,
                "{at}"
            );
            let samples = decode(&chunk.data);
            assert!(!samples.is_empty(), "{at}: empty chunk");
            chunk_count += 1;
            decoded_samples += samples.len();

            // The chunk must be an uncovered contiguous run of exactly one series.
            let candidates = starts.get(&samples[0]).map(Vec::as_slice).unwrap_or(&[]);
            let (labels, first) = candidates
                .iter()
                .copied()
                .find(|&(labels, i)| {
                    let run = &dump[labels];
                    run.len() >= i + samples.len()
                        && run[i..i + samples.len()] == samples[..]
                        && !covered[labels][i]
                })
                .unwrap_or_else(|| panic!("{at}: samples match no series of the dump"));
            for c in &mut covered.get_mut(labels).unwrap()[first..first + samples.len()] {
                assert!(!*c, "{at}: sample covered twice");
                *c = true;
            }

            // Re-encoding the samples gives Prometheus' bytes exactly.
            let mut app = XorAppender::new();
            for &(t, v) in &samples {
                app.append(t, f64::from_bits(v)).unwrap();
            }
            assert_eq!(
                app.bytes(),
                &chunk.data[..],
                "{at}: re-encoded bytes differ"
            );
        }
    }
    assert_eq!(decoded_samples, total_samples);
    for (labels, c) in &covered {
        assert!(c.iter().all(|&x| x), "{labels}: samples not in any chunk");
    }
    assert!(chunk_count > 100, "only {chunk_count} chunks");
    println!("{chunk_count} chunks, {decoded_samples} samples: all match");
}
