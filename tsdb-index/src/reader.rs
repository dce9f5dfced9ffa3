//! Reading index files (format v2, and v1 as far as it is cheap) from a memory map or from
//! bytes in memory.
//!
//! Opening validates the header, the TOC, the symbol table and the postings offset table with
//! their checksums, and keeps in memory only the offset of every symbol and every 32nd entry of
//! the postings offset table per label name (as Prometheus does). Series entries and postings
//! lists are checksummed and decoded in place when they are asked for; label names and values
//! are `&str`s borrowed from the file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::encoding::Decbuf;
use crate::error::{DecodeError, IndexError};
use crate::labels::{Label, Labels};
use crate::lazy::RangeLoader;
use crate::postings::{self, BigEndianPostings, BoxPostings, Postings, SeriesRef};
use crate::series::{decode_chunks, ChunkMeta};
use crate::symbols::Symbols;
use crate::toc::{Toc, TOC_LEN};

/// Magic number at the start of every index file.
pub const MAGIC_INDEX: u32 = 0xBAAA_D700;
/// Length of the header (magic + version byte).
pub const HEADER_LEN: usize = 5;
/// Format version 1.
pub const FORMAT_V1: u8 = 1;
/// Format version 2 (what Prometheus and we write).
pub const FORMAT_V2: u8 = 2;
/// Format version 3 (reserved; read exactly like v2).
pub const FORMAT_V3: u8 = 3;
/// Series entries in v2 start at multiples of this; a series ID is its offset divided by it.
pub const SERIES_ALIGNMENT: u64 = 16;
/// One in this many postings offset table entries (per label name) is kept in memory.
pub const POSTINGS_SAMPLE_FACTOR: u32 = 32;

const SECTION_TABLE: &str = "postings offset table";
const SECTION_POSTINGS: &str = "postings";
const SECTION_SERIES: &str = "series";

/// Returns the payload of a `len BE32 | payload | CRC32(payload)` section at `off`, after
/// checking bounds and checksum.
pub(crate) fn section_payload<'a>(
    data: &'a [u8],
    off: u64,
    file: &str,
    section: &'static str,
) -> Result<&'a [u8], IndexError> {
    let corrupt = |reason: String| IndexError::Corrupt {
        file: file.to_string(),
        section,
        offset: off,
        reason,
    };
    let start = usize::try_from(off)
        .ok()
        .filter(|&s| s.checked_add(4).is_some_and(|e| e <= data.len()))
        .ok_or_else(|| corrupt(format!("offset beyond end of file ({} bytes)", data.len())))?;
    let len = u32::from_be_bytes([
        data[start],
        data[start + 1],
        data[start + 2],
        data[start + 3],
    ]) as usize;
    let end = start + 4 + len;
    if end + 4 > data.len() {
        return Err(corrupt(format!(
            "length {len} runs past the end of file ({} bytes)",
            data.len()
        )));
    }
    let payload = &data[start + 4..end];
    let c = &data[end..end + 4];
    let stored = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    let computed = crc32c::crc32c(payload);
    if stored != computed {
        return Err(IndexError::Crc {
            file: file.to_string(),
            section,
            offset: off,
            stored,
            computed,
        });
    }
    Ok(payload)
}

/// Makes `[start, end)` present through `loader`.
fn load_range(
    loader: &dyn RangeLoader,
    file: &str,
    start: u64,
    end: u64,
) -> Result<(), IndexError> {
    loader.load(start, end).map_err(|source| IndexError::Io {
        file: file.to_string(),
        op: "load range",
        source,
    })
}

/// Makes the `len BE32 | payload | CRC` section at `off` present: its length first, then
/// the rest.
fn load_section(
    loader: &dyn RangeLoader,
    b: &[u8],
    file: &str,
    off: u64,
) -> Result<(), IndexError> {
    load_range(loader, file, off, off.saturating_add(4))?;
    let Some(len) = usize::try_from(off)
        .ok()
        .and_then(|s| b.get(s..s.checked_add(4)?))
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as u64)
    else {
        // Out of bounds: the reader reports it.
        return Ok(());
    };
    load_range(loader, file, off, off.saturating_add(8 + len))
}

/// The bytes an index is read from.
enum Backing {
    Mmap(memmap2::Mmap),
    Bytes(Box<dyn AsRef<[u8]> + Send + Sync>),
}

impl Backing {
    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mmap(m) => m,
            Backing::Bytes(b) => (**b).as_ref(),
        }
    }
}

/// Per-label-name position in the postings offset table (format v2).
#[derive(Debug, Clone)]
struct NameEntry {
    /// Offset (relative to the table's entries) of every 32nd entry of this name, and of the
    /// last one.
    samples: Vec<u32>,
    /// Number of entries (label values) of this name.
    count: u32,
}

/// A v1 postings offset table: label name -> (value, list offset), sorted by value.
type FullTable = BTreeMap<Box<str>, Vec<(Box<str>, u64)>>;

/// How postings lists are located.
enum PostingsIndex {
    /// v2/v3: sorted table, sampled.
    Sampled(BTreeMap<Box<str>, NameEntry>),
    /// v1: the table need not be sorted, so it is loaded whole, sorted per name.
    Full(FullTable),
}

/// A reader of one index file.
///
/// ```no_run
/// use tsdb_index::reader::Reader;
/// let r = Reader::open("data/01ABC/index").unwrap();
/// let mut p = r.postings("job", &["api"]).unwrap();
/// let (mut labels, mut chunks) = (Vec::new(), Vec::new());
/// while tsdb_index::postings::Postings::next(&mut p) {
///     r.series(p.at(), &mut labels, &mut chunks).unwrap();
/// }
/// # use tsdb_index::postings::Postings;
/// ```
pub struct Reader {
    file: Box<str>,
    data: Backing,
    /// Loads the ranges of a lazily filled file before they are read (`None`: all present).
    loader: Option<std::sync::Arc<dyn RangeLoader>>,
    version: u8,
    toc: Toc,
    symbols: Symbols,
    postings: PostingsIndex,
    /// Absolute offset of the first entry of the postings offset table.
    table_base: usize,
    /// Absolute end of the table's entries.
    table_end: usize,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("file", &self.file)
            .field("version", &self.version)
            .field("toc", &self.toc)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Memory-maps and opens the index file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader, IndexError> {
        Self::map_and_open(path.as_ref(), None)
    }

    /// Opens a lazily filled copy of an index: `path` is a (sparse) file of the index' full
    /// size whose ranges `loader` fills in on demand. Opening loads the header, TOC, symbol
    /// table and postings offset table; postings lists and series entries are loaded when
    /// first read. The file must only ever be written by `loader`, with the index' bytes.
    pub fn open_lazy(
        path: impl AsRef<Path>,
        loader: std::sync::Arc<dyn RangeLoader>,
    ) -> Result<Reader, IndexError> {
        Self::map_and_open(path.as_ref(), Some(loader))
    }

    fn map_and_open(
        path: &Path,
        loader: Option<std::sync::Arc<dyn RangeLoader>>,
    ) -> Result<Reader, IndexError> {
        let name = path.display().to_string();
        let io = |op, source| IndexError::Io {
            file: name.clone(),
            op,
            source,
        };
        let f = std::fs::File::open(path).map_err(|e| io("open", e))?;
        let len = f.metadata().map_err(|e| io("stat", e))?.len();
        if len == 0 {
            // mmap of an empty file fails on some platforms; report it as what it is.
            return Self::from_bytes(name.clone(), Vec::new());
        }
        // SAFETY: the index files of a block are immutable once written, and a lazily filled
        // copy has its final length and is only written by its loader, with the index' own
        // bytes (a shared mapping sees those writes). As for every mmap, a concurrent
        // truncation by another process would be a bug elsewhere.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| io("mmap", e))?;
        Self::new(name.into(), Backing::Mmap(map), loader)
    }

    /// Opens an index held in memory; `name` is used in error messages.
    pub fn from_bytes(
        name: impl Into<String>,
        bytes: impl AsRef<[u8]> + Send + Sync + 'static,
    ) -> Result<Reader, IndexError> {
        Self::new(name.into().into(), Backing::Bytes(Box::new(bytes)), None)
    }

    fn new(
        file: Box<str>,
        data: Backing,
        loader: Option<std::sync::Arc<dyn RangeLoader>>,
    ) -> Result<Reader, IndexError> {
        let b = data.bytes();
        let f: &str = &file;
        if let Some(l) = &loader {
            let size = b.len() as u64;
            load_range(l.as_ref(), f, 0, HEADER_LEN as u64)?;
            load_range(l.as_ref(), f, size.saturating_sub(TOC_LEN as u64), size)?;
        }
        if b.len() < HEADER_LEN {
            return Err(IndexError::Corrupt {
                file: f.to_string(),
                section: "header",
                offset: 0,
                reason: format!("file of {} bytes is too short for a header", b.len()),
            });
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC_INDEX {
            return Err(IndexError::BadMagic {
                file: f.to_string(),
                found: magic,
            });
        }
        let version = b[4];
        if !matches!(version, FORMAT_V1 | FORMAT_V2 | FORMAT_V3) {
            return Err(IndexError::UnsupportedVersion {
                file: f.to_string(),
                version,
            });
        }
        let toc = Toc::read(b, f)?;
        let toc_start = (b.len() - TOC_LEN) as u64;
        for (name, off) in [
            ("symbols", toc.symbols),
            ("series", toc.series),
            ("postings", toc.postings),
            (SECTION_TABLE, toc.postings_table),
        ] {
            if off > toc_start {
                return Err(IndexError::Corrupt {
                    file: f.to_string(),
                    section: "TOC",
                    offset: toc_start,
                    reason: format!("{name} offset {off} lies beyond the TOC"),
                });
            }
        }
        if let Some(l) = &loader {
            load_section(l.as_ref(), b, f, toc.symbols)?;
            load_section(l.as_ref(), b, f, toc.postings_table)?;
        }
        let symbols = Symbols::read(b, toc.symbols, version, f)?;
        let table = section_payload(b, toc.postings_table, f, SECTION_TABLE)?;
        let table_base = toc.postings_table as usize + 8;
        let table_end = toc.postings_table as usize + 4 + table.len();
        let postings = if version == FORMAT_V1 {
            PostingsIndex::Full(read_full_table(table, toc.postings_table, f)?)
        } else {
            PostingsIndex::Sampled(read_sampled_table(table, toc.postings_table, f)?)
        };
        Ok(Reader {
            file,
            data,
            loader,
            version,
            toc,
            symbols,
            postings,
            table_base,
            table_end,
        })
    }

    /// The file name used in errors.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The whole file.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.data.bytes()
    }

    /// The format version (1, 2 or 3).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The table of contents.
    pub fn toc(&self) -> &Toc {
        &self.toc
    }

    /// Size of the file in bytes.
    pub fn size(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// The symbol table index.
    pub fn symbol_table(&self) -> &Symbols {
        &self.symbols
    }

    /// All symbols, in order.
    pub fn symbols(&self) -> impl Iterator<Item = &str> + '_ {
        self.symbols.iter(self.bytes())
    }

    /// The symbol with reference `r`.
    pub fn lookup_symbol(&self, r: u32) -> Result<&str, IndexError> {
        self.symbols.lookup(self.bytes(), r, &self.file)
    }

    /// All label names (the all-postings key `""` excluded), sorted.
    pub fn label_names(&self) -> Vec<&str> {
        match &self.postings {
            PostingsIndex::Sampled(m) => m.keys().map(|k| &**k).filter(|k| !k.is_empty()).collect(),
            PostingsIndex::Full(m) => m.keys().map(|k| &**k).filter(|k| !k.is_empty()).collect(),
        }
    }

    /// All values of label `name`, sorted; empty when the name is unknown.
    pub fn label_values(&self, name: &str) -> Result<Vec<&str>, IndexError> {
        let mut out = Vec::new();
        match &self.postings {
            PostingsIndex::Sampled(m) => {
                if let Some(e) = m.get(name) {
                    out.reserve(e.count as usize);
                    let mut w = self.walk(e.samples[0], e.count);
                    while let Some((v, _)) = w.next_entry().map_err(|e| self.table_err(e))? {
                        out.push(v);
                    }
                }
            }
            PostingsIndex::Full(m) => {
                if let Some(vals) = m.get(name) {
                    out.extend(vals.iter().map(|(v, _)| &**v));
                }
            }
        }
        Ok(out)
    }

    fn table_err(&self, e: DecodeError) -> IndexError {
        e.into_index_error(&self.file, SECTION_TABLE)
    }

    fn walk(&self, rel: u32, count: u32) -> TableWalk<'_> {
        let b = self.bytes();
        let start = (self.table_base + rel as usize).min(self.table_end);
        TableWalk {
            d: Decbuf::new(&b[start..self.table_end], start as u64),
            left: count,
        }
    }

    /// The postings list stored at absolute offset `off`.
    pub fn postings_at(&self, off: u64) -> Result<BigEndianPostings<'_>, IndexError> {
        if let Some(l) = &self.loader {
            load_section(l.as_ref(), self.bytes(), &self.file, off)?;
        }
        let payload = section_payload(self.bytes(), off, &self.file, SECTION_POSTINGS)?;
        let mut d = Decbuf::new(payload, off + 4);
        let n = d
            .be32()
            .map_err(|e| e.into_index_error(&self.file, SECTION_POSTINGS))?
            as usize;
        if d.remaining() != n.saturating_mul(4) {
            return Err(IndexError::Corrupt {
                file: self.file.to_string(),
                section: SECTION_POSTINGS,
                offset: off,
                reason: format!(
                    "list of {n} entries should take {} bytes, has {}",
                    n.saturating_mul(4),
                    d.remaining()
                ),
            });
        }
        Ok(BigEndianPostings::new(&payload[4..]))
    }

    /// Finds the postings-list offset of (`name`, `value`).
    fn find_postings_offset(&self, name: &str, value: &str) -> Result<Option<u64>, IndexError> {
        match &self.postings {
            PostingsIndex::Full(m) => Ok(m.get(name).and_then(|vals| {
                vals.binary_search_by(|(v, _)| (**v).cmp(value))
                    .ok()
                    .map(|i| vals[i].1)
            })),
            PostingsIndex::Sampled(m) => {
                let Some(e) = m.get(name) else {
                    return Ok(None);
                };
                // Last sample whose value is <= the wanted one.
                let mut lo = 0usize;
                let mut hi = e.samples.len();
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let (v, _) = self
                        .walk(e.samples[mid], 1)
                        .next_entry()
                        .map_err(|er| self.table_err(er))?
                        .unwrap_or(("", 0));
                    if v <= value {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                if lo == 0 {
                    return Ok(None);
                }
                let k = lo - 1;
                let first_entry = (k as u32).saturating_mul(POSTINGS_SAMPLE_FACTOR);
                // From a regular sample, the wanted value can only be among the next 32 entries;
                // the extra sample of the last entry covers just itself.
                let left = e
                    .count
                    .saturating_sub(first_entry)
                    .clamp(1, POSTINGS_SAMPLE_FACTOR);
                let mut w = self.walk(e.samples[k], left);
                while let Some((v, off)) = w.next_entry().map_err(|er| self.table_err(er))? {
                    match v.cmp(value) {
                        std::cmp::Ordering::Less => continue,
                        std::cmp::Ordering::Equal => return Ok(Some(off)),
                        std::cmp::Ordering::Greater => return Ok(None),
                    }
                }
                Ok(None)
            }
        }
    }

    /// The union of the postings lists of `name` = each of `values`; values that do not occur
    /// are ignored. Lists are read zero-copy from the file.
    pub fn postings<S: AsRef<str>>(
        &self,
        name: &str,
        values: &[S],
    ) -> Result<BoxPostings<'_>, IndexError> {
        let mut vals: Vec<&str> = values.iter().map(|v| v.as_ref()).collect();
        vals.sort_unstable();
        vals.dedup();
        let mut its: Vec<BigEndianPostings<'_>> = Vec::with_capacity(vals.len());
        for v in vals {
            if let Some(off) = self.find_postings_offset(name, v)? {
                its.push(self.postings_at(off)?);
            }
        }
        Ok(postings::merge_lists(its))
    }

    /// The postings of every series, in series order (the `("", "")` list).
    pub fn all_postings(&self) -> Result<BoxPostings<'_>, IndexError> {
        self.postings("", &[""])
    }

    /// The union of the postings of every value of `name` accepted by `accept` (all values
    /// when `accept` is `None`).
    pub fn postings_for_label_matching(
        &self,
        name: &str,
        accept: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<BoxPostings<'_>, IndexError> {
        let mut its: Vec<BigEndianPostings<'_>> = Vec::new();
        match &self.postings {
            PostingsIndex::Sampled(m) => {
                if let Some(e) = m.get(name) {
                    let mut w = self.walk(e.samples[0], e.count);
                    while let Some((v, off)) = w.next_entry().map_err(|e| self.table_err(e))? {
                        if accept.is_none_or(|f| f(v)) {
                            its.push(self.postings_at(off)?);
                        }
                    }
                }
            }
            PostingsIndex::Full(m) => {
                if let Some(vals) = m.get(name) {
                    for (v, off) in vals {
                        if accept.is_none_or(|f| f(v)) {
                            its.push(self.postings_at(*off)?);
                        }
                    }
                }
            }
        }
        Ok(postings::merge_lists(its))
    }

    /// Returns `p` in series order. Series IDs are assigned in label order, so this is `p`.
    pub fn sorted_postings<'a>(&self, p: BoxPostings<'a>) -> BoxPostings<'a> {
        p
    }

    /// The checksummed bytes of the series entry `id` (after its length, before its CRC).
    fn series_entry(&self, id: SeriesRef) -> Result<(&[u8], u64), IndexError> {
        let b = self.bytes();
        let off = if self.version == FORMAT_V1 {
            id
        } else {
            id.saturating_mul(SERIES_ALIGNMENT)
        };
        let corrupt = |reason: String| IndexError::Corrupt {
            file: self.file.to_string(),
            section: SECTION_SERIES,
            offset: off,
            reason,
        };
        let start = usize::try_from(off)
            .ok()
            .filter(|&s| s < b.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "series reference {id} is beyond the end of the file"
                ))
            })?;
        if let Some(l) = &self.loader {
            // The length (a uvarint of at most 10 bytes), then the entry and its CRC.
            load_range(l.as_ref(), &self.file, off, off + 10)?;
            let mut d = Decbuf::new(&b[start..], off);
            let len = d
                .uvarint()
                .map_err(|e| e.into_index_error(&self.file, SECTION_SERIES))?;
            load_range(
                l.as_ref(),
                &self.file,
                off,
                d.offset().saturating_add(len).saturating_add(4),
            )?;
        }
        let mut d = Decbuf::new(&b[start..], off);
        let len = d
            .uvarint()
            .map_err(|e| e.into_index_error(&self.file, SECTION_SERIES))?;
        if len.saturating_add(4) > d.remaining() as u64 {
            return Err(corrupt(format!(
                "entry length {len} runs past the end of the file"
            )));
        }
        let body_off = d.offset();
        let err = |e: DecodeError| e.into_index_error(&self.file, SECTION_SERIES);
        let body = d.bytes(len as usize).map_err(err)?;
        let c = d.bytes(4).map_err(err)?;
        let stored = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(IndexError::Crc {
                file: self.file.to_string(),
                section: SECTION_SERIES,
                offset: off,
                stored,
                computed,
            });
        }
        Ok((body, body_off))
    }

    /// Decodes series `id` (a reference from a postings list): its labels into `labels` and its
    /// chunk metas into `chunks`, replacing their contents. Strings borrow from the file.
    pub fn series<'a>(
        &'a self,
        id: SeriesRef,
        labels: &mut Vec<Label<'a>>,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<(), IndexError> {
        let mut d = self.series_labels_into(id, labels)?;
        decode_chunks(&mut d, chunks).map_err(|e| e.into_index_error(&self.file, SECTION_SERIES))
    }

    fn series_labels_into<'a>(
        &'a self,
        id: SeriesRef,
        labels: &mut Vec<Label<'a>>,
    ) -> Result<Decbuf<'a>, IndexError> {
        labels.clear();
        let (body, body_off) = self.series_entry(id)?;
        let mut d = Decbuf::new(body, body_off);
        let err = |e: DecodeError| e.into_index_error(&self.file, SECTION_SERIES);
        let at = d.offset();
        let n = d.uvarint().map_err(err)?;
        if n > (d.remaining() / 2) as u64 {
            return Err(err(DecodeError {
                offset: at,
                reason: "label count exceeds the entry's size",
            }));
        }
        labels.reserve(n as usize);
        for _ in 0..n {
            let name = d.uvarint32().map_err(err)?;
            let value = d.uvarint32().map_err(err)?;
            labels.push(Label {
                name: self.lookup_symbol(name)?,
                value: self.lookup_symbol(value)?,
            });
        }
        Ok(d)
    }

    /// The label set of series `id`, as an owned [`Labels`].
    pub fn series_labels(&self, id: SeriesRef) -> Result<Labels, IndexError> {
        let mut v = Vec::new();
        self.series_labels_into(id, &mut v)?;
        Ok(Labels::from_sorted(v.iter().map(|l| (l.name, l.value))))
    }

    /// The sorted, distinct label names of the series in `postings`.
    pub fn label_names_for(&self, mut postings: BoxPostings<'_>) -> Result<Vec<&str>, IndexError> {
        let mut refs: std::collections::HashSet<u32> = std::collections::HashSet::new();
        while postings.next() {
            let (body, body_off) = self.series_entry(postings.at())?;
            let mut d = Decbuf::new(body, body_off);
            let err = |e: DecodeError| e.into_index_error(&self.file, SECTION_SERIES);
            let n = d.uvarint().map_err(err)?;
            for _ in 0..n {
                refs.insert(d.uvarint32().map_err(err)?);
                d.uvarint32().map_err(err)?;
            }
        }
        if let Some(e) = postings.err() {
            return Err(postings::clone_error(e));
        }
        let mut names = refs
            .into_iter()
            .map(|r| self.lookup_symbol(r))
            .collect::<Result<Vec<_>, _>>()?;
        names.sort_unstable();
        Ok(names)
    }

    /// Reads every section completely: every postings list of the offset table and every
    /// series referenced by the all-postings list. Used by tests, fuzzing and `tsdb` tools to
    /// check a whole file.
    pub fn verify(&self) -> Result<VerifyStats, IndexError> {
        let mut stats = VerifyStats::default();
        let (mut labels, mut chunks) = (Vec::new(), Vec::new());
        for name in self.label_names().into_iter().chain([""]) {
            for value in self.label_values(name)? {
                let mut p = self.postings(name, &[value])?;
                while p.next() {
                    stats.postings_entries += 1;
                }
                if let Some(e) = p.err() {
                    return Err(postings::clone_error(e));
                }
                stats.postings_lists += 1;
            }
        }
        let mut all = self.all_postings()?;
        while all.next() {
            self.series(all.at(), &mut labels, &mut chunks)?;
            stats.series += 1;
            stats.chunks += chunks.len() as u64;
        }
        Ok(stats)
    }
}

/// Counts from [`Reader::verify`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyStats {
    /// Number of series read.
    pub series: u64,
    /// Number of chunk metas read.
    pub chunks: u64,
    /// Number of postings lists read (the all-postings list included).
    pub postings_lists: u64,
    /// Total entries of those lists.
    pub postings_entries: u64,
}

/// A walk over consecutive postings offset table entries of one label name.
struct TableWalk<'a> {
    d: Decbuf<'a>,
    left: u32,
}

impl<'a> TableWalk<'a> {
    fn next_entry(&mut self) -> Result<Option<(&'a str, u64)>, DecodeError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let (_, value, off) = read_table_entry(&mut self.d)?;
        Ok(Some((value, off)))
    }
}

/// Reads one `keycount(2) | name | value | offset` entry.
fn read_table_entry<'a>(d: &mut Decbuf<'a>) -> Result<(&'a str, &'a str, u64), DecodeError> {
    let at = d.offset();
    if d.uvarint()? != 2 {
        return Err(DecodeError {
            offset: at,
            reason: "postings offset table entry does not have 2 keys",
        });
    }
    let name = d.uvarint_str()?;
    let value = d.uvarint_str()?;
    let off = d.uvarint()?;
    Ok((name, value, off))
}

fn table_corrupt(file: &str, offset: u64, reason: String) -> IndexError {
    IndexError::Corrupt {
        file: file.to_string(),
        section: SECTION_TABLE,
        offset,
        reason,
    }
}

/// Reads a sorted (v2) postings offset table, keeping every 32nd entry per name plus the last.
fn read_sampled_table(
    table: &[u8],
    off: u64,
    file: &str,
) -> Result<BTreeMap<Box<str>, NameEntry>, IndexError> {
    let mut d = Decbuf::new(table, off + 4);
    let err = |e: DecodeError| e.into_index_error(file, SECTION_TABLE);
    let count = d.be32().map_err(err)?;
    let entries_start = d.position();
    let mut map: BTreeMap<Box<str>, NameEntry> = BTreeMap::new();
    let mut cur: Option<(&str, NameEntry)> = None;
    let mut prev_value: &str = "";
    let mut last_rel = 0u32;
    for _ in 0..count {
        let rel = (d.position() - entries_start) as u32;
        let at = d.offset();
        let (name, value, _) = read_table_entry(&mut d).map_err(err)?;
        match &mut cur {
            Some((n, e)) if *n == name => {
                if value <= prev_value {
                    return Err(table_corrupt(
                        file,
                        at,
                        format!("value {value:?} of label {name:?} is out of order"),
                    ));
                }
                if e.count % POSTINGS_SAMPLE_FACTOR == 0 {
                    e.samples.push(rel);
                }
                e.count += 1;
            }
            _ => {
                if let Some((n, mut e)) = cur.take() {
                    if name < n {
                        return Err(table_corrupt(
                            file,
                            at,
                            format!("label name {name:?} is out of order"),
                        ));
                    }
                    finish_name(&mut e, last_rel);
                    map.insert(n.into(), e);
                }
                cur = Some((
                    name,
                    NameEntry {
                        samples: vec![rel],
                        count: 1,
                    },
                ));
            }
        }
        prev_value = value;
        last_rel = rel;
    }
    if let Some((n, mut e)) = cur.take() {
        finish_name(&mut e, last_rel);
        map.insert(n.into(), e);
    }
    if d.remaining() != 0 {
        return Err(table_corrupt(
            file,
            d.offset(),
            format!("{} bytes left after {count} entries", d.remaining()),
        ));
    }
    Ok(map)
}

/// Adds the last entry as a sample when it is not one already (so a binary search can rule out
/// values past the end without walking).
fn finish_name(e: &mut NameEntry, last_rel: u32) {
    if (e.count - 1) % POSTINGS_SAMPLE_FACTOR != 0 {
        e.samples.push(last_rel);
    }
    e.samples.shrink_to_fit();
}

/// Reads a v1 postings offset table whole.
fn read_full_table(table: &[u8], off: u64, file: &str) -> Result<FullTable, IndexError> {
    let mut d = Decbuf::new(table, off + 4);
    let err = |e: DecodeError| e.into_index_error(file, SECTION_TABLE);
    let count = d.be32().map_err(err)?;
    let mut map = FullTable::new();
    for _ in 0..count {
        let (name, value, off) = read_table_entry(&mut d).map_err(err)?;
        map.entry(name.into())
            .or_default()
            .push((value.into(), off));
    }
    for vals in map.values_mut() {
        vals.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        vals.dedup_by(|a, b| a.0 == b.0);
    }
    Ok(map)
}
