//! The XOR chunk (encoding 1): Prometheus' Gorilla-style float chunk.
//!
//! Layout, all bit-packed MSB first after a two-byte big-endian sample count:
//!
//! * sample 0: timestamp as a zig-zag varint, value as 64 raw bits;
//! * sample 1: timestamp delta as an unsigned varint, value XOR-encoded against sample 0;
//! * sample n ≥ 2: delta-of-delta of the timestamp in one of five buckets (`0`, `10`+14 bits,
//!   `110`+17 bits, `1110`+20 bits, `1111`+64 bits), then the XOR-encoded value.
//!
//! A value is encoded as the XOR with the previous value: `0` when equal; `10` followed by the
//! meaningful bits inside the previous leading/trailing-zero window when the XOR fits it; `11`,
//! five bits of leading zeros (at most 31), six bits of significant-bit count (64 written as 0)
//! and the significant bits, when a new window is needed.
//!
//! [`XorAppender`] writes exactly the bits Prometheus writes; [`XorIterator`] decodes borrowed
//! bytes without allocating.

use crate::bstream::{write_uvarint, write_varint, BitReader, BitWriter};
use crate::error::ChunkError;

/// Size of the sample-count header of an XOR chunk.
pub const XOR_HEADER_SIZE: usize = 2;
/// The largest an XOR chunk may grow (Prometheus' `MaxBytesPerXORChunk`).
pub const MAX_BYTES_PER_XOR_CHUNK: usize = 1024;
/// Prometheus cuts a new head chunk once an XOR chunk exceeds this many bytes, leaving room for
/// one worst-case (19-byte) sample below [`MAX_BYTES_PER_XOR_CHUNK`].
pub const MAX_BYTES_PER_XOR_CHUNK_BEFORE_APPEND: usize = MAX_BYTES_PER_XOR_CHUNK - 19;
/// Bytes reserved up front for a new chunk (Prometheus allocates 128).
const CHUNK_ALLOCATION_SIZE: usize = 128;
/// Leading-zero count meaning "no window chosen yet": the first XOR-ed value opens a window.
pub(crate) const NO_WINDOW: u8 = 0xff;

/// Whether `x` fits the `nbits`-bit signed bucket of the delta-of-delta encoding, whose range
/// is `-(2^(nbits-1) - 1) ..= 2^(nbits-1)` (one more on the positive side than two's
/// complement, as Prometheus defines it).
#[inline]
pub(crate) fn bit_range(x: i64, nbits: u8) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

/// Writes `head` (`head_len` ≥ 1 bits) then `body`, in one word write when they fit 64 bits.
#[inline]
pub(crate) fn write_pair(w: &mut BitWriter, head: u64, head_len: u8, body: u64, body_len: u8) {
    if head_len + body_len <= 64 {
        // `head_len` ≥ 1, so `body_len` < 64 and the shift is in range.
        w.write_bits((head << body_len) | body, head_len + body_len);
    } else {
        w.write_bits(head, head_len);
        w.write_bits(body, body_len);
    }
}

/// Reads the sample count of a chunk's two-byte header.
#[inline]
fn header_count(bytes: &[u8]) -> Result<u16, ChunkError> {
    match bytes {
        [hi, lo, ..] => Ok(u16::from_be_bytes([*hi, *lo])),
        _ => Err(ChunkError::TooShort {
            len: bytes.len(),
            header: XOR_HEADER_SIZE,
        }),
    }
}

/// An XOR-encoded chunk that owns its bytes.
///
/// ```
/// use chunkenc::xor::XorChunk;
/// let mut app = XorChunk::new().appender().unwrap();
/// app.append(1000, 1.5).unwrap();
/// app.append(2000, 2.5).unwrap();
/// let chunk = app.into_chunk();
/// let mut it = chunk.iter();
/// assert!(it.next().unwrap());
/// assert_eq!(it.at(), (1000, 1.5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorChunk {
    stream: BitWriter,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk (just the zero sample count).
    pub fn new() -> Self {
        let mut stream = BitWriter::with_capacity(CHUNK_ALLOCATION_SIZE);
        stream.write_bits(0, 16);
        XorChunk { stream }
    }

    /// Wraps the bytes of an existing chunk (as stored in a block or head chunk file), checking
    /// that the header is present. The samples are decoded lazily, by iterators and appenders.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        header_count(&bytes)?;
        let bit_len = bytes.len() * 8;
        Ok(XorChunk {
            stream: BitWriter::resume(bytes, bit_len),
        })
    }

    /// The chunk's bytes, header included, exactly as Prometheus stores them.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.stream.bytes()
    }

    /// Gives up the bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.stream.into_bytes()
    }

    /// Number of samples, from the header.
    #[inline]
    pub fn num_samples(&self) -> usize {
        let b = self.stream.bytes();
        u16::from_be_bytes([b[0], b[1]]) as usize
    }

    /// An iterator over the samples.
    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new_unchecked(self.stream.bytes())
    }

    /// Turns the chunk into an appender that continues after its last sample.
    ///
    /// Like Prometheus' head, the appender's state is rebuilt by decoding every sample, so
    /// this fails if the chunk is corrupt. One Prometheus quirk is kept on purpose so that the
    /// bytes stay identical to what Prometheus writes: if no value change has been encoded yet
    /// (a single sample, or all values equal), the resumed appender starts from an all-bits
    /// window instead of "no window", as Prometheus' iterator reports it.
    pub fn appender(self) -> Result<XorAppender, ChunkError> {
        let num = self.num_samples() as u16;
        if num == 0 {
            let mut bytes = self.stream.into_bytes();
            bytes.truncate(XOR_HEADER_SIZE);
            return Ok(XorAppender {
                stream: BitWriter::resume(bytes, XOR_HEADER_SIZE * 8),
                num: 0,
                t: i64::MIN,
                v: 0,
                t_delta: 0,
                leading: NO_WINDOW,
                trailing: 0,
            });
        }
        let mut it = self.iter();
        while it.next()? {}
        let bit_len = XOR_HEADER_SIZE * 8 + it.reader.position();
        let (t, v, t_delta, leading, trailing) = (it.t, it.v, it.t_delta, it.leading, it.trailing);
        Ok(XorAppender {
            stream: BitWriter::resume(self.stream.into_bytes(), bit_len),
            num,
            t,
            v,
            t_delta,
            leading,
            trailing,
        })
    }
}

/// Appends samples to an XOR chunk, writing exactly Prometheus' bits.
///
/// The appender owns the chunk while it grows; read it with [`XorAppender::chunk`] or take it
/// with [`XorAppender::into_chunk`].
#[derive(Debug, Clone)]
pub struct XorAppender {
    stream: BitWriter,
    num: u16,
    t: i64,
    /// Bits of the last value.
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    /// An appender on a new, empty chunk.
    pub fn new() -> Self {
        XorAppender {
            stream: XorChunk::new().stream,
            num: 0,
            t: i64::MIN,
            v: 0,
            t_delta: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Appends one sample. Timestamps are not checked for order (the caller decides, as in
    /// Prometheus); the only failure is a chunk that already holds 65535 samples.
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        let vbits = v.to_bits();
        let mut t_delta = 0;
        match self.num {
            0 => {
                write_varint(&mut self.stream, t);
                self.stream.write_bits(vbits, 64);
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                write_uvarint(&mut self.stream, t_delta);
                self.write_value(0, 0, vbits);
            }
            u16::MAX => return Err(ChunkError::Full(u16::MAX as usize)),
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                // The delta-of-delta code and the value are packed into as few word writes
                // as possible.
                if dod == 0 {
                    self.write_value(0, 1, vbits);
                } else if bit_range(dod, 14) {
                    self.write_value((0b10 << 14) | (dod as u64 & 0x3fff), 16, vbits);
                } else if bit_range(dod, 17) {
                    self.write_value((0b110 << 17) | (dod as u64 & 0x1ffff), 20, vbits);
                } else if bit_range(dod, 20) {
                    self.write_value((0b1110 << 20) | (dod as u64 & 0xfffff), 24, vbits);
                } else {
                    self.stream.write_bits(0b1111, 4);
                    self.stream.write_bits(dod as u64, 64);
                    self.write_value(0, 0, vbits);
                }
            }
        }
        self.t = t;
        self.v = vbits;
        self.t_delta = t_delta;
        self.num += 1;
        self.stream.bytes_mut()[..2].copy_from_slice(&self.num.to_be_bytes());
        Ok(())
    }

    /// Writes the `prefix_len` bits of `prefix` (the timestamp's code), then the XOR of
    /// `vbits` with the previous value.
    #[inline]
    fn write_value(&mut self, prefix: u64, prefix_len: u8, vbits: u64) {
        let delta = vbits ^ self.v;
        if delta == 0 {
            self.stream.write_bits(prefix << 1, prefix_len + 1);
            return;
        }
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            // Control `10`, then the bits inside the current window.
            let sig = 64 - self.leading - self.trailing;
            write_pair(
                &mut self.stream,
                (prefix << 2) | 0b10,
                prefix_len + 2,
                delta >> self.trailing,
                sig,
            );
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let sig = 64 - leading - trailing;
        // Control `11`, 5 bits of leading zeros, 6 bits of significant-bit count (64 wraps to
        // 0), then the significant bits.
        let head = (prefix << 13) | (0b11 << 11) | ((leading as u64) << 6) | (sig as u64 & 0x3f);
        write_pair(
            &mut self.stream,
            head,
            prefix_len + 13,
            delta >> trailing,
            sig,
        );
    }

    /// Number of samples appended so far (including those of a resumed chunk).
    #[inline]
    pub fn num_samples(&self) -> usize {
        self.num as usize
    }

    /// The chunk's bytes so far.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.stream.bytes()
    }

    /// An iterator over the samples appended so far.
    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new_unchecked(self.stream.bytes())
    }

    /// A copy of the chunk as it is now.
    pub fn chunk(&self) -> XorChunk {
        XorChunk {
            stream: self.stream.clone(),
        }
    }

    /// Finishes appending and returns the chunk.
    pub fn into_chunk(self) -> XorChunk {
        XorChunk {
            stream: self.stream,
        }
    }
}

/// Decodes the samples of an XOR chunk from borrowed bytes, without allocating.
#[derive(Debug, Clone)]
pub struct XorIterator<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    /// Bits of the current value.
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    /// Set once decoding failed; the iterator then stays failed.
    failed: Option<ChunkError>,
}

impl<'a> XorIterator<'a> {
    /// An iterator over a chunk's bytes (header included). Fails if the header is missing.
    pub fn new(chunk: &'a [u8]) -> Result<Self, ChunkError> {
        header_count(chunk)?;
        Ok(Self::new_unchecked(chunk))
    }

    fn new_unchecked(chunk: &'a [u8]) -> Self {
        XorIterator {
            reader: BitReader::new(&chunk[XOR_HEADER_SIZE..]),
            total: u16::from_be_bytes([chunk[0], chunk[1]]),
            read: 0,
            t: i64::MIN,
            v: 0,
            t_delta: 0,
            // Prometheus' iterator starts with a 0/0 window, not "no window": a `10` control
            // before any `11` then means 64 significant bits.
            leading: 0,
            trailing: 0,
            failed: None,
        }
    }

    /// Number of samples the header announces.
    #[inline]
    pub fn num_samples(&self) -> usize {
        self.total as usize
    }

    /// Advances to the next sample. `Ok(false)` at the end; an error if the data is truncated
    /// or corrupt (and every later call returns the same error).
    // A cursor, not an `Iterator`: the sample is read with `at` and errors are typed.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<bool, ChunkError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.read == self.total {
            return Ok(false);
        }
        match self.decode_sample() {
            Ok(()) => {
                self.read += 1;
                Ok(true)
            }
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    #[inline]
    fn decode_sample(&mut self) -> Result<(), ChunkError> {
        match self.read {
            0 => {
                self.t = self.reader.read_varint()?;
                self.v = self.reader.read_bits(64)?;
                Ok(())
            }
            1 => {
                self.t_delta = self.reader.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()
            }
            _ => {
                // Fast paths for the common cases, decoded straight from the register: same
                // delta and same value (`0` `0`), or same delta and a value inside the current
                // window (`0` `10` bits).
                let (buf, valid) = self.reader.peek_register();
                if valid >= 2 && buf >> 62 == 0 {
                    self.reader.skip(2);
                    self.t = self.t.wrapping_add(self.t_delta as i64);
                    return Ok(());
                }
                let sig = 64 - (self.leading + self.trailing) as u32;
                if buf >> 61 == 0b010 && valid >= 3 + sig {
                    // `valid` < 64, so 1 ≤ sig ≤ 60 here.
                    let bits = (buf << 3) >> (64 - sig);
                    self.reader.skip(3 + sig);
                    self.t = self.t.wrapping_add(self.t_delta as i64);
                    self.v ^= bits << self.trailing;
                    return Ok(());
                }
                let dod = match self.reader.read_unary_ones(4)? {
                    0 => 0,
                    1 => signed_payload(self.reader.read_bits(14)?, 14),
                    2 => signed_payload(self.reader.read_bits(17)?, 17),
                    3 => signed_payload(self.reader.read_bits(20)?, 20),
                    _ => self.reader.read_bits(64)? as i64,
                };
                self.t_delta = self.t_delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()
            }
        }
    }

    #[inline]
    fn read_value(&mut self) -> Result<(), ChunkError> {
        if !self.reader.read_bit()? {
            return Ok(());
        }
        if self.reader.read_bit()? {
            let header = self.reader.read_bits(11)?;
            let leading = (header >> 6) as u8;
            let sig = match (header & 0x3f) as u8 {
                0 => 64,
                n => n,
            };
            if leading + sig > 64 {
                return Err(ChunkError::Corrupt(
                    "XOR value window has more than 64 bits",
                ));
            }
            self.leading = leading;
            self.trailing = 64 - leading - sig;
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.reader.read_bits(sig)?;
        self.v ^= bits << self.trailing;
        Ok(())
    }

    /// Advances to the first sample at or after `t` (staying put if the current sample
    /// already qualifies). `Ok(false)` if there is none.
    pub fn seek(&mut self, t: i64) -> Result<bool, ChunkError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        while self.read == 0 || self.t < t {
            if !self.next()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Timestamp and value of the current sample.
    #[inline]
    pub fn at(&self) -> (i64, f64) {
        (self.t, f64::from_bits(self.v))
    }

    /// Timestamp of the current sample.
    #[inline]
    pub fn at_t(&self) -> i64 {
        self.t
    }
}

/// Interprets an `n`-bit delta-of-delta payload: values above `2^(n-1)` are negative.
#[inline]
fn signed_payload(u: u64, n: u8) -> i64 {
    if u > 1 << (n - 1) {
        (u as i64) - (1i64 << n)
    } else {
        u as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(samples: &[(i64, f64)]) -> XorChunk {
        let mut app = XorAppender::new();
        for &(t, v) in samples {
            app.append(t, v).unwrap();
        }
        app.into_chunk()
    }

    fn decode(bytes: &[u8]) -> Vec<(i64, u64)> {
        let mut it = XorIterator::new(bytes).unwrap();
        let mut out = Vec::new();
        while it.next().unwrap() {
            let (t, v) = it.at();
            out.push((t, v.to_bits()));
        }
        out
    }

    #[test]
    fn known_bytes_of_two_samples() {
        // Sample 0: varint(1000) = 0xd0 0x0f, then 1.0 as 64 bits.
        // Sample 1: uvarint(10) = 0x0a, value unchanged: a single 0 bit.
        let chunk = encode(&[(1000, 1.0), (1010, 1.0)]);
        assert_eq!(
            chunk.bytes(),
            &[0, 2, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x0a, 0x00]
        );
    }

    #[test]
    fn round_trips_edge_values() {
        let values = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(0x7ff0000000000002),
            f64::from_bits(0x7ff8000000000001),
            f64::from_bits(0xfff8_dead_beef_0001),
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1.0,
            1.0,
            5e-324,
        ];
        let times = [
            i64::MIN,
            -5,
            0,
            8192,
            8193,
            100_000,
            i64::MAX,
            i64::MAX,
            0,
            1,
            3,
            1 << 40,
            (1 << 40) + 15_000,
        ];
        let samples: Vec<_> = times.iter().copied().zip(values).collect();
        let chunk = encode(&samples);
        let got = decode(chunk.bytes());
        let want: Vec<_> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn dod_bucket_boundaries_round_trip() {
        for dod in [
            8192i64, 8193, -8191, -8192, 65536, 65537, -65535, -65536, 524288, 524289, -524287,
            -524288,
        ] {
            let samples = [(0, 1.0), (1000, 2.0), (2000 + dod, 3.0), (3000 + dod, 4.0)];
            let got = decode(encode(&samples).bytes());
            assert_eq!(
                got.iter().map(|s| s.0).collect::<Vec<_>>(),
                vec![0, 1000, 2000 + dod, 3000 + dod]
            );
        }
    }

    #[test]
    fn truncated_chunk_is_an_error() {
        let samples: Vec<_> = (0..50)
            .map(|i| (i * 15_000 + (i % 3), i as f64 * 1.5))
            .collect();
        let chunk = encode(&samples);
        let bytes = chunk.bytes();
        for cut in 2..bytes.len() - 1 {
            let mut it = XorIterator::new(&bytes[..cut]).unwrap();
            let mut result = Ok(true);
            while let Ok(true) = result {
                result = it.next();
            }
            assert_eq!(result, Err(ChunkError::UnexpectedEnd), "cut at {cut}");
        }
        assert!(XorIterator::new(&bytes[..1]).is_err());
    }
}
