//! A PromQL 3.x parser and evaluation engine.
//!
//! **Status: not yet implemented.**
