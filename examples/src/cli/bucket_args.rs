//! The bucket options every bucket-aware command takes: a URL (`--bucket`) or, as Thanos'
//! components take it, an objstore configuration (`--objstore.config-file FILE` or
//! `--objstore.config YAML`).

use std::path::PathBuf;

use tsdb_bucket::{BucketSpec, ObjstoreConfig};

use super::CliError;

/// `--bucket`, `--objstore.config-file`, `--objstore.config`: at most one.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BucketArgs {
    /// Bucket URL: file:///dir, memory://, s3://bucket/prefix?endpoint=..., gs://..., az://...
    #[arg(long, conflicts_with_all = ["objstore_config_file", "objstore_config"])]
    pub bucket: Option<String>,
    /// Thanos objstore configuration file (YAML: type, config, prefix).
    #[arg(long = "objstore.config-file", conflicts_with = "objstore_config")]
    pub objstore_config_file: Option<PathBuf>,
    /// Thanos objstore configuration as YAML text.
    #[arg(long = "objstore.config")]
    pub objstore_config: Option<String>,
}

impl BucketArgs {
    /// The bucket named, if any; settings of the configuration that have no effect here
    /// are reported on stderr.
    pub fn spec(&self) -> Result<Option<BucketSpec>, CliError> {
        let config = match (
            &self.bucket,
            &self.objstore_config_file,
            &self.objstore_config,
        ) {
            (Some(url), _, _) => return Ok(Some(BucketSpec::Url(url.clone()))),
            (None, Some(file), _) => ObjstoreConfig::from_file(file),
            (None, None, Some(yaml)) => ObjstoreConfig::parse(yaml),
            (None, None, None) => return Ok(None),
        }
        .map_err(|e| CliError::Other(e.to_string()))?;
        for setting in &config.ignored {
            eprintln!("objstore config: {setting} has no effect here");
        }
        Ok(Some(BucketSpec::Config(config)))
    }

    /// The bucket, which the command needs.
    pub fn required(&self) -> Result<BucketSpec, CliError> {
        self.spec()?.ok_or_else(|| {
            CliError::Other(
                "a bucket is needed: --bucket URL, --objstore.config-file FILE or --objstore.config YAML"
                    .into(),
            )
        })
    }
}
