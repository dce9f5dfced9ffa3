//! Writing index files in format v2, byte for byte as Prometheus writes them.
//!
//! Usage follows Prometheus' `index.Writer`: add every symbol in sorted order, then every series
//! in label order with its chunk metas, then [`Writer::finish`]. Series go straight to the file
//! through a buffered writer. When finishing, the series section is read back from the file (a
//! memory map) to build the postings lists a batch of label names at a time, so memory stays
//! bounded by one pass over the series rather than a copy of the whole index. The postings
//! offset table is kept in memory (one entry per label pair) and written after the lists.
//!
//! Sections in file order: header, symbols, series (16-byte aligned entries), label indices
//! (one per label name: the symbol references of its values, 4-byte aligned), postings (4-byte
//! aligned lists, the all-postings key `("", "")` first), label indices offset table, postings
//! offset table, TOC. Prometheus 3.5 writes the label indices and their table; later versions
//! (after 3.5) dropped them and point the TOC's label-indices entries at the postings area and
//! the postings offset table instead. We write what 3.5 writes, so that our output is
//! byte-identical to its blocks; readers of either version ignore the label indices.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::encoding::{put_be32, put_uvarint, put_uvarint_str, Decbuf};
use crate::error::IndexError;
use crate::labels::Labels;
use crate::reader::{FORMAT_V2, MAGIC_INDEX, SERIES_ALIGNMENT};
use crate::series::{encode_chunks, ChunkMeta};
use crate::symbols::Symbols;
use crate::toc::Toc;

/// The largest index file the format can address (series IDs are 4 bytes × 16).
pub const MAX_INDEX_SIZE: u64 = 16 * u32::MAX as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    None,
    Symbols,
    Series,
}

/// Writes one index file. See the module docs for the protocol.
///
/// ```
/// use tsdb_index::{labels::Labels, series::ChunkMeta, writer::Writer, reader::Reader};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("index");
/// let mut w = Writer::create(&path).unwrap();
/// for s in ["a", "b", "x"] { w.add_symbol(s).unwrap(); }
/// w.add_series(&Labels::from_pairs([("a", "x")]), &[ChunkMeta { chunk_ref: 8, min_time: 0, max_time: 9 }]).unwrap();
/// w.add_series(&Labels::from_pairs([("b", "x")]), &[]).unwrap();
/// w.finish().unwrap();
/// let r = Reader::open(&path).unwrap();
/// assert_eq!(r.label_names(), vec!["a", "b"]);
/// ```
pub struct Writer {
    path: PathBuf,
    name: String,
    out: BufWriter<File>,
    pos: u64,
    stage: Stage,
    toc: Toc,
    buf1: Vec<u8>,
    buf2: Vec<u8>,

    // Symbols.
    symbol_ids: HashMap<Box<str>, u32>,
    last_symbol: Option<Box<str>>,
    symbols_crc: u32,
    symbols_len: u64,

    // Series.
    /// Symbol ID of each label name -> number of series using it.
    name_usage: HashMap<u32, u64>,
    last_series: Labels,
    last_chunk_ref: u64,
    /// IDs of every series, in order: the all-postings list.
    series_ids: Vec<u32>,
}

impl Writer {
    /// Creates (or replaces) the index file at `path` and writes its header.
    pub fn create(path: impl AsRef<Path>) -> Result<Writer, IndexError> {
        let path = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(IndexError::Io {
                    file: name,
                    op: "remove existing index",
                    source: e,
                });
            }
        }
        let f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| IndexError::Io {
                file: name.clone(),
                op: "create",
                source: e,
            })?;
        let mut w = Writer {
            path,
            name,
            out: BufWriter::with_capacity(1 << 20, f),
            pos: 0,
            stage: Stage::None,
            toc: Toc::default(),
            buf1: Vec::with_capacity(1 << 12),
            buf2: Vec::with_capacity(1 << 12),
            symbol_ids: HashMap::new(),
            last_symbol: None,
            symbols_crc: 0,
            symbols_len: 0,
            name_usage: HashMap::new(),
            last_series: Labels::empty(),
            last_chunk_ref: 0,
            series_ids: Vec::new(),
        };
        let mut hdr = Vec::with_capacity(5);
        put_be32(&mut hdr, MAGIC_INDEX);
        hdr.push(FORMAT_V2);
        w.write(&hdr)?;
        Ok(w)
    }

    fn io(&self, op: &'static str, source: std::io::Error) -> IndexError {
        IndexError::Io {
            file: self.name.clone(),
            op,
            source,
        }
    }

    fn invalid(&self, reason: String) -> IndexError {
        IndexError::InvalidInput {
            file: self.name.clone(),
            reason,
        }
    }

    fn write(&mut self, b: &[u8]) -> Result<(), IndexError> {
        self.out.write_all(b).map_err(|e| IndexError::Io {
            file: self.name.clone(),
            op: "write",
            source: e,
        })?;
        self.pos += b.len() as u64;
        if self.pos > MAX_INDEX_SIZE {
            return Err(self.invalid(format!(
                "index would exceed the format's maximum size of {MAX_INDEX_SIZE} bytes"
            )));
        }
        Ok(())
    }

    fn pad_to(&mut self, align: u64) -> Result<(), IndexError> {
        let rem = self.pos % align;
        if rem != 0 {
            let zeros = [0u8; 16];
            self.write(&zeros[..(align - rem) as usize])?;
        }
        Ok(())
    }

    /// Overwrites bytes at `at`, then returns to the end of the file.
    fn write_at(&mut self, at: u64, b: &[u8]) -> Result<(), IndexError> {
        let end = self.pos;
        self.out
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.out.write_all(b))
            .and_then(|_| self.out.seek(SeekFrom::Start(end)))
            .map(|_| ())
            .map_err(|e| self.io("write", e))
    }

    fn ensure_stage(&mut self, s: Stage) -> Result<(), IndexError> {
        if self.stage == s {
            return Ok(());
        }
        if self.stage > s {
            return Err(self.invalid(format!(
                "{s:?} added after {:?}: symbols must all come before series",
                self.stage
            )));
        }
        if self.stage == Stage::None {
            // Start the symbol table: room for its length and count, filled in later.
            self.toc.symbols = self.pos;
            self.write(b"alenblen")?;
            self.stage = Stage::Symbols;
        }
        if s == Stage::Series && self.stage == Stage::Symbols {
            self.finish_symbols()?;
            self.toc.series = self.pos;
            self.stage = Stage::Series;
        }
        Ok(())
    }

    /// Adds the next symbol; symbols must be added in strictly increasing byte order, before
    /// any series, and must include every label name and value used by the series.
    pub fn add_symbol(&mut self, sym: &str) -> Result<(), IndexError> {
        self.ensure_stage(Stage::Symbols)?;
        if let Some(last) = &self.last_symbol {
            if sym <= &**last {
                return Err(self.invalid(format!("symbol {sym:?} out of order after {last:?}")));
            }
        }
        let id = self.symbol_ids.len() as u32;
        if self.symbol_ids.len() as u64 >= u32::MAX as u64 {
            return Err(self.invalid("too many symbols".to_string()));
        }
        self.symbol_ids.insert(sym.into(), id);
        self.last_symbol = Some(sym.into());
        self.buf1.clear();
        put_uvarint_str(&mut self.buf1, sym);
        self.symbols_crc = crc32c::crc32c_append(self.symbols_crc, &self.buf1);
        self.symbols_len += self.buf1.len() as u64;
        let b = std::mem::take(&mut self.buf1);
        let r = self.write(&b);
        self.buf1 = b;
        r
    }

    fn finish_symbols(&mut self) -> Result<(), IndexError> {
        let len = 4 + self.symbols_len;
        if len > u32::MAX as u64 {
            return Err(self.invalid(format!("symbol table of {len} bytes exceeds 4 GiB")));
        }
        let count = self.symbol_ids.len() as u32;
        let count_bytes = count.to_be_bytes();
        let crc = crc32c::crc32c_combine(
            crc32c::crc32c(&count_bytes),
            self.symbols_crc,
            self.symbols_len as usize,
        );
        self.write(&crc.to_be_bytes())?;
        let mut head = Vec::with_capacity(8);
        put_be32(&mut head, len as u32);
        put_be32(&mut head, count);
        self.write_at(self.toc.symbols, &head)
    }

    /// Adds the next series, which must sort after the previous one, with its chunk metas
    /// (ordered by time, non-overlapping, chunk references non-decreasing across all series).
    /// Returns the series' ID, the reference postings lists will hold for it.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<u64, IndexError> {
        self.ensure_stage(Stage::Series)?;
        if *labels <= self.last_series {
            return Err(self.invalid(format!(
                "out-of-order series added with label set {labels}, last label set {}",
                self.last_series
            )));
        }
        let mut last_ref = self.last_chunk_ref;
        let mut last_maxt = 0i64;
        for (i, c) in chunks.iter().enumerate() {
            if c.chunk_ref < last_ref {
                return Err(self.invalid(format!(
                    "unsorted chunk reference {} after {last_ref} in series {labels}",
                    c.chunk_ref
                )));
            }
            last_ref = c.chunk_ref;
            if i > 0 && c.min_time <= last_maxt {
                return Err(self.invalid(format!(
                    "chunk min time {} is not after previous max time {last_maxt} in series {labels}",
                    c.min_time
                )));
            }
            if c.max_time < c.min_time {
                return Err(self.invalid(format!(
                    "chunk max time {} is before min time {} in series {labels}",
                    c.max_time, c.min_time
                )));
            }
            last_maxt = c.max_time;
        }
        self.pad_to(SERIES_ALIGNMENT)?;
        let id = self.pos / SERIES_ALIGNMENT;
        let id32 =
            u32::try_from(id).map_err(|_| self.invalid("series ID exceeds 32 bits".into()))?;

        self.buf2.clear();
        put_uvarint(&mut self.buf2, labels.len() as u64);
        for l in labels.iter() {
            let Some(&n) = self.symbol_ids.get(l.name) else {
                return Err(self.invalid(format!("symbol entry for {:?} does not exist", l.name)));
            };
            let Some(&v) = self.symbol_ids.get(l.value) else {
                return Err(self.invalid(format!("symbol entry for {:?} does not exist", l.value)));
            };
            *self.name_usage.entry(n).or_insert(0) += 1;
            put_uvarint(&mut self.buf2, n as u64);
            put_uvarint(&mut self.buf2, v as u64);
        }
        encode_chunks(&mut self.buf2, chunks);
        self.buf1.clear();
        put_uvarint(&mut self.buf1, self.buf2.len() as u64);
        let crc = crc32c::crc32c(&self.buf2);
        put_be32(&mut self.buf2, crc);
        let (b1, b2) = (
            std::mem::take(&mut self.buf1),
            std::mem::take(&mut self.buf2),
        );
        let r = self.write(&b1).and_then(|_| self.write(&b2));
        self.buf1 = b1;
        self.buf2 = b2;
        r?;

        self.last_series = labels.clone();
        self.last_chunk_ref = last_ref;
        self.series_ids.push(id32);
        Ok(id)
    }

    /// Writes the label indices, the postings, both offset tables and the TOC, then flushes
    /// and fsyncs the file.
    pub fn finish(mut self) -> Result<(), IndexError> {
        self.ensure_stage(Stage::Series)?;
        self.toc.label_indices = self.pos;
        self.out.flush().map_err(|e| self.io("flush", e))?;

        // Read the series section back to build postings.
        let file = self
            .out
            .get_ref()
            .try_clone()
            .map_err(|e| self.io("reopen", e))?;
        // SAFETY: we map our own file, which nobody else writes while we hold it; the mapped
        // prefix is flushed and is not modified while the map lives.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .len(self.pos as usize)
                .map(&file)
        }
        .map_err(|e| self.io("mmap", e))?;
        let data: &[u8] = &map;
        let symbols = Symbols::read(data, self.toc.symbols, FORMAT_V2, &self.name)?;

        // Postings go to a temporary file first: the label indices, which come before them in
        // the file, are only known once all postings have been built.
        let tmp_path = PathBuf::from(format!("{}_tmp_p", self.path.display()));
        let mut tmp = PostingsTmp::create(&tmp_path, &self.name)?;
        let mut table: Vec<TableEntry> = Vec::new();
        let all = std::mem::take(&mut self.series_ids);
        table.push(TableEntry {
            name: None,
            value: 0,
            rel_offset: tmp.pos,
        });
        tmp.write_list(&all, &mut self.buf1)?;
        let max_postings = all.len() as u64;
        drop(all);

        // Label names in symbol order, which is byte order.
        let mut names: Vec<(u32, u64)> = self.name_usage.iter().map(|(&k, &v)| (k, v)).collect();
        names.sort_unstable();
        let mut label_indices: Vec<(u32, Vec<u32>)> = Vec::with_capacity(names.len());
        let mut rest = &names[..];
        let mut triples: Vec<(u32, u32, u32)> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        while !rest.is_empty() {
            // Batch names so that one batch holds at most as many entries as there are series.
            let mut used = 0u64;
            let mut n = 0;
            while n < rest.len() && (n == 0 || used + rest[n].1 <= max_postings) {
                used += rest[n].1;
                n += 1;
            }
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            let wanted: HashSet<u32> = batch.iter().map(|&(k, _)| k).collect();
            triples.clear();
            triples.reserve(used as usize);
            self.scan_series(data, &wanted, &mut triples)?;
            triples.sort_unstable();
            let mut i = 0;
            while i < triples.len() {
                let (n, v, _) = triples[i];
                ids.clear();
                while i < triples.len() && triples[i].0 == n && triples[i].1 == v {
                    ids.push(triples[i].2);
                    i += 1;
                }
                table.push(TableEntry {
                    name: Some(n),
                    value: v,
                    rel_offset: tmp.pos,
                });
                tmp.write_list(&ids, &mut self.buf1)?;
                match label_indices.last_mut() {
                    Some((last, values)) if *last == n => values.push(v),
                    _ => label_indices.push((n, vec![v])),
                }
            }
        }

        // Label indices: per name, the symbol references of its values.
        let mut label_offsets: Vec<(u32, u64)> = Vec::with_capacity(label_indices.len());
        for (name, values) in &label_indices {
            self.pad_to(4)?;
            label_offsets.push((*name, self.pos));
            let len = 8 + 4 * values.len() as u64;
            if len > u32::MAX as u64 {
                return Err(self.invalid(format!("label index of {len} bytes exceeds 4 GiB")));
            }
            self.buf1.clear();
            put_be32(&mut self.buf1, len as u32);
            put_be32(&mut self.buf1, 1);
            put_be32(&mut self.buf1, values.len() as u32);
            for &v in values {
                put_be32(&mut self.buf1, v);
            }
            let crc = crc32c::crc32c(&self.buf1[4..]);
            put_be32(&mut self.buf1, crc);
            self.write_buf1()?;
        }
        drop(label_indices);

        // The postings, copied from the temporary file.
        self.toc.postings = self.pos;
        self.pad_to(4)?;
        let postings_start = self.pos;
        let copied = tmp.copy_into(&mut self.out, &self.name)?;
        self.pos += copied;

        // Label indices offset table.
        self.toc.label_indices_table = self.pos;
        self.buf2.clear();
        for &(name, off) in &label_offsets {
            put_uvarint(&mut self.buf2, 1);
            put_uvarint_str(&mut self.buf2, symbols.lookup(data, name, &self.name)?);
            put_uvarint(&mut self.buf2, off);
        }
        self.write_table(label_offsets.len() as u32)?;

        // Postings offset table.
        self.toc.postings_table = self.pos;
        self.buf2.clear();
        for e in &table {
            put_uvarint(&mut self.buf2, 2);
            match e.name {
                None => {
                    put_uvarint_str(&mut self.buf2, "");
                    put_uvarint_str(&mut self.buf2, "");
                }
                Some(n) => {
                    put_uvarint_str(&mut self.buf2, symbols.lookup(data, n, &self.name)?);
                    put_uvarint_str(&mut self.buf2, symbols.lookup(data, e.value, &self.name)?);
                }
            }
            put_uvarint(&mut self.buf2, e.rel_offset + postings_start);
        }
        let count = u32::try_from(table.len())
            .map_err(|_| self.invalid("more than 2^32 postings lists".into()))?;
        self.write_table(count)?;
        drop(map);

        let mut toc = Vec::with_capacity(52);
        self.toc.encode(&mut toc);
        self.write(&toc)?;

        self.out.flush().map_err(|e| self.io("flush", e))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| self.io("fsync", e))?;
        Ok(())
    }

    fn write_buf1(&mut self) -> Result<(), IndexError> {
        let b = std::mem::take(&mut self.buf1);
        let r = self.write(&b);
        self.buf1 = b;
        r
    }

    /// Writes `len BE32 | count BE32 | buf2 | CRC32(count, buf2)`.
    fn write_table(&mut self, count: u32) -> Result<(), IndexError> {
        let len = 4 + self.buf2.len() as u64;
        if len > u32::MAX as u64 {
            return Err(self.invalid(format!("offset table of {len} bytes exceeds 4 GiB")));
        }
        self.buf1.clear();
        put_be32(&mut self.buf1, len as u32);
        put_be32(&mut self.buf1, count);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&self.buf1[4..]), &self.buf2);
        self.write_buf1()?;
        let b = std::mem::take(&mut self.buf2);
        let r = self.write(&b);
        self.buf2 = b;
        r?;
        self.write(&crc.to_be_bytes())
    }

    /// Collects `(name ref, value ref, series ID)` for every label of every series whose name is
    /// in `wanted`.
    fn scan_series(
        &self,
        data: &[u8],
        wanted: &HashSet<u32>,
        out: &mut Vec<(u32, u32, u32)>,
    ) -> Result<(), IndexError> {
        let start = self.toc.series as usize;
        let end = self.toc.label_indices as usize;
        let mut d = Decbuf::new(&data[start..end], start as u64);
        let err = |e: crate::error::DecodeError| e.into_index_error(&self.name, "series");
        while d.remaining() > 0 {
            // Skip the alignment padding.
            let pad = (SERIES_ALIGNMENT - d.offset() % SERIES_ALIGNMENT) % SERIES_ALIGNMENT;
            d.skip(pad as usize).map_err(err)?;
            let id = (d.offset() / SERIES_ALIGNMENT) as u32;
            let len = d.uvarint().map_err(err)? as usize;
            let mut body = Decbuf::new(d.bytes(len).map_err(err)?, d.offset());
            d.skip(4).map_err(err)?;
            let n = body.uvarint().map_err(err)?;
            for _ in 0..n {
                let name = body.uvarint32().map_err(err)?;
                let value = body.uvarint32().map_err(err)?;
                if wanted.contains(&name) {
                    out.push((name, value, id));
                }
            }
        }
        Ok(())
    }

    /// The path being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// One postings offset table entry before the postings' final position is known.
struct TableEntry {
    /// Symbol reference of the label name; `None` for the all-postings key.
    name: Option<u32>,
    /// Symbol reference of the value.
    value: u32,
    /// Offset of the list in the temporary postings file.
    rel_offset: u64,
}

/// The temporary file postings lists are written to before being copied into the index.
struct PostingsTmp {
    path: PathBuf,
    name: String,
    out: BufWriter<File>,
    pos: u64,
}

impl PostingsTmp {
    fn create(path: &Path, index_name: &str) -> Result<PostingsTmp, IndexError> {
        let name = path.display().to_string();
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| IndexError::Io {
                file: index_name.to_string(),
                op: "create temporary postings file",
                source: e,
            })?;
        Ok(PostingsTmp {
            path: path.to_path_buf(),
            name,
            out: BufWriter::with_capacity(1 << 20, f),
            pos: 0,
        })
    }

    fn io(&self, op: &'static str, source: std::io::Error) -> IndexError {
        IndexError::Io {
            file: self.name.clone(),
            op,
            source,
        }
    }

    /// Writes one list: `len BE32 | count BE32 | ids BE32* | CRC32(count, ids)`. Lists are
    /// multiples of 4 bytes long, so every list stays 4-byte aligned.
    fn write_list(&mut self, ids: &[u32], buf: &mut Vec<u8>) -> Result<(), IndexError> {
        let len = 4 + 4 * ids.len() as u64;
        if len > u32::MAX as u64 {
            return Err(IndexError::InvalidInput {
                file: self.name.clone(),
                reason: format!("postings list of {len} bytes exceeds 4 GiB"),
            });
        }
        buf.clear();
        put_be32(buf, len as u32);
        put_be32(buf, ids.len() as u32);
        for &id in ids {
            put_be32(buf, id);
        }
        let crc = crc32c::crc32c(&buf[4..]);
        put_be32(buf, crc);
        self.out.write_all(buf).map_err(|e| self.io("write", e))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Appends the whole temporary file to `dst` and deletes it; returns the bytes copied.
    fn copy_into(mut self, dst: &mut BufWriter<File>, index_name: &str) -> Result<u64, IndexError> {
        self.out.flush().map_err(|e| self.io("flush", e))?;
        let mut f = self
            .out
            .get_ref()
            .try_clone()
            .map_err(|e| self.io("reopen", e))?;
        f.seek(SeekFrom::Start(0)).map_err(|e| self.io("seek", e))?;
        let n = std::io::copy(&mut f, dst).map_err(|e| IndexError::Io {
            file: index_name.to_string(),
            op: "copy postings",
            source: e,
        })?;
        if n != self.pos {
            return Err(IndexError::InvalidInput {
                file: index_name.to_string(),
                reason: format!("wrote {} bytes of postings but copied {n}", self.pos),
            });
        }
        Ok(n)
    }
}

impl Drop for PostingsTmp {
    fn drop(&mut self) {
        // Best effort: the temporary file is useless once the index is finished or abandoned.
        let _ = std::fs::remove_file(&self.path);
    }
}
