//! An embeddable, Prometheus-compatible time-series database.
//!
//! **Status: not yet implemented.**
