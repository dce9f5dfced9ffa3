//! Byte-level encoding shared by the index reader and writer: big-endian fixed-width integers,
//! Go-compatible (LEB128) uvarints and zig-zag varints, and length-prefixed strings.
//!
//! [`Decbuf`] is a cursor over a borrowed slice that remembers the absolute file offset of its
//! first byte, so every decoding error can say where in the file it happened.

use crate::error::DecodeError;

/// A bounds-checked read cursor over a borrowed byte slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decbuf<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute file offset of `buf[0]`.
    base: u64,
}

impl<'a> Decbuf<'a> {
    /// A cursor over `buf`, whose first byte is at file offset `base`.
    pub(crate) fn new(buf: &'a [u8], base: u64) -> Self {
        Decbuf { buf, pos: 0, base }
    }

    /// Absolute file offset of the next byte to read.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Position relative to the start of the cursor's slice.
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    fn err(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            offset: self.offset(),
            reason,
        }
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.err("unexpected end of data"));
        }
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    /// Skips `n` bytes.
    #[inline]
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.bytes(n).map(|_| ())
    }

    /// A big-endian u32.
    #[inline]
    pub(crate) fn be32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian u64.
    #[inline]
    pub(crate) fn be64(&mut self) -> Result<u64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// An unsigned LEB128 varint as Go's `binary.Uvarint` reads it (at most 10 bytes, no
    /// overflow).
    #[inline]
    pub(crate) fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let rest = &self.buf[self.pos..];
        // Fast path: one byte.
        if let Some(&b) = rest.first() {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u64);
            }
        }
        let mut x: u64 = 0;
        let mut s: u32 = 0;
        for (i, &b) in rest.iter().enumerate() {
            if i == 10 {
                return Err(self.err("varint overflows 64 bits"));
            }
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(self.err("varint overflows 64 bits"));
                }
                self.pos += i + 1;
                return Ok(x | (b as u64) << s);
            }
            x |= ((b & 0x7f) as u64) << s;
            s += 7;
        }
        Err(self.err("unexpected end of data in varint"))
    }

    /// An unsigned varint that must fit in 32 bits.
    #[inline]
    pub(crate) fn uvarint32(&mut self) -> Result<u32, DecodeError> {
        let start = *self;
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| start.err("varint exceeds 32 bits"))
    }

    /// A zig-zag signed varint as Go's `binary.Varint` reads it.
    #[inline]
    pub(crate) fn varint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A uvarint length followed by that many bytes.
    #[inline]
    pub(crate) fn uvarint_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = *self;
        let n = self.uvarint()?;
        if n > self.remaining() as u64 {
            *self = start;
            return Err(start.err("string length beyond end of data"));
        }
        self.bytes(n as usize)
    }

    /// A uvarint-length-prefixed UTF-8 string.
    #[inline]
    pub(crate) fn uvarint_str(&mut self) -> Result<&'a str, DecodeError> {
        let start = *self;
        let b = self.uvarint_bytes()?;
        std::str::from_utf8(b).map_err(|_| start.err("string is not valid UTF-8"))
    }
}

/// Appends `v` as a Go uvarint.
#[inline]
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends `v` as a Go zig-zag varint.
#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a uvarint length and the bytes of `s`.
#[inline]
pub(crate) fn put_uvarint_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// Appends `v` big-endian.
#[inline]
pub(crate) fn put_be32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// Appends `v` big-endian.
#[inline]
pub(crate) fn put_be64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let values = [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        for &v in &values {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(Decbuf::new(&b, 0).uvarint().unwrap(), v);
            let mut b = Vec::new();
            put_varint(&mut b, v as i64);
            assert_eq!(Decbuf::new(&b, 0).varint().unwrap(), v as i64);
        }
    }

    #[test]
    fn varint_errors() {
        assert!(Decbuf::new(&[0x80], 0).uvarint().is_err());
        assert!(Decbuf::new(&[0xff; 11], 0).uvarint().is_err());
        let mut ten = vec![0xffu8; 9];
        ten.push(0x02);
        assert!(Decbuf::new(&ten, 0).uvarint().is_err());
        assert!(Decbuf::new(&[5, b'a'], 7).uvarint_bytes().is_err());
        let e = Decbuf::new(&[], 7).be32().unwrap_err();
        assert_eq!(e.offset, 7);
    }
}
