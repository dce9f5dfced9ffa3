//! `tsdb analyze DIR [BLOCK]`: label cardinality and churn statistics of one block, in the
//! layout `promtool tsdb analyze` prints (ties are broken by name here, so output is stable).

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

/// Runs `tsdb analyze`. Without `block_id`, analyzes the block with the highest ULID.
pub fn run(
    dir: &Path,
    block_id: Option<&str>,
    limit: usize,
    selector: Option<&str>,
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
    Ok(())
}
