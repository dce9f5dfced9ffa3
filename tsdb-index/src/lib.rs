//! Labels, matchers, postings and the Prometheus TSDB index format.
//!
//! **Status: not yet implemented.**
