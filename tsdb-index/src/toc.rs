//! The table of contents at the end of an index file.
//!
//! Layout (52 bytes): six big-endian u64 absolute offsets (symbols, series, label indices,
//! label indices table, postings, postings offset table) and a CRC32-Castagnoli over those 48
//! bytes. A zero offset means the section is absent. Prometheus 3.5 (and our writer) still
//! write label indices; versions after it do not and store the postings start in
//! `label_indices` and the offset table start in `label_indices_table`.

use crate::encoding::{put_be32, put_be64, Decbuf};
use crate::error::IndexError;

/// Size of the TOC in bytes.
pub const TOC_LEN: usize = 6 * 8 + 4;

/// Section offsets of an index file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Toc {
    /// Start of the symbol table.
    pub symbols: u64,
    /// Start of the series section.
    pub series: u64,
    /// Start of the label indices (right after the series, before alignment padding).
    pub label_indices: u64,
    /// Start of the label indices offset table.
    pub label_indices_table: u64,
    /// Start of the postings area (before its 4-byte alignment padding).
    pub postings: u64,
    /// Start of the postings offset table.
    pub postings_table: u64,
}

impl Toc {
    /// Reads and checksums the TOC at the end of `data`.
    pub fn read(data: &[u8], file: &str) -> Result<Toc, IndexError> {
        if data.len() < TOC_LEN {
            return Err(IndexError::Corrupt {
                file: file.to_string(),
                section: "TOC",
                offset: 0,
                reason: format!("file of {} bytes is too short for a TOC", data.len()),
            });
        }
        let start = data.len() - TOC_LEN;
        let b = &data[start..];
        let stored = u32::from_be_bytes([b[48], b[49], b[50], b[51]]);
        let computed = crc32c::crc32c(&b[..48]);
        if stored != computed {
            return Err(IndexError::Crc {
                file: file.to_string(),
                section: "TOC",
                offset: start as u64,
                stored,
                computed,
            });
        }
        let mut d = Decbuf::new(&b[..48], start as u64);
        let mut next = || d.be64().map_err(|e| e.into_index_error(file, "TOC"));
        Ok(Toc {
            symbols: next()?,
            series: next()?,
            label_indices: next()?,
            label_indices_table: next()?,
            postings: next()?,
            postings_table: next()?,
        })
    }

    /// Appends the encoded TOC with its checksum.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        for v in [
            self.symbols,
            self.series,
            self.label_indices,
            self.label_indices_table,
            self.postings,
            self.postings_table,
        ] {
            put_be64(buf, v);
        }
        let crc = crc32c::crc32c(&buf[start..]);
        put_be32(buf, crc);
    }
}
