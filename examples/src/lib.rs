//! Runnable examples and the `tsdb` binary that composes the workspace's crates.
