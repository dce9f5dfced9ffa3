//! `tsdb bucket upload|ls|inspect|verify`: blocks in object storage (Thanos' `tools bucket`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use tsdb_bucket::meta::{source, ThanosMeta};
use tsdb_bucket::shipper::bucket_metas;
use tsdb_bucket::{BucketSpec, Shipper};

use super::gotime::go_duration_ms;
use super::list::tabwrite;
use super::CliError;

fn err(e: impl std::fmt::Display) -> CliError {
    CliError::Other(e.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Output)
}

/// Parses `k=v` external labels.
pub fn parse_labels(pairs: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut labels = BTreeMap::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| CliError::Other(format!("label {p:?} is not k=v")))?;
        let v = v.trim_matches('"');
        if k.is_empty() || !tsdb_core_valid_label_name(k) {
            return Err(CliError::Other(format!("invalid label name {k:?}")));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(labels)
}

fn tsdb_core_valid_label_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Uploads every block of `dir` not yet in the bucket (`meta.json` last), with a progress bar
/// on stderr unless `quiet`.
pub fn upload(
    dir: &Path,
    spec: &BucketSpec,
    labels: &[String],
    quiet: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let bucket = spec.open().map_err(err)?;
    let labels = parse_labels(labels)?;
    let mut shipper = Shipper::new(dir, bucket)
        .with_labels(labels)
        .with_source(source::BUCKET_UPLOAD)
        .with_upload_compacted(true)
        .without_state_file();
    let total: u64 = shipper
        .local_blocks()
        .map_err(err)?
        .iter()
        .map(|(d, _)| dir_size(d))
        .sum();
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} {msg}",
        )
        .map_err(err)?,
    );
    let b = bar.clone();
    shipper = shipper.with_progress(Box::new(move |id, rel, n| {
        b.inc(n);
        b.set_message(format!("{id}/{rel}"));
    }));
    let report = runtime()?.block_on(shipper.sync()).map_err(err)?;
    bar.finish_and_clear();
    for id in &report.uploaded {
        writeln!(out, "uploaded {id}")?;
    }
    for id in &report.already_in_bucket {
        writeln!(out, "already in bucket {id}")?;
    }
    for id in &report.skipped {
        writeln!(out, "skipped (empty) {id}")?;
    }
    writeln!(
        out,
        "{} blocks uploaded, {} bytes",
        report.uploaded.len(),
        report.bytes
    )?;
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            n += if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    n
}

/// Prints the ULID of every complete block, oldest first.
pub fn ls(spec: &BucketSpec, out: &mut dyn Write) -> Result<(), CliError> {
    let bucket = spec.open().map_err(err)?;
    let metas = runtime()?.block_on(bucket_metas(&bucket)).map_err(err)?;
    for m in metas {
        writeln!(out, "{}", m.ulid())?;
    }
    Ok(())
}

fn labels_string(m: &ThanosMeta) -> String {
    let parts: Vec<String> = m
        .thanos
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    parts.join(",")
}

fn resolution_string(ms: i64) -> String {
    if ms == 0 {
        "0s".into()
    } else {
        go_duration_ms(ms)
    }
}

/// Prints a table of the bucket's blocks: ULID, time range, duration, level, resolution,
/// labels, series/samples/chunks, size.
pub fn inspect(spec: &BucketSpec, out: &mut dyn Write) -> Result<(), CliError> {
    let bucket = spec.open().map_err(err)?;
    let rt = runtime()?;
    let metas = rt.block_on(bucket_metas(&bucket)).map_err(err)?;
    let mut rows = vec![[
        "ULID",
        "FROM",
        "UNTIL",
        "RANGE",
        "LEVEL",
        "RESOLUTION",
        "LABELS",
        "#SERIES",
        "#SAMPLES",
        "#CHUNKS",
        "SOURCE",
        "SIZE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    for m in &metas {
        let size: u64 = rt
            .block_on(bucket.list(&m.ulid().to_string()))
            .map_err(err)?
            .iter()
            .map(|o| o.size)
            .sum();
        let b = &m.block;
        rows.push(vec![
            b.ulid.to_string(),
            time_string(b.min_time),
            time_string(b.max_time),
            go_duration_ms(b.max_time - b.min_time),
            b.compaction.level.to_string(),
            resolution_string(m.thanos.downsample.resolution),
            labels_string(m),
            b.stats.num_series.to_string(),
            b.stats.num_samples.to_string(),
            b.stats.num_chunks.to_string(),
            m.thanos.source.clone(),
            size.to_string(),
        ]);
    }
    out.write_all(tabwrite(&rows).as_bytes())?;
    Ok(())
}

fn time_string(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Checks the bucket: overlapping blocks within a group (same labels and resolution), files
/// listed in `meta.json` missing or of the wrong size, partial uploads, and whether each index
/// opens. Returns the number of issues found (printed to `out`).
pub fn verify(spec: &BucketSpec, out: &mut dyn Write) -> Result<usize, CliError> {
    let bucket = spec.open().map_err(err)?;
    let rt = runtime()?;
    let metas = rt.block_on(bucket_metas(&bucket)).map_err(err)?;
    let mut issues = 0;
    // Partial uploads: ULID directories without meta.json.
    let dirs = rt.block_on(bucket.list_dirs()).map_err(err)?;
    for d in &dirs {
        if d.parse::<ulid::Ulid>().is_ok() && !metas.iter().any(|m| m.ulid().to_string() == *d) {
            writeln!(out, "partial upload: {d} has no meta.json")?;
            issues += 1;
        }
    }
    // Overlaps per group.
    let mut groups: BTreeMap<(i64, String), Vec<&ThanosMeta>> = BTreeMap::new();
    for m in &metas {
        groups
            .entry((m.thanos.downsample.resolution, labels_string(m)))
            .or_default()
            .push(m);
    }
    for ((res, labels), blocks) in &groups {
        let mut blocks = blocks.clone();
        blocks.sort_by_key(|m| m.block.min_time);
        for w in blocks.windows(2) {
            if w[1].block.min_time < w[0].block.max_time {
                writeln!(
                    out,
                    "overlap in group {{{labels}}} resolution {res}: {} [{}, {}) and {} [{}, {})",
                    w[0].ulid(),
                    w[0].block.min_time,
                    w[0].block.max_time,
                    w[1].ulid(),
                    w[1].block.min_time,
                    w[1].block.max_time
                )?;
                issues += 1;
            }
        }
    }
    // Files and index.
    for m in &metas {
        let id = m.ulid();
        let objects = rt.block_on(bucket.list(&id.to_string())).map_err(err)?;
        let sizes: BTreeMap<String, u64> = objects
            .iter()
            .map(|o| {
                let rel = o.key.strip_prefix(&format!("{id}/")).unwrap_or(&o.key);
                (rel.to_string(), o.size)
            })
            .collect();
        let mut expected: Vec<(String, Option<u64>)> = m
            .thanos
            .files
            .iter()
            .map(|f| {
                (
                    f.rel_path.clone(),
                    (f.size_bytes > 0).then_some(f.size_bytes as u64),
                )
            })
            .collect();
        if expected.is_empty() {
            expected.push(("index".into(), None));
            if !sizes.keys().any(|k| k.starts_with("chunks/")) {
                writeln!(out, "{id}: no chunk segment files")?;
                issues += 1;
            }
        }
        let mut files_ok = true;
        for (rel, size) in &expected {
            match (sizes.get(rel), size) {
                (None, _) => {
                    writeln!(out, "{id}: missing file {rel}")?;
                    issues += 1;
                    files_ok = false;
                }
                (Some(got), Some(want)) if got != want => {
                    writeln!(out, "{id}: {rel} is {got} bytes, meta.json says {want}")?;
                    issues += 1;
                    files_ok = false;
                }
                _ => {}
            }
        }
        if !files_ok {
            continue;
        }
        // Open the block (index TOC, symbols, postings) from a local copy.
        let tmp = tempfile::tempdir()?;
        let local = tmp.path().join(id.to_string());
        for rel in sizes.keys() {
            let data = rt
                .block_on(bucket.get(&format!("{id}/{rel}")))
                .map_err(err)?
                .unwrap_or_default();
            let path = local.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, data)?;
        }
        if let Err(e) = tsdb_core::block::reader::Block::open(&local) {
            writeln!(out, "{id}: block does not open: {e}")?;
            issues += 1;
        }
    }
    writeln!(out, "{} blocks checked, {issues} issues", metas.len())?;
    Ok(issues)
}
