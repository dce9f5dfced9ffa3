//! `tsdb analyze DIR [BLOCK] [--extended]`: label cardinality and churn statistics of one
//! block, and with `--extended` the chunk fill analysis, in the layout `promtool tsdb analyze`
//! prints (ties are broken by name here, so output is stable).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use tsdb_core::block::reader::{open_blocks, Block};
use tsdb_core::querier::postings::select_postings;
use tsdb_index::postings::Postings;
use tsdb_index::Matcher;

use super::gotime::go_duration_ms;
use super::selector::parse_selector;
use super::CliError;

fn print_top(
    out: &mut dyn Write,
    title: &str,
    mut items: Vec<(String, u64)>,
    limit: usize,
) -> std::io::Result<()> {
    write!(out, "\n{title}:\n")?;
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (k, v) in items.into_iter().take(limit) {
        writeln!(out, "{v} {k}")?;
    }
    Ok(())
}

/// Runs `tsdb analyze`. Without `block_id`, analyzes the block with the highest ULID; with
/// `extended`, adds promtool's compaction analysis (chunk fill and size histograms).
pub fn run(
    dir: &Path,
    block_id: Option<&str>,
    limit: usize,
    selector: Option<&str>,
    extended: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let matchers: Vec<Matcher> = match selector {
        Some(s) => parse_selector(s)?,
        None => Vec::new(),
    };
    let blocks = open_blocks(dir)?;
    let block: &Block = match block_id {
        Some(id) => blocks
            .iter()
            .find(|b| b.meta().ulid.to_string() == id)
            .ok_or_else(|| CliError::Other(format!("block {id} not found in {}", dir.display())))?,
        None => blocks
            .iter()
            .max_by_key(|b| b.meta().ulid)
            .ok_or_else(|| CliError::Other(format!("no blocks in {}", dir.display())))?,
    };
    let meta = block.meta();
    let ix = block.index();
    let ierr = |e: tsdb_index::IndexError| CliError::Block(block.index_error(e));
    writeln!(out, "Block ID: {}", meta.ulid)?;
    writeln!(
        out,
        "Duration: {}",
        go_duration_ms(meta.max_time - meta.min_time)
    )?;
    writeln!(out, "Total Series: {}", meta.stats.num_series)?;
    if let Some(s) = selector {
        writeln!(out, "Matcher: {s}")?;
    }

    // One pass over the selected series gathers everything the report needs.
    let mut refs = Vec::new();
    let mut p = if matchers.is_empty() {
        ix.all_postings().map_err(ierr)?
    } else {
        select_postings(ix, &matchers).map_err(ierr)?
    };
    while p.next() {
        refs.push(p.at());
    }
    if let Some(e) = p.err() {
        return Err(CliError::Other(e.to_string()));
    }
    drop(p);

    let span = (meta.max_time - meta.min_time) as u64;
    let mut labels_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_count: HashMap<String, u64> = HashMap::new();
    let mut values: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    let mut names_count: HashMap<String, u64> = HashMap::new();
    let mut entries = 0u64;
    let (mut lbuf, mut cbuf) = (Vec::new(), Vec::new());
    for &r in &refs {
        ix.series(r, &mut lbuf, &mut cbuf).map_err(ierr)?;
        let (Some(first), Some(last)) = (cbuf.first(), cbuf.last()) else {
            continue;
        };
        let uncovered = span.wrapping_sub((last.max_time - first.min_time) as u64);
        for l in &lbuf {
            let key = format!("{}={}", l.name, l.value);
            *labels_uncovered.entry(l.name.to_string()).or_default() += uncovered;
            *pairs_uncovered.entry(key.clone()).or_default() += uncovered;
            *pairs_count.entry(key).or_default() += 1;
            values
                .entry(l.name.to_string())
                .or_default()
                .insert(l.value.to_string());
            if l.name == "__name__" {
                *names_count.entry(l.value.to_string()).or_default() += 1;
            }
            entries += 1;
        }
    }
    if !matchers.is_empty() {
        writeln!(out, "Label names: {}", values.len())?;
        writeln!(out, "Matched series: {}", refs.len())?;
    } else {
        writeln!(out, "Label names: {}", ix.label_names().len())?;
    }
    writeln!(
        out,
        "Postings (unique label pairs): {}",
        pairs_uncovered.len()
    )?;
    writeln!(out, "Postings entries (total label pairs): {entries}")?;
    let per_span = |m: HashMap<String, u64>| -> Vec<(String, u64)> {
        m.into_iter()
            .map(|(k, v)| {
                (
                    k,
                    if span == 0 {
                        0
                    } else {
                        (v as f64 / span as f64) as u64
                    },
                )
            })
            .collect()
    };
    print_top(
        out,
        "Label pairs most involved in churning",
        per_span(pairs_uncovered),
        limit,
    )?;
    print_top(
        out,
        "Label names most involved in churning",
        per_span(labels_uncovered),
        limit,
    )?;
    print_top(
        out,
        "Most common label pairs",
        pairs_count.into_iter().collect(),
        limit,
    )?;
    print_top(
        out,
        "Label names with highest cumulative label value length",
        values
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|s| s.len() as u64).sum()))
            .collect(),
        limit,
    )?;
    print_top(
        out,
        "Highest cardinality labels",
        values
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect(),
        limit,
    )?;
    print_top(
        out,
        "Highest cardinality metric names",
        names_count.into_iter().collect(),
        limit,
    )?;
    if extended {
        compaction_analysis(block, &refs, out)?;
    }
    Ok(())
}

/// promtool's `--extended` report: over the selected series' chunks, histograms of samples
/// and bytes per float chunk, samples and bytes per histogram chunk, and bucket slots per
/// histogram chunk.
fn compaction_analysis(
    block: &Block,
    refs: &[tsdb_index::SeriesRef],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let ierr = |e: tsdb_index::IndexError| CliError::Block(block.index_error(e));
    let (mut lbuf, mut cbuf) = (Vec::new(), Vec::new());
    let mut total = 0usize;
    let (mut float_samples, mut float_bytes) = (Vec::new(), Vec::new());
    let (mut hist_samples, mut hist_bytes, mut hist_buckets) = (Vec::new(), Vec::new(), Vec::new());
    for &r in refs {
        block
            .index()
            .series(r, &mut lbuf, &mut cbuf)
            .map_err(ierr)?;
        for meta in &cbuf {
            let raw = block.chunks().chunk(meta.chunk_ref)?;
            let encoding = chunkenc::Encoding::try_from(raw.encoding).ok();
            let bad = |e: chunkenc::ChunkError| {
                CliError::Other(format!("chunk {:#x}: {e}", meta.chunk_ref))
            };
            match encoding {
                Some(chunkenc::Encoding::Xor) => {
                    let it = chunkenc::iter(chunkenc::Encoding::Xor, raw.data).map_err(bad)?;
                    float_samples.push(it.num_samples());
                    float_bytes.push(raw.data.len());
                }
                Some(e @ (chunkenc::Encoding::Histogram | chunkenc::Encoding::FloatHistogram)) => {
                    let mut it = chunkenc::iter(e, raw.data).map_err(bad)?;
                    hist_samples.push(it.num_samples());
                    hist_bytes.push(raw.data.len());
                    let mut buckets = 0;
                    while it.next().map_err(bad)?.is_some() {
                        if let Some((_, h)) = it.at_histogram() {
                            buckets += h.positive_buckets.len() + h.negative_buckets.len();
                        } else if let Some((_, h)) = it.at_float_histogram() {
                            buckets += h.positive_buckets.len() + h.negative_buckets.len();
                        }
                    }
                    hist_buckets.push(buckets);
                }
                _ => {}
            }
            total += 1;
        }
    }
    write!(out, "\nCompaction analysis:\n\n")?;
    display_histogram(out, "samples per float chunk", float_samples, total)?;
    display_histogram(out, "bytes per float chunk", float_bytes, total)?;
    display_histogram(out, "samples per histogram chunk", hist_samples, total)?;
    display_histogram(out, "bytes per histogram chunk", hist_bytes, total)?;
    display_histogram(out, "buckets per histogram chunk", hist_buckets, total)?;
    Ok(())
}

/// A text histogram in promtool's layout: min/avg/max, then one line per bucket of a width
/// that is a power of ten, with a bar of `#` per percent of all chunks.
fn display_histogram(
    out: &mut dyn Write,
    what: &str,
    mut data: Vec<usize>,
    total: usize,
) -> std::io::Result<()> {
    if data.is_empty() {
        return write!(out, "{what}: N/A\n\n");
    }
    data.sort_unstable();
    let (min, max) = (data[0], data[data.len() - 1]);
    // Bucket width: 10, 100, ... up to at least a tenth of the spread (capped at 100 000).
    let spread = (max - min) / 10;
    let mut step = 10;
    while step < spread && step <= 10_000 {
        step *= 10;
    }
    let start = min - min % step;
    let end = max - max % step + step;
    let mut buckets = vec![0usize; (end - start) / step + 1];
    for &c in &data {
        buckets[(c - start) / step] += 1;
    }
    let max_count = buckets.iter().copied().max().unwrap_or(0);
    let avg = data.iter().sum::<usize>() / data.len();
    writeln!(out, "{what} (min/avg/max): {min}/{avg}/{max}")?;
    let left = end.to_string().len();
    let right = (end + step).to_string().len();
    let count_w = max_count.to_string().len();
    for (i, count) in buckets.iter().enumerate() {
        let percent = 100 * count / total.max(1);
        writeln!(
            out,
            "[{:>left$}, {:>right$}]: {:>count_w$} {}",
            i * step + start + 1,
            (i + 1) * step + start,
            count,
            "#".repeat(percent)
        )?;
    }
    writeln!(out)
}
