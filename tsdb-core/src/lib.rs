//! An embeddable, Prometheus-compatible time-series database.

pub mod record;
pub mod storage;
pub mod wlog;
