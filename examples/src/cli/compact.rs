//! `tsdb compact`: Thanos' compactor over a bucket (see `tsdb_bucket::compactor`): one pass,
//! or one pass every `--wait-interval` with `--wait`.

use std::io::Write;
use std::time::Duration;

use tsdb_bucket::compactor::{BucketCompactor, CompactorConfig, CompactorReport};
use tsdb_bucket::BucketSpec;

use super::CliError;

fn err(e: impl std::fmt::Display) -> CliError {
    CliError::Other(e.to_string())
}

/// Runs the compactor once (or forever with `wait`), printing what each pass did.
pub fn run(
    spec: &BucketSpec,
    cfg: CompactorConfig,
    wait: Option<Duration>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let bucket = spec.open().map_err(err)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Output)?;
    let compactor = BucketCompactor::new(bucket, cfg);
    loop {
        let report = rt.block_on(compactor.run()).map_err(err)?;
        print_report(&report, out)?;
        out.flush()?;
        match wait {
            Some(every) => std::thread::sleep(every),
            None => return Ok(()),
        }
    }
}

fn print_report(r: &CompactorReport, out: &mut dyn Write) -> Result<(), CliError> {
    for c in &r.compactions {
        let inputs: Vec<String> = c.inputs.iter().map(|u| u.to_string()).collect();
        match &c.output {
            Some(m) => writeln!(
                out,
                "compacted group {} [{}] into {} (level {}, {} series, {} samples)",
                c.group,
                inputs.join(" "),
                m.ulid,
                m.compaction.level,
                m.stats.num_series,
                m.stats.num_samples
            )?,
            None => writeln!(
                out,
                "compacted group {} [{}]: no sample left, inputs marked for deletion",
                c.group,
                inputs.join(" ")
            )?,
        }
    }
    for d in &r.downsampled {
        match d.output {
            Some(id) => writeln!(
                out,
                "downsampled {} to {} ms into {id}",
                d.input, d.resolution
            )?,
            None => writeln!(
                out,
                "downsampled {} to {} ms: no float sample, nothing written",
                d.input, d.resolution
            )?,
        }
        if d.skipped_histogram_chunks > 0 {
            writeln!(
                out,
                "  left out {} native histogram chunks (not downsampled yet)",
                d.skipped_histogram_chunks
            )?;
        }
    }
    for u in &r.marked_duplicates {
        writeln!(
            out,
            "marked {u} for deletion: its sources are in another block"
        )?;
    }
    for u in &r.marked_by_retention {
        writeln!(out, "marked {u} for deletion: beyond retention")?;
    }
    for u in &r.deleted {
        writeln!(out, "deleted {u}")?;
    }
    for d in &r.deleted_partial {
        writeln!(out, "deleted aborted upload {d}")?;
    }
    for (g, why) in &r.skipped_groups {
        writeln!(out, "left group {g} alone: {why}")?;
    }
    for (dir, why) in &r.skipped_blocks {
        writeln!(out, "skipped {dir}: {why}")?;
    }
    writeln!(
        out,
        "{} compactions, {} blocks marked for deletion, {} deleted",
        r.compactions.len(),
        r.marked_duplicates.len() + r.marked_by_retention.len(),
        r.deleted.len()
    )?;
    Ok(())
}
