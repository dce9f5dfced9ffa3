//! An embeddable, Prometheus-compatible time-series database.

pub mod block;
pub mod chunks_head;
pub mod compact;
pub mod db;
pub mod delete;
pub mod gofloat;
pub mod head;
pub mod querier;
pub mod record;
pub mod retention;
pub mod snapshot;
pub mod storage;
pub mod wlog;
