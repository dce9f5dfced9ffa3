//! `label_replace` and `label_join`: functions that rewrite series labels, not values.

use regex::Regex;

use crate::ast::{Call, Expr, StringLiteral};
use crate::engine::eval::{merge_same_labelset, set_label, EvalResult, Evaluator};
use crate::engine::EngineError;
use crate::value::Matrix;

fn string_arg(c: &Call, i: usize) -> EvalResult<&StringLiteral> {
    let mut e = c.args.get(i);
    while let Some(Expr::Paren(p)) = e {
        e = Some(&*p.expr);
    }
    match e {
        Some(Expr::StringLiteral(s)) => Ok(s),
        _ => Err(EngineError::Eval(format!(
            "argument {i} of {} must be a string",
            c.func.name
        ))),
    }
}

/// Whether a string literal is a valid (UTF-8) label name: non-empty, and no escape made
/// it invalid UTF-8.
fn valid_label_name(name: &StringLiteral) -> bool {
    !name.val.is_empty() && name.bytes.is_none()
}

/// Expands `$1`, `${1}`, `$name`, `${name}` and `$$` like Go's `Regexp.ExpandString`.
fn expand(re: &Regex, caps: &regex::Captures<'_>, template: &str) -> String {
    let mut out = String::new();
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let start = i;
            while i < b.len() && b[i] != b'$' {
                i += 1;
            }
            out.push_str(&template[start..i]);
            continue;
        }
        i += 1;
        if i < b.len() && b[i] == b'$' {
            out.push('$');
            i += 1;
            continue;
        }
        let (name, next) = if i < b.len() && b[i] == b'{' {
            match template[i + 1..].find('}') {
                Some(end) => (&template[i + 1..i + 1 + end], i + 2 + end),
                None => {
                    out.push('$');
                    continue;
                }
            }
        } else {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            (&template[start..i], i)
        };
        if name.is_empty() {
            out.push('$');
            i = next.max(i);
            continue;
        }
        i = next;
        let m = match name.parse::<usize>() {
            Ok(n) => caps.get(n),
            Err(_) => {
                if re.capture_names().any(|c| c == Some(name)) {
                    caps.name(name)
                } else {
                    None
                }
            }
        };
        if let Some(m) = m {
            out.push_str(m.as_str());
        }
    }
    out
}

/// `label_replace(v, dst, replacement, src, regex)`.
pub(crate) fn eval_label_replace(ev: &mut Evaluator<'_>, c: &Call) -> EvalResult<Matrix> {
    let dst_lit = string_arg(c, 1)?;
    let dst = dst_lit.val.clone();
    let repl = string_arg(c, 2)?.val.clone();
    let src = string_arg(c, 3)?.val.clone();
    let pattern = string_arg(c, 4)?.val.clone();
    let re = Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
        EngineError::Eval(format!(
            "invalid regular expression in label_replace(): {pattern}"
        ))
    })?;
    if !valid_label_name(dst_lit) {
        return Err(EngineError::Eval(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut mat = ev.eval(&c.args[0])?;
    for s in mat.iter_mut() {
        let v = s.metric.get(&src).unwrap_or("").to_string();
        if let Some(caps) = re.captures(&v) {
            let res = expand(&re, &caps, &repl);
            s.metric = set_label(&s.metric, &dst, &res);
            if dst == "__name__" {
                s.drop_name = false;
            }
        }
    }
    merge_same_labelset(mat)
}

/// `label_join(v, dst, separator, src...)`.
pub(crate) fn eval_label_join(ev: &mut Evaluator<'_>, c: &Call) -> EvalResult<Matrix> {
    let dst_lit = string_arg(c, 1)?;
    let dst = dst_lit.val.clone();
    let sep = string_arg(c, 2)?.val.clone();
    let mut srcs = Vec::new();
    for i in 3..c.args.len() {
        let s = string_arg(c, i)?;
        if !valid_label_name(s) {
            return Err(EngineError::Eval(format!(
                "invalid source label name in label_join(): {}",
                s.val
            )));
        }
        srcs.push(s.val.clone());
    }
    if !valid_label_name(dst_lit) {
        return Err(EngineError::Eval(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut mat = ev.eval(&c.args[0])?;
    for s in mat.iter_mut() {
        let joined: Vec<&str> = srcs.iter().map(|n| s.metric.get(n).unwrap_or("")).collect();
        let v = joined.join(&sep);
        s.metric = set_label(&s.metric, &dst, &v);
        if dst == "__name__" {
            s.drop_name = false;
        }
    }
    merge_same_labelset(mat)
}
