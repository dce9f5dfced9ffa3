//! Element-wise functions over instant vectors (math, clamping, rounding, dates), scalar
//! conversions, sorting and `absent`.

use std::cmp::Ordering;

use tsdb_index::Labels;

use super::{go_max, go_min, scalar_arg, Helper, Window};
use crate::ast::Expr;
use crate::engine::EngineError;
use crate::value::{Sample, Vector};

type R = Result<(), EngineError>;

fn simple(vals: &[Vector], enh: &mut Helper, f: impl Fn(f64) -> f64) -> R {
    for s in &vals[0] {
        if s.h.is_none() {
            enh.out.push(Sample {
                metric: enh.drop_labels(&s.metric),
                t: s.t,
                f: f(s.f),
                h: None,
                drop_name: true,
            });
        }
    }
    Ok(())
}

macro_rules! math_fn {
    ($($name:ident => $f:expr),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "(v)`")]
            pub fn $name(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
                simple(vals, enh, $f)
            }
        )*
    };
}

math_fn! {
    abs => f64::abs,
    ceil => f64::ceil,
    floor => f64::floor,
    exp => f64::exp,
    sqrt => f64::sqrt,
    ln => f64::ln,
    log2 => f64::log2,
    log10 => f64::log10,
    sin => f64::sin,
    cos => f64::cos,
    tan => f64::tan,
    asin => f64::asin,
    acos => f64::acos,
    atan => f64::atan,
    sinh => f64::sinh,
    cosh => f64::cosh,
    tanh => f64::tanh,
    asinh => f64::asinh,
    acosh => f64::acosh,
    atanh => f64::atanh,
    rad => |v| v * std::f64::consts::PI / 180.0,
    deg => |v| v * 180.0 / std::f64::consts::PI,
    sgn => |v: f64| if v < 0.0 { -1.0 } else if v > 0.0 { 1.0 } else { v },
}

/// `time()`
pub fn time(_: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    enh.out.push(Sample::float(
        Labels::empty(),
        enh.ts,
        enh.ts as f64 / 1000.0,
    ));
    Ok(())
}

/// `pi()`
pub fn pi(_: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    enh.out
        .push(Sample::float(Labels::empty(), enh.ts, std::f64::consts::PI));
    Ok(())
}

/// `max_of(a, b)`
pub fn max_of(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let v = go_max(scalar_arg(vals, 0), scalar_arg(vals, 1));
    enh.out.push(Sample::float(Labels::empty(), enh.ts, v));
    Ok(())
}

/// `min_of(a, b)`
pub fn min_of(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let v = go_min(scalar_arg(vals, 0), scalar_arg(vals, 1));
    enh.out.push(Sample::float(Labels::empty(), enh.ts, v));
    Ok(())
}

/// `vector(s)`
pub fn vector(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    enh.out
        .push(Sample::float(Labels::empty(), enh.ts, scalar_arg(vals, 0)));
    Ok(())
}

/// `scalar(v)`: the single float value, or NaN.
pub fn scalar(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let mut found = None;
    for s in &vals[0] {
        if s.h.is_none() {
            if found.is_some() {
                found = Some(f64::NAN);
                break;
            }
            found = Some(s.f);
        }
    }
    enh.out.push(Sample::float(
        Labels::empty(),
        enh.ts,
        found.unwrap_or(f64::NAN),
    ));
    Ok(())
}

fn clamp_impl(vals: &[Vector], lo: f64, hi: f64, enh: &mut Helper) -> R {
    if hi < lo {
        return Ok(());
    }
    simple(vals, enh, |v| go_max(lo, go_min(hi, v)))
}

/// `clamp(v, min, max)`
pub fn clamp(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    clamp_impl(vals, scalar_arg(vals, 1), scalar_arg(vals, 2), enh)
}

/// `clamp_max(v, max)`
pub fn clamp_max(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    clamp_impl(vals, f64::NEG_INFINITY, scalar_arg(vals, 1), enh)
}

/// `clamp_min(v, min)`
pub fn clamp_min(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    clamp_impl(vals, scalar_arg(vals, 1), f64::INFINITY, enh)
}

/// `round(v, to_nearest=1)`
pub fn round(vals: &[Vector], _: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    let to = if args.len() >= 2 {
        scalar_arg(vals, 1)
    } else {
        1.0
    };
    let inv = 1.0 / to;
    simple(vals, enh, |f| (f * inv + 0.5).floor() / inv)
}

/// `timestamp(v)` for a non-selector argument: the sample timestamps (= evaluation time).
pub fn timestamp(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    for s in &vals[0] {
        enh.out.push(Sample {
            metric: enh.drop_labels(&s.metric),
            t: s.t,
            f: s.t as f64 / 1000.0,
            h: None,
            drop_name: true,
        });
    }
    Ok(())
}

/// `start_timestamp(v)` of anything but a vector selector: only samples read straight
/// from storage have start timestamps (the engine answers `start_timestamp(selector)`
/// itself), so a computed vector has none and the result is empty, as in Prometheus.
pub fn start_timestamp(_: &[Vector], _: Option<&Window<'_>>, _: &[Expr], _: &mut Helper) -> R {
    Ok(())
}

/// `absent(v)`
pub fn absent(vals: &[Vector], _: Option<&Window<'_>>, args: &[Expr], enh: &mut Helper) -> R {
    if !vals[0].is_empty() {
        return Ok(());
    }
    enh.out
        .push(Sample::float(super::absent_labels(&args[0]), enh.ts, 1.0));
    Ok(())
}

fn nan_first_cmp(a: f64, b: f64, desc: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// `sort(v)`: ascending, NaN last.
pub fn sort(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let mut v: Vector = vals[0].iter().filter(|s| s.h.is_none()).cloned().collect();
    v.sort_by(|a, b| nan_first_cmp(a.f, b.f, false));
    enh.out.extend(v);
    Ok(())
}

/// `sort_desc(v)`: descending, NaN last.
pub fn sort_desc(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
    let mut v: Vector = vals[0].iter().filter(|s| s.h.is_none()).cloned().collect();
    v.sort_by(|a, b| nan_first_cmp(a.f, b.f, true));
    enh.out.extend(v);
    Ok(())
}

/// Natural ("human") string order: runs of digits compare numerically.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = ab[i].cmp(&bb[j]);
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

fn label_args(args: &[Expr]) -> Vec<String> {
    args.iter()
        .skip(1)
        .filter_map(|a| match a {
            Expr::StringLiteral(s) => Some(s.val.clone()),
            _ => None,
        })
        .collect()
}

fn sort_by_label_impl(vals: &[Vector], args: &[Expr], enh: &mut Helper, desc: bool) -> R {
    let names = label_args(args);
    let mut v = vals[0].clone();
    v.sort_by(|a, b| {
        for n in &names {
            let (x, y) = (a.metric.get(n).unwrap_or(""), b.metric.get(n).unwrap_or(""));
            if x == y {
                continue;
            }
            let o = natural_cmp(x, y);
            return if desc { o.reverse() } else { o };
        }
        let o = a.metric.cmp(&b.metric);
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    enh.out.extend(v);
    Ok(())
}

/// `sort_by_label(v, labels...)`
pub fn sort_by_label(
    vals: &[Vector],
    _: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    sort_by_label_impl(vals, args, enh, false)
}

/// `sort_by_label_desc(v, labels...)`
pub fn sort_by_label_desc(
    vals: &[Vector],
    _: Option<&Window<'_>>,
    args: &[Expr],
    enh: &mut Helper,
) -> R {
    sort_by_label_impl(vals, args, enh, true)
}

/// Civil date from days since 1970-01-01: (year, month 1-12, day 1-31).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// Broken-down UTC time of a Unix timestamp in seconds.
struct DateParts {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    weekday: u32,
    yday: u32,
}

fn parts(secs: i64) -> DateParts {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil(days);
    let mut yday = day;
    for m in 1..month {
        yday += days_in(year, m);
    }
    DateParts {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: ((rem % 3600) / 60) as u32,
        weekday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

fn date_fn(vals: &[Vector], enh: &mut Helper, f: impl Fn(&DateParts) -> f64) -> R {
    if vals.is_empty() {
        let p = parts(enh.ts.div_euclid(1000));
        enh.out.push(Sample::float(Labels::empty(), enh.ts, f(&p)));
        return Ok(());
    }
    for s in &vals[0] {
        if s.h.is_some() {
            continue;
        }
        let secs = if s.f.is_nan() || s.f.is_infinite() {
            i64::MIN
        } else {
            s.f as i64
        };
        enh.out.push(Sample {
            metric: enh.drop_labels(&s.metric),
            t: s.t,
            f: f(&parts(secs)),
            h: None,
            drop_name: true,
        });
    }
    Ok(())
}

macro_rules! date_fns {
    ($($name:ident => $f:expr),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "(v=vector(time()))`")]
            pub fn $name(vals: &[Vector], _: Option<&Window<'_>>, _: &[Expr], enh: &mut Helper) -> R {
                date_fn(vals, enh, $f)
            }
        )*
    };
}

date_fns! {
    days_in_month => |p: &DateParts| days_in(p.year, p.month) as f64,
    day_of_month => |p: &DateParts| p.day as f64,
    day_of_week => |p: &DateParts| p.weekday as f64,
    day_of_year => |p: &DateParts| p.yday as f64,
    hour => |p: &DateParts| p.hour as f64,
    minute => |p: &DateParts| p.minute as f64,
    month => |p: &DateParts| p.month as f64,
    year => |p: &DateParts| p.year as f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let p = parts(1_136_239_445); // 2006-01-02T22:04:05Z, a Monday.
        assert_eq!(
            (p.year, p.month, p.day, p.hour, p.minute),
            (2006, 1, 2, 22, 4)
        );
        assert_eq!(p.weekday, 1);
        assert_eq!(p.yday, 2);
        assert_eq!(days_in(2024, 2), 29);
    }

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
    }
}
