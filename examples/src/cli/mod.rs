//! The `tsdb` binary's subcommands, one module each, plus the small helpers they share.

pub mod gofloat;
pub mod selector;
