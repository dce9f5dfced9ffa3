//! The `tsdb` binary's subcommands, one module each, plus the small helpers they share.

pub mod analyze;
pub mod bucket;
pub mod bucket_args;
pub mod compact;
pub mod dump;
pub mod gotime;
pub mod import;
pub mod list;
pub mod selector;

/// Errors of the `tsdb` subcommands.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A block could not be read or written.
    #[error(transparent)]
    Block(#[from] tsdb_core::block::BlockError),
    /// A query over blocks failed.
    #[error(transparent)]
    Storage(#[from] tsdb_core::storage::StorageError),
    /// A selector did not parse.
    #[error(transparent)]
    Selector(#[from] selector::SelectorError),
    /// Input did not parse.
    #[error("{file}: {source}")]
    Parse {
        /// The input file.
        file: String,
        /// The parse error.
        #[source]
        source: crate::openmetrics::ParseError,
    },
    /// Writing output failed.
    #[error("write output: {0}")]
    Output(#[from] std::io::Error),
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}
