//! The shapes of parsed trees: precedence and associativity, sign folding, where postfix
//! modifiers attach, what vector matching and grouping hold, selector matchers, durations and
//! `@`, following Prometheus' grammar (and the expectations of its parser tests).

use promql::ast::*;
use promql::parser::{parse, parse_with, Options};

/// A compact fully-parenthesised rendering of the tree, for structural assertions.
fn sexp(e: &Expr) -> String {
    match e {
        Expr::Aggregate(a) => {
            let mut s = format!("({}", a.op);
            if a.without {
                s += &format!(" without{:?}", a.grouping);
            } else if !a.grouping.is_empty() {
                s += &format!(" by{:?}", a.grouping);
            }
            if let Some(p) = &a.param {
                s += &format!(" {}", sexp(p));
            }
            format!("{s} {})", sexp(&a.expr))
        }
        Expr::Binary(b) => {
            let mut m = String::new();
            if b.return_bool {
                m += " bool";
            }
            if let Some(vm) = &b.vector_matching {
                m += &format!(" {}", vm.card.as_str());
                if vm.on || !vm.matching_labels.is_empty() {
                    m += &format!(
                        " {}{:?}",
                        if vm.on { "on" } else { "ignoring" },
                        vm.matching_labels
                    );
                }
                if !vm.include.is_empty() {
                    m += &format!(" include{:?}", vm.include);
                }
                if let Some(l) = vm.fill_values.lhs {
                    m += &format!(" fill_left={l}");
                }
                if let Some(r) = vm.fill_values.rhs {
                    m += &format!(" fill_right={r}");
                }
            }
            format!("({}{m} {} {})", b.op, sexp(&b.lhs), sexp(&b.rhs))
        }
        Expr::Call(c) => {
            let args: Vec<_> = c.args.iter().map(sexp).collect();
            format!("({} {})", c.func.name, args.join(" "))
        }
        Expr::MatrixSelector(m) => format!(
            "(range {} {}ms{})",
            vs(&m.vector_selector),
            m.range_ms,
            m.range_expr
                .as_ref()
                .map(|d| format!(" expr={d}"))
                .unwrap_or_default()
        ),
        Expr::Subquery(s) => format!(
            "(subquery {} {}ms:{}ms off={} at={:?}{:?})",
            sexp(&s.expr),
            s.range_ms,
            s.step_ms,
            s.original_offset_ms,
            s.timestamp,
            s.start_or_end
        ),
        Expr::NumberLiteral(n) => format!("{}", n.val),
        Expr::Paren(p) => format!("(paren {})", sexp(&p.expr)),
        Expr::StringLiteral(s) => format!("{:?}", s.val),
        Expr::Unary(u) => format!("(neg{} {})", u.op.as_str(), sexp(&u.expr)),
        Expr::VectorSelector(v) => vs(v),
        Expr::StepInvariant(s) => sexp(&s.expr),
        Expr::Duration(d) => format!("(duration {d})"),
    }
}

fn vs(v: &VectorSelector) -> String {
    let ms: Vec<String> = v.matchers.iter().map(|m| m.to_string()).collect();
    let mut s = format!("{}[{}]", v.name, ms.join(","));
    if v.original_offset_ms != 0 {
        s += &format!(" off={}", v.original_offset_ms);
    }
    if let Some(e) = &v.original_offset_expr {
        s += &format!(" off={e}");
    }
    if let Some(t) = v.timestamp {
        s += &format!(" at={t}");
    }
    if let Some(p) = v.start_or_end {
        s += &format!(" at={p:?}");
    }
    if v.anchored {
        s += " anchored";
    }
    if v.smoothed {
        s += " smoothed";
    }
    s
}

fn shape(q: &str) -> String {
    sexp(&parse_with(q, Options::all()).unwrap_or_else(|e| panic!("{q}: {e}")))
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(shape("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(shape("1 * 2 + 3"), "(+ (* 1 2) 3)");
    assert_eq!(shape("1 - 2 - 3"), "(- (- 1 2) 3)");
    assert_eq!(shape("2 ^ 3 ^ 2"), "(^ 2 (^ 3 2))");
    assert_eq!(
        shape("a atan2 b * c"),
        "(* one-to-one (atan2 one-to-one a[__name__=\"a\"] b[__name__=\"b\"]) c[__name__=\"c\"])"
    );
    assert_eq!(
        shape("a or b and c unless d"),
        "(or many-to-many a[__name__=\"a\"] (unless many-to-many (and many-to-many b[__name__=\"b\"] c[__name__=\"c\"]) d[__name__=\"d\"]))"
    );
    assert_eq!(shape("1 < bool 2 + 3"), "(< bool 1 (+ 2 3))");
    assert_eq!(shape("a </ 1 + 2"), "(</ a[__name__=\"a\"] (+ 1 2))");
}

#[test]
fn unary_signs() {
    assert_eq!(shape("-1"), "-1");
    assert_eq!(shape("--1"), "1");
    assert_eq!(shape("-1 ^ 2"), "(neg- (^ 1 2))");
    assert_eq!(
        shape("-a * b"),
        "(* one-to-one (neg- a[__name__=\"a\"]) b[__name__=\"b\"])"
    );
    assert_eq!(shape("-(1)"), "(neg- (paren 1))");
    assert_eq!(shape("1 - -1"), "(- 1 -1)");
    let e = parse("-5").unwrap();
    assert_eq!(e.pos(), PosRange::new(0, 2));
}

#[test]
fn postfix_modifiers_bind_tightest() {
    assert_eq!(
        shape("a + b offset 5m"),
        "(+ one-to-one a[__name__=\"a\"] b[__name__=\"b\"] off=300000)"
    );
    // `-x[5m]` is `-(x[5m])`: a type error, not `(-x)[5m]`.
    assert_eq!(
        parse_with("-x[5m]", Options::all()).unwrap_err().message,
        "unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\""
    );
    assert_eq!(
        shape("rate(x[5m] offset -1h @ 100)"),
        "(rate (range x[__name__=\"x\"] off=-3600000 at=100000 300000ms))"
    );
    assert_eq!(
        shape("sum(x)[1h:5m] offset 1d @ end()"),
        "(subquery (sum x[__name__=\"x\"]) 3600000ms:300000ms off=86400000 at=NoneSome(End))"
    );
    assert_eq!(
        shape("x offset 5m * 2"),
        "(* x[__name__=\"x\"] off=300000 2)"
    );
    assert_eq!(shape("x @ start()"), "x[__name__=\"x\"] at=Start");
    assert_eq!(
        shape("x[5m] anchored"),
        "(range x[__name__=\"x\"] anchored 300000ms)"
    );
    assert_eq!(
        shape("rate(x[1m:])[2m:30s]"),
        "(subquery (rate (subquery x[__name__=\"x\"] 60000ms:0ms off=0 at=NoneNone)) 120000ms:30000ms off=0 at=NoneNone)"
    );
}

#[test]
fn durations_and_duration_expressions() {
    assert_eq!(shape("x[1h30m]"), "(range x[__name__=\"x\"] 5400000ms)");
    assert_eq!(shape("x[90]"), "(range x[__name__=\"x\"] 90000ms)");
    assert_eq!(shape("x[1.5]"), "(range x[__name__=\"x\"] 1500ms)");
    assert_eq!(
        shape("x[5m * 2]"),
        "(range x[__name__=\"x\"] 0ms expr=5m * 2)"
    );
    assert_eq!(
        shape("x[step()]"),
        "(range x[__name__=\"x\"] 0ms expr=step())"
    );
    assert_eq!(shape("x offset -(5m)"), "x[__name__=\"x\"] off=-(5m)");
    assert_eq!(
        shape("x offset (1m) + 2m"),
        "x[__name__=\"x\"] off=(1m) + 2m"
    );
    assert_eq!(
        shape("x offset -step()*2"),
        "(* x[__name__=\"x\"] off=-step() 2)"
    );
    assert_eq!(shape("5m"), "300");
    assert_eq!(parse("5m").unwrap().to_string(), "5m");
    assert_eq!(parse("x[1y2w3d]").unwrap().to_string(), "x[382d]");
}

#[test]
fn vector_matching_and_grouping() {
    assert_eq!(
        shape("a / on(x, y) group_left(z) b"),
        "(/ many-to-one on[\"x\", \"y\"] include[\"z\"] a[__name__=\"a\"] b[__name__=\"b\"])"
    );
    assert_eq!(
        shape("a - ignoring(x) group_right b"),
        "(- one-to-many ignoring[\"x\"] a[__name__=\"a\"] b[__name__=\"b\"])"
    );
    assert_eq!(
        shape("a + fill(0) b"),
        "(+ one-to-one fill_left=0 fill_right=0 a[__name__=\"a\"] b[__name__=\"b\"])"
    );
    assert_eq!(
        shape("a + fill_right(-1) fill_left(2) b"),
        "(+ one-to-one fill_left=2 fill_right=-1 a[__name__=\"a\"] b[__name__=\"b\"])"
    );
    // Vector matching is dropped when a side is a scalar.
    assert_eq!(shape("a * 2"), "(* a[__name__=\"a\"] 2)");
    assert_eq!(
        shape("sum without (a, \"b.c\") (x)"),
        "(sum without[\"a\", \"b.c\"] x[__name__=\"x\"])"
    );
    assert_eq!(
        shape("sum(x) by (job)"),
        "(sum by[\"job\"] x[__name__=\"x\"])"
    );
    assert_eq!(shape("topk(3, x)"), "(topk 3 x[__name__=\"x\"])");
    assert_eq!(
        shape("count_values(\"v\", x)"),
        "(count_values \"v\" x[__name__=\"x\"])"
    );
}

#[test]
fn selectors_and_keywords_as_names() {
    assert_eq!(
        shape(r#"{"my.metric", "a.b"="x", c=~'y', d!~`z`, e!=""}"#),
        "[__name__=\"my.metric\",a.b=\"x\",c=~\"y\",d!~\"z\",e!=\"\"]"
    );
    assert_eq!(shape("sum"), "sum[__name__=\"sum\"]");
    assert_eq!(shape("offset"), "offset[__name__=\"offset\"]");
    assert_eq!(
        shape("rate(by[5m])"),
        "(rate (range by[__name__=\"by\"] 300000ms))"
    );
    assert_eq!(shape("a:b:c"), "a:b:c[__name__=\"a:b:c\"]");
    assert_eq!(shape("step()"), "(step )");
    assert_eq!(
        shape("info(x, {k=~\".+\"})"),
        "(info x[__name__=\"x\"] [k=~\".+\"])"
    );
    assert_eq!(
        shape("0x1F + 1e3 + .5 + 1_000"),
        "(+ (+ (+ 31 1000) 0.5) 1000)"
    );
    assert!(parse("Inf").unwrap().to_string() == "+Inf");
    assert_eq!(shape(r#""a\tb""#), "\"a\\tb\"");
}

#[test]
fn feature_flags_default_off() {
    for (q, msg) in [
        ("x[5m+1m]", "experimental duration expression is not enabled"),
        ("x[5m] anchored", "anchored modifier is experimental and not enabled"),
        ("a + fill(0) b", "binop fill modifiers are experimental and not enabled"),
        ("limitk(1, x)", "limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions"),
        ("sort_by_label(x, \"a\")", "function \"sort_by_label\" is not enabled"),
    ] {
        let e = parse(q).unwrap_err();
        assert_eq!(e.message, msg, "{q}");
        assert!(parse_with(q, Options::all()).is_ok(), "{q}");
    }
}

#[test]
fn error_text_and_position() {
    let e = parse("sum(rate(x[5m])) +\n  foo{").unwrap_err();
    assert_eq!(
        e.to_string(),
        "2:7: parse error: unexpected end of input inside braces"
    );
    let e = parse("rate(x)").unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"
    );
    let e = parse("x[5m] + 1").unwrap_err();
    assert_eq!(
        e.message,
        "binary expression must contain only scalar and instant vector types"
    );
    assert_eq!(
        parse("").unwrap_err().message,
        "no expression found in input"
    );
    assert_eq!(
        parse("{}").unwrap_err().message,
        "vector selector must contain at least one non-empty matcher"
    );
}
