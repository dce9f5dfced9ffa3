//! Bit streams: the MSB-first bit packing that every Prometheus chunk encoding is built on.
//!
//! Bits are written from the most significant bit of each byte downwards; the last byte is
//! padded with zero bits. [`BitWriter`] can resume on the bytes of an existing stream, which is
//! how appenders continue a chunk that was read back from disk.

use crate::error::ChunkError;

/// An append-only bit stream backed by a byte vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Number of bits still free in the last byte of `bytes` (0 means the last byte is full).
    free_bits: u8,
}

impl BitWriter {
    /// An empty stream with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        BitWriter {
            bytes: Vec::with_capacity(capacity),
            free_bits: 0,
        }
    }

    /// Resumes writing after `bit_len` bits of `bytes`.
    ///
    /// `bytes` must hold exactly `ceil(bit_len / 8)` bytes; bits beyond `bit_len` in the last
    /// byte are cleared so that new bits can be OR-ed into them.
    pub fn resume(mut bytes: Vec<u8>, bit_len: usize) -> Self {
        let whole = bit_len.div_ceil(8);
        bytes.truncate(whole);
        let used = (bit_len % 8) as u8;
        let free_bits = if used == 0 { 0 } else { 8 - used };
        if free_bits > 0 {
            if let Some(last) = bytes.last_mut() {
                *last &= !((1u8 << free_bits) - 1);
            }
        }
        BitWriter { bytes, free_bits }
    }

    /// The bytes written so far (the last byte zero-padded).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Mutable access to the bytes, for headers rewritten in place (e.g. sample counts).
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Gives up the byte vector.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Number of bits written.
    #[inline]
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8 - self.free_bits as usize
    }

    /// Appends one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        if self.free_bits == 0 {
            self.bytes.push(0);
            self.free_bits = 8;
        }
        self.free_bits -= 1;
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << self.free_bits;
        }
    }

    /// Appends a whole byte (which may straddle two bytes of the stream).
    #[inline]
    pub fn write_byte(&mut self, byte: u8) {
        self.write_bits(byte as u64, 8);
    }

    /// Appends the `nbits` least significant bits of `value`, most significant first.
    #[inline]
    pub fn write_bits(&mut self, value: u64, nbits: u8) {
        debug_assert!(nbits <= 64);
        if nbits == 0 {
            return;
        }
        let mut remaining = nbits;
        // Only the low `nbits` bits count.
        let value = if nbits == 64 {
            value
        } else {
            value & ((1u64 << nbits) - 1)
        };
        // Fill the partial last byte first.
        if self.free_bits > 0 {
            let take = remaining.min(self.free_bits);
            let shift = remaining - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (self.free_bits - take);
            self.free_bits -= take;
            remaining -= take;
        }
        // Whole bytes.
        while remaining >= 8 {
            remaining -= 8;
            self.bytes.push((value >> remaining) as u8);
        }
        // A trailing partial byte.
        if remaining > 0 {
            let chunk = (value & ((1u64 << remaining) - 1)) as u8;
            self.bytes.push(chunk << (8 - remaining));
            self.free_bits = 8 - remaining;
        }
    }
}

/// A reader over a bit stream.
///
/// It keeps up to 64 bits in a register, refilled a whole word at a time, so that reading a
/// few bits costs a shift and a mask.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Index of the next byte of `bytes` not yet loaded into `buffer`.
    next_byte: usize,
    /// Loaded bits, left-aligned: the next bit to read is bit 63.
    buffer: u64,
    /// Number of valid bits in `buffer`.
    valid: u8,
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

    /// Loads as many whole bytes into the register as fit.
    #[inline]
    fn refill(&mut self) {
        if self.next_byte + 8 <= self.bytes.len() && self.valid <= 56 {
            // Fast path: read a big-endian word and keep the bytes that fit.
            let mut word = [0u8; 8];
            word.copy_from_slice(&self.bytes[self.next_byte..self.next_byte + 8]);
            let word = u64::from_be_bytes(word);
            let take_bytes = (64 - self.valid as usize) / 8;
            let take_bits = (take_bytes * 8) as u32;
            // take_bits is in 8..=64.
            let incoming = if take_bits == 64 {
                word
            } else {
                word >> (64 - take_bits)
            };
            self.buffer |= if take_bits == 64 {
                incoming
            } else {
                incoming << (64 - take_bits - self.valid as u32)
            };
            self.valid += take_bits as u8;
            self.next_byte += take_bytes;
            return;
        }
        while self.valid <= 56 && self.next_byte < self.bytes.len() {
            self.buffer |= (self.bytes[self.next_byte] as u64) << (56 - self.valid);
            self.valid += 8;
            self.next_byte += 1;
        }
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
        let bit = self.buffer >> 63 != 0;
        self.buffer <<= 1;
        self.valid -= 1;
        Ok(bit)
    }

    /// Reads `nbits` (at most 64) bits as an unsigned integer, most significant first.
    #[inline]
    pub fn read_bits(&mut self, nbits: u8) -> Result<u64, ChunkError> {
        debug_assert!(nbits <= 64);
        if nbits == 0 {
            return Ok(0);
        }
        if self.valid < nbits {
            self.refill();
        }
        if self.valid >= nbits {
            let value = self.buffer >> (64 - nbits as u32);
            self.buffer = if nbits == 64 { 0 } else { self.buffer << nbits };
            self.valid -= nbits;
            return Ok(value);
        }
        // The register cannot hold all requested bits (only when nbits > 56): split the read.
        let high_bits = self.valid;
        if high_bits == 0 {
            return Err(ChunkError::UnexpectedEnd);
        }
        let high = self.read_bits(high_bits)?;
        let low_bits = nbits - high_bits;
        self.refill();
        if self.valid < low_bits {
            return Err(ChunkError::UnexpectedEnd);
        }
        let low = self.read_bits(low_bits)?;
        Ok((high << low_bits) | low)
    }

    /// Reads eight bits.
    #[inline]
    pub fn read_byte(&mut self) -> Result<u8, ChunkError> {
        self.read_bits(8).map(|b| b as u8)
    }

    /// Counts up to `max` consecutive one bits, consuming them and the terminating zero bit
    /// (if fewer than `max` ones were seen). Used for unary prefixes such as `1110`.
    #[inline]
    pub fn read_unary_ones(&mut self, max: u8) -> Result<u8, ChunkError> {
        let mut ones = 0;
        while ones < max {
            if !self.read_bit()? {
                return Ok(ones);
            }
            ones += 1;
        }
        Ok(ones)
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
