//! Long-term storage in object stores: shipper, bucket store and bucket compactor.
//!
//! **Status: not yet implemented.** This crate holds no code yet; it exists so the workspace
//! has its final shape. See the project README for what works today.
