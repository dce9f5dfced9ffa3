//! The XOR2 chunk (encoding 4): Prometheus 3.14's opt-in float chunk with joint
//! timestamp/value control codes and optional start timestamps (ST).
//!
//! Layout: a two-byte big-endian sample count, one ST header byte (bit 7: sample 0 carries an
//! ST; bits 0–6: index of the sample from which every sample carries an ST delta, 0 = none),
//! then bits, MSB first:
//!
//! * sample 0: timestamp as a zig-zag varint, value as 64 raw bits, then (if bit 7 is set)
//!   `t - st` as a zig-zag varint;
//! * sample 1: timestamp delta as an unsigned varint, the value as `varbit_xor2` (below);
//! * sample n ≥ 2: one joint control code:
//!   `0` same delta and same value; `10` same delta, changed value (`varbit_xor2_nn`);
//!   `110` + 13-bit delta-of-delta; `1110` + 20-bit delta-of-delta; `11110` + 64-bit
//!   delta-of-delta (each followed by `varbit_xor2`); `11111` same delta, stale NaN.
//! * `varbit_xor2`: `0` same value, `10` reuse the previous leading/trailing window, `110` new
//!   window (5 bits leading zeros, 6 bits significant-bit count, the bits), `111` stale NaN;
//!   `varbit_xor2_nn` is the same without the "same value" and "stale" cases: `0` reuse, `1`
//!   new window.
//! * From the sample the header names on, each sample ends with its ST: the first as
//!   `prev_t - st`, later ones as the change of that difference, both as varbit integers.
//!
//! Values are XOR-ed against the last value that was not a stale NaN, so a staleness marker
//! does not disturb the window. Even without any ST, the appender records "ST changes at sample
//! 127" when it reaches sample 127, as Prometheus does, so that the 7-bit header stays valid.

use crate::bstream::{write_uvarint, write_varint, BitReader, BitWriter};
use crate::error::ChunkError;
use crate::xor::{bit_range, write_pair, NO_WINDOW};

/// Size of the header of an XOR2 chunk: sample count and ST header byte.
pub const XOR2_HEADER_SIZE: usize = 3;
/// The largest sample index the ST header can name.
const MAX_FIRST_ST_CHANGE_ON: u16 = 0x7f;
/// Bits of Prometheus' stale-marker NaN.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// Bytes reserved up front for a new chunk (as Prometheus does).
const CHUNK_ALLOCATION_SIZE: usize = 128;

#[inline]
fn header(bytes: &[u8]) -> Result<(u16, u8), ChunkError> {
    match bytes {
        [hi, lo, st, ..] => Ok((u16::from_be_bytes([*hi, *lo]), *st)),
        _ => Err(ChunkError::TooShort {
            len: bytes.len(),
            header: XOR2_HEADER_SIZE,
        }),
    }
}

/// An XOR2-encoded chunk that owns its bytes.
///
/// ```
/// use chunkenc::xor2::Xor2Chunk;
/// let mut app = Xor2Chunk::new().appender().unwrap();
/// app.append(0, 1000, 1.5).unwrap();
/// app.append(900, 2000, 2.5).unwrap(); // with a start timestamp
/// let chunk = app.into_chunk();
/// let mut it = chunk.iter();
/// assert!(it.next().unwrap());
/// assert!(it.next().unwrap());
/// assert_eq!((it.at_st(), it.at()), (900, (2000, 2.5)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xor2Chunk {
    stream: BitWriter,
}

impl Default for Xor2Chunk {
    fn default() -> Self {
        Self::new()
    }
}

impl Xor2Chunk {
    /// An empty chunk.
    pub fn new() -> Self {
        let mut stream = BitWriter::with_capacity(CHUNK_ALLOCATION_SIZE);
        stream.write_bits(0, 24);
        Xor2Chunk { stream }
    }

    /// Wraps the bytes of an existing chunk, checking that the header is present.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        header(&bytes)?;
        let bit_len = bytes.len() * 8;
        Ok(Xor2Chunk {
            stream: BitWriter::resume(bytes, bit_len),
        })
    }

    /// The chunk's bytes, header included.
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
    pub fn iter(&self) -> Xor2Iterator<'_> {
        Xor2Iterator::new_unchecked(self.stream.bytes())
    }

    /// Turns the chunk into an appender that continues after its last sample, rebuilding the
    /// appender's state by decoding every sample (as Prometheus does). As in Prometheus, a
    /// chunk in which no value window was opened yet resumes with a 0/0 window.
    pub fn appender(self) -> Result<Xor2Appender, ChunkError> {
        let num = self.num_samples() as u16;
        if num == 0 {
            let mut bytes = self.stream.into_bytes();
            bytes.truncate(XOR2_HEADER_SIZE);
            bytes[2] = 0;
            return Ok(Xor2Appender {
                stream: BitWriter::resume(bytes, XOR2_HEADER_SIZE * 8),
                num: 0,
                st: 0,
                t: i64::MIN,
                v: 0,
                t_delta: 0,
                st_diff: 0,
                leading: NO_WINDOW,
                trailing: 0,
                first_st_change_on: 0,
            });
        }
        // Prometheus sets the "ST from sample i" header when it writes sample i, and always by
        // sample 127; a header naming a later sample (or none, past 127) cannot be continued
        // without writing a chunk that decodes differently.
        let first_change = self.bytes()[2] & 0x7f;
        if first_change as u16 >= num && first_change != 0 {
            return Err(ChunkError::Corrupt(
                "XOR2 ST header names a sample past the end of the chunk",
            ));
        }
        if first_change == 0 && num > MAX_FIRST_ST_CHANGE_ON {
            return Err(ChunkError::Corrupt(
                "XOR2 chunk of more than 127 samples without an ST change index",
            ));
        }
        let mut it = self.iter();
        while it.next()? {}
        let bit_len = XOR2_HEADER_SIZE * 8 + it.reader.position();
        let state = Xor2Appender {
            stream: BitWriter::default(),
            num,
            st: it.st,
            t: it.t,
            v: it.baseline,
            t_delta: it.t_delta,
            st_diff: it.st_diff,
            leading: it.leading,
            trailing: it.trailing,
            first_st_change_on: it.first_st_change_on as u16,
        };
        Ok(Xor2Appender {
            stream: BitWriter::resume(self.stream.into_bytes(), bit_len),
            ..state
        })
    }
}

/// Appends samples (with optional start timestamps) to an XOR2 chunk, writing exactly
/// Prometheus' bits.
#[derive(Debug, Clone)]
pub struct Xor2Appender {
    stream: BitWriter,
    num: u16,
    st: i64,
    t: i64,
    /// Bits of the last value that was not a stale NaN: the XOR baseline.
    v: u64,
    t_delta: u64,
    /// `prev_t - st` of the previous sample, once STs are recorded per sample.
    st_diff: i64,
    leading: u8,
    trailing: u8,
    first_st_change_on: u16,
}

impl Default for Xor2Appender {
    fn default() -> Self {
        Self::new()
    }
}

impl Xor2Appender {
    /// An appender on a new, empty chunk.
    pub fn new() -> Self {
        Xor2Appender {
            stream: Xor2Chunk::new().stream,
            num: 0,
            st: 0,
            t: i64::MIN,
            v: 0,
            t_delta: 0,
            st_diff: 0,
            leading: NO_WINDOW,
            trailing: 0,
            first_st_change_on: 0,
        }
    }

    /// Appends one sample with start timestamp `st` (0 means "no start timestamp"). The only
    /// failure is a chunk that already holds 65535 samples.
    pub fn append(&mut self, st: i64, t: i64, v: f64) -> Result<(), ChunkError> {
        let vbits = v.to_bits();
        let mut t_delta = 0;
        let mut st_diff = 0;
        match self.num {
            0 => {
                write_varint(&mut self.stream, t);
                self.stream.write_bits(vbits, 64);
                if st != 0 {
                    write_varint(&mut self.stream, t.wrapping_sub(st));
                    self.stream.bytes_mut()[2] = 0x80;
                }
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                write_uvarint(&mut self.stream, t_delta);
                self.write_value(0, 0, vbits);
                if st != self.st {
                    st_diff = self.t.wrapping_sub(st);
                    self.first_st_change_on = 1;
                    self.stream.bytes_mut()[2] |= 1;
                    put_varbit_int(&mut self.stream, st_diff);
                }
            }
            u16::MAX => return Err(ChunkError::Full(u16::MAX as usize)),
            n => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                self.write_joint(dod, vbits);
                if self.first_st_change_on > 0 {
                    st_diff = self.t.wrapping_sub(st);
                    put_varbit_int(&mut self.stream, st_diff.wrapping_sub(self.st_diff));
                } else if st != self.st || n == MAX_FIRST_ST_CHANGE_ON {
                    // The first ST change (or the last index the header can name): from here
                    // on every sample records its ST.
                    st_diff = self.t.wrapping_sub(st);
                    self.first_st_change_on = n;
                    self.stream.bytes_mut()[2] |= n as u8;
                    put_varbit_int(&mut self.stream, st_diff);
                }
            }
        }
        self.st = st;
        self.t = t;
        if vbits != STALE_NAN_BITS {
            self.v = vbits;
        }
        self.t_delta = t_delta;
        self.st_diff = st_diff;
        self.num += 1;
        self.stream.bytes_mut()[..2].copy_from_slice(&self.num.to_be_bytes());
        Ok(())
    }

    /// Writes the joint control code of a sample n ≥ 2 and its value.
    #[inline]
    fn write_joint(&mut self, dod: i64, vbits: u64) {
        if dod == 0 {
            if vbits == STALE_NAN_BITS {
                self.stream.write_bits(0b11111, 5);
                return;
            }
            let delta = vbits ^ self.v;
            if delta == 0 {
                self.stream.write_bit(false);
                return;
            }
            // `10`, then `varbit_xor2_nn`: `0` reuse the window, `1` new window.
            self.write_window(0b10, 2, delta, (0, 1), (1, 1));
            return;
        }
        if (-(1 << 12)..(1 << 12)).contains(&dod) {
            self.write_value((0b110 << 13) | (dod as u64 & 0x1fff), 16, vbits);
        } else if (-(1 << 19)..(1 << 19)).contains(&dod) {
            self.write_value((0b1110 << 20) | (dod as u64 & 0xfffff), 24, vbits);
        } else {
            self.stream.write_bits(0b11110, 5);
            self.stream.write_bits(dod as u64, 64);
            self.write_value(0, 0, vbits);
        }
    }

    /// Writes the `prefix_len` bits of `prefix`, then a value as `varbit_xor2`.
    #[inline]
    fn write_value(&mut self, prefix: u64, prefix_len: u8, vbits: u64) {
        if vbits == STALE_NAN_BITS {
            self.stream
                .write_bits((prefix << 3) | 0b111, prefix_len + 3);
            return;
        }
        let delta = vbits ^ self.v;
        if delta == 0 {
            self.stream.write_bits(prefix << 1, prefix_len + 1);
            return;
        }
        self.write_window(prefix, prefix_len, delta, (0b10, 2), (0b110, 3));
    }

    /// Writes `prefix`, then a non-zero XOR `delta`: control `reuse` and the bits inside the
    /// current window if they fit it, else control `new` and a new window (5 bits of leading
    /// zeros, 6 bits of significant-bit count, the bits).
    #[inline]
    fn write_window(
        &mut self,
        prefix: u64,
        prefix_len: u8,
        delta: u64,
        (reuse, reuse_len): (u64, u8),
        (new, new_len): (u64, u8),
    ) {
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            let sig = 64 - self.leading - self.trailing;
            let head = (prefix << reuse_len) | reuse;
            write_pair(
                &mut self.stream,
                head,
                prefix_len + reuse_len,
                delta >> self.trailing,
                sig,
            );
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let sig = 64 - leading - trailing;
        let head =
            (((prefix << new_len) | new) << 11) | ((leading as u64) << 6) | (sig as u64 & 0x3f);
        write_pair(
            &mut self.stream,
            head,
            prefix_len + new_len + 11,
            delta >> trailing,
            sig,
        );
    }

    /// Number of samples appended so far.
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
    pub fn iter(&self) -> Xor2Iterator<'_> {
        Xor2Iterator::new_unchecked(self.stream.bytes())
    }

    /// A copy of the chunk as it is now.
    pub fn chunk(&self) -> Xor2Chunk {
        Xor2Chunk {
            stream: self.stream.clone(),
        }
    }

    /// Finishes appending and returns the chunk.
    pub fn into_chunk(self) -> Xor2Chunk {
        Xor2Chunk {
            stream: self.stream,
        }
    }
}

/// Writes a signed integer in Prometheus' varbit encoding (buckets of 0, 3, 6, 9, 12, 18, 25,
/// 56 and 64 bits behind a unary prefix), with prefix and payload in one write.
#[inline]
fn put_varbit_int(w: &mut BitWriter, val: i64) {
    let u = val as u64;
    if val == 0 {
        w.write_bit(false);
    } else if bit_range(val, 3) {
        w.write_bits((0b10 << 3) | (u & 0x7), 5);
    } else if bit_range(val, 6) {
        w.write_bits((0b110 << 6) | (u & 0x3f), 9);
    } else if bit_range(val, 9) {
        w.write_bits((0b1110 << 9) | (u & 0x1ff), 13);
    } else if bit_range(val, 12) {
        w.write_bits((0b11110 << 12) | (u & 0xfff), 17);
    } else if bit_range(val, 18) {
        w.write_bits((0b111110 << 18) | (u & 0x3ffff), 24);
    } else if bit_range(val, 25) {
        w.write_bits((0b1111110 << 25) | (u & 0x1ff_ffff), 32);
    } else if bit_range(val, 56) {
        w.write_bits((0b11111110 << 56) | (u & 0xff_ffff_ffff_ffff), 64);
    } else {
        w.write_bits(0xff, 8);
        w.write_bits(u, 64);
    }
}

/// Reads an integer written by [`put_varbit_int`].
#[inline]
fn read_varbit_int(r: &mut BitReader<'_>) -> Result<i64, ChunkError> {
    let size = match r.read_unary_ones(8)? {
        0 => return Ok(0),
        1 => 3,
        2 => 6,
        3 => 9,
        4 => 12,
        5 => 18,
        6 => 25,
        7 => 56,
        _ => return Ok(r.read_bits(64)? as i64),
    };
    let u = r.read_bits(size)?;
    Ok(if u > 1 << (size - 1) {
        (u as i64) - (1i64 << size)
    } else {
        u as i64
    })
}

/// Decodes the samples of an XOR2 chunk from borrowed bytes, without allocating.
#[derive(Debug, Clone)]
pub struct Xor2Iterator<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    first_st_known: bool,
    first_st_change_on: u8,
    leading: u8,
    trailing: u8,
    st: i64,
    t: i64,
    /// Bits of the current value.
    v: u64,
    /// Bits of the last value that was not a stale NaN.
    baseline: u64,
    t_delta: u64,
    st_diff: i64,
    failed: Option<ChunkError>,
}

impl<'a> Xor2Iterator<'a> {
    /// An iterator over a chunk's bytes (header included). Fails if the header is missing.
    pub fn new(chunk: &'a [u8]) -> Result<Self, ChunkError> {
        header(chunk)?;
        Ok(Self::new_unchecked(chunk))
    }

    fn new_unchecked(chunk: &'a [u8]) -> Self {
        let st_header = chunk[2];
        Xor2Iterator {
            reader: BitReader::new(&chunk[XOR2_HEADER_SIZE..]),
            total: u16::from_be_bytes([chunk[0], chunk[1]]),
            read: 0,
            first_st_known: st_header & 0x80 != 0,
            first_st_change_on: st_header & 0x7f,
            leading: 0,
            trailing: 0,
            st: 0,
            t: 0,
            v: 0,
            baseline: 0,
            t_delta: 0,
            st_diff: 0,
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
        let prev_t = self.t;
        match self.read {
            0 => {
                self.t = self.reader.read_varint()?;
                self.v = self.reader.read_bits(64)?;
                if self.v != STALE_NAN_BITS {
                    self.baseline = self.v;
                }
                if self.first_st_known {
                    let diff = self.reader.read_varint()?;
                    self.st = self.t.wrapping_sub(diff);
                }
                return Ok(());
            }
            1 => {
                self.t_delta = self.reader.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                // Fast paths from the register: `0` (same delta, same value) and `10` `0`
                // (same delta, value inside the current window).
                let (buf, valid) = self.reader.peek_register();
                let sig = 64 - (self.leading + self.trailing) as u32;
                if valid >= 1 && buf >> 63 == 0 {
                    self.reader.skip(1);
                    self.t = self.t.wrapping_add(self.t_delta as i64);
                    self.v = self.baseline;
                } else if buf >> 61 == 0b100 && valid >= 3 + sig {
                    // `valid` < 64, so 1 ≤ sig ≤ 60 here.
                    let bits = (buf << 3) >> (64 - sig);
                    self.reader.skip(3 + sig);
                    self.t = self.t.wrapping_add(self.t_delta as i64);
                    self.baseline ^= bits << self.trailing;
                    self.v = self.baseline;
                } else {
                    self.decode_joint()?;
                }
            }
        }
        let first = self.first_st_change_on as u16;
        if first > 0 && self.read >= first {
            let d = read_varbit_int(&mut self.reader)?;
            if self.read == first {
                self.st_diff = d;
            } else {
                self.st_diff = self.st_diff.wrapping_add(d);
            }
            self.st = prev_t.wrapping_sub(self.st_diff);
        }
        Ok(())
    }

    /// Decodes a joint control code and what follows it (samples n ≥ 2), the slow way.
    fn decode_joint(&mut self) -> Result<(), ChunkError> {
        match self.reader.read_unary_ones(5)? {
            0 => {
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.v = self.baseline;
            }
            1 => {
                self.t = self.t.wrapping_add(self.t_delta as i64);
                if self.reader.read_bit()? {
                    self.read_new_window()?;
                } else {
                    self.read_reused_window()?;
                }
            }
            2 => {
                self.read_dod(13)?;
                self.read_value()?;
            }
            3 => {
                self.read_dod(20)?;
                self.read_value()?;
            }
            4 => {
                self.read_dod(64)?;
                self.read_value()?;
            }
            _ => {
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.v = STALE_NAN_BITS;
            }
        }
        Ok(())
    }

    /// Reads a two's-complement delta-of-delta of `width` bits and advances the timestamp.
    #[inline]
    fn read_dod(&mut self, width: u8) -> Result<(), ChunkError> {
        let u = self.reader.read_bits(width)?;
        let dod = if width < 64 {
            // Sign-extend.
            ((u << (64 - width)) as i64) >> (64 - width)
        } else {
            u as i64
        };
        self.t_delta = self.t_delta.wrapping_add(dod as u64);
        self.t = self.t.wrapping_add(self.t_delta as i64);
        Ok(())
    }

    /// Reads a `varbit_xor2` value.
    #[inline]
    fn read_value(&mut self) -> Result<(), ChunkError> {
        match self.reader.read_unary_ones(3)? {
            0 => self.v = self.baseline,
            1 => self.read_reused_window()?,
            2 => self.read_new_window()?,
            _ => self.v = STALE_NAN_BITS,
        }
        Ok(())
    }

    #[inline]
    fn read_reused_window(&mut self) -> Result<(), ChunkError> {
        let sig = 64 - self.leading - self.trailing;
        let bits = self.reader.read_bits(sig)?;
        self.baseline ^= bits << self.trailing;
        self.v = self.baseline;
        Ok(())
    }

    #[inline]
    fn read_new_window(&mut self) -> Result<(), ChunkError> {
        let header = self.reader.read_bits(11)?;
        let leading = (header >> 6) as u8;
        let sig = match (header & 0x3f) as u8 {
            0 => 64,
            n => n,
        };
        if leading + sig > 64 {
            return Err(ChunkError::Corrupt(
                "XOR2 value window has more than 64 bits",
            ));
        }
        self.leading = leading;
        self.trailing = 64 - leading - sig;
        self.read_reused_window()
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

    /// Start timestamp of the current sample (0 if the chunk records none).
    #[inline]
    pub fn at_st(&self) -> i64 {
        self.st
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, i64, u64)]) -> Xor2Chunk {
        let mut app = Xor2Appender::new();
        for &(st, t, v) in samples {
            app.append(st, t, f64::from_bits(v)).unwrap();
        }
        let chunk = app.into_chunk();
        let mut it = Xor2Iterator::new(chunk.bytes()).unwrap();
        for (i, &(st, t, v)) in samples.iter().enumerate() {
            assert!(it.next().unwrap(), "sample {i}");
            assert_eq!(
                (it.at_st(), it.at_t(), it.at().1.to_bits()),
                (st, t, v),
                "sample {i}"
            );
        }
        assert!(!it.next().unwrap());
        chunk
    }

    #[test]
    fn empty_and_single_sample_headers() {
        assert_eq!(Xor2Chunk::new().bytes(), &[0, 0, 0]);
        let c = round_trip(&[(0, 1000, 1f64.to_bits())]);
        assert_eq!(c.bytes()[..4], [0, 1, 0, 0xd0]);
        let c = round_trip(&[(900, 1000, 1f64.to_bits())]);
        assert_eq!(c.bytes()[2], 0x80);
    }

    #[test]
    fn stale_markers_keep_the_baseline() {
        let one = 1f64.to_bits();
        let two = 2f64.to_bits();
        let samples = [
            (0, 0, STALE_NAN_BITS),
            (0, 10, one),
            (0, 20, STALE_NAN_BITS),
            (0, 30, one),
            (0, 45, STALE_NAN_BITS),
            (0, 60, one),
            (0, 75, two),
            (0, 90, 0x7ff8_0000_0000_0001),
        ];
        round_trip(&samples);
    }

    #[test]
    fn st_header_switches_at_sample_127() {
        let samples: Vec<_> = (0..200)
            .map(|i| (0, i * 1000, (i as f64).to_bits()))
            .collect();
        let c = round_trip(&samples);
        assert_eq!(c.bytes()[2], 127);
        let samples: Vec<_> = (0..200)
            .map(|i| {
                (
                    if i < 50 { 5 } else { 7 + i / 10 },
                    i * 1000 + i % 7,
                    i as u64,
                )
            })
            .collect();
        let c = round_trip(&samples);
        assert_eq!(c.bytes()[2], 0x80 | 50);
    }

    #[test]
    fn large_dods_round_trip() {
        let samples: Vec<_> = [
            0i64,
            10,
            5000,
            5001,
            600_000,
            600_001,
            i64::MAX / 2,
            0,
            -4096,
        ]
        .iter()
        .enumerate()
        .map(|(i, &t)| (0, t, (i as f64 * 0.1).to_bits()))
        .collect();
        round_trip(&samples);
    }
}
