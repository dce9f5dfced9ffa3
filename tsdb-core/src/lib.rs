//! An embeddable, Prometheus-compatible time-series database.

pub mod storage;
