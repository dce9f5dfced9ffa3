//! An embeddable, Prometheus-compatible time-series database.

pub mod block;
pub mod db;
pub mod gofloat;
pub mod head;
pub mod querier;
pub mod record;
pub mod storage;
pub mod wlog;
