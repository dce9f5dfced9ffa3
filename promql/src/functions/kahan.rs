//! Kahan–Neumaier compensated summation, as PromQL uses it for sums and means.

/// Adds `inc` to `sum` with compensation `c`; returns the new sum and compensation.
///
/// When the sum overflows to infinity the compensation is reset, so that `sum + c` stays
/// infinite instead of turning into NaN.
#[inline]
pub fn inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensates_lost_low_bits() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = inc(v, s, c);
        }
        assert_eq!(s + c, 2.0);
    }
}
