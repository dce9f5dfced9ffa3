//! `tsdb import openmetrics FILE OUTDIR`: OpenMetrics text into blocks, as `promtool tsdb
//! create-blocks-from openmetrics` does.
//!
//! The input is memory-mapped and streamed. A first pass finds the time range (every sample
//! needs a timestamp); then, for each block-duration window aligned to the duration (2 h by
//! default), a pass collects the window's samples into per-series XOR chunks and writes one
//! block. Memory is bounded by one window's compressed chunks, not by the file. Windows known to
//! be empty are skipped without parsing, like promtool.
//!
//! Chunks are cut like Prometheus' head does for the block writer promtool uses (chunk range
//! twice the block duration, 120 samples per chunk targeted, at most 240, new chunk past 1005
//! bytes), so blocks come out alike. A sample older than its series' previous one is an error,
//! as is a different value at the same timestamp; an exact duplicate is dropped.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use chunkenc::XorAppender;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tsdb_core::block::reader::Block;
use tsdb_core::block::writer::{BlockWriter, ChunkData};
use tsdb_core::block::{BlockMeta, Tombstones};
use tsdb_index::Labels;

use super::list;
use super::CliError;
use crate::openmetrics::{Entry, Parser};

/// Prometheus' default block duration (2 h) in ms.
pub const DEFAULT_BLOCK_DURATION: i64 = 2 * 3600 * 1000;
const SAMPLES_PER_CHUNK: usize = 120;
const MAX_BYTES_PER_XOR_CHUNK_BEFORE_APPEND: usize = 1005;

/// Options of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Maximum block duration in ms; rounded down to a Prometheus block range (2 h × 3^k).
    pub max_block_duration: i64,
    /// Print nothing.
    pub quiet: bool,
    /// Human-readable times and sizes in the block table.
    pub human_readable: bool,
    /// Show a progress bar (when stderr is a terminal).
    pub progress: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            max_block_duration: DEFAULT_BLOCK_DURATION,
            quiet: false,
            human_readable: false,
            progress: true,
        }
    }
}

/// The block duration promtool picks for a requested maximum (`getCompatibleBlockDuration`).
pub fn compatible_block_duration(max_block_duration: i64) -> i64 {
    if max_block_duration <= DEFAULT_BLOCK_DURATION {
        return DEFAULT_BLOCK_DURATION;
    }
    let ranges: Vec<i64> = (0..10)
        .map(|k| DEFAULT_BLOCK_DURATION * 3i64.pow(k))
        .collect();
    let mut idx = ranges.len() - 1;
    for (i, &r) in ranges.iter().enumerate() {
        if r > max_block_duration {
            idx = i.saturating_sub(1);
            break;
        }
    }
    ranges[idx]
}

/// `(t / w) * w + w` with Go's truncating division: the end of `t`'s aligned range.
fn range_for_timestamp(t: i64, w: i64) -> i64 {
    (t / w) * w + w
}

fn compute_chunk_end_time(start: i64, cur: i64, max_t: i64, ratio: f64) -> i64 {
    let n = (max_t - start) as f64 / ((cur - start + 1) as f64 * ratio);
    if n <= 1.0 {
        return max_t;
    }
    (start as f64 + (max_t - start) as f64 / n.floor()) as i64
}

struct DoneChunk {
    data: Vec<u8>,
    min_time: i64,
    max_time: i64,
    samples: u64,
}

struct SeriesBuf {
    labels: Labels,
    app: XorAppender,
    min_time: i64,
    max_time: i64,
    next_at: i64,
    last_bits: u64,
    done: Vec<DoneChunk>,
}

impl SeriesBuf {
    fn new(labels: Labels) -> Self {
        SeriesBuf {
            labels,
            app: XorAppender::new(),
            min_time: i64::MIN,
            max_time: i64::MIN,
            next_at: i64::MIN,
            last_bits: 0,
            done: Vec::new(),
        }
    }

    fn cut(&mut self) {
        let app = std::mem::replace(&mut self.app, XorAppender::new());
        let samples = app.num_samples() as u64;
        if samples > 0 {
            self.done.push(DoneChunk {
                data: app.bytes().to_vec(),
                min_time: self.min_time,
                max_time: self.max_time,
                samples,
            });
        }
    }

    /// Appends like Prometheus' head (`appendPreprocessor` for floats).
    fn append(&mut self, t: i64, v: f64, chunk_range: i64) -> Result<(), String> {
        let n = self.app.num_samples();
        if n > 0 || !self.done.is_empty() {
            if t < self.max_time {
                return Err(format!(
                    "out of order sample at {t} for series {}",
                    self.labels
                ));
            }
            if t == self.max_time {
                if v.to_bits() != self.last_bits {
                    return Err(format!(
                        "duplicate sample for timestamp {t} for series {}",
                        self.labels
                    ));
                }
                return Ok(());
            }
        }
        let mut n = n;
        if n > 0 && self.app.bytes().len() > MAX_BYTES_PER_XOR_CHUNK_BEFORE_APPEND {
            self.cut();
            n = 0;
        }
        if n == 0 {
            self.min_time = t;
            self.next_at = range_for_timestamp(t, chunk_range);
        }
        if n == SAMPLES_PER_CHUNK / 4 {
            self.next_at = compute_chunk_end_time(self.min_time, self.max_time, self.next_at, 4.0);
        }
        if n > 0 && (t >= self.next_at || n >= SAMPLES_PER_CHUNK * 2) {
            self.cut();
            self.min_time = t;
            self.next_at = range_for_timestamp(t, chunk_range);
        }
        self.app.append(t, v).map_err(|e| e.to_string())?;
        self.max_time = t;
        self.last_bits = v.to_bits();
        Ok(())
    }
}

fn progress_bar(total: u64, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
    {
        pb.set_style(style);
    }
    pb
}

/// Imports `input` (OpenMetrics text) into blocks under `out_dir`; returns the written blocks'
/// metas in time order.
pub fn run(
    input: &Path,
    out_dir: &Path,
    opts: &ImportOptions,
    out: &mut dyn Write,
) -> Result<Vec<tsdb_core::block::BlockMeta>, CliError> {
    let file = std::fs::File::open(input)
        .map_err(|e| CliError::Other(format!("{}: open: {e}", input.display())))?;
    let len = file
        .metadata()
        .map_err(|e| CliError::Other(format!("{}: stat: {e}", input.display())))?
        .len();
    // SAFETY: the input is only read; a concurrent writer truncating it is outside our contract.
    let map;
    let data: &[u8] = if len == 0 {
        &[]
    } else {
        map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| CliError::Other(format!("{}: mmap: {e}", input.display())))?;
        &map[..]
    };
    std::fs::create_dir_all(out_dir)
        .map_err(|e| CliError::Other(format!("{}: create dir: {e}", out_dir.display())))?;
    let file_name = input.display().to_string();
    let perr = |source| CliError::Parse {
        file: file_name.clone(),
        source,
    };

    // Pass 1: the time range.
    let pb = progress_bar(len, opts.progress && !opts.quiet);
    pb.set_message("scanning");
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    let mut p = Parser::new(data);
    let mut count = 0u64;
    while let Some(e) = p.next_entry().map_err(perr)? {
        if let Entry::Sample(s) = e {
            let Some(t) = s.timestamp else {
                return Err(CliError::Other(format!(
                    "{file_name}: expected timestamp for series {}, got none",
                    String::from_utf8_lossy(s.series)
                )));
            };
            mint = mint.min(t);
            maxt = maxt.max(t);
            count += 1;
            if count % 65536 == 0 {
                pb.set_position(p.position() as u64);
            }
        }
    }
    pb.finish_and_clear();
    if count == 0 {
        return Ok(Vec::new());
    }

    let duration = compatible_block_duration(opts.max_block_duration);
    let chunk_range = 2 * duration;
    let mint = duration * (mint / duration);
    let mut metas = Vec::new();
    let mut wrote_header = false;
    let mut ulids = ulid::Generator::new();
    let mut next_sample_ts = i64::MAX;
    let mut t = mint;
    while t <= maxt {
        let upper = t.saturating_add(duration);
        if next_sample_ts != i64::MAX && next_sample_ts >= upper {
            t = upper;
            continue;
        }
        next_sample_ts = i64::MAX;
        let pb = progress_bar(len, opts.progress && !opts.quiet);
        pb.set_message(format!("block {t}"));
        let mut by_text: HashMap<&[u8], usize> = HashMap::new();
        let mut by_labels: HashMap<Labels, usize> = HashMap::new();
        let mut series: Vec<SeriesBuf> = Vec::new();
        let mut p = Parser::new(data);
        let mut n = 0u64;
        let (mut bmin, mut bmax) = (i64::MAX, i64::MIN);
        while let Some(e) = p.next_entry().map_err(perr)? {
            let Entry::Sample(s) = e else { continue };
            let ts = s.timestamp.unwrap_or(i64::MIN);
            if ts < t {
                continue;
            }
            if ts >= upper {
                next_sample_ts = next_sample_ts.min(ts);
                continue;
            }
            let idx = match by_text.get(s.series) {
                Some(&i) => i,
                None => {
                    let l = s
                        .to_labels()
                        .map_err(|m| CliError::Other(format!("{file_name}: {m}")))?;
                    let i = *by_labels.entry(l.clone()).or_insert_with(|| {
                        series.push(SeriesBuf::new(l));
                        series.len() - 1
                    });
                    by_text.insert(s.series, i);
                    i
                }
            };
            series[idx]
                .append(ts, s.value, chunk_range)
                .map_err(|m| CliError::Other(format!("{file_name}: add sample: {m}")))?;
            bmin = bmin.min(ts);
            bmax = bmax.max(ts);
            n += 1;
            if n % 65536 == 0 {
                pb.set_position(p.position() as u64);
            }
        }
        pb.finish_and_clear();
        drop(by_text);
        drop(by_labels);
        if !series.is_empty() {
            for s in &mut series {
                s.cut();
            }
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            // Monotonic ULIDs: blocks of one import sort in creation (= time) order even when
            // made within one millisecond.
            let id = ulids.generate().unwrap_or_else(|_| ulid::Ulid::new());
            let mut w =
                BlockWriter::create_with_meta(out_dir, BlockMeta::new_level1(id, bmin, bmax + 1))?;
            let mut symbols = BTreeSet::new();
            for s in &series {
                for l in s.labels.iter() {
                    symbols.insert(l.name);
                    symbols.insert(l.value);
                }
            }
            w.add_symbols(symbols.iter().copied())?;
            let mut chunks = Vec::new();
            for s in &series {
                chunks.clear();
                chunks.extend(s.done.iter().map(|c| ChunkData {
                    encoding: chunkenc::Encoding::Xor as u8,
                    data: &c.data,
                    min_time: c.min_time,
                    max_time: c.max_time,
                    num_samples: c.samples,
                }));
                w.add_series(&s.labels, &chunks)?;
            }
            drop(symbols);
            if let Some(meta) = w.finish(&Tombstones::new())? {
                if !opts.quiet {
                    let b = Block::open(&out_dir.join(meta.ulid.to_string()))?;
                    let mut rows = Vec::new();
                    if !wrote_header {
                        rows.push(list::header());
                        wrote_header = true;
                    }
                    rows.push(list::row(&b, opts.human_readable));
                    out.write_all(list::tabwrite(&rows).as_bytes())?;
                }
                metas.push(meta);
            }
        }
        t = upper;
    }
    Ok(metas)
}
