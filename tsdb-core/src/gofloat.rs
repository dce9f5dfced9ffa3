//! Go's `%g` formatting of a float64 (`strconv.FormatFloat(v, 'g', -1, 64)` plus fmt's sign
//! rules), which `promtool tsdb dump` uses for sample values.
//!
//! Shortest round-trip digits; scientific notation when the decimal exponent is below -4 or at
//! least 6 (`1e+06`, `1.5e-07`, exponent with at least two digits); `+Inf`, `-Inf`, `NaN`.

use std::fmt::Write;

/// Appends `v` formatted like Go's `fmt.Sprintf("%g", v)`.
///
/// ```
/// let mut s = String::new();
/// tsdb_core::gofloat::push_go_g(&mut s, 1234567.0);
/// assert_eq!(s, "1.234567e+06");
/// ```
pub fn push_go_g(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "d.ddde<exp>".
    let mut sci = String::with_capacity(32);
    let _ = write!(sci, "{:e}", v.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    if v < 0.0 {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// `v` formatted like Go's `%g`.
pub fn go_g(v: f64) -> String {
    let mut s = String::new();
    push_go_g(&mut s, v);
    s
}

#[cfg(test)]
mod tests {
    use super::go_g;

    #[test]
    fn matches_go() {
        // Expectations from Go's fmt.Sprintf("%g", v).
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (20.5, "20.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1700000000197.0, "1.700000000197e+12"),
            (-0.0, "-0"),
            (0.00001234, "1.234e-05"),
            (1e21, "1e+21"),
            (0.5, "0.5"),
        ];
        for (v, want) in cases {
            assert_eq!(go_g(*v), *want, "{v:?}");
        }
    }
}
