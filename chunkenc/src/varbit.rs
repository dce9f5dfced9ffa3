//! Variable-width bit encodings of integers used by the native histogram chunks.
//!
//! A value is written as a unary prefix of up to eight one bits (terminated by a zero bit
//! unless all eight are ones) followed by a payload whose width the prefix selects:
//!
//! | prefix | payload bits | signed range (inclusive) | unsigned range |
//! |---|---|---|---|
//! | `0` | 0 | 0 | 0 |
//! | `10` | 3 | −3 … 4 | ≤ 7 |
//! | `110` | 6 | −31 … 32 | ≤ 63 |
//! | `1110` | 9 | −255 … 256 | ≤ 511 |
//! | `11110` | 12 | −2047 … 2048 | ≤ 4095 |
//! | `111110` | 18 | −131071 … 131072 | ≤ 262143 |
//! | `1111110` | 25 | −16777215 … 16777216 | ≤ 33554431 |
//! | `11111110` | 56 | −(2^55−1) … 2^55 | < 2^56 |
//! | `11111111` | 64 | any | any |
//!
//! Signed payloads are two's complement truncated to the payload width, with the asymmetric
//! range Prometheus uses (one more positive than negative value per width).

use crate::bstream::{BitReader, BitWriter};
use crate::error::ChunkError;

/// Payload width, in bits, selected by a prefix of `ones` one bits (index = number of ones).
const PAYLOAD_BITS: [u8; 9] = [0, 3, 6, 9, 12, 18, 25, 56, 64];

/// Whether `x` fits the signed payload of `nbits` bits: `-(2^(n-1) - 1) <= x <= 2^(n-1)`.
#[inline]
fn fits_signed(x: i64, nbits: u32) -> bool {
    let half = 1i64 << (nbits - 1);
    -half < x && x <= half
}

/// Writes the prefix of `ones` one bits (with its terminating zero, unless it is the full
/// eight-bit prefix) followed by the low `PAYLOAD_BITS[ones]` bits of `payload`.
#[inline]
fn put_prefixed(w: &mut BitWriter, ones: usize, payload: u64) {
    let nbits = PAYLOAD_BITS[ones];
    if ones == 8 {
        w.write_bits(0xff, 8);
        w.write_bits(payload, 64);
        return;
    }
    // `ones` one bits then a zero: (2^ones - 1) << 1.
    let prefix = ((1u64 << ones) - 1) << 1;
    let prefix_len = ones as u8 + 1;
    if prefix_len + nbits <= 64 {
        let mask = if nbits == 0 { 0 } else { (1u64 << nbits) - 1 };
        w.write_bits((prefix << nbits) | (payload & mask), prefix_len + nbits);
    } else {
        w.write_bits(prefix, prefix_len);
        w.write_bits(payload, nbits);
    }
}

/// Appends `value` in the signed varbit encoding.
#[inline]
pub fn put_varbit_int(w: &mut BitWriter, value: i64) {
    let ones = if value == 0 {
        0
    } else if fits_signed(value, 3) {
        1
    } else if fits_signed(value, 6) {
        2
    } else if fits_signed(value, 9) {
        3
    } else if fits_signed(value, 12) {
        4
    } else if fits_signed(value, 18) {
        5
    } else if fits_signed(value, 25) {
        6
    } else if fits_signed(value, 56) {
        7
    } else {
        8
    };
    put_prefixed(w, ones, value as u64);
}

/// Appends `value` in the unsigned varbit encoding (same prefixes as the signed one).
#[inline]
pub fn put_varbit_uint(w: &mut BitWriter, value: u64) {
    let width = 64 - value.leading_zeros();
    let ones = if value == 0 {
        0
    } else {
        // The first payload width that holds `width` significant bits.
        PAYLOAD_BITS[1..]
            .iter()
            .position(|&n| width <= n as u32)
            .map_or(8, |i| i + 1)
    };
    put_prefixed(w, ones, value);
}

/// Reads the unary prefix and returns the payload width it selects.
#[inline]
fn read_prefix(r: &mut BitReader<'_>) -> Result<u8, ChunkError> {
    let ones = r.read_unary_ones(8)?;
    Ok(PAYLOAD_BITS[ones as usize])
}

/// Reads a value written by [`put_varbit_int`].
#[inline]
pub fn read_varbit_int(r: &mut BitReader<'_>) -> Result<i64, ChunkError> {
    let nbits = read_prefix(r)?;
    match nbits {
        0 => Ok(0),
        64 => Ok(r.read_bits(64)? as i64),
        n => {
            let raw = r.read_bits(n)?;
            // Payloads above 2^(n-1) are negative numbers in n-bit two's complement.
            if raw > 1u64 << (n - 1) {
                Ok((raw as i64) - (1i64 << n))
            } else {
                Ok(raw as i64)
            }
        }
    }
}

/// Reads a value written by [`put_varbit_uint`].
#[inline]
pub fn read_varbit_uint(r: &mut BitReader<'_>) -> Result<u64, ChunkError> {
    let nbits = read_prefix(r)?;
    r.read_bits(nbits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bit lengths at the edges of each signed width, as Prometheus' varbit tests list them.
    #[test]
    fn signed_widths_at_range_edges() {
        let cases: &[(i64, usize)] = &[
            (0, 1),
            (-3, 5),
            (4, 5),
            (-4, 9),
            (5, 9),
            (-31, 9),
            (32, 9),
            (-32, 13),
            (33, 13),
            (256, 13),
            (257, 17),
            (2048, 17),
            (2049, 24),
            (131072, 24),
            (131073, 32),
            (16777216, 32),
            (16777217, 64),
            (36028797018963968, 64),
            (36028797018963969, 72),
            (i64::MIN, 72),
            (i64::MAX, 72),
        ];
        for &(v, bits) in cases {
            let mut w = BitWriter::default();
            put_varbit_int(&mut w, v);
            assert_eq!(w.bit_len(), bits, "value {v}");
            let mut r = BitReader::new(w.bytes());
            assert_eq!(read_varbit_int(&mut r).unwrap(), v);
        }
    }

    #[test]
    fn unsigned_widths_at_range_edges() {
        let cases: &[(u64, usize)] = &[
            (0, 1),
            (7, 5),
            (8, 9),
            (63, 9),
            (64, 13),
            (4095, 17),
            (4096, 24),
            (33554431, 32),
            (33554432, 64),
            ((1 << 56) - 1, 64),
            (1 << 56, 72),
            (u64::MAX, 72),
        ];
        for &(v, bits) in cases {
            let mut w = BitWriter::default();
            put_varbit_uint(&mut w, v);
            assert_eq!(w.bit_len(), bits, "value {v}");
            let mut r = BitReader::new(w.bytes());
            assert_eq!(read_varbit_uint(&mut r).unwrap(), v);
        }
    }

    #[test]
    fn truncated_payload_is_an_error() {
        let mut w = BitWriter::default();
        put_varbit_int(&mut w, 1 << 40);
        let bytes = &w.bytes()[..3];
        assert_eq!(
            read_varbit_int(&mut BitReader::new(bytes)),
            Err(ChunkError::UnexpectedEnd)
        );
    }

    proptest! {
        #[test]
        fn round_trip(values in proptest::collection::vec(any::<i64>(), 0..50),
                      uvalues in proptest::collection::vec(any::<u64>(), 0..50),
                      shift in 0u32..64) {
            let mut w = BitWriter::default();
            for &v in &values { put_varbit_int(&mut w, v >> shift); }
            for &v in &uvalues { put_varbit_uint(&mut w, v >> shift); }
            let mut r = BitReader::new(w.bytes());
            for &v in &values { prop_assert_eq!(read_varbit_int(&mut r).unwrap(), v >> shift); }
            for &v in &uvalues { prop_assert_eq!(read_varbit_uint(&mut r).unwrap(), v >> shift); }
        }
    }
}
