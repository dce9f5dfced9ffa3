//! Runs parsed test scripts: loads data into a [`TestStorage`], evaluates each `eval` with
//! the engine (plus Prometheus' `@`-modifier variants and range-mode cross-check for
//! instant evals) and compares results and annotations with the expectations.

use std::collections::HashMap;

use chunkenc::{FloatHistogram, Span};
use tsdb_index::Labels;

use super::series::SeriesValue;
use super::{parse_script, Command, EvalCmd, EvalKind, ExpectKind, LoadCmd, MsgMatch};
use crate::ast::Expr;
use crate::engine::{AnnotationKind, Annotations, Engine, EngineError, EngineOpts};
use crate::functions::hist;
use crate::test_storage::{StoredSample, StoredValue, TestStorage};
use crate::value::{is_stale_nan, Sample, Value};

/// Why a case failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The expression did not parse.
    QueryParse,
    /// The engine does not support something the query uses.
    Unsupported,
    /// The query failed but should not have (or failed with another message).
    Error,
    /// The query succeeded but should have failed.
    NoError,
    /// The result differs from the expectation.
    Mismatch,
    /// Warnings/infos differ from the expectation.
    Annotations,
    /// The range-mode cross-check of an instant eval failed.
    RangeMode,
    /// An `@`-modifier variant of an instant eval failed.
    AtVariant,
}

impl FailureKind {
    /// A short stable name for baselines.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::QueryParse => "query-parse",
            FailureKind::Unsupported => "unsupported",
            FailureKind::Error => "error",
            FailureKind::NoError => "no-error",
            FailureKind::Mismatch => "mismatch",
            FailureKind::Annotations => "annotations",
            FailureKind::RangeMode => "range-mode",
            FailureKind::AtVariant => "at-variant",
        }
    }
}

/// The outcome of one eval case.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// Line of the eval header.
    pub line: usize,
    /// The expression.
    pub expr: String,
    /// `None` when passed.
    pub failure: Option<(FailureKind, String)>,
}

/// The outcome of one file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// Every eval case, in order.
    pub cases: Vec<CaseOutcome>,
    /// Set when the script itself could not be parsed or loaded.
    pub script_error: Option<String>,
}

impl FileReport {
    /// Number of passed cases.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_none()).count()
    }

    /// Number of failed cases.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// How the runner parses and prints expressions (supplied by the caller, so the runner does
/// not depend on a particular parser entry point).
pub struct Hooks {
    /// Parses an expression with all experimental features on.
    pub parse: fn(&str) -> Result<Expr, String>,
    /// Prints an expression back as PromQL (for the `@` variants); `None` skips them.
    pub print: Option<fn(&Expr) -> String>,
}

/// Engine options the corpus expects.
pub fn test_engine_opts() -> EngineOpts {
    EngineOpts {
        max_samples: 10_000,
        timeout: std::time::Duration::from_secs(100),
        lookback_delta_ms: 5 * 60 * 1000,
        delayed_name_removal: true,
        no_step_subquery_interval_ms: 60_000,
        use_start_timestamps: true,
    }
}

/// Reads and runs a test file.
pub fn run_file(path: &std::path::Path, hooks: &Hooks) -> FileReport {
    match std::fs::read_to_string(path) {
        Ok(text) => run_script(&text, hooks),
        Err(e) => FileReport {
            cases: Vec::new(),
            script_error: Some(format!("{}: {e}", path.display())),
        },
    }
}

/// Runs a script given as text.
pub fn run_script(text: &str, hooks: &Hooks) -> FileReport {
    let cmds = match parse_script(text) {
        Ok(c) => c,
        Err(e) => {
            return FileReport {
                cases: Vec::new(),
                script_error: Some(e.to_string()),
            }
        }
    };
    let engine = Engine::new(test_engine_opts());
    let mut storage = TestStorage::new();
    let mut report = FileReport::default();
    for c in cmds {
        match c {
            Command::Clear => storage = TestStorage::new(),
            Command::Load(l) => {
                if let Err(e) = load(&mut storage, &l) {
                    report.script_error = Some(format!("line {}: {e}", l.line));
                    return report;
                }
            }
            Command::Eval(e) => {
                let failure = run_eval(&engine, &storage, &e, hooks).err();
                report.cases.push(CaseOutcome {
                    line: e.line,
                    expr: e.expr.clone(),
                    failure,
                });
            }
        }
    }
    report
}

fn load(storage: &mut TestStorage, l: &LoadCmd) -> Result<(), String> {
    for s in &l.series {
        for (k, v) in s.values.iter().enumerate() {
            let t = k as i64 * l.interval;
            let st = s
                .start_offsets
                .as_ref()
                .and_then(|o| o.get(k).copied().flatten())
                .map_or(0, |d| t + d);
            let value = match v {
                SeriesValue::Omitted => continue,
                SeriesValue::Float(f) => StoredValue::Float(*f),
                SeriesValue::Histogram { h, .. } => {
                    StoredValue::Histogram(std::sync::Arc::new(h.clone()))
                }
            };
            storage
                .append(s.labels.clone(), StoredSample { t, st, v: value })
                .map_err(|e| e.to_string())?;
        }
    }
    if l.with_nhcb {
        load_nhcb(storage, l)?;
    }
    Ok(())
}

/// Converts classic histograms of a load block into native histograms with custom buckets.
fn load_nhcb(storage: &mut TestStorage, l: &LoadCmd) -> Result<(), String> {
    struct Acc {
        buckets: Vec<(f64, f64)>,
        count: Option<f64>,
        sum: Option<f64>,
    }
    let mut groups: HashMap<(Labels, i64), Acc> = HashMap::new();
    let mut order: Vec<(Labels, i64)> = Vec::new();
    for s in &l.series {
        let Some(name) = s.labels.metric_name() else {
            continue;
        };
        let (base, kind) = if let Some(b) = name.strip_suffix("_bucket") {
            (b, 0)
        } else if let Some(b) = name.strip_suffix("_count") {
            (b, 1)
        } else if let Some(b) = name.strip_suffix("_sum") {
            (b, 2)
        } else {
            continue;
        };
        let le = s.labels.get("le").map(str::to_string);
        if kind == 0 && le.is_none() {
            continue;
        }
        let key_labels = s.labels.without(&["le"]).with("__name__", base);
        for (k, v) in s.values.iter().enumerate() {
            let SeriesValue::Float(f) = v else { continue };
            if is_stale_nan(*f) {
                continue;
            }
            let key = (key_labels.clone(), k as i64 * l.interval);
            let acc = groups.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                Acc {
                    buckets: Vec::new(),
                    count: None,
                    sum: None,
                }
            });
            match kind {
                0 => {
                    let le = le.as_deref().unwrap_or("");
                    if let Some(b) = crate::promqltest::series::parse_number(le) {
                        if !b.is_nan() {
                            acc.buckets.push((b, *f));
                        }
                    }
                }
                1 => acc.count = Some(*f),
                _ => acc.sum = Some(*f),
            }
        }
    }
    order.sort_by_key(|a| a.1);
    for key in order {
        let acc = &groups[&key];
        if acc.buckets.is_empty() {
            continue;
        }
        let mut b = acc.buckets.clone();
        b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
        if b.last().is_some_and(|x| x.0 != f64::INFINITY) {
            let c = acc.count.unwrap_or(b.last().map_or(0.0, |x| x.1));
            b.push((f64::INFINITY, c));
        }
        let custom: Vec<f64> = b.iter().filter(|x| x.0.is_finite()).map(|x| x.0).collect();
        let mut counts = Vec::with_capacity(b.len());
        let mut prev = 0.0;
        for (_, c) in &b {
            counts.push(c - prev);
            prev = *c;
        }
        let count = acc.count.unwrap_or(prev);
        let h = FloatHistogram {
            schema: chunkenc::model::CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: acc.sum.unwrap_or(0.0),
            positive_spans: vec![Span {
                offset: 0,
                length: counts.len() as u32,
            }],
            positive_buckets: counts,
            custom_values: custom,
            ..Default::default()
        };
        storage
            .append_histogram(key.0.clone(), key.1, h)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

type Fail = (FailureKind, String);

fn fail_kind(e: &EngineError) -> FailureKind {
    if matches!(e, EngineError::Unsupported(_)) {
        FailureKind::Unsupported
    } else {
        FailureKind::Error
    }
}

fn expects(cmd: &EvalCmd, k: ExpectKind) -> Vec<&MsgMatch> {
    cmd.expects
        .iter()
        .filter(|(kind, _)| *kind == k)
        .map(|(_, m)| m)
        .collect()
}

fn msg_matches(m: &MsgMatch, s: &str) -> bool {
    match m {
        MsgMatch::Any => true,
        MsgMatch::Exact(e) => e == s,
        MsgMatch::Regex(r) => regex::Regex::new(r).is_ok_and(|re| re.is_match(s)),
    }
}

fn run_eval(
    engine: &Engine,
    storage: &TestStorage,
    cmd: &EvalCmd,
    hooks: &Hooks,
) -> Result<(), Fail> {
    let expr = (hooks.parse)(&cmd.expr).map_err(|e| (FailureKind::QueryParse, e))?;
    match cmd.kind {
        EvalKind::Range { start, end, step } => {
            let res = engine.range_query(storage, &expr, start, end, step, None);
            let v = match check_error(cmd, res.value)? {
                Some(v) => v,
                None => return Ok(()),
            };
            check_annotations(cmd, &cmd.expr, &res.annotations)?;
            compare(cmd, &v, Some((start, end, step)))
        }
        EvalKind::Instant(t) => {
            run_instant(
                engine,
                storage,
                cmd,
                &cmd.expr,
                &expr,
                t,
                FailureKind::Mismatch,
            )?;
            if let Some(print) = hooks.print {
                if let Some(variant) = at_variant(&expr, t) {
                    let text = print(&variant);
                    let reparsed = (hooks.parse)(&text).map_err(|e| {
                        (FailureKind::AtVariant, format!("reparse of {text:?}: {e}"))
                    })?;
                    let times: Vec<i64> = if t == 0 {
                        vec![-1000, 0, 1000]
                    } else {
                        vec![-10 * t, 0, t / 5, t, 10 * t]
                    };
                    for et in times {
                        run_instant(
                            engine,
                            storage,
                            cmd,
                            &text,
                            &reparsed,
                            et,
                            FailureKind::AtVariant,
                        )
                        .map_err(|(k, m)| (k, format!("@ variant {text:?} at {et}: {m}")))?;
                    }
                }
            }
            Ok(())
        }
    }
}

fn check_error(cmd: &EvalCmd, v: Result<Value, EngineError>) -> Result<Option<Value>, Fail> {
    let fails = expects(cmd, ExpectKind::Fail);
    match v {
        Err(e) => {
            if let Some(m) = fails.first() {
                let text = e.to_string();
                if msg_matches(m, &text) {
                    return Ok(None);
                }
                return Err((
                    FailureKind::Error,
                    format!("error {text:?} does not match {m:?}"),
                ));
            }
            Err((fail_kind(&e), format!("unexpected error: {e}")))
        }
        Ok(v) => {
            if !fails.is_empty() {
                return Err((FailureKind::NoError, "expected an error, got none".into()));
            }
            Ok(Some(v))
        }
    }
}

fn check_annotations(cmd: &EvalCmd, query: &str, annos: &Annotations) -> Result<(), Fail> {
    let warnings = annos.warnings(query);
    let infos = annos.infos(query);
    let check =
        |kind: ExpectKind, no: ExpectKind, actual: &[String], what: &str| -> Result<(), Fail> {
            let exp = expects(cmd, kind);
            if !exp.is_empty() {
                if actual.is_empty() {
                    return Err((
                        FailureKind::Annotations,
                        format!("expected {what} annotations but none were found"),
                    ));
                }
                for e in &exp {
                    if !actual.iter().any(|a| msg_matches(e, a)) {
                        return Err((
                            FailureKind::Annotations,
                            format!("expected {what} {e:?} not found in {actual:?}"),
                        ));
                    }
                }
                for a in actual {
                    if !exp.iter().any(|e| msg_matches(e, a)) {
                        return Err((
                            FailureKind::Annotations,
                            format!("unexpected {what} annotation {a:?}"),
                        ));
                    }
                }
            }
            if !expects(cmd, no).is_empty() && !actual.is_empty() {
                return Err((
                    FailureKind::Annotations,
                    format!("unexpected {what} annotations: {actual:?}"),
                ));
            }
            Ok(())
        };
    check(ExpectKind::Warn, ExpectKind::NoWarn, &warnings, "warn")?;
    check(ExpectKind::Info, ExpectKind::NoInfo, &infos, "info")?;
    let _ = AnnotationKind::Warning;
    Ok(())
}

fn context_funcs_re() -> regex::Regex {
    regex::Regex::new(r"\b(start|end|range|step)\s*\(\s*\)").expect("static regex")
}

#[allow(clippy::too_many_arguments)]
fn run_instant(
    engine: &Engine,
    storage: &TestStorage,
    cmd: &EvalCmd,
    text: &str,
    expr: &Expr,
    t: i64,
    mismatch: FailureKind,
) -> Result<(), Fail> {
    let res = engine.instant_query(storage, expr, t, None);
    let v = match check_error(cmd, res.value)? {
        Some(v) => v,
        None => return Ok(()),
    };
    check_annotations(cmd, text, &res.annotations)?;
    let range = cmd.range_vector;
    compare(cmd, &v, range).map_err(|(_, m)| (mismatch, m))?;
    if cmd.range_vector.is_some() || cmd.string.is_some() || context_funcs_re().is_match(text) {
        return Ok(());
    }
    let rr = engine.range_query(storage, expr, t - 60_000, t + 60_000, 60_000, None);
    let m = match rr.value {
        Err(e) => return Err((FailureKind::RangeMode, format!("range mode error: {e}"))),
        Ok(Value::Matrix(m)) => m,
        Ok(other) => {
            return Err((
                FailureKind::RangeMode,
                format!("range mode returned {}", other.type_name()),
            ))
        }
    };
    if !expects(cmd, ExpectKind::Ordered).is_empty() {
        return Ok(());
    }
    if m.windows(2).any(|w| w[0].metric > w[1].metric) {
        return Err((
            FailureKind::RangeMode,
            "range mode result not sorted".into(),
        ));
    }
    let mut vec = Vec::new();
    for s in &m {
        if let Some(p) = s.floats.iter().find(|p| p.t == t) {
            vec.push(Sample::float(s.metric.clone(), t, p.f));
        }
        if let Some(p) = s.histograms.iter().find(|p| p.t == t) {
            vec.push(Sample {
                metric: s.metric.clone(),
                t,
                f: 0.0,
                h: Some(p.h.clone()),
                drop_name: false,
            });
        }
    }
    let as_value = if matches!(v, Value::Scalar { .. }) {
        Value::Scalar {
            t,
            v: vec.first().map_or(f64::NAN, |s| s.f),
        }
    } else {
        Value::Vector(vec)
    };
    compare(cmd, &as_value, None)
        .map_err(|(_, m)| (FailureKind::RangeMode, format!("range mode: {m}")))
}

/// `almost.Equal` with ε = 1e-6, staleness-aware.
pub fn float_eq(a: f64, b: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let eps = 1e-6;
    let min_normal = f64::MIN_POSITIVE;
    let sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || sum < min_normal {
        return diff < eps * min_normal;
    }
    diff / sum.min(f64::MAX) < eps
}

fn hist_eq(exp: &FloatHistogram, explicit: bool, got: &FloatHistogram) -> bool {
    let mut a = exp.clone();
    let mut b = got.clone();
    hist::compact(&mut a);
    hist::compact(&mut b);
    if a.schema != b.schema
        || !float_eq(a.count, b.count)
        || !float_eq(a.sum, b.sum)
        || !float_eq(a.zero_count, b.zero_count)
        || a.zero_threshold != b.zero_threshold
    {
        return false;
    }
    if hist::uses_custom(&a) && a.custom_values != b.custom_values {
        return false;
    }
    if explicit && a.counter_reset_hint != b.counter_reset_hint {
        return false;
    }
    let same = |x: Vec<(i32, f64)>, y: Vec<(i32, f64)>| {
        x.len() == y.len()
            && x.iter()
                .zip(&y)
                .all(|(p, q)| p.0 == q.0 && float_eq(p.1, q.1))
    };
    same(
        hist::indexed(&a.positive_spans, &a.positive_buckets),
        hist::indexed(&b.positive_spans, &b.positive_buckets),
    ) && same(
        hist::indexed(&a.negative_spans, &a.negative_buckets),
        hist::indexed(&b.negative_spans, &b.negative_buckets),
    )
}

fn compare(cmd: &EvalCmd, v: &Value, range: Option<(i64, i64, i64)>) -> Result<(), Fail> {
    let mm = |m: String| Err((FailureKind::Mismatch, m));
    let ordered = !expects(cmd, ExpectKind::Ordered).is_empty();
    let expected: HashMap<&Labels, &super::SeriesDef> =
        cmd.series.iter().map(|s| (&s.labels, s)).collect();
    match v {
        Value::String { v, .. } => match &cmd.string {
            Some(e) if e == v => Ok(()),
            Some(e) => mm(format!("expected string {e:?}, got {v:?}")),
            None => mm(format!("unexpected string result {v:?}")),
        },
        Value::Scalar { v, .. } => match cmd.scalar {
            Some(e) if float_eq(e, *v) => Ok(()),
            Some(e) => mm(format!("expected scalar {e}, got {v}")),
            None => mm(format!("unexpected scalar result {v}")),
        },
        Value::Vector(vec) => {
            if cmd.scalar.is_some() {
                return mm("expected scalar result, got vector".into());
            }
            let mut seen = 0;
            for (pos, s) in vec.iter().enumerate() {
                let Some(exp) = expected.get(&s.metric) else {
                    return mm(format!(
                        "unexpected metric {} in result, has value {}",
                        s.metric, s.f
                    ));
                };
                if ordered && exp.position != pos + 1 {
                    return mm(format!(
                        "expected {} at position {}, got {}",
                        s.metric,
                        exp.position,
                        pos + 1
                    ));
                }
                match (exp.values.first(), &s.h) {
                    (Some(SeriesValue::Histogram { h, hint_explicit }), Some(got)) => {
                        if !hist_eq(h, *hint_explicit, got) {
                            return mm(format!(
                                "histogram mismatch for {}: expected {h:?}, got {got:?}",
                                s.metric
                            ));
                        }
                    }
                    (Some(SeriesValue::Float(f)), None) => {
                        if !float_eq(*f, s.f) {
                            return mm(format!("expected {f} for {}, got {}", s.metric, s.f));
                        }
                    }
                    (e, g) => {
                        return mm(format!(
                            "type mismatch for {}: expected {e:?}, got {g:?} / {}",
                            s.metric, s.f
                        ))
                    }
                }
                seen += 1;
            }
            if seen != expected.len() {
                for e in &cmd.series {
                    if !vec.iter().any(|s| s.metric == e.labels) {
                        return mm(format!("expected metric {} not found", e.labels));
                    }
                }
            }
            Ok(())
        }
        Value::Matrix(m) => {
            if ordered {
                return mm("expected ordered result, but query returned a matrix".into());
            }
            let Some((start, end, step)) = range else {
                return mm("unexpected matrix result".into());
            };
            if m.windows(2).any(|w| w[0].metric > w[1].metric) {
                return mm("matrix not sorted".into());
            }
            for s in m {
                let Some(exp) = expected.get(&s.metric) else {
                    return mm(format!("unexpected metric {} in result", s.metric));
                };
                let mut ef = Vec::new();
                let mut eh = Vec::new();
                for (i, v) in exp.values.iter().enumerate() {
                    let t = start + i as i64 * step;
                    if t > end {
                        return mm(format!(
                            "expected {} points for {}, but the time range cannot return this many",
                            exp.values.len(),
                            s.metric
                        ));
                    }
                    match v {
                        SeriesValue::Omitted => {}
                        SeriesValue::Float(f) => ef.push((t, *f)),
                        SeriesValue::Histogram { h, hint_explicit } => {
                            eh.push((t, h, *hint_explicit))
                        }
                    }
                }
                if ef.len() != s.floats.len() || eh.len() != s.histograms.len() {
                    return mm(format!(
                        "expected {} float points and {} histogram points for {}, got {} and {}: {:?}",
                        ef.len(),
                        eh.len(),
                        s.metric,
                        s.floats.len(),
                        s.histograms.len(),
                        s.floats
                    ));
                }
                for (e, g) in ef.iter().zip(&s.floats) {
                    if e.0 != g.t || !float_eq(e.1, g.f) {
                        return mm(format!(
                            "{}: expected {}@{}, got {}@{}",
                            s.metric, e.1, e.0, g.f, g.t
                        ));
                    }
                }
                for (e, g) in eh.iter().zip(&s.histograms) {
                    if e.0 != g.t || !hist_eq(e.1, e.2, &g.h) {
                        return mm(format!("{}: histogram mismatch at {}", s.metric, e.0));
                    }
                }
            }
            for e in &cmd.series {
                if !m.iter().any(|s| s.metric == e.labels) {
                    return mm(format!("expected metric {} not found", e.labels));
                }
            }
            Ok(())
        }
    }
}

const AT_UNSAFE: &[&str] = crate::engine::prepare::AT_MODIFIER_UNSAFE;

/// The expression with `@ t` on every selector and subquery lacking one (not below a
/// subquery that has one); `None` when it calls an `@`-unsafe function.
fn at_variant(e: &Expr, t: i64) -> Option<Expr> {
    let mut unsafe_fn = false;
    e.inspect(&mut |n, _| {
        if let Expr::Call(c) = n {
            if AT_UNSAFE.contains(&c.func.name) {
                unsafe_fn = true;
            }
        }
        true
    });
    if unsafe_fn {
        return None;
    }
    let mut out = e.clone();
    fn walk(e: &mut Expr, t: i64) {
        match e {
            Expr::VectorSelector(vs) => {
                if vs.timestamp.is_none() && vs.start_or_end.is_none() {
                    vs.timestamp = Some(t);
                }
            }
            Expr::MatrixSelector(ms) => {
                let vs = &mut ms.vector_selector;
                if vs.timestamp.is_none() && vs.start_or_end.is_none() {
                    vs.timestamp = Some(t);
                }
            }
            Expr::Subquery(sq) => {
                // Selectors below a subquery with `@` keep their own evaluation time.
                if sq.timestamp.is_none() && sq.start_or_end.is_none() {
                    sq.timestamp = Some(t);
                }
            }
            other => other.for_each_child_mut(|c| walk(c, t)),
        }
    }
    walk(&mut out, t);
    Some(out)
}
