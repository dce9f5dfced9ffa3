//! Bit streams: the MSB-first bit packing that every Prometheus chunk encoding is built on.
//!
//! Bits are written from the most significant bit of each byte downwards; the last byte is
//! padded with zero bits. [`BitWriter`] can resume on the bytes of an existing stream, which is
//! how appenders continue a chunk that was read back from disk.

use crate::error::ChunkError;

/// Zero bytes kept after the last written byte, so that any write of up to 64 bits is one
/// unaligned 8-byte load/OR/store (plus at most one more byte).
const WRITE_SLACK: usize = 9;

/// An append-only bit stream backed by a byte vector.
///
/// The vector is kept zero-padded beyond the written bits, so writes OR whole words into it
/// instead of pushing byte by byte; [`BitWriter::bytes`] shows only the written bytes.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    /// The stream's bytes followed by zero padding; every bit at or after `bit_len` is zero.
    buf: Vec<u8>,
    /// Number of bits written.
    bit_len: usize,
}

impl PartialEq for BitWriter {
    fn eq(&self, other: &Self) -> bool {
        self.bit_len == other.bit_len && self.bytes() == other.bytes()
    }
}

impl Eq for BitWriter {}

impl BitWriter {
    /// An empty stream with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        BitWriter {
            buf: vec![0; capacity + WRITE_SLACK],
            bit_len: 0,
        }
    }

    /// Resumes writing after `bit_len` bits of `bytes`.
    ///
    /// `bytes` must hold at least `ceil(bit_len / 8)` bytes; later bytes are dropped and the
    /// bits beyond `bit_len` in the last byte are cleared so that new bits can be OR-ed in.
    pub fn resume(mut bytes: Vec<u8>, bit_len: usize) -> Self {
        let whole = bit_len.div_ceil(8);
        bytes.truncate(whole);
        let used = (bit_len % 8) as u8;
        if used != 0 {
            if let Some(last) = bytes.last_mut() {
                *last &= !(0xffu8 >> used);
            }
        }
        let bit_len = bit_len.min(bytes.len() * 8);
        BitWriter {
            buf: bytes,
            bit_len,
        }
    }

    /// Number of bytes holding written bits.
    #[inline]
    fn byte_len(&self) -> usize {
        self.bit_len.div_ceil(8)
    }

    /// The bytes written so far (the last byte zero-padded).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.byte_len()]
    }

    /// Mutable access to the bytes, for headers rewritten in place (e.g. sample counts).
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let n = self.byte_len();
        &mut self.buf[..n]
    }

    /// Gives up the byte vector.
    pub fn into_bytes(mut self) -> Vec<u8> {
        let n = self.byte_len();
        self.buf.truncate(n);
        self.buf
    }

    /// Number of bits written.
    #[inline]
    pub fn bit_len(&self) -> usize {
        self.bit_len
    }

    /// Makes sure that the bytes from `byte` on can take a word write.
    #[inline]
    fn reserve_at(&mut self, byte: usize) {
        if byte + WRITE_SLACK > self.buf.len() {
            self.grow(byte + WRITE_SLACK);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, min_len: usize) {
        let len = min_len.max(self.buf.len() * 2).max(64);
        self.buf.resize(len, 0);
    }

    /// Appends one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        let byte = self.bit_len >> 3;
        self.reserve_at(byte);
        self.buf[byte] |= ((bit as u8) << 7) >> (self.bit_len & 7);
        self.bit_len += 1;
    }

    /// Appends a whole byte (which may straddle two bytes of the stream).
    #[inline]
    pub fn write_byte(&mut self, byte: u8) {
        self.write_bits(byte as u64, 8);
    }

    /// Appends the `nbits` (at most 64) least significant bits of `value`, most significant
    /// first.
    #[inline]
    pub fn write_bits(&mut self, value: u64, nbits: u8) {
        debug_assert!(nbits <= 64);
        if nbits == 0 {
            return;
        }
        let byte = self.bit_len >> 3;
        let shift = (self.bit_len & 7) as u32;
        self.reserve_at(byte);
        // Left-align the bits (dropping any above `nbits`), then place them after `shift` used
        // bits of the current byte. Bits past the written ones stay zero.
        let aligned = value << (64 - nbits as u32);
        let word: &mut [u8; 8] = (&mut self.buf[byte..byte + 8])
            .try_into()
            .expect("slack reserved");
        *word = (u64::from_be_bytes(*word) | (aligned >> shift)).to_be_bytes();
        if shift + nbits as u32 > 64 {
            // The last bits spill into a ninth byte.
            self.buf[byte + 8] = (aligned << (64 - shift) >> 56) as u8;
        }
        self.bit_len += nbits as usize;
    }
}

/// A reader over a bit stream.
///
/// It keeps up to 64 bits in a register, refilled a whole word at a time, so that reading a
/// few bits costs a shift and a mask.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Index of the next byte of `bytes` not yet counted in `valid`.
    next_byte: usize,
    /// Loaded bits, left-aligned: the next bit to read is bit 63. Bits after the `valid` ones
    /// are either zero or the stream's own next bits (a refill ORs the same bits in again).
    buffer: u64,
    /// Number of bits of `buffer` that may be read.
    valid: u32,
}

impl<'a> BitReader<'a> {
    /// A reader positioned at the first bit of `bytes`.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader {
            bytes,
            next_byte: 0,
            buffer: 0,
            valid: 0,
        }
    }

    /// Number of bits consumed so far.
    #[inline]
    pub fn position(&self) -> usize {
        self.next_byte * 8 - self.valid as usize
    }

    /// Number of bits left to read (including padding bits of the last byte).
    #[inline]
    pub fn remaining(&self) -> usize {
        self.bytes.len() * 8 - self.position()
    }

    /// Loads as many whole bytes into the register as fit (at least 56 bits end up valid
    /// unless the stream ends first).
    #[inline]
    fn refill(&mut self) {
        if self.valid > 56 {
            return;
        }
        if let Some(chunk) = self.bytes.get(self.next_byte..self.next_byte + 8) {
            let word = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
            self.buffer |= word >> self.valid;
            let take = (63 - self.valid) >> 3;
            self.next_byte += take as usize;
            self.valid += take << 3;
        } else {
            self.refill_tail();
        }
    }

    /// Byte-by-byte refill near the end of the stream.
    #[cold]
    fn refill_tail(&mut self) {
        while self.valid <= 56 && self.next_byte < self.bytes.len() {
            self.buffer |= (self.bytes[self.next_byte] as u64) << (56 - self.valid);
            self.valid += 8;
            self.next_byte += 1;
        }
    }

    /// Consumes `n` (1..=64) bits that are known to be valid.
    #[inline]
    fn consume(&mut self, n: u32) -> u64 {
        debug_assert!(n >= 1 && n <= self.valid);
        let value = self.buffer >> (64 - n);
        // Two shifts, because shifting a u64 by 64 is not allowed.
        self.buffer = (self.buffer << (n - 1)) << 1;
        self.valid -= n;
        value
    }

    /// Refills the register and returns it with its number of valid bits (at least 57 unless
    /// the stream ends first), for decoders that look at several fields at once.
    #[inline]
    pub(crate) fn peek_register(&mut self) -> (u64, u32) {
        self.refill();
        (self.buffer, self.valid)
    }

    /// Consumes `n` bits that [`BitReader::peek_register`] showed to be valid (1 ≤ n ≤ valid).
    #[inline]
    pub(crate) fn skip(&mut self, n: u32) {
        self.consume(n);
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Result<bool, ChunkError> {
        if self.valid == 0 {
            self.refill();
            if self.valid == 0 {
                return Err(ChunkError::UnexpectedEnd);
            }
        }
        Ok(self.consume(1) != 0)
    }

    /// Reads `nbits` (at most 64) bits as an unsigned integer, most significant first.
    #[inline]
    pub fn read_bits(&mut self, nbits: u8) -> Result<u64, ChunkError> {
        debug_assert!(nbits <= 64);
        let n = nbits as u32;
        if n == 0 {
            return Ok(0);
        }
        if self.valid < n {
            self.refill();
            if self.valid < n {
                return self.read_bits_split(n);
            }
        }
        Ok(self.consume(n))
    }

    /// Reads more bits than the register holds (only for reads of over 56 bits, or at the
    /// end of the stream), in two parts.
    #[inline(never)]
    fn read_bits_split(&mut self, n: u32) -> Result<u64, ChunkError> {
        let high_bits = self.valid;
        if high_bits == 0 {
            return Err(ChunkError::UnexpectedEnd);
        }
        let high = self.consume(high_bits);
        let low_bits = n - high_bits;
        self.refill();
        if self.valid < low_bits {
            return Err(ChunkError::UnexpectedEnd);
        }
        Ok((high << low_bits) | self.consume(low_bits))
    }

    /// Reads eight bits.
    #[inline]
    pub fn read_byte(&mut self) -> Result<u8, ChunkError> {
        self.read_bits(8).map(|b| b as u8)
    }

    /// Counts up to `max` (at most 32) consecutive one bits, consuming them and the
    /// terminating zero bit (if fewer than `max` ones were seen). Used for unary prefixes
    /// such as `1110`.
    #[inline]
    pub fn read_unary_ones(&mut self, max: u8) -> Result<u8, ChunkError> {
        let max = max as u32;
        if self.valid <= max {
            self.refill();
        }
        let ones = self.buffer.leading_ones().min(max);
        let used = ones + (ones < max) as u32;
        if used <= self.valid {
            if used > 0 {
                self.consume(used);
            }
            return Ok(ones as u8);
        }
        // The stream ends inside the prefix: read bit by bit to report it.
        let mut ones = 0;
        while ones < max {
            if !self.read_bit()? {
                return Ok(ones as u8);
            }
            ones += 1;
        }
        Ok(ones as u8)
    }

    /// Reads a Go-style unsigned varint from the stream (byte by byte, through the bit
    /// register, so it also works when the stream is not byte-aligned).
    pub fn read_uvarint(&mut self) -> Result<u64, ChunkError> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        for i in 0..10 {
            let byte = self.read_byte()?;
            if byte < 0x80 {
                if i == 9 && byte > 1 {
                    return Err(ChunkError::VarintOverflow);
                }
                return Ok(value | (byte as u64) << shift);
            }
            value |= ((byte & 0x7f) as u64) << shift;
            shift += 7;
        }
        Err(ChunkError::VarintOverflow)
    }

    /// Reads a Go-style zig-zag signed varint.
    pub fn read_varint(&mut self) -> Result<i64, ChunkError> {
        let u = self.read_uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

/// Appends `value` as a Go-style unsigned varint, through the bit writer.
pub fn write_uvarint(w: &mut BitWriter, mut value: u64) {
    while value >= 0x80 {
        w.write_byte((value as u8) | 0x80);
        value >>= 7;
    }
    w.write_byte(value as u8);
}

/// Appends `value` as a Go-style zig-zag signed varint, through the bit writer.
pub fn write_varint(w: &mut BitWriter, value: i64) {
    write_uvarint(w, ((value << 1) ^ (value >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(fields in proptest::collection::vec((any::<u64>(), 0u8..=64), 0..200)) {
            let mut w = BitWriter::default();
            for &(v, n) in &fields {
                w.write_bits(v, n);
            }
            let total: usize = fields.iter().map(|&(_, n)| n as usize).sum();
            prop_assert_eq!(w.bit_len(), total);
            let mut r = BitReader::new(w.bytes());
            for &(v, n) in &fields {
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                prop_assert_eq!(r.read_bits(n).unwrap(), v & mask);
            }
        }

        #[test]
        fn resume_continues_stream(a in proptest::collection::vec(any::<bool>(), 0..100),
                                   b in proptest::collection::vec(any::<bool>(), 0..100)) {
            let mut whole = BitWriter::default();
            let mut first = BitWriter::default();
            for &bit in &a { whole.write_bit(bit); first.write_bit(bit); }
            let mut resumed = BitWriter::resume(first.bytes().to_vec(), first.bit_len());
            for &bit in &b { whole.write_bit(bit); resumed.write_bit(bit); }
            prop_assert_eq!(whole.bytes(), resumed.bytes());
        }

        #[test]
        fn varints_round_trip(u in any::<u64>(), s in any::<i64>(), pad in 0u8..8) {
            let mut w = BitWriter::default();
            w.write_bits(0, pad);
            write_uvarint(&mut w, u);
            write_varint(&mut w, s);
            let mut r = BitReader::new(w.bytes());
            r.read_bits(pad).unwrap();
            prop_assert_eq!(r.read_uvarint().unwrap(), u);
            prop_assert_eq!(r.read_varint().unwrap(), s);
        }
    }

    #[test]
    fn reading_past_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(8).unwrap(), 0xff);
        assert!(r.read_bit().is_err());
        let mut r = BitReader::new(&[0xff; 3]);
        assert!(r.read_bits(64).is_err());
    }
}
