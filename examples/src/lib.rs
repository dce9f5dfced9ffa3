//! Runnable examples and the `tsdb` binary that composes the workspace's crates.

pub mod cli;
pub mod http_api;
pub mod openmetrics;
pub mod query;
pub mod serve;
pub mod sidecar;
pub mod store;
