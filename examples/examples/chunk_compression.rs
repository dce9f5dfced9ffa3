//! The main job: read every chunk that Prometheus wrote into the fixture blocks, decode it,
//! re-encode its samples with our XOR appender, check the bytes are identical to Prometheus',
//! and report bytes/sample for XOR and XOR2 and encode/decode speed.
//!
//! ```sh
//! cargo run --release -p tsdb-examples --example chunk_compression [FIXTURES_DIR]
//! ```
//!
//! `FIXTURES_DIR` defaults to `$SHARED_DIR/fixtures`, else `../shared/fixtures` next to the
//! workspace. Chunk segment files are read by their framing only (magic, version, then per
//! chunk: uvarint length, encoding byte, data, CRC32C), so no index is needed. Exits non-zero if
//! a CRC is wrong, a chunk does not decode, or a re-encoded chunk differs.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chunkenc::{ChunkError, Encoding, FloatAppender, FloatEncoding, ValueKind};

/// What can go wrong, with where.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} at byte {offset}: {what}")]
    Framing {
        path: PathBuf,
        offset: usize,
        what: String,
    },
    #[error("{path} at byte {offset}: chunk does not decode: {source}")]
    Decode {
        path: PathBuf,
        offset: usize,
        source: ChunkError,
    },
    #[error("{path} at byte {offset}: re-encoded {encoding} chunk differs from Prometheus' bytes")]
    Mismatch {
        path: PathBuf,
        offset: usize,
        encoding: Encoding,
    },
    #[error("no chunk segment files under {0}")]
    NoChunks(PathBuf),
}

/// One chunk of a segment file.
struct RawChunk {
    path: PathBuf,
    offset: usize,
    encoding: Encoding,
    data: Vec<u8>,
}

const SEGMENT_MAGIC: u32 = 0x85BD_40DD;
const SEGMENT_HEADER_SIZE: usize = 8;

fn read_segment(path: &Path) -> Result<Vec<RawChunk>, Failure> {
    let file = std::fs::read(path).map_err(|source| Failure::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let framing = |offset: usize, what: String| Failure::Framing {
        path: path.to_path_buf(),
        offset,
        what,
    };
    if file.len() < SEGMENT_HEADER_SIZE || file[..4] != SEGMENT_MAGIC.to_be_bytes() {
        return Err(framing(0, "not a chunk segment file (bad magic)".into()));
    }
    if file[4] != 1 {
        return Err(framing(4, format!("unknown segment version {}", file[4])));
    }
    let mut chunks = Vec::new();
    let mut pos = SEGMENT_HEADER_SIZE;
    while pos < file.len() {
        let offset = pos;
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let &byte = file
                .get(pos)
                .ok_or_else(|| framing(offset, "truncated length".into()))?;
            pos += 1;
            len |= ((byte & 0x7f) as usize) << shift;
            shift += 7;
            if byte < 0x80 {
                break;
            }
            if shift > 35 {
                return Err(framing(offset, "chunk length varint too long".into()));
            }
        }
        let end = pos
            .checked_add(len + 5)
            .filter(|&end| end <= file.len())
            .ok_or_else(|| framing(offset, format!("chunk of {len} bytes runs past the file")))?;
        let body = &file[pos..pos + 1 + len];
        let crc = u32::from_be_bytes(file[end - 4..end].try_into().expect("4 bytes"));
        if crc32c::crc32c(body) != crc {
            return Err(framing(offset, "CRC32C mismatch".into()));
        }
        let encoding = Encoding::try_from(body[0]).map_err(|source| Failure::Decode {
            path: path.to_path_buf(),
            offset,
            source,
        })?;
        chunks.push(RawChunk {
            path: path.to_path_buf(),
            offset,
            encoding,
            data: body[1..].to_vec(),
        });
        pos = end;
    }
    Ok(chunks)
}

/// Every chunk file of every block under `fixtures/prom-blocks`.
fn segment_files(fixtures: &Path) -> Result<Vec<PathBuf>, Failure> {
    let blocks = fixtures.join("prom-blocks");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Failure::Io { path, source }
    };
    let mut files = Vec::new();
    for block in std::fs::read_dir(&blocks).map_err(io(&blocks))? {
        let chunks_dir = block.map_err(io(&blocks))?.path().join("chunks");
        if !chunks_dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&chunks_dir).map_err(io(&chunks_dir))? {
            files.push(f.map_err(io(&chunks_dir))?.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Failure::NoChunks(blocks));
    }
    Ok(files)
}

/// Decodes a float chunk's samples into `out` (cleared first).
fn decode_into(
    encoding: Encoding,
    data: &[u8],
    out: &mut Vec<(i64, f64)>,
) -> Result<(), ChunkError> {
    out.clear();
    let mut it = chunkenc::iter(encoding, data)?;
    while let Some(kind) = it.next()? {
        debug_assert_eq!(kind, ValueKind::Float);
        out.push(it.at());
    }
    Ok(())
}

fn encode(encoding: FloatEncoding, samples: &[(i64, f64)]) -> FloatAppender {
    let mut app = FloatAppender::new(encoding);
    for &(t, v) in samples {
        app.append(0, t, v)
            .expect("a chunk holds far more samples than a fixture chunk");
    }
    app
}

/// Best time of five runs of `f`, each repeated until it takes at least 50 ms.
fn time_per_round(mut f: impl FnMut()) -> Duration {
    let mut rounds = 1u32;
    loop {
        let start = Instant::now();
        for _ in 0..rounds {
            f();
        }
        if start.elapsed() >= Duration::from_millis(50) {
            break;
        }
        rounds *= 2;
    }
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..rounds {
                f();
            }
            start.elapsed() / rounds
        })
        .min()
        .expect("five runs")
}

fn run(fixtures: &Path) -> Result<(), Failure> {
    let mut chunks = Vec::new();
    for file in segment_files(fixtures)? {
        chunks.extend(read_segment(&file)?);
    }
    let floats: Vec<&RawChunk> = chunks
        .iter()
        .filter(|c| c.encoding == Encoding::Xor)
        .collect();
    let others = chunks.len() - floats.len();

    // Correctness: decode, re-encode as XOR (must equal Prometheus' bytes) and as XOR2 (must
    // decode back to the same samples).
    let mut samples = Vec::new();
    let mut again = Vec::new();
    let (mut n_samples, mut xor_bytes, mut xor2_bytes) = (0usize, 0usize, 0usize);
    let mut all: Vec<Vec<(i64, f64)>> = Vec::with_capacity(floats.len());
    for c in &floats {
        let decode_err = |source| Failure::Decode {
            path: c.path.clone(),
            offset: c.offset,
            source,
        };
        decode_into(c.encoding, &c.data, &mut samples).map_err(decode_err)?;
        let xor = encode(FloatEncoding::Xor, &samples);
        if xor.bytes() != &c.data[..] {
            return Err(Failure::Mismatch {
                path: c.path.clone(),
                offset: c.offset,
                encoding: Encoding::Xor,
            });
        }
        let xor2 = encode(FloatEncoding::Xor2, &samples);
        decode_into(Encoding::Xor2, xor2.bytes(), &mut again).map_err(decode_err)?;
        let bits = |s: &[(i64, f64)]| s.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
        if bits(&again) != bits(&samples) {
            return Err(Failure::Mismatch {
                path: c.path.clone(),
                offset: c.offset,
                encoding: Encoding::Xor2,
            });
        }
        n_samples += samples.len();
        xor_bytes += c.data.len();
        xor2_bytes += xor2.bytes().len();
        all.push(samples.clone());
    }

    // Speed, over all chunks at once.
    let xor_chunks: Vec<Vec<u8>> = all
        .iter()
        .map(|s| encode(FloatEncoding::Xor, s).into_bytes())
        .collect();
    let xor2_chunks: Vec<Vec<u8>> = all
        .iter()
        .map(|s| encode(FloatEncoding::Xor2, s).into_bytes())
        .collect();
    let per_sample = |d: Duration| d.as_nanos() as f64 / n_samples as f64;
    let encode_time = |enc: FloatEncoding| {
        per_sample(time_per_round(|| {
            for s in &all {
                black_box(encode(enc, black_box(s)));
            }
        }))
    };
    let decode_time = |enc: Encoding, chunks: &[Vec<u8>]| {
        per_sample(time_per_round(|| {
            let mut acc = 0u64;
            for c in chunks {
                let mut it = chunkenc::iter(enc, black_box(c)).expect("valid chunk");
                while it.next().expect("valid chunk").is_some() {
                    let (t, v) = it.at();
                    acc = acc.wrapping_add(t as u64 ^ v.to_bits());
                }
            }
            black_box(acc);
        }))
    };
    let (xor_enc, xor2_enc) = (
        encode_time(FloatEncoding::Xor),
        encode_time(FloatEncoding::Xor2),
    );
    let xor_dec = decode_time(Encoding::Xor, &xor_chunks);
    let xor2_dec = decode_time(Encoding::Xor2, &xor2_chunks);

    println!("fixture blocks: {}", fixtures.join("prom-blocks").display());
    println!(
        "{} float chunks, {n_samples} samples: every chunk decoded and re-encoded byte-identical to Prometheus' (XOR); XOR2 round trip exact",
        floats.len()
    );
    if others > 0 {
        println!("{others} chunks of other encodings not re-encoded");
    }
    println!("encoding  bytes/sample  encode ns/sample  decode ns/sample");
    for (name, bytes, enc, dec) in [
        ("XOR", xor_bytes, xor_enc, xor_dec),
        ("XOR2", xor2_bytes, xor2_enc, xor2_dec),
    ] {
        println!(
            "{name:<8}  {:>12.3}  {enc:>16.2}  {dec:>16.2}",
            bytes as f64 / n_samples as f64
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let fixtures = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("SHARED_DIR").map(|d| PathBuf::from(d).join("fixtures")))
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures"
            ))
        });
    match run(&fixtures) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chunk_compression: {e}");
            ExitCode::FAILURE
        }
    }
}
