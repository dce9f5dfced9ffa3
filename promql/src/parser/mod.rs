//! The PromQL parser: lexer tokens in, [`Expr`](crate::ast::Expr) out, type-checked as
//! Prometheus 3.14 does, with its error messages and positions.

mod functions;

pub use functions::{get_function, Function, FUNCTIONS};

use crate::ast::PosRange;

/// Feature flags of the language. `Default` is Prometheus 3.14's default: everything off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Experimental functions and aggregations (`limitk`, `info`, `sort_by_label`, ...).
    pub enable_experimental_functions: bool,
    /// Duration arithmetic (`[5m * 2]`, `offset step()`, `min_of`, ...).
    pub experimental_duration_expr: bool,
    /// `anchored` and `smoothed` range selector modifiers.
    pub enable_extended_range_selectors: bool,
    /// `fill`, `fill_left`, `fill_right` binary operator modifiers.
    pub enable_binop_fill_modifiers: bool,
}

impl Options {
    /// Every feature on (what the promqltest engine uses).
    pub fn all() -> Self {
        Options {
            enable_experimental_functions: true,
            experimental_duration_expr: true,
            enable_extended_range_selectors: true,
            enable_binop_fill_modifiers: true,
        }
    }
}

/// A parse or type error, located in the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line_col}: parse error: {message}")]
pub struct ParseError {
    /// Where the error is (byte offsets).
    pub pos: PosRange,
    /// `line:column` of `pos.start`, 1-based, as Prometheus prints it.
    pub line_col: String,
    /// What is wrong, in Prometheus' words.
    pub message: String,
}

impl ParseError {
    /// An error at `pos` in `query`.
    pub fn new(query: &str, pos: PosRange, message: impl Into<String>) -> Self {
        ParseError {
            pos,
            line_col: pos.start_line_col(query),
            message: message.into(),
        }
    }
}

mod check;
pub(crate) mod literals;
mod parse;

pub use literals::{format_duration_ms, format_float, parse_duration_ms};
pub use parse::{parse, parse_metric_selector, parse_with, MAX_DEPTH};
