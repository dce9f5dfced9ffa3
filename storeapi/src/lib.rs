//! Thanos' StoreAPI as Rust traits and types, with a gRPC server and client.
//!
//! **Status: not yet implemented.** This crate holds no code yet; it exists so the workspace
//! has its final shape. See the project README for what works today.
