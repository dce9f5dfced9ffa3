//! Byte-level helpers of the record format: big-endian integers, Go-compatible varints and
//! length-prefixed strings, with bounds checks that turn truncation into errors.

use super::RecordError;

/// Appends Go's `binary.PutUvarint` encoding of `v`.
#[inline]
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends Go's `binary.PutVarint` (zigzag) encoding of `v`.
#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

#[inline]
pub(crate) fn put_be64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A cursor over a record being decoded.
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Decbuf { b, pos: 0 }
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn short(&self, what: &'static str) -> RecordError {
        RecordError::Truncated {
            what,
            offset: self.pos,
        }
    }

    #[inline]
    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, RecordError> {
        let v = *self.b.get(self.pos).ok_or_else(|| self.short(what))?;
        self.pos += 1;
        Ok(v)
    }

    #[inline]
    pub(crate) fn be64(&mut self, what: &'static str) -> Result<u64, RecordError> {
        let s = self
            .b
            .get(self.pos..self.pos + 8)
            .ok_or_else(|| self.short(what))?;
        self.pos += 8;
        Ok(u64::from_be_bytes(s.try_into().expect("8 bytes")))
    }

    #[inline]
    pub(crate) fn f64(&mut self, what: &'static str) -> Result<f64, RecordError> {
        Ok(f64::from_bits(self.be64(what)?))
    }

    #[inline]
    pub(crate) fn uvarint(&mut self, what: &'static str) -> Result<u64, RecordError> {
        let mut x = 0u64;
        let mut shift = 0u32;
        for i in 0..10 {
            let Some(&b) = self.b.get(self.pos + i) else {
                return Err(self.short(what));
            };
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(RecordError::VarintOverflow {
                        what,
                        offset: self.pos,
                    });
                }
                self.pos += i + 1;
                return Ok(x | (b as u64) << shift);
            }
            x |= ((b & 0x7f) as u64) << shift;
            shift += 7;
        }
        Err(RecordError::VarintOverflow {
            what,
            offset: self.pos,
        })
    }

    #[inline]
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<i64, RecordError> {
        let u = self.uvarint(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A uvarint length checked against what is left, given each element needs at least
    /// `min_elem` bytes: bounds allocations by the input size.
    pub(crate) fn len(
        &mut self,
        what: &'static str,
        min_elem: usize,
    ) -> Result<usize, RecordError> {
        let at = self.pos;
        let n = self.uvarint(what)?;
        if n > (self.remaining() / min_elem.max(1)) as u64 {
            return Err(RecordError::BadLength {
                what,
                len: n,
                offset: at,
            });
        }
        Ok(n as usize)
    }

    pub(crate) fn str(&mut self, what: &'static str) -> Result<&'a str, RecordError> {
        let n = self.len(what, 1)?;
        let at = self.pos;
        let bytes = &self.b[at..at + n];
        self.pos += n;
        std::str::from_utf8(bytes).map_err(|_| RecordError::InvalidUtf8 { what, offset: at })
    }
}

impl Decbuf<'_> {
    /// Bytes consumed so far.
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }
}
