//! `tsdb dump DIR`: every sample of the blocks in DIR, in `promtool tsdb dump`'s format:
//! `{a="b", c="d"} value timestamp_ms`, series in label order, samples in time order, values
//! formatted with Go's `%g`; native histograms as Go's `Histogram.String()`. (promtool itself
//! leaves out the first sample of a float histogram series and the first two of an integer
//! histogram series, a quirk of its iterator loops; we print them all.)

use std::io::Write;
use std::path::Path;

use tsdb_core::querier::{Blocks, MergedSeries};
use tsdb_core::storage::{Series, ValueType};
use tsdb_index::Matcher;

use super::selector::parse_selector;
use super::CliError;
use tsdb_core::gofloat::push_go_g;

/// The selector `promtool tsdb dump` uses when none is given.
pub const DEFAULT_MATCH: &str = "{__name__=~'(?s:.*)'}";

/// Writes one series' samples; returns an error if the iterator failed.
fn write_series(
    s: &MergedSeries<'_>,
    out: &mut dyn Write,
    line: &mut String,
) -> Result<(), CliError> {
    let lbls = s.labels().to_string();
    let mut it = s.iter();
    loop {
        match it.next() {
            ValueType::None => break,
            ValueType::Float => {
                let (t, v) = it.at();
                line.clear();
                line.push_str(&lbls);
                line.push(' ');
                push_go_g(line, v);
                line.push(' ');
                line.push_str(itoa(t, &mut [0u8; 24]));
                line.push('\n');
                out.write_all(line.as_bytes())?;
            }
            ValueType::Histogram => {
                let (t, h) = it.at_histogram();
                let count = h.count;
                let fh = h.to_float();
                write_histogram_line(out, line, &lbls, &fh, Some(count), t)?;
            }
            ValueType::FloatHistogram => {
                let (t, fh) = it.at_float_histogram();
                let fh = fh.clone();
                write_histogram_line(out, line, &lbls, &fh, None, t)?;
            }
        }
    }
    if let Some(e) = it.err() {
        return Err(CliError::Other(e.to_string()));
    }
    Ok(())
}

/// Writes `labels {count:.., sum:.., [lower,upper):count, ...} t`, as promtool prints a native
/// histogram sample (Go's `Histogram.String()`): empty buckets left out, negative buckets from
/// the most negative, then the zero bucket, then the positive ones; counts as integers for
/// integer histograms (`int_count`), else with `%g`.
fn write_histogram_line(
    out: &mut dyn Write,
    line: &mut String,
    lbls: &str,
    h: &chunkenc::FloatHistogram,
    int_count: Option<u64>,
    t: i64,
) -> Result<(), CliError> {
    let count = |line: &mut String, c: f64| match int_count {
        Some(_) => line.push_str(&(c as u64).to_string()),
        None => push_go_g(line, c),
    };
    line.clear();
    line.push_str(lbls);
    line.push_str(" {count:");
    match int_count {
        Some(c) => line.push_str(&c.to_string()),
        None => push_go_g(line, h.count),
    }
    line.push_str(", sum:");
    push_go_g(line, h.sum);
    for b in promql::functions::hist::all_buckets(h)
        .into_iter()
        .filter(|b| b.count != 0.0)
    {
        line.push_str(", ");
        line.push(if b.lower_inclusive { '[' } else { '(' });
        push_go_g(line, b.lower);
        line.push(',');
        push_go_g(line, b.upper);
        line.push(if b.upper_inclusive { ']' } else { ')' });
        line.push(':');
        count(line, b.count);
    }
    line.push_str("} ");
    line.push_str(itoa(t, &mut [0u8; 24]));
    line.push('\n');
    out.write_all(line.as_bytes())?;
    Ok(())
}

/// Formats an integer into `buf` without allocating.
fn itoa(v: i64, buf: &mut [u8; 24]) -> &str {
    let mut i = buf.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("")
}

/// Runs `tsdb dump` over the blocks in `dir`.
pub fn run(
    dir: &Path,
    selectors: &[String],
    mint: i64,
    maxt: i64,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let blocks = Blocks::open_dir(dir)?;
    let q = blocks.multi_querier(mint, maxt);
    let default = [DEFAULT_MATCH.to_string()];
    let selectors = if selectors.is_empty() {
        &default[..]
    } else {
        selectors
    };
    let matcher_sets: Vec<Vec<Matcher>> = selectors
        .iter()
        .map(|s| parse_selector(s))
        .collect::<Result<_, _>>()?;
    let mut sets = Vec::with_capacity(matcher_sets.len());
    for m in &matcher_sets {
        sets.push(q.select_merged(m)?);
    }
    let mut heads = Vec::with_capacity(sets.len());
    for s in &mut sets {
        heads.push(s.next_merged().transpose()?);
    }
    let mut line = String::with_capacity(256);
    // Union of the selectors' series in label order; a series selected twice is dumped once.
    while let Some(min) = heads
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.as_ref().map(|s| (i, s.labels())))
        .min_by(|a, b| a.1.cmp(b.1))
        .map(|(i, _)| i)
    {
        let labels = heads[min]
            .as_ref()
            .map(|s| s.labels().clone())
            .unwrap_or_default();
        if let Some(s) = &heads[min] {
            write_series(s, out, &mut line)?;
        }
        for i in 0..heads.len() {
            if heads[i].as_ref().is_some_and(|s| *s.labels() == labels) {
                heads[i] = sets[i].next_merged().transpose()?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
