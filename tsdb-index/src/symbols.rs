//! The symbol table: every label name and value of the index, sorted and deduplicated, each
//! stored once and referenced from series by number.
//!
//! Layout: `len BE32 | count BE32 | (uvarint len, bytes)* | CRC32(count..entries)`. In format
//! v2 a symbol's reference is its ordinal; in v1 it is its absolute byte offset in the file.
//! [`Symbols`] validates the section once when the index is opened and keeps the offset of every
//! symbol (4 bytes each), so lookups by reference are O(1) and by string a binary search.

use crate::encoding::Decbuf;
use crate::error::IndexError;

const SECTION: &str = "symbols";

/// Decoded position information for a symbol table; the bytes stay in the file.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    /// Offset of each symbol's length prefix, relative to `base`.
    offsets: Vec<u32>,
    /// Absolute file offset of the first symbol entry.
    base: usize,
    /// Absolute end of the entries (start of the CRC).
    end: usize,
    version: u8,
}

impl Symbols {
    /// Validates the symbol table starting at `off` (its `len` field) and indexes it.
    pub fn read(data: &[u8], off: u64, version: u8, file: &str) -> Result<Symbols, IndexError> {
        let payload = crate::reader::section_payload(data, off, file, SECTION)?;
        let base = off as usize + 8;
        let end = off as usize + 4 + payload.len();
        let mut d = Decbuf::new(payload, off + 4);
        let corrupt = |e: crate::error::DecodeError| e.into_index_error(file, SECTION);
        let count = d.be32().map_err(corrupt)? as usize;
        // Each symbol takes at least one byte: cap the allocation by what the section can hold.
        if count > d.remaining() {
            return Err(IndexError::Corrupt {
                file: file.to_string(),
                section: SECTION,
                offset: off,
                reason: format!("{count} symbols cannot fit in {} bytes", d.remaining()),
            });
        }
        let mut offsets = Vec::with_capacity(count);
        let mut prev: Option<&str> = None;
        for _ in 0..count {
            offsets.push((d.position() - 4) as u32);
            let at = d.offset();
            let s = d.uvarint_str().map_err(corrupt)?;
            if let Some(p) = prev {
                if p >= s {
                    return Err(IndexError::Corrupt {
                        file: file.to_string(),
                        section: SECTION,
                        offset: at,
                        reason: format!("symbol {s:?} is not greater than its predecessor {p:?}"),
                    });
                }
            }
            prev = Some(s);
        }
        Ok(Symbols {
            offsets,
            base,
            end,
            version,
        })
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The symbol with reference `r` (ordinal in v2, file offset in v1).
    #[inline]
    pub fn lookup<'a>(&self, data: &'a [u8], r: u32, file: &str) -> Result<&'a str, IndexError> {
        let start = if self.version == 1 {
            let r = r as usize;
            if r < self.base || r >= self.end {
                return Err(self.unknown(r as u64, file));
            }
            r
        } else {
            match self.offsets.get(r as usize) {
                Some(&o) => self.base + o as usize,
                None => return Err(self.unknown(r as u64, file)),
            }
        };
        Decbuf::new(&data[start..self.end], start as u64)
            .uvarint_str()
            .map_err(|e| e.into_index_error(file, SECTION))
    }

    fn unknown(&self, r: u64, file: &str) -> IndexError {
        IndexError::Corrupt {
            file: file.to_string(),
            section: SECTION,
            offset: self.base as u64,
            reason: format!("unknown symbol reference {r}"),
        }
    }

    /// The reference of symbol `s`, if present.
    pub fn reverse_lookup(&self, data: &[u8], s: &str) -> Option<u32> {
        let at = |i: usize| {
            let start = self.base + self.offsets[i] as usize;
            Decbuf::new(&data[start..self.end], 0)
                .uvarint_bytes()
                .unwrap_or(&[])
        };
        let (mut lo, mut hi) = (0usize, self.offsets.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match at(mid).cmp(s.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return Some(if self.version == 1 {
                        (self.base + self.offsets[mid] as usize) as u32
                    } else {
                        mid as u32
                    });
                }
            }
        }
        None
    }

    /// Iterates all symbols in order.
    pub fn iter<'a>(&'a self, data: &'a [u8]) -> impl Iterator<Item = &'a str> + 'a {
        self.offsets.iter().map(move |&o| {
            let start = self.base + o as usize;
            // Validated when the table was read.
            Decbuf::new(&data[start..self.end], 0)
                .uvarint_str()
                .unwrap_or("")
        })
    }
}
