//! Thanos' binary index-header: the part of a block's index that a store gateway needs before
//! it can answer anything (the symbol table and the postings offset table), kept in a local
//! file `<cache dir>/<ULID>/index-header` so that the full index is never downloaded and a
//! restart does not read those sections from the bucket again.
//!
//! Layout (all integers big-endian), as Thanos' `BinaryFormatV1`:
//!
//! ```text
//! magic 0xBAAAD792 (4) | version 1 (1) | index version (1) | index postings table offset (8)
//! symbols:        the index' bytes [TOC.symbols, TOC.series)
//! postings table: the index' bytes [TOC.postings_table, end of index), index TOC included
//! TOC: symbols offset (8) | postings table offset (8) | CRC32C of those 16 bytes (4)
//! ```
//!
//! The offsets in the TOC are positions in the index-header; those inside the copied postings
//! offset table still point into the original index. The file is built with four byte-range
//! reads (header, TOC, symbols, postings table), written to a temporary name, synced and
//! renamed, and reused as long as it parses: a file that fails any check is rebuilt.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use tsdb_index::toc::{Toc, TOC_LEN as INDEX_TOC_LEN};

use super::lazy_file::FetchStats;
use crate::objstore::Bucket;

/// Magic number at the start of an index-header file.
pub const MAGIC: u32 = 0xBAAA_D792;
/// The only index-header format version.
pub const FORMAT_V1: u8 = 1;
/// Bytes before the symbols: magic, version, index version, index postings table offset.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 8;
/// The index-header TOC: two offsets and a CRC32C.
pub const TOC_LEN: usize = 8 + 8 + 4;
/// File name of the index-header inside a block's cache directory.
pub const FILE_NAME: &str = "index-header";

/// Magic number of a TSDB index file.
const INDEX_MAGIC: u32 = 0xBAAA_D700;
/// Magic and version byte of an index file.
const INDEX_HEADER_LEN: usize = 5;

/// Why an index-header could not be read or built.
#[derive(Debug, thiserror::Error)]
pub enum IndexHeaderError {
    /// Shorter than a header and a TOC.
    #[error("index-header {file}: {len} bytes are too few for a header and a TOC")]
    TooShort {
        /// The file.
        file: String,
        /// Its length.
        len: usize,
    },
    /// The magic number is not `0xBAAAD792` (or, building, the index' is not `0xBAAAD700`).
    #[error("{file}: bad magic number {found:#010x}")]
    BadMagic {
        /// The file or object.
        file: String,
        /// What was found.
        found: u32,
    },
    /// An index-header format version other than 1.
    #[error("index-header {file}: unknown format version {version}")]
    UnsupportedVersion {
        /// The file.
        file: String,
        /// The version byte.
        version: u8,
    },
    /// An index format version other than 1, 2 or 3.
    #[error("{file}: unsupported index version {version}")]
    UnsupportedIndexVersion {
        /// The file or object.
        file: String,
        /// The version byte.
        version: u8,
    },
    /// A checksum does not match.
    #[error("{file}: {section} checksum mismatch at offset {offset} (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// The file.
        file: String,
        /// The section.
        section: &'static str,
        /// Offset of the checksummed data.
        offset: u64,
        /// Checksum in the file.
        stored: u32,
        /// Checksum of the data.
        computed: u32,
    },
    /// Offsets or lengths that do not fit together.
    #[error("{file}: {section} at offset {offset}: {reason}")]
    Corrupt {
        /// The file or object.
        file: String,
        /// The section.
        section: &'static str,
        /// Where.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Reading the index from the bucket failed.
    #[error("reading {key} from the bucket: {message}")]
    Fetch {
        /// The object key.
        key: String,
        /// The error.
        message: String,
    },
    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A validated index-header held in memory; see the module docs.
#[derive(Clone)]
pub struct IndexHeader {
    bytes: Vec<u8>,
    index_version: u8,
    index_postings_table: u64,
    symbols: Range<usize>,
    postings: Range<usize>,
    index_toc: Toc,
}

impl std::fmt::Debug for IndexHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexHeader")
            .field("len", &self.bytes.len())
            .field("index_version", &self.index_version)
            .field("index_toc", &self.index_toc)
            .finish_non_exhaustive()
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Checks that `data` starts with a `len BE32 | payload | CRC32C` section lying wholly inside
/// it (`base`: offset of `data` in the file, for errors).
fn check_section(
    data: &[u8],
    base: u64,
    file: &str,
    section: &'static str,
) -> Result<(), IndexHeaderError> {
    let corrupt = |reason: String| IndexHeaderError::Corrupt {
        file: file.to_string(),
        section,
        offset: base,
        reason,
    };
    if data.len() < 8 {
        return Err(corrupt(format!("{} bytes are too few", data.len())));
    }
    let len = be32(data) as usize;
    let end = 4usize
        .checked_add(len)
        .filter(|e| e.checked_add(4).is_some_and(|e4| e4 <= data.len()))
        .ok_or_else(|| corrupt(format!("length {len} runs past {} bytes", data.len())))?;
    let stored = be32(&data[end..]);
    let computed = crc32c::crc32c(&data[4..end]);
    if stored != computed {
        return Err(IndexHeaderError::Checksum {
            file: file.to_string(),
            section,
            offset: base,
            stored,
            computed,
        });
    }
    Ok(())
}

/// Checks an index TOC's offsets against the index' `size`.
fn check_index_toc(toc: &Toc, size: u64, file: &str) -> Result<(), IndexHeaderError> {
    let toc_start = size.saturating_sub(INDEX_TOC_LEN as u64);
    let ok = toc.symbols >= INDEX_HEADER_LEN as u64
        && toc.symbols <= toc.series
        && toc.series <= toc.postings_table
        && toc.postings_table < toc_start;
    if ok {
        Ok(())
    } else {
        Err(IndexHeaderError::Corrupt {
            file: file.to_string(),
            section: "index TOC",
            offset: toc_start,
            reason: format!("offsets out of order for an index of {size} bytes: {toc:?}"),
        })
    }
}

impl IndexHeader {
    /// Encodes an index-header from the pieces of an index: its version, the offset of its
    /// postings offset table, its bytes `[TOC.symbols, TOC.series)` and its bytes from the
    /// postings offset table to the end.
    pub fn encode(
        index_version: u8,
        index_postings_table: u64,
        symbols: &[u8],
        postings_to_end: &[u8],
    ) -> Vec<u8> {
        let mut b =
            Vec::with_capacity(HEADER_LEN + symbols.len() + postings_to_end.len() + TOC_LEN);
        b.extend_from_slice(&MAGIC.to_be_bytes());
        b.push(FORMAT_V1);
        b.push(index_version);
        b.extend_from_slice(&index_postings_table.to_be_bytes());
        let symbols_at = b.len() as u64;
        b.extend_from_slice(symbols);
        let postings_at = b.len() as u64;
        b.extend_from_slice(postings_to_end);
        let toc_at = b.len();
        b.extend_from_slice(&symbols_at.to_be_bytes());
        b.extend_from_slice(&postings_at.to_be_bytes());
        let crc = crc32c::crc32c(&b[toc_at..]);
        b.extend_from_slice(&crc.to_be_bytes());
        b
    }

    /// Parses and validates an index-header (`file` names it in errors): magic, versions,
    /// TOC checksum, section bounds, the embedded index TOC and the checksums of the symbol
    /// table and the postings offset table.
    pub fn parse(file: &str, bytes: Vec<u8>) -> Result<IndexHeader, IndexHeaderError> {
        let len = bytes.len();
        if len < HEADER_LEN + TOC_LEN {
            return Err(IndexHeaderError::TooShort {
                file: file.to_string(),
                len,
            });
        }
        let magic = be32(&bytes);
        if magic != MAGIC {
            return Err(IndexHeaderError::BadMagic {
                file: file.to_string(),
                found: magic,
            });
        }
        if bytes[4] != FORMAT_V1 {
            return Err(IndexHeaderError::UnsupportedVersion {
                file: file.to_string(),
                version: bytes[4],
            });
        }
        let index_version = bytes[5];
        if !matches!(index_version, 1..=3) {
            return Err(IndexHeaderError::UnsupportedIndexVersion {
                file: file.to_string(),
                version: index_version,
            });
        }
        let index_postings_table = be64(&bytes[6..]);
        let toc_at = len - TOC_LEN;
        let toc = &bytes[toc_at..];
        let (stored, computed) = (be32(&toc[16..]), crc32c::crc32c(&toc[..16]));
        if stored != computed {
            return Err(IndexHeaderError::Checksum {
                file: file.to_string(),
                section: "TOC",
                offset: toc_at as u64,
                stored,
                computed,
            });
        }
        let (sym_at, post_at) = (be64(toc), be64(&toc[8..]));
        if sym_at != HEADER_LEN as u64 || post_at < sym_at || post_at > toc_at as u64 {
            return Err(IndexHeaderError::Corrupt {
                file: file.to_string(),
                section: "TOC",
                offset: toc_at as u64,
                reason: format!(
                    "symbols at {sym_at} and postings table at {post_at} do not fit a file of {len} bytes"
                ),
            });
        }
        let symbols = sym_at as usize..post_at as usize;
        let postings = post_at as usize..toc_at;
        let post = &bytes[postings.clone()];
        let index_toc = Toc::read(post, file).map_err(|e| IndexHeaderError::Corrupt {
            file: file.to_string(),
            section: "index TOC",
            offset: post_at,
            reason: e.to_string(),
        })?;
        let index_size = index_postings_table
            .checked_add(post.len() as u64)
            .ok_or_else(|| IndexHeaderError::Corrupt {
                file: file.to_string(),
                section: "header",
                offset: 6,
                reason: format!("postings table offset {index_postings_table} overflows"),
            })?;
        check_index_toc(&index_toc, index_size, file)?;
        let mismatch = |reason: String| IndexHeaderError::Corrupt {
            file: file.to_string(),
            section: "index TOC",
            offset: post_at,
            reason,
        };
        if index_toc.postings_table != index_postings_table {
            return Err(mismatch(format!(
                "postings table at {} in the index TOC, {index_postings_table} in the header",
                index_toc.postings_table
            )));
        }
        if index_toc.series - index_toc.symbols != symbols.len() as u64 {
            return Err(mismatch(format!(
                "symbols of {} bytes in the index TOC, {} copied",
                index_toc.series - index_toc.symbols,
                symbols.len()
            )));
        }
        check_section(&bytes[symbols.clone()], sym_at, file, "symbol table")?;
        check_section(
            &post[..post.len() - INDEX_TOC_LEN],
            post_at,
            file,
            "postings offset table",
        )?;
        Ok(IndexHeader {
            bytes,
            index_version,
            index_postings_table,
            symbols,
            postings,
            index_toc,
        })
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The index' format version.
    pub fn index_version(&self) -> u8 {
        self.index_version
    }

    /// The index' table of contents (from the copied postings table's end).
    pub fn index_toc(&self) -> &Toc {
        &self.index_toc
    }

    /// The size of the index the header was built from.
    pub fn index_size(&self) -> u64 {
        self.index_postings_table + self.postings.len() as u64
    }

    /// The index' symbol section, `[TOC.symbols, TOC.series)`.
    pub fn symbols(&self) -> &[u8] {
        &self.bytes[self.symbols.clone()]
    }

    /// The index' bytes from the postings offset table to the end (TOC included).
    pub fn postings_table(&self) -> &[u8] {
        &self.bytes[self.postings.clone()]
    }

    /// The byte runs of the index this header holds, as `(offset in the index, bytes)`: the
    /// index' magic and version, the symbols, and the postings offset table with the TOC.
    /// Together they are everything an index reader reads when it opens the index.
    pub fn index_ranges(&self) -> [(u64, Vec<u8>); 3] {
        let mut head = INDEX_MAGIC.to_be_bytes().to_vec();
        head.push(self.index_version);
        [
            (0, head),
            (self.index_toc.symbols, self.symbols().to_vec()),
            (self.index_postings_table, self.postings_table().to_vec()),
        ]
    }

    /// Builds the index-header of the index object `key` (of `size` bytes) with four
    /// byte-range reads (counted in `stats`, if given).
    pub async fn build(
        bucket: &Bucket,
        key: &str,
        size: u64,
        stats: Option<&FetchStats>,
    ) -> Result<IndexHeader, IndexHeaderError> {
        let fetch = |range: Range<u64>| async move {
            let want = range.end - range.start;
            let data = bucket.get_range(key, range.clone()).await.map_err(|e| {
                IndexHeaderError::Fetch {
                    key: key.to_string(),
                    message: e.to_string(),
                }
            })?;
            if let Some(s) = stats {
                s.requests
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                s.bytes
                    .fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            if data.len() as u64 != want {
                return Err(IndexHeaderError::Fetch {
                    key: key.to_string(),
                    message: format!(
                        "asked for bytes {}..{}, got {}",
                        range.start,
                        range.end,
                        data.len()
                    ),
                });
            }
            Ok(data)
        };
        if size < (INDEX_HEADER_LEN + INDEX_TOC_LEN) as u64 {
            return Err(IndexHeaderError::Corrupt {
                file: key.to_string(),
                section: "index",
                offset: 0,
                reason: format!("{size} bytes are too few for an index"),
            });
        }
        let head = fetch(0..INDEX_HEADER_LEN as u64).await?;
        let magic = be32(&head);
        if magic != INDEX_MAGIC {
            return Err(IndexHeaderError::BadMagic {
                file: key.to_string(),
                found: magic,
            });
        }
        let index_version = head[4];
        if !matches!(index_version, 1..=3) {
            return Err(IndexHeaderError::UnsupportedIndexVersion {
                file: key.to_string(),
                version: index_version,
            });
        }
        let toc_bytes = fetch(size - INDEX_TOC_LEN as u64..size).await?;
        let toc = Toc::read(&toc_bytes, key).map_err(|e| IndexHeaderError::Corrupt {
            file: key.to_string(),
            section: "index TOC",
            offset: size - INDEX_TOC_LEN as u64,
            reason: e.to_string(),
        })?;
        check_index_toc(&toc, size, key)?;
        let symbols = fetch(toc.symbols..toc.series).await?;
        let postings = fetch(toc.postings_table..size).await?;
        let bytes = IndexHeader::encode(index_version, toc.postings_table, &symbols, &postings);
        IndexHeader::parse(key, bytes)
    }

    /// Reads and validates the index-header at `path`.
    pub fn read(path: &Path) -> Result<IndexHeader, IndexHeaderError> {
        let bytes = std::fs::read(path).map_err(|source| IndexHeaderError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        })?;
        IndexHeader::parse(&path.display().to_string(), bytes)
    }

    /// Writes the file to `path` atomically: a temporary file beside it, synced, renamed
    /// over `path`, and the directory synced.
    pub fn write(&self, path: &Path) -> Result<(), IndexHeaderError> {
        let io = |op, source| IndexHeaderError::Io {
            op,
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| io("create dir", e))?;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("create", e))?;
        f.write_all(&self.bytes).map_err(|e| io("write", e))?;
        f.sync_all().map_err(|e| io("sync", e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| io("rename", e))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("sync dir", e))
    }
}

/// How [`load_or_build`] obtained an index-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderSource {
    /// A valid file was on disk.
    Reused,
    /// There was none: built from the bucket.
    Built,
    /// The file on disk failed validation: rebuilt from the bucket.
    Rebuilt,
}

/// The index-header at `path`, reused when it is valid for an index of `size` bytes, else
/// built from the bucket object `key` and written to `path` (bucket reads counted in `stats`).
pub async fn load_or_build(
    path: &Path,
    bucket: &Bucket,
    key: &str,
    size: u64,
    stats: Option<&FetchStats>,
) -> Result<(IndexHeader, HeaderSource), IndexHeaderError> {
    let source = match IndexHeader::read(path) {
        Ok(h) if h.index_size() == size => return Ok((h, HeaderSource::Reused)),
        Ok(_) => HeaderSource::Rebuilt,
        Err(IndexHeaderError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            HeaderSource::Built
        }
        Err(_) => HeaderSource::Rebuilt,
    };
    let h = IndexHeader::build(bucket, key, size, stats).await?;
    h.write(path)?;
    Ok((h, source))
}
