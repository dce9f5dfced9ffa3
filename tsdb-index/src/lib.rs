//! Labels, matchers, postings and the Prometheus TSDB index format.

pub mod fast_regex;
pub mod labels;
pub mod matcher;

pub use labels::{Label, Labels, LabelsBuilder};
pub use matcher::{MatchType, Matcher};
