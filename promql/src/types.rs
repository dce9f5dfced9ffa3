//! The value types a PromQL expression can evaluate to, as the type checker sees them.

use std::fmt;

/// The type of value an expression produces (Prometheus' `parser.ValueType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// No value (only used for lists of expressions).
    None,
    /// An instant vector: one sample per series.
    Vector,
    /// A single float without labels.
    Scalar,
    /// A range vector: a range of samples per series.
    Matrix,
    /// A string literal.
    String,
}

impl ValueType {
    /// The internal name (`"vector"`, `"matrix"`, ...), as Prometheus' `ValueType` string and the
    /// `resultType` field of the HTTP API.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Vector => "vector",
            ValueType::Scalar => "scalar",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }

    /// The user-facing name used in error messages (`"instant vector"`, `"range vector"`, ...),
    /// as Prometheus' `DocumentedType`.
    pub fn documented(self) -> &'static str {
        match self {
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
