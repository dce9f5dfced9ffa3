//! The evaluator: turns a prepared expression and pre-fetched series into a matrix, one
//! step at a time, following Prometheus' `evaluator` (every node evaluates to a matrix over
//! the query's steps; an instant query is a range query with one step).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chunkenc::FloatHistogram;
use tsdb_index::{Labels, LabelsBuilder};

use crate::ast::{AggregateOp, Call, Expr, SubqueryExpr, UnaryOp, VectorMatching, VectorSelector};
use crate::engine::annotations::{self as anno, Annotations};
use crate::engine::hashing::{map_with_capacity, set_with_capacity, FastMap, FastSet};
use crate::engine::EngineError;
use crate::functions::{self, hist, Helper, RangeArg, Window};

pub(crate) use super::fetched::{FetchedSeries, PointRef};
use crate::value::{FPoint, HPoint, Matrix, Sample, Series, Vector};

/// Result alias inside the evaluator.
pub(crate) type EvalResult<T> = Result<T, EngineError>;

/// Series read from storage, keyed by the address in the prepared expression of the node
/// that needs them: a selector ([`selector_key`]) or an `info()` call, for its info series
/// ([`info_key`]). Distinct nodes have distinct addresses, so the keys cannot collide.
pub(crate) type SelectorData = HashMap<usize, Arc<Vec<FetchedSeries>>>;

pub(crate) fn selector_key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

pub(crate) fn info_key(c: &Call) -> usize {
    c as *const Call as usize
}

/// Evaluation state for one (sub)range.
pub(crate) struct Evaluator<'a> {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub lookback: i64,
    pub max_samples: i64,
    pub current_samples: i64,
    pub peak_samples: i64,
    pub total_samples: i64,
    pub data: &'a SelectorData,
    pub delayed_name_removal: bool,
    /// Use samples' start timestamps in rate(), irate(), increase(), resets() and
    /// start_timestamp() (Prometheus' `UseStartTimestamps`).
    pub use_start_timestamps: bool,
    pub no_step_subquery_interval: i64,
    pub annos: Annotations,
    pub deadline: Option<Instant>,
    pub cancel: Option<&'a AtomicBool>,
}

const METADATA_LABELS: [&str; 3] = ["__name__", "__type__", "__unit__"];

/// Drops `__name__`, `__type__` and `__unit__`.
pub(crate) fn drop_reserved(l: &Labels) -> Labels {
    if l.iter().any(|x| METADATA_LABELS.contains(&x.name)) {
        l.without(&METADATA_LABELS)
    } else {
        l.clone()
    }
}

impl<'a> Evaluator<'a> {
    fn child(&self, start: i64, end: i64, interval: i64) -> Evaluator<'a> {
        Evaluator {
            start,
            end,
            interval,
            lookback: self.lookback,
            max_samples: self.max_samples,
            current_samples: self.current_samples,
            peak_samples: self.peak_samples,
            total_samples: 0,
            data: self.data,
            delayed_name_removal: self.delayed_name_removal,
            use_start_timestamps: self.use_start_timestamps,
            no_step_subquery_interval: self.no_step_subquery_interval,
            annos: Annotations::new(),
            deadline: self.deadline,
            cancel: self.cancel,
        }
    }

    fn absorb_child(&mut self, c: Evaluator<'a>) {
        self.current_samples = c.current_samples;
        self.peak_samples = self.peak_samples.max(c.peak_samples);
        self.total_samples += c.total_samples;
        self.annos.merge(c.annos);
    }

    pub(crate) fn num_steps(&self) -> usize {
        ((self.end - self.start) / self.interval + 1) as usize
    }

    pub(crate) fn check_done(&self) -> EvalResult<()> {
        if let Some(c) = self.cancel {
            if c.load(Ordering::Relaxed) {
                return Err(EngineError::Cancelled("expression evaluation".into()));
            }
        }
        if let Some(d) = self.deadline {
            if Instant::now() > d {
                return Err(EngineError::Timeout("expression evaluation".into()));
            }
        }
        Ok(())
    }

    pub(crate) fn add_samples(&mut self, n: i64) -> EvalResult<()> {
        self.current_samples += n;
        self.update_peak();
        if self.current_samples > self.max_samples {
            return Err(EngineError::TooManySamples);
        }
        Ok(())
    }

    pub(crate) fn update_peak(&mut self) {
        if self.current_samples > self.peak_samples {
            self.peak_samples = self.current_samples;
        }
    }

    fn helper(&self) -> Helper {
        Helper::new(self.delayed_name_removal)
    }

    /// Evaluates to a matrix (every type but string).
    pub(crate) fn eval(&mut self, e: &Expr) -> EvalResult<Matrix> {
        self.check_done()?;
        if self.end < self.start {
            return Ok(Vec::new());
        }
        match e {
            Expr::Aggregate(a) => self.eval_aggregate(a),
            Expr::Call(c) => self.eval_call(c),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => {
                let mut mat = self.eval(&u.expr)?;
                if u.op == UnaryOp::Sub {
                    for s in mat.iter_mut() {
                        s.drop_name = true;
                        if !self.delayed_name_removal {
                            s.metric = drop_reserved(&s.metric);
                        }
                        for p in s.floats.iter_mut() {
                            p.f = -p.f;
                        }
                        for p in s.histograms.iter_mut() {
                            let mut h = (*p.h).clone();
                            hist::mul(&mut h, -1.0);
                            p.h = Arc::new(h);
                        }
                    }
                    if !self.delayed_name_removal {
                        mat = merge_same_labelset(mat)?;
                    }
                }
                Ok(mat)
            }
            Expr::Binary(b) => super::binop::eval_binary(self, b),
            Expr::NumberLiteral(n) => {
                let v = n.val;
                self.range_eval(None, &[], |_, _, h| {
                    h.out.push(Sample::float(Labels::empty(), 0, v));
                    Ok(())
                })
            }
            Expr::StringLiteral(_) => Err(EngineError::Eval(
                "string literal cannot be evaluated as a vector".into(),
            )),
            Expr::VectorSelector(vs) => {
                if vs.smoothed {
                    return self.smooth_series(vs);
                }
                self.eval_vector_selector(vs)
            }
            Expr::MatrixSelector(ms) => {
                if self.start != self.end {
                    return Err(EngineError::Eval(
                        "cannot do range evaluation of matrix selector".into(),
                    ));
                }
                self.matrix_selector(ms)
            }
            Expr::Subquery(sq) => {
                let (m, _) = self.run_subquery(sq)?;
                Ok(m)
            }
            Expr::StepInvariant(si) => self.eval_step_invariant(&si.expr),
            Expr::Duration(_) => Err(EngineError::Eval("unresolved duration expression".into())),
        }
    }

    fn eval_step_invariant(&mut self, inner: &Expr) -> EvalResult<Matrix> {
        let mut child = self.child(self.start, self.start, self.interval);
        let res = child.eval(inner);
        let child_total = child.total_samples;
        self.absorb_child(child);
        self.total_samples += child_total * (self.num_steps() as i64 - 1);
        let mut mat = res?;
        if matches!(inner, Expr::MatrixSelector(_) | Expr::Subquery(_)) {
            return Ok(mat);
        }
        for s in mat.iter_mut() {
            let mut ts = self.start + self.interval;
            while ts <= self.end {
                if let Some(f) = s.floats.first().copied() {
                    s.floats.push(FPoint { t: ts, f: f.f });
                    self.current_samples += 1;
                } else if let Some(h) = s.histograms.first().cloned() {
                    let p = HPoint { t: ts, h: h.h };
                    self.current_samples += p.size() as i64;
                    s.histograms.push(p);
                }
                if self.current_samples > self.max_samples {
                    return Err(EngineError::TooManySamples);
                }
                ts += self.interval;
            }
        }
        self.update_peak();
        Ok(mat)
    }

    pub(crate) fn series_for(&self, vs: &VectorSelector) -> &'a [FetchedSeries] {
        self.data
            .get(&selector_key(vs))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// The candidate info series read for an `info()` call.
    pub(crate) fn info_series_for(&self, c: &Call) -> &'a [FetchedSeries] {
        self.data
            .get(&info_key(c))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    fn eval_vector_selector(&mut self, vs: &VectorSelector) -> EvalResult<Matrix> {
        let series = self.series_for(vs);
        let mut mat = Vec::with_capacity(series.len());
        for s in series {
            self.check_done()?;
            let mut out = Series {
                metric: s.labels.clone(),
                ..Default::default()
            };
            let mut ts = self.start;
            while ts <= self.end {
                if let Some((_, v, _)) = s.at(ts - vs.offset_ms, self.lookback) {
                    match v {
                        PointRef::F(f) => {
                            self.add_samples(1)?;
                            self.total_samples += 1;
                            out.floats.push(FPoint { t: ts, f });
                        }
                        PointRef::H(h) => {
                            let p = HPoint {
                                t: ts,
                                h: h.clone(),
                            };
                            let sz = p.size() as i64;
                            self.add_samples(sz)?;
                            self.total_samples += sz;
                            out.histograms.push(p);
                        }
                    }
                }
                ts += self.interval;
            }
            if !out.floats.is_empty() || !out.histograms.is_empty() {
                mat.push(out);
            }
        }
        Ok(mat)
    }

    fn smooth_series(&mut self, vs: &VectorSelector) -> EvalResult<Matrix> {
        let series = self.series_for(vs);
        let mut mat = Vec::new();
        for s in series {
            let mut ss = Series {
                metric: s.labels.clone(),
                ..Default::default()
            };
            let name = s.labels.metric_name().unwrap_or("").to_string();
            let mut ts = self.start;
            while ts <= self.end {
                let data_ts = ts - vs.offset_ms;
                let w = s.window(data_ts - self.lookback, data_ts + self.lookback, false);
                let (floats, hists) = (w.floats, w.histograms);
                ts += self.interval;
                if floats.is_empty() && hists.is_empty() {
                    continue;
                }
                if !floats.is_empty() && !hists.is_empty() {
                    self.annos
                        .add(anno::new::mixed_floats_histograms(&name, vs.pos));
                    continue;
                }
                let eval_ts = ts - self.interval;
                if !hists.is_empty() {
                    let i = hists.partition_point(|p| p.t < data_ts);
                    if i < hists.len() && hists[i].t == data_ts {
                        ss.histograms.push(HPoint {
                            t: eval_ts,
                            h: hists[i].h.clone(),
                        });
                    } else if i > 0 && i < hists.len() {
                        let (p, n) = (&hists[i - 1], &hists[i]);
                        if hist::uses_custom(&p.h) != hist::uses_custom(&n.h) {
                            self.annos
                                .add(anno::new::mixed_exponential_custom(&name, vs.pos));
                            continue;
                        }
                        let is_counter = p.h.counter_reset_hint
                            != chunkenc::CounterResetHint::Gauge
                            || n.h.counter_reset_hint != chunkenc::CounterResetHint::Gauge;
                        match functions::interpolate_histograms(
                            &p.h,
                            p.t,
                            &n.h,
                            n.t,
                            data_ts,
                            is_counter,
                            &mut self.annos,
                            vs.pos,
                        ) {
                            Ok(h) => ss.histograms.push(HPoint {
                                t: eval_ts,
                                h: Arc::new(h),
                            }),
                            Err(_) => {
                                self.annos
                                    .add(anno::new::mixed_exponential_custom(&name, vs.pos));
                            }
                        }
                    } else if i > 0 {
                        let mut h = (*hists[i - 1].h).clone();
                        h.counter_reset_hint = chunkenc::CounterResetHint::Unknown;
                        ss.histograms.push(HPoint {
                            t: eval_ts,
                            h: Arc::new(h),
                        });
                    }
                } else {
                    let i = floats.partition_point(|p| p.t < data_ts);
                    if i < floats.len() && floats[i].t == data_ts {
                        ss.floats.push(FPoint {
                            t: eval_ts,
                            f: floats[i].f,
                        });
                    } else if i > 0 && i < floats.len() {
                        let v = functions::interpolate(floats[i - 1], floats[i], data_ts, false);
                        ss.floats.push(FPoint { t: eval_ts, f: v });
                    } else if i > 0 {
                        ss.floats.push(FPoint {
                            t: eval_ts,
                            f: floats[i - 1].f,
                        });
                    }
                }
            }
            if !ss.floats.is_empty() || !ss.histograms.is_empty() {
                mat.push(ss);
            }
        }
        Ok(mat)
    }

    fn matrix_selector(&mut self, ms: &crate::ast::MatrixSelector) -> EvalResult<Matrix> {
        let vs = &ms.vector_selector;
        let maxt0 = self.start - vs.offset_ms;
        let mint0 = maxt0 - ms.range_ms;
        let (mut mint, mut maxt) = (mint0, maxt0);
        if vs.anchored {
            mint -= self.lookback;
        } else if vs.smoothed {
            mint -= self.lookback;
            maxt += self.lookback;
        }
        let series = self.series_for(vs);
        let mut mat = Vec::new();
        for s in series {
            self.check_done()?;
            let mut ss = Series {
                metric: s.labels.clone(),
                ..Default::default()
            };
            let w = s.window(mint, maxt, false);
            ss.floats = w.floats.to_vec();
            ss.histograms = w.histograms.to_vec();
            if vs.anchored || vs.smoothed {
                if !ss.histograms.is_empty() {
                    return Err(EngineError::Eval(format!(
                        "{} modifier is not supported with histograms",
                        if vs.anchored { "anchored" } else { "smoothed" }
                    )));
                }
                if !ss.floats.is_empty() {
                    ss.floats = functions::extend_floats(&ss.floats, mint0, maxt0, vs.smoothed);
                }
            }
            let n = ss.total_samples() as i64;
            self.add_samples(n)?;
            self.total_samples += n;
            if n > 0 {
                mat.push(ss);
            }
        }
        Ok(mat)
    }

    /// Evaluates `exprs` and calls `f` once per step with their vectors at that step.
    /// `f` receives the vectors, the match-signature ordinals of each vector's samples (when
    /// `matching` is given) and a helper whose `out` collects the step's result.
    pub(crate) fn range_eval(
        &mut self,
        matching: Option<&VectorMatching>,
        exprs: &[&Expr],
        mut f: impl FnMut(&[Vector], &[Vec<usize>], &mut Helper) -> EvalResult<()>,
    ) -> EvalResult<Matrix> {
        let num_steps = self.num_steps();
        let original = self.current_samples;
        let mut matrixes: Vec<Matrix> = Vec::with_capacity(exprs.len());
        for e in exprs {
            if e.value_type() == crate::types::ValueType::String {
                matrixes.push(Vec::new());
                continue;
            }
            matrixes.push(self.eval(e)?);
        }
        let mut enh = self.helper();
        // Match signatures: an ordinal per distinct signature over all inputs.
        let mut sig_ords: Vec<Vec<usize>> = vec![Vec::new(); exprs.len()];
        if let Some(m) = matching {
            let mut map: FastMap<Vec<u8>, usize> = FastMap::default();
            for (i, mat) in matrixes.iter().enumerate() {
                for s in mat {
                    let sig = signature(&s.metric, m.on, &m.matching_labels);
                    let n = map.len();
                    let ord = *map.entry(sig).or_insert(n);
                    sig_ords[i].push(ord);
                }
            }
            enh.num_sigs = map.len();
        }
        let mut cursors: Vec<Vec<(usize, usize)>> =
            matrixes.iter().map(|m| vec![(0, 0); m.len()]).collect();
        let mut vectors: Vec<Vector> = vec![Vec::new(); exprs.len()];
        let mut step_sigs: Vec<Vec<usize>> = vec![Vec::new(); exprs.len()];
        let mut out_index: FastMap<Labels, usize> = FastMap::default();
        let mut out: Matrix = Vec::new();
        let mut last_ts: Vec<i64> = Vec::new();
        let mut temp = self.current_samples;
        let mut ts = self.start;
        while ts <= self.end {
            self.check_done()?;
            self.current_samples = temp;
            for i in 0..exprs.len() {
                vectors[i].clear();
                step_sigs[i].clear();
                for (si, s) in matrixes[i].iter().enumerate() {
                    let c = &mut cursors[i][si];
                    if c.0 < s.floats.len() && s.floats[c.0].t == ts {
                        vectors[i].push(Sample {
                            metric: s.metric.clone(),
                            t: ts,
                            f: s.floats[c.0].f,
                            h: None,
                            drop_name: s.drop_name,
                        });
                        c.0 += 1;
                    } else if c.1 < s.histograms.len() && s.histograms[c.1].t == ts {
                        vectors[i].push(Sample {
                            metric: s.metric.clone(),
                            t: ts,
                            f: 0.0,
                            h: Some(s.histograms[c.1].h.clone()),
                            drop_name: s.drop_name,
                        });
                        c.1 += 1;
                    } else {
                        continue;
                    }
                    if matching.is_some() {
                        step_sigs[i].push(sig_ords[i][si]);
                    }
                    self.add_samples(1)?;
                }
            }
            enh.ts = ts;
            enh.out.clear();
            f(&vectors, &step_sigs, &mut enh)?;
            self.annos.merge(std::mem::take(&mut enh.annos));
            let result = std::mem::take(&mut enh.out);
            let n: i64 = result
                .iter()
                .map(|s| {
                    s.h.as_ref()
                        .map_or(1, |h| crate::value::histogram_size(h) as i64)
                })
                .sum();
            self.current_samples += n;
            temp += n;
            self.update_peak();
            if self.current_samples > self.max_samples {
                return Err(EngineError::TooManySamples);
            }
            if self.start == self.end {
                if !self.delayed_name_removal && contains_same_labelset(&result) {
                    return Err(EngineError::Eval(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                let mat: Matrix = result
                    .into_iter()
                    .map(|s| sample_to_series(s, ts))
                    .collect();
                self.current_samples = original + total(&mat);
                self.update_peak();
                return Ok(mat);
            }
            for s in result {
                match out_index.get(&s.metric) {
                    Some(&i) => {
                        if last_ts[i] == ts {
                            return Err(EngineError::Eval(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        last_ts[i] = ts;
                        push_point(&mut out[i], ts, s.f, s.h, num_steps);
                    }
                    None => {
                        out_index.insert(s.metric.clone(), out.len());
                        last_ts.push(ts);
                        let mut ser = Series {
                            metric: s.metric,
                            drop_name: s.drop_name,
                            ..Default::default()
                        };
                        push_point(&mut ser, ts, s.f, s.h, num_steps);
                        out.push(ser);
                    }
                }
            }
            ts += self.interval;
        }
        self.current_samples = original + total(&out);
        self.update_peak();
        Ok(out)
    }

    /// Runs a subquery in a child evaluator on its own step grid.
    pub(crate) fn run_subquery(&mut self, sq: &SubqueryExpr) -> EvalResult<(Matrix, i64)> {
        let offset = sq.offset_ms;
        let range = sq.range_ms;
        let parent_end = if self.interval > 0 {
            self.start + ((self.end - self.start) / self.interval) * self.interval
        } else {
            self.end
        };
        let end = parent_end - offset;
        let interval = if sq.step_ms != 0 {
            sq.step_ms
        } else {
            self.no_step_subquery_interval
        };
        let base = self.start - offset - range;
        let mut start = interval * base.div_euclid(interval);
        if start <= base {
            start += interval;
        }
        let mut child = self.child(start, end, interval);
        let res = if start != self.start && has_at_modifier(&sq.expr) {
            let mut inner = (*sq.expr).clone();
            super::prepare::set_offset_for_at_modifier(start, &mut inner);
            // The copy's selectors live at new addresses: map the fetched data onto them.
            let data = rekey(self.data, &sq.expr, &inner);
            let mut c2 = Evaluator {
                start,
                end,
                interval,
                lookback: self.lookback,
                max_samples: self.max_samples,
                current_samples: self.current_samples,
                peak_samples: self.peak_samples,
                total_samples: 0,
                data: &data,
                delayed_name_removal: self.delayed_name_removal,
                use_start_timestamps: self.use_start_timestamps,
                no_step_subquery_interval: self.no_step_subquery_interval,
                annos: Annotations::new(),
                deadline: self.deadline,
                cancel: self.cancel,
            };
            let r = c2.eval(&inner);
            child.current_samples = c2.current_samples;
            child.peak_samples = c2.peak_samples;
            child.total_samples = c2.total_samples;
            child.annos = c2.annos;
            r
        } else {
            child.eval(&sq.expr)
        };
        let tot = child.total_samples;
        self.absorb_child(child);
        self.total_samples -= tot;
        let mat = res?;
        let n = total(&mat);
        self.total_samples += if self.start == self.end { n } else { 0 };
        Ok((mat, n))
    }

    fn eval_call(&mut self, c: &Call) -> EvalResult<Matrix> {
        let name = c.func.name;
        if name == "timestamp" || name == "start_timestamp" {
            if let Some(Expr::VectorSelector(vs)) = c.args.first() {
                return self.timestamp_over_selector(vs, c);
            }
        }
        match name {
            "label_replace" => return super::labels::eval_label_replace(self, c),
            "label_join" => return super::labels::eval_label_join(self, c),
            "info" => return super::info::eval_info(self, c),
            _ => {}
        }
        let matrix_idx = c
            .args
            .iter()
            .position(|a| matches!(a, Expr::MatrixSelector(_) | Expr::Subquery(_)));
        if matches!(
            name,
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
        ) && self.start != self.end
        {
            self.annos.add(anno::new::sort_in_range(c.pos));
        }
        let Some(mi) = matrix_idx else {
            let args: Vec<&Expr> = c.args.iter().collect();
            let func = functions::lookup(name)
                .ok_or_else(|| EngineError::Eval(format!("function {name} is not implemented")))?;
            let all_args = &c.args;
            return self.range_eval(None, &args, |vals, _, enh| func(vals, None, all_args, enh));
        };
        let func = functions::lookup(name)
            .ok_or_else(|| EngineError::Eval(format!("function {name} is not implemented")))?;
        // Scalar arguments other than the range vector, evaluated over all steps.
        let mut other_vals: Vec<Option<Matrix>> = Vec::with_capacity(c.args.len());
        for (i, a) in c.args.iter().enumerate() {
            if i == mi || a.value_type() == crate::types::ValueType::String {
                other_vals.push(None);
            } else {
                other_vals.push(Some(self.eval(a)?));
            }
        }
        let (series_owned, series_ref, range_arg, sub_total): (
            Vec<FetchedSeries>,
            Option<&'a [FetchedSeries]>,
            RangeArg,
            i64,
        ) = match &c.args[mi] {
            Expr::MatrixSelector(ms) => {
                let vs = &ms.vector_selector;
                (
                    Vec::new(),
                    Some(self.series_for(vs)),
                    RangeArg {
                        range_ms: ms.range_ms,
                        offset_ms: vs.offset_ms,
                        anchored: vs.anchored,
                        smoothed: vs.smoothed,
                        at: vs.timestamp.is_some(),
                        pos: ms.pos(),
                    },
                    0,
                )
            }
            Expr::Subquery(sq) => {
                let (mat, n) = self.run_subquery(sq)?;
                let mut offset = sq.offset_ms;
                if let Some(t) = sq.timestamp {
                    offset = sq.original_offset_ms + (self.start - t);
                }
                (
                    mat.into_iter().map(FetchedSeries::from_series).collect(),
                    None,
                    RangeArg {
                        range_ms: sq.range_ms,
                        offset_ms: offset,
                        anchored: false,
                        smoothed: false,
                        at: sq.timestamp.is_some(),
                        pos: sq.pos(),
                    },
                    n,
                )
            }
            _ => unreachable!("position() matched a range argument"),
        };
        let series: &[FetchedSeries] = series_ref.unwrap_or(&series_owned);
        if range_arg.anchored && !functions::ANCHORED_SAFE.contains(&name) {
            return Err(EngineError::Eval(format!(
                "anchored modifier can only be used with: {} - not with {name}",
                functions::ANCHORED_SAFE.join(", ")
            )));
        }
        if range_arg.smoothed && !functions::SMOOTHED_SAFE.contains(&name) {
            return Err(EngineError::Eval(format!(
                "smoothed modifier can only be used with: {} - not with {name}",
                functions::SMOOTHED_SAFE.join(", ")
            )));
        }
        let result = self.call_over_range(c, func, mi, &other_vals, series, range_arg);
        self.current_samples -= sub_total;
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn call_over_range(
        &mut self,
        c: &Call,
        func: functions::FunctionCall,
        mi: usize,
        other_vals: &[Option<Matrix>],
        series: &[FetchedSeries],
        range_arg: RangeArg,
    ) -> EvalResult<Matrix> {
        let name = c.func.name;
        let num_steps = self.num_steps();
        let mut mat: Matrix = Vec::with_capacity(series.len());
        let mut enh = self.helper();
        enh.range = Some(range_arg);
        let drop_name = name != "last_over_time" && name != "first_over_time";
        let mut vals: Vec<Vector> = vec![Vec::new(); c.args.len() - 1];
        // Start timestamps reach only these functions (Prometheus' choice).
        let wants_starts =
            self.use_start_timestamps && matches!(name, "rate" | "irate" | "increase" | "resets");
        // The current window's weight against the max-samples limit.
        let mut window_samples = 0i64;
        let offset = range_arg.offset_ms;
        let sel_range = range_arg.range_ms;
        for s in series {
            self.check_done()?;
            self.current_samples -= window_samples;
            window_samples = 0;
            let mut window = Window::empty(&s.labels);
            let series_drop = drop_name || s.drop_name;
            let mut ss = Series {
                metric: if !self.delayed_name_removal && series_drop {
                    drop_reserved(&s.labels)
                } else {
                    s.labels.clone()
                },
                drop_name: series_drop,
                ..Default::default()
            };
            let mut ts = self.start;
            let mut step = 0usize;
            while ts <= self.end {
                let mut k = 0;
                for (j, ov) in other_vals.iter().enumerate() {
                    if j == mi {
                        continue;
                    }
                    vals[k].clear();
                    if let Some(m) = ov {
                        if let Some(p) = m.first().and_then(|s| s.floats.get(step)) {
                            vals[k].push(Sample::float(Labels::empty(), ts, p.f));
                        }
                    }
                    k += 1;
                }
                let refetch = ts == self.start || !range_arg.at;
                if refetch {
                    let mut maxt = ts - offset;
                    let mut mint = maxt - sel_range;
                    if range_arg.anchored {
                        mint -= self.lookback;
                    } else if range_arg.smoothed {
                        mint -= self.lookback;
                        maxt += self.lookback;
                    }
                    self.current_samples -= window_samples;
                    window = s.window(mint, maxt, wants_starts);
                    window_samples = window.total_samples() as i64;
                    self.add_samples(window_samples)?;
                }
                let n = window_samples;
                if n > 0 {
                    self.total_samples += n;
                    enh.ts = ts;
                    enh.out.clear();
                    func(&vals, Some(&window), &c.args, &mut enh)?;
                    self.annos.merge(std::mem::take(&mut enh.annos));
                    if let Some(o) = enh.out.first() {
                        match &o.h {
                            None => ss.floats.push(FPoint { t: ts, f: o.f }),
                            Some(h) => ss.histograms.push(HPoint {
                                t: ts,
                                h: h.clone(),
                            }),
                        }
                    }
                }
                ts += self.interval;
                step += 1;
            }
            let n = ss.total_samples() as i64;
            if n > 0 {
                if self.current_samples + n > self.max_samples {
                    return Err(EngineError::TooManySamples);
                }
                self.current_samples += n;
                if ss.floats.capacity() > num_steps * 4 {
                    ss.floats.shrink_to_fit();
                }
                if (name == "rate" || name == "increase") && !ss.floats.is_empty() {
                    if let Some(m) = s.labels.metric_name() {
                        if !m.ends_with("_total")
                            && !m.ends_with("_sum")
                            && !m.ends_with("_count")
                            && !m.ends_with("_bucket")
                        {
                            self.annos
                                .add(anno::new::possible_non_counter(m, c.args[0].pos()));
                        }
                    }
                }
                mat.push(ss);
            }
            self.update_peak();
        }
        self.current_samples -= window_samples;
        if name == "absent_over_time" {
            let steps = num_steps;
            if mat
                .iter()
                .any(|s| s.floats.len() + s.histograms.len() == steps)
            {
                return Ok(Vec::new());
            }
            let mut found = std::collections::HashSet::new();
            for s in &mat {
                found.extend(s.floats.iter().map(|p| p.t));
                found.extend(s.histograms.iter().map(|p| p.t));
            }
            if found.len() == steps {
                return Ok(Vec::new());
            }
            let mut pts = Vec::new();
            let mut ts = self.start;
            while ts <= self.end {
                if !found.contains(&ts) {
                    pts.push(FPoint { t: ts, f: 1.0 });
                }
                ts += self.interval;
            }
            return Ok(vec![Series {
                metric: functions::absent_labels(&c.args[0]),
                floats: pts,
                histograms: Vec::new(),
                drop_name,
            }]);
        }
        if !self.delayed_name_removal {
            let v: Vec<&Labels> = mat.iter().map(|s| &s.metric).collect();
            let set: FastSet<&Labels> = v.iter().copied().collect();
            if set.len() != v.len() {
                return Err(EngineError::Eval(
                    "vector cannot contain metrics with the same labelset".into(),
                ));
            }
        }
        Ok(mat)
    }

    /// `timestamp()` or `start_timestamp()` of a vector selector: the time (or start time)
    /// of each series' sample, read straight from the selected samples.
    fn timestamp_over_selector(&mut self, vs: &VectorSelector, c: &Call) -> EvalResult<Matrix> {
        let series = self.series_for(vs);
        let lookback = self.lookback;
        let delayed = self.delayed_name_removal;
        let offset = vs.offset_ms;
        let at = vs.timestamp;
        // Without start timestamps in use, start_timestamp() finds none.
        let start_times = c.func.name == "start_timestamp";
        if start_times && !self.use_start_timestamps {
            return Ok(Vec::new());
        }
        let mut extra = 0i64;
        let m = self.range_eval(None, &[], |_, _, enh| {
            let off = match at {
                Some(t) => enh.ts - t,
                None => offset,
            };
            for s in series {
                if let Some((t, _, st)) = s.at(enh.ts - off, lookback) {
                    extra += 1;
                    let t = if start_times { st } else { t };
                    enh.out.push(Sample {
                        metric: if delayed {
                            s.labels.clone()
                        } else {
                            drop_reserved(&s.labels)
                        },
                        t: enh.ts,
                        f: t as f64 / 1000.0,
                        h: None,
                        drop_name: true,
                    });
                }
            }
            Ok(())
        })?;
        self.total_samples += extra;
        Ok(m)
    }

    fn eval_aggregate(&mut self, a: &crate::ast::AggregateExpr) -> EvalResult<Matrix> {
        let mut grouping = a.grouping.clone();
        grouping.sort();
        if a.op == AggregateOp::CountValues {
            let label = match a.param.as_deref() {
                Some(Expr::StringLiteral(s)) => s,
                _ => {
                    return Err(EngineError::Eval(
                        "count_values requires a string parameter".into(),
                    ))
                }
            };
            // A label name must be non-empty UTF-8; `bytes` is only set for a literal whose
            // escapes made it invalid UTF-8.
            if let Some(raw) = &label.bytes {
                return Err(EngineError::Eval(format!(
                    "invalid label name {}",
                    anno::quote_bytes(raw)
                )));
            }
            let label = label.val.clone();
            if label.is_empty() {
                return Err(EngineError::Eval(format!(
                    "invalid label name {}",
                    anno::quote(&label)
                )));
            }
            if !a.without {
                grouping.push(label.clone());
                grouping.sort();
            }
            let without = a.without;
            return self.range_eval(None, &[&a.expr], |v, _, enh| {
                super::aggregate::count_values(&grouping, without, &label, &v[0], enh);
                Ok(())
            });
        }
        let original = self.current_samples;
        let params = match &a.param {
            Some(p) if p.value_type() != crate::types::ValueType::String => {
                let is_const = matches!(**p, Expr::NumberLiteral(_));
                let m = self.eval(p)?;
                Some((m.into_iter().next(), is_const))
            }
            _ => None,
        };
        let input = self.eval(&a.expr)?;
        let result = super::aggregate::range_eval_agg(self, a, &grouping, input, params)?;
        self.current_samples = original + total(&result);
        self.update_peak();
        Ok(result)
    }
}

/// Total sample weight of a matrix.
pub(crate) fn total(m: &Matrix) -> i64 {
    m.iter().map(|s| s.total_samples() as i64).sum()
}

fn push_point(s: &mut Series, ts: i64, f: f64, h: Option<Arc<FloatHistogram>>, num_steps: usize) {
    match h {
        None => {
            if s.floats.capacity() == 0 {
                s.floats.reserve(num_steps.min(4096));
            }
            s.floats.push(FPoint { t: ts, f });
        }
        Some(h) => s.histograms.push(HPoint { t: ts, h }),
    }
}

fn sample_to_series(s: Sample, ts: i64) -> Series {
    match s.h {
        None => Series {
            metric: s.metric,
            floats: vec![FPoint { t: ts, f: s.f }],
            histograms: Vec::new(),
            drop_name: s.drop_name,
        },
        Some(h) => Series {
            metric: s.metric,
            floats: Vec::new(),
            histograms: vec![HPoint { t: ts, h }],
            drop_name: s.drop_name,
        },
    }
}

/// Whether two samples share a label set.
pub(crate) fn contains_same_labelset(v: &Vector) -> bool {
    let mut set = set_with_capacity(v.len());
    v.iter().any(|s| !set.insert(&s.metric))
}

/// The match signature of a label set: the `on` labels, or all but the `ignoring` labels and
/// the metric name.
pub(crate) fn signature(l: &Labels, on: bool, names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for lab in l.iter() {
        let listed = names.iter().any(|n| n == lab.name);
        let keep = if on {
            listed
        } else {
            !listed && lab.name != "__name__"
        };
        if keep {
            out.extend_from_slice(lab.name.as_bytes());
            out.push(0xff);
            out.extend_from_slice(lab.value.as_bytes());
            out.push(0xff);
        }
    }
    out
}

/// Merges series that ended up with the same labels (after name removal); overlapping
/// timestamps are an error.
pub(crate) fn merge_same_labelset(mat: Matrix) -> EvalResult<Matrix> {
    if mat.len() <= 1 {
        return Ok(mat);
    }
    let mut idx: FastMap<Labels, usize> = map_with_capacity(mat.len());
    let mut out: Matrix = Vec::with_capacity(mat.len());
    let mut merged_any = false;
    for s in mat {
        match idx.get(&s.metric) {
            Some(&i) => {
                merged_any = true;
                let base = &mut out[i];
                base.floats.extend(s.floats);
                base.histograms.extend(s.histograms);
            }
            None => {
                idx.insert(s.metric.clone(), out.len());
                out.push(s);
            }
        }
    }
    if merged_any {
        for s in out.iter_mut() {
            s.floats.sort_by_key(|p| p.t);
            s.histograms.sort_by_key(|p| p.t);
            if s.floats.windows(2).any(|w| w[0].t == w[1].t)
                || s.histograms.windows(2).any(|w| w[0].t == w[1].t)
            {
                return Err(EngineError::Eval(
                    "vector cannot contain metrics with the same labelset".into(),
                ));
            }
        }
    }
    Ok(out)
}

/// Drops names marked for removal and merges what collides (delayed name removal).
pub(crate) fn cleanup_metric_labels(mut mat: Matrix) -> EvalResult<Matrix> {
    for s in mat.iter_mut() {
        if s.drop_name {
            s.metric = drop_reserved(&s.metric);
        }
    }
    merge_same_labelset(mat)
}

/// Maps selector data keyed by `orig`'s selectors onto the structurally identical `copy`.
fn rekey(data: &SelectorData, orig: &Expr, copy: &Expr) -> SelectorData {
    let mut a = Vec::new();
    let mut b = Vec::new();
    collect_selectors(orig, &mut a);
    collect_selectors(copy, &mut b);
    let mut out = SelectorData::new();
    for (x, y) in a.into_iter().zip(b) {
        if let Some(v) = data.get(&x) {
            out.insert(y, v.clone());
        }
    }
    // Keep everything else reachable too (selectors outside the copied tree).
    for (k, v) in data {
        out.entry(*k).or_insert_with(|| v.clone());
    }
    out
}

fn has_at_modifier(e: &Expr) -> bool {
    let mut found = false;
    e.inspect(&mut |n, _| {
        match n {
            Expr::VectorSelector(vs) if vs.timestamp.is_some() => found = true,
            Expr::MatrixSelector(ms) if ms.vector_selector.timestamp.is_some() => found = true,
            Expr::Subquery(sq) if sq.timestamp.is_some() => found = true,
            _ => {}
        }
        !found
    });
    found
}

/// Keys of everything in `e` that has data, in query order.
fn collect_selectors(e: &Expr, out: &mut Vec<usize>) {
    match e {
        Expr::VectorSelector(vs) => out.push(selector_key(vs)),
        Expr::MatrixSelector(ms) => out.push(selector_key(&ms.vector_selector)),
        _ => {
            if let Expr::Call(c) = e {
                if c.func.name == "info" {
                    out.push(info_key(c));
                }
            }
            e.for_each_child(|c| collect_selectors(c, out))
        }
    }
}

/// Labels with `name` set to `value` (or removed when empty).
pub(crate) fn set_label(l: &Labels, name: &str, value: &str) -> Labels {
    let mut b = LabelsBuilder::from(l);
    if value.is_empty() {
        b.del(name);
    } else {
        b.set(name, value);
    }
    b.build()
}
