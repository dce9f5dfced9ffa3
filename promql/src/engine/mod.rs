//! The PromQL engine: runs instant and range queries over any [`Queryable`].
//!
//! A query is prepared (durations, `@`, step invariants), then every selector's series are
//! read from storage in one pass (I/O first, DESIGN rule 2), then the evaluator computes the
//! result synchronously. Limits: a maximum number of samples in memory, a timeout and a
//! cancellation flag. Annotations (warnings and infos) come back with the result.

mod aggregate;
pub mod annotations;
mod binop;
pub(crate) mod eval;
mod fetched;
pub(crate) mod hashing;
mod histogram_stats;
mod info;
mod labels;
pub(crate) mod prepare;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb_core::storage::{Queryable, SelectHints, StorageError, ValueType as StorageValueType};

use crate::ast::Expr;
use crate::types::ValueType;
use crate::value::{sort_matrix, Sample, Value};
pub use annotations::{Annotation, AnnotationKind, Annotations};
use eval::{Evaluator, FetchedSeries, SelectorData};

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// More samples than allowed were loaded into memory.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// The timeout elapsed.
    #[error("query timed out in {0}")]
    Timeout(String),
    /// The query was cancelled.
    #[error("query was canceled in {0}")]
    Cancelled(String),
    /// Reading from storage failed.
    #[error("expanding series: {0}")]
    Storage(String),
    /// An evaluation error, with Prometheus' message.
    #[error("{0}")]
    Eval(String),
    /// A feature this engine does not implement.
    #[error("not supported by this engine: {0}")]
    Unsupported(String),
    /// The expression's type cannot be the result of this kind of query.
    #[error("invalid expression type {0:?} for range query, must be Scalar or instant Vector")]
    InvalidRangeType(String),
}

impl From<StorageError> for EngineError {
    fn from(e: StorageError) -> Self {
        EngineError::Storage(e.to_string())
    }
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOpts {
    /// Maximum number of samples in memory at once.
    pub max_samples: usize,
    /// Maximum run time of a query.
    pub timeout: Duration,
    /// How far back an instant selector looks for a sample (ms).
    pub lookback_delta_ms: i64,
    /// Drop `__name__` only at the end of evaluation (Prometheus' delayed name removal).
    pub delayed_name_removal: bool,
    /// Step of subqueries written without one (ms).
    pub no_step_subquery_interval_ms: i64,
    /// Use samples' start timestamps (when storage has them) in `rate()`, `irate()`,
    /// `increase()` and `resets()`, and return them from `start_timestamp()`: Prometheus'
    /// experimental `use-start-timestamps` behaviour. Off by default, as in Prometheus.
    pub use_start_timestamps: bool,
}

impl Default for EngineOpts {
    fn default() -> Self {
        EngineOpts {
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            lookback_delta_ms: 5 * 60 * 1000,
            delayed_name_removal: false,
            no_step_subquery_interval_ms: 60_000,
            use_start_timestamps: false,
        }
    }
}

/// Sample counts of one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Peak number of samples in memory.
    pub peak_samples: i64,
    /// Samples processed over the whole query.
    pub total_samples: i64,
    /// Series read from storage.
    pub series_fetched: usize,
}

/// The outcome of a query.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The value, or why there is none.
    pub value: Result<Value, EngineError>,
    /// Warnings and infos (also on error).
    pub annotations: Annotations,
    /// Sample statistics.
    pub stats: QueryStats,
}

/// A PromQL engine.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOpts,
}

impl Engine {
    /// An engine with the given settings.
    pub fn new(opts: EngineOpts) -> Self {
        Engine { opts }
    }

    /// The settings.
    pub fn opts(&self) -> &EngineOpts {
        &self.opts
    }

    /// Evaluates `expr` at `ts` (ms).
    pub fn instant_query(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        ts: i64,
        cancel: Option<&AtomicBool>,
    ) -> QueryResult {
        self.exec(q, expr, ts, ts, 0, cancel)
    }

    /// Evaluates `expr` from `start` to `end` every `step` (all ms).
    pub fn range_query(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
        cancel: Option<&AtomicBool>,
    ) -> QueryResult {
        let t = expr.value_type();
        if t != ValueType::Vector && t != ValueType::Scalar {
            return QueryResult {
                value: Err(EngineError::InvalidRangeType(t.documented().to_string())),
                annotations: Annotations::new(),
                stats: QueryStats::default(),
            };
        }
        self.exec(q, expr, start, end, step, cancel)
    }

    fn exec(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
        cancel: Option<&AtomicBool>,
    ) -> QueryResult {
        let mut stats = QueryStats::default();
        let mut annos = Annotations::new();
        let value = self.exec_inner(q, expr, start, end, step, cancel, &mut stats, &mut annos);
        QueryResult {
            value,
            annotations: annos,
            stats,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn exec_inner(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
        cancel: Option<&AtomicBool>,
        stats: &mut QueryStats,
        annos: &mut Annotations,
    ) -> Result<Value, EngineError> {
        let deadline = Instant::now() + self.opts.timeout;
        let lookback = self.opts.lookback_delta_ms;
        let mut prepared = prepare::preprocess(expr.clone(), start, end, step)?;
        prepare::set_offset_for_at_modifier(start, &mut prepared);
        let data = fetch(q, &prepared, start, end, lookback, stats, annos)?;
        let instant = start == end && step == 0;
        let mut ev = Evaluator {
            start,
            end,
            interval: if instant { 1 } else { step },
            lookback,
            max_samples: self.opts.max_samples as i64,
            current_samples: 0,
            peak_samples: 0,
            total_samples: 0,
            data: &data,
            delayed_name_removal: self.opts.delayed_name_removal,
            use_start_timestamps: self.opts.use_start_timestamps,
            no_step_subquery_interval: self.opts.no_step_subquery_interval_ms,
            annos: Annotations::new(),
            deadline: Some(deadline),
            cancel,
        };
        if let Expr::StringLiteral(s) = strip(&prepared) {
            return Ok(Value::String {
                t: start,
                v: s.val.clone(),
            });
        }
        let res = ev.eval(&prepared);
        annos.merge(std::mem::take(&mut ev.annos));
        stats.peak_samples = ev.peak_samples;
        stats.total_samples = ev.total_samples;
        let mut mat = res?;
        if self.opts.delayed_name_removal {
            mat = eval::cleanup_metric_labels(mat)?;
        }
        if instant {
            match prepared.value_type() {
                ValueType::Vector => {
                    let v = mat
                        .into_iter()
                        .map(|s| {
                            let (f, h) = match s.histograms.into_iter().next() {
                                Some(p) => (0.0, Some(p.h)),
                                None => (s.floats.first().map_or(0.0, |p| p.f), None),
                            };
                            Sample {
                                metric: s.metric,
                                t: start,
                                f,
                                h,
                                drop_name: s.drop_name,
                            }
                        })
                        .collect();
                    Ok(Value::Vector(v))
                }
                ValueType::Scalar => Ok(Value::Scalar {
                    t: start,
                    v: mat
                        .first()
                        .and_then(|s| s.floats.first())
                        .map_or(f64::NAN, |p| p.f),
                }),
                _ => {
                    sort_matrix(&mut mat);
                    Ok(Value::Matrix(mat))
                }
            }
        } else {
            sort_matrix(&mut mat);
            Ok(Value::Matrix(mat))
        }
    }
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip(&p.expr),
        Expr::StepInvariant(s) => strip(&s.expr),
        other => other,
    }
}

/// Selectors (by the address of their matchers) and the function or aggregation each is
/// read for, as Prometheus' select hints name it: the nearest enclosing call or
/// aggregation, none across a binary operation.
type SelectorFunctions = std::collections::HashMap<*const tsdb_index::Matcher, &'static str>;

fn selector_functions(e: &Expr, func: Option<&'static str>, out: &mut SelectorFunctions) {
    match e {
        Expr::VectorSelector(vs) => {
            if let Some(f) = func {
                out.insert(vs.matchers.as_ptr(), f);
            }
        }
        Expr::MatrixSelector(m) => {
            if let Some(f) = func {
                out.insert(m.vector_selector.matchers.as_ptr(), f);
            }
        }
        Expr::Call(c) => c
            .args
            .iter()
            .for_each(|a| selector_functions(a, Some(c.func.name), out)),
        Expr::Aggregate(a) => {
            selector_functions(&a.expr, Some(a.op.as_str()), out);
            if let Some(p) = &a.param {
                selector_functions(p, Some(a.op.as_str()), out);
            }
        }
        Expr::Binary(b) => {
            selector_functions(&b.lhs, None, out);
            selector_functions(&b.rhs, None, out);
        }
        other => other.for_each_child(|c| selector_functions(c, func, out)),
    }
}

/// Reads every selector's series (and every `info()` call's info series) in the time range
/// it needs.
fn fetch(
    q: &dyn Queryable,
    e: &Expr,
    start: i64,
    end: i64,
    lookback: i64,
    stats: &mut QueryStats,
    annos: &mut Annotations,
) -> Result<SelectorData, EngineError> {
    let mut wanted = Vec::new();
    prepare::for_each_series_request(e, start, end, lookback, &mut |req| wanted.push(req));
    let mut data = SelectorData::new();
    if wanted.is_empty() {
        return Ok(data);
    }
    let mint = wanted.iter().map(|w| w.range.start).min().unwrap_or(0);
    let maxt = wanted.iter().map(|w| w.range.end).max().unwrap_or(0);
    let querier = q.querier(mint, maxt)?;
    let mut funcs = std::collections::HashMap::new();
    selector_functions(e, None, &mut funcs);
    let stats_only = histogram_stats::stats_only_selectors(e);
    for req in wanted {
        let r = &req.range;
        let enclosing = match &req.matchers {
            std::borrow::Cow::Borrowed(m) => funcs.get(&m.as_ptr()).copied(),
            std::borrow::Cow::Owned(_) => None,
        };
        let hints = SelectHints {
            start: r.start,
            end: r.end,
            step: 0,
            range: req.eval_range,
            func: req.func.or(enclosing).map(str::to_string),
        };
        let mut set = querier.select(false, Some(&hints), &req.matchers)?;
        let mut out = Vec::new();
        while let Some(s) = set.next_series() {
            let s = s?;
            let mut fs = FetchedSeries::new(s.labels().clone());
            let mut it = s.iter();
            // Selectors that only feed histogram_count/sum/avg keep statistics only.
            let mut stats = stats_only
                .contains(&req.key)
                .then(histogram_stats::StatsDecoder::default);
            let mut vt = it.seek(r.start);
            while vt != StorageValueType::None {
                let t = it.at_t();
                if t > r.end {
                    break;
                }
                let st = it.at_st();
                match vt {
                    StorageValueType::Float => {
                        let (t, v) = it.at();
                        fs.push_float(t, v, st);
                    }
                    StorageValueType::Histogram | StorageValueType::FloatHistogram => {
                        let (t, h) = it.at_float_histogram();
                        let h = match stats.as_mut() {
                            Some(dec) => dec.decode(h),
                            None => h.clone(),
                        };
                        fs.push_histogram(t, Arc::new(h), st);
                    }
                    StorageValueType::None => break,
                }
                vt = it.next();
            }
            if let Some(err) = it.err() {
                return Err(EngineError::Storage(err.to_string()));
            }
            if !fs.is_empty() {
                out.push(fs);
            }
        }
        stats.series_fetched += out.len();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        data.insert(req.key, Arc::new(out));
    }
    for w in querier.warnings() {
        annos.add(Annotation::storage_warning(w));
    }
    Ok(data)
}
