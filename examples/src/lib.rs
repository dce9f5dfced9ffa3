//! Runnable examples and the `tsdb` binary that composes the workspace's crates.

pub mod cli;
pub mod openmetrics;
