//! A PromQL 3.x parser and evaluation engine.
//!
//! - [`parser`]: lexer, parser and type checker producing the [`ast`]; the printer
//!   (`Display` on [`ast::Expr`]) writes an AST back as PromQL, as Prometheus' `String()` does.
//! - [`types`]: the value types expressions evaluate to.

pub mod ast;
pub mod lexer;
pub mod parser;
pub mod pretty;
pub mod printer;
pub mod types;

pub mod engine;
pub mod functions;
pub mod promqltest;
pub mod test_storage;
pub mod value;
