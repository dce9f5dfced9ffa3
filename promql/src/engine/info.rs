//! The experimental `info()` function: enriches series with labels of matching info series.
//!
//! Not supported yet: a query using it fails with a clear error instead of a wrong answer.

use crate::ast::Call;
use crate::engine::eval::{EvalResult, Evaluator};
use crate::engine::EngineError;
use crate::value::Matrix;

/// Evaluates `info(v[, selector])`.
pub(crate) fn eval_info(_ev: &mut Evaluator<'_>, _c: &Call) -> EvalResult<Matrix> {
    Err(EngineError::Unsupported("info()".into()))
}
