//! The set of head chunk files: appending chunks, reading them by reference through memory
//! maps, repairing on open and deleting old files.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockWriteGuard};

use memmap2::{Mmap, MmapOptions};

use super::format::{
    decode_record, encode_record, file_header, record_size, ChunkRecord, HeadChunkRef, RecordIter,
    FILE_HEADER_SIZE, MAX_FILE_SIZE, OUT_OF_ORDER_MASK, PREALLOCATION_SIZE,
};
use super::ChunksHeadError;

/// Chunks are buffered up to this many bytes before they are written (Prometheus' default
/// write buffer size).
const WRITE_BUFFER_SIZE: usize = 4 * 1024 * 1024;

/// What [`ChunkDiskMapper::open`] repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRepair {
    /// The damage found first (or the chunk the head rejected).
    pub reason: String,
    /// The file it was in, cut at `offset` (or removed when its header was bad).
    pub seq: u32,
    /// Where the file was cut.
    pub offset: u64,
    /// Files removed (the damaged one if its header was bad, and all later ones).
    pub removed: Vec<u32>,
}

/// A readable file: its map and how many of its bytes hold written chunks.
struct MappedFile {
    map: Mmap,
    readable: usize,
}

/// The file chunks are appended to.
struct Current {
    seq: u32,
    file: File,
    /// Records not yet written to the file.
    buf: Vec<u8>,
    /// Where the next record goes (buffered bytes included).
    offset: u64,
}

struct State {
    files: BTreeMap<u32, MappedFile>,
    current: Option<Current>,
    /// Sequence number of the next file to create.
    next_seq: u32,
    /// Whether the next chunk starts a new file (set by truncation, as in Prometheus, so that
    /// the file written so far can be deleted once its chunks are gone).
    cut_next: bool,
    /// Set by a failed write or by closing: no further writes.
    stopped: bool,
    /// Size a file is not grown beyond.
    max_file_size: u64,
}

/// The head chunk files of one directory.
///
/// ```
/// use tsdb_core::chunks_head::ChunkDiskMapper;
/// let dir = tempfile::tempdir().unwrap();
/// let (m, _) = ChunkDiskMapper::open(dir.path(), |_| Ok(())).unwrap();
/// let r = m.write_chunk(1, 1000, 2000, 1, &[0, 0]).unwrap();
/// assert_eq!((r.seq(), r.offset()), (1, 8));
/// assert_eq!(&m.chunk(r).unwrap().1[..], &[0, 0]);
/// m.close().unwrap();
/// ```
pub struct ChunkDiskMapper {
    dir: PathBuf,
    state: RwLock<State>,
}

fn io(path: &Path, e: std::io::Error) -> ChunksHeadError {
    ChunksHeadError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

fn file_name(dir: &Path, seq: u32) -> PathBuf {
    dir.join(format!("{seq:06}"))
}

fn sync_dir(dir: &Path) -> Result<(), ChunksHeadError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(dir, e))
}

/// Maps `len` bytes of `file` (which may extend past its end: only bytes below the file's
/// size are ever read).
fn map(path: &Path, file: &File, len: usize) -> Result<Option<Mmap>, ChunksHeadError> {
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the files of this directory are only written by this mapper, which appends
    // (never rewrites) and reads only bytes it has written out; other processes must not
    // modify them while the database is open (as with Prometheus).
    let m = unsafe { MmapOptions::new().len(len).map(file) }.map_err(|e| io(path, e))?;
    Ok(Some(m))
}

/// The numbered files of `dir`, ascending (other names are ignored).
fn list_files(dir: &Path) -> Result<Vec<u32>, ChunksHeadError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let e = e.map_err(|e| io(dir, e))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(seq) = name.parse::<u32>() {
            out.push(seq);
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl ChunkDiskMapper {
    /// Opens (creating if needed) the head chunk directory `dir` and hands every chunk of its
    /// files, in write order, to `on_chunk`.
    ///
    /// The first damaged record (a torn write, a bad CRC, a gap in the file numbers, a bad
    /// header), or the first chunk `on_chunk` rejects, ends what is kept: its file is cut
    /// there (removed if its header is bad) and every later file removed. What was dropped
    /// is in the returned [`OpenRepair`]; the WAL still holds those samples. As in
    /// Prometheus, a last file too short for a magic number or starting with zeros (created
    /// but never written) is removed silently.
    pub fn open(
        dir: &Path,
        on_chunk: impl FnMut(&ChunkRecord<'_>) -> Result<(), String>,
    ) -> Result<(ChunkDiskMapper, Option<OpenRepair>), ChunksHeadError> {
        Self::open_with_max_file_size(dir, MAX_FILE_SIZE, on_chunk)
    }

    /// Like [`ChunkDiskMapper::open`], starting a new file before one would grow beyond
    /// `max_file_size` bytes (Prometheus' 128 MiB by default; at most that, at least one
    /// header and one record).
    pub fn open_with_max_file_size(
        dir: &Path,
        max_file_size: u64,
        mut on_chunk: impl FnMut(&ChunkRecord<'_>) -> Result<(), String>,
    ) -> Result<(ChunkDiskMapper, Option<OpenRepair>), ChunksHeadError> {
        let max_file_size = max_file_size.clamp(FILE_HEADER_SIZE as u64 + 64, MAX_FILE_SIZE);
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let mut seqs = list_files(dir)?;
        if let Some(&last) = seqs.last() {
            let p = file_name(dir, last);
            let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
            let head = bytes
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            if head.is_none_or(|m| m == 0) {
                std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                seqs.pop();
            }
        }
        let mut files = BTreeMap::new();
        let mut repair: Option<OpenRepair> = None;
        let mut prev: Option<u32> = None;
        for (i, &seq) in seqs.iter().enumerate() {
            let p = file_name(dir, seq);
            let f = File::open(&p).map_err(|e| io(&p, e))?;
            let len = f.metadata().map_err(|e| io(&p, e))?.len() as usize;
            let m = map(&p, &f, len)?;
            let bytes: &[u8] = m.as_deref().unwrap_or(&[]);
            // (offset to cut at, reason); offset 0 removes the file.
            let damage = if prev.is_some_and(|p| p + 1 != seq) {
                Some((
                    0,
                    format!("file {seq:06} does not follow {:06}", prev.unwrap_or(0)),
                ))
            } else {
                let mut it = RecordIter::new(seq, bytes);
                let mut found = None;
                while let Some(r) = it.next() {
                    let bad = match r {
                        Ok(rec) => on_chunk(&rec).err().map(|why| (it_pos(&rec), why)),
                        Err(e) => Some((it.position(), e.to_string())),
                    };
                    if let Some(d) = bad {
                        found = Some(d);
                        break;
                    }
                }
                found
            };
            prev = Some(seq);
            let Some((offset, reason)) = damage else {
                if let Some(m) = m {
                    files.insert(
                        seq,
                        MappedFile {
                            map: m,
                            readable: len,
                        },
                    );
                }
                continue;
            };
            drop(m);
            let mut removed = Vec::new();
            if offset < FILE_HEADER_SIZE {
                std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                removed.push(seq);
            } else {
                let w = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&p)
                    .map_err(|e| io(&p, e))?;
                w.set_len(offset as u64).map_err(|e| io(&p, e))?;
                w.sync_all().map_err(|e| io(&p, e))?;
                if let Some(m) = map(&p, &w, offset)? {
                    files.insert(
                        seq,
                        MappedFile {
                            map: m,
                            readable: offset,
                        },
                    );
                }
            }
            for &later in &seqs[i + 1..] {
                let lp = file_name(dir, later);
                std::fs::remove_file(&lp).map_err(|e| io(&lp, e))?;
                removed.push(later);
            }
            sync_dir(dir)?;
            repair = Some(OpenRepair {
                reason,
                seq,
                offset: offset as u64,
                removed,
            });
            break;
        }
        let next_seq = files.keys().next_back().map_or(1, |s| s + 1);
        let m = ChunkDiskMapper {
            dir: dir.to_path_buf(),
            state: RwLock::new(State {
                files,
                current: None,
                next_seq,
                cut_next: false,
                stopped: false,
                max_file_size,
            }),
        };
        Ok((m, repair))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one chunk (`encoding` as chunkenc numbers it; out-of-order chunks are not
    /// written by our head) and returns its reference. The chunk is buffered: it is readable
    /// at once, durable only after the file is finished or [`ChunkDiskMapper::close`].
    /// After a failed write the mapper writes nothing more ([`ChunksHeadError::WriterFailed`]).
    pub fn write_chunk(
        &self,
        series_ref: u64,
        min_t: i64,
        max_t: i64,
        encoding: u8,
        data: &[u8],
    ) -> Result<HeadChunkRef, ChunksHeadError> {
        let size = record_size(data.len()) as u64;
        if FILE_HEADER_SIZE as u64 + size > MAX_FILE_SIZE || data.len() < 2 {
            return Err(ChunksHeadError::ChunkTooLarge(data.len()));
        }
        let mut st = self.write_state();
        if st.stopped {
            return Err(ChunksHeadError::WriterFailed);
        }
        let res = self.write_locked(&mut st, series_ref, min_t, max_t, encoding, data, size);
        if res.is_err() {
            st.stopped = true;
        }
        res
    }

    #[allow(clippy::too_many_arguments)]
    fn write_locked(
        &self,
        st: &mut State,
        series_ref: u64,
        min_t: i64,
        max_t: i64,
        encoding: u8,
        data: &[u8],
        size: u64,
    ) -> Result<HeadChunkRef, ChunksHeadError> {
        let must_cut = match &st.current {
            None => true,
            Some(c) => st.cut_next || c.offset + size > st.max_file_size,
        };
        if must_cut {
            self.cut(st)?;
        }
        let Some(c) = st.current.as_mut() else {
            return Err(ChunksHeadError::WriterFailed);
        };
        let r = HeadChunkRef::new(c.seq, c.offset as u32);
        encode_record(
            &mut c.buf,
            series_ref,
            min_t,
            max_t,
            encoding & !OUT_OF_ORDER_MASK,
            data,
        );
        c.offset += size;
        if c.buf.len() >= WRITE_BUFFER_SIZE {
            self.flush(st)?;
        }
        Ok(r)
    }

    /// Writes the buffered records of the current file out (no fsync) and makes them
    /// readable through the map.
    fn flush(&self, st: &mut State) -> Result<(), ChunksHeadError> {
        let Some(c) = st.current.as_mut() else {
            return Ok(());
        };
        if c.buf.is_empty() {
            return Ok(());
        }
        let p = file_name(&self.dir, c.seq);
        c.file.write_all(&c.buf).map_err(|e| io(&p, e))?;
        c.buf.clear();
        let (seq, offset) = (c.seq, c.offset as usize);
        if let Some(f) = st.files.get_mut(&seq) {
            f.readable = offset;
        }
        Ok(())
    }

    /// Finishes the current file (flush, fsync) and starts the next one: created as a
    /// temporary file with its header and zero padding, renamed, directory fsynced.
    fn cut(&self, st: &mut State) -> Result<(), ChunksHeadError> {
        self.finish_current(st)?;
        let seq = st.next_seq;
        let p = file_name(&self.dir, seq);
        let tmp = self.dir.join(format!("{seq:06}.tmp"));
        let mut f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(&file_header()).map_err(|e| io(&tmp, e))?;
        f.set_len(PREALLOCATION_SIZE).map_err(|e| io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &p).map_err(|e| io(&p, e))?;
        sync_dir(&self.dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .map_err(|e| io(&p, e))?;
        let mut file = file;
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(FILE_HEADER_SIZE as u64))
            .map_err(|e| io(&p, e))?;
        if let Some(m) = map(&p, &file, MAX_FILE_SIZE as usize)? {
            st.files.insert(
                seq,
                MappedFile {
                    map: m,
                    readable: FILE_HEADER_SIZE,
                },
            );
        }
        st.current = Some(Current {
            seq,
            file,
            buf: Vec::with_capacity(64 * 1024),
            offset: FILE_HEADER_SIZE as u64,
        });
        st.next_seq = seq + 1;
        st.cut_next = false;
        Ok(())
    }

    fn finish_current(&self, st: &mut State) -> Result<(), ChunksHeadError> {
        self.flush(st)?;
        if let Some(c) = st.current.take() {
            let p = file_name(&self.dir, c.seq);
            c.file.sync_all().map_err(|e| io(&p, e))?;
        }
        Ok(())
    }

    /// The encoding and bytes of the chunk at `r`, its CRC checked.
    pub fn chunk(&self, r: HeadChunkRef) -> Result<(u8, Arc<[u8]>), ChunksHeadError> {
        {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            let f = st
                .files
                .get(&r.seq())
                .ok_or(ChunksHeadError::NoSuchFile(r.seq()))?;
            if (r.offset() as usize) < f.readable {
                return read(r, f);
            }
        }
        // Still in the write buffer: write it out first.
        let mut st = self.write_state();
        if !st.stopped {
            if let Err(e) = self.flush(&mut st) {
                st.stopped = true;
                return Err(e);
            }
        }
        let f = st
            .files
            .get(&r.seq())
            .ok_or(ChunksHeadError::NoSuchFile(r.seq()))?;
        read(r, f)
    }

    /// Deletes the files before `seq` (except the one being written) and starts a new file
    /// for the next chunk if the current one holds any. Returns the files deleted.
    pub fn truncate_before(&self, seq: u32) -> Result<Vec<u32>, ChunksHeadError> {
        let mut st = self.write_state();
        let cur = st.current.as_ref().map(|c| (c.seq, c.offset));
        if cur.is_some_and(|(_, off)| off > FILE_HEADER_SIZE as u64) {
            st.cut_next = true;
        }
        let doomed: Vec<u32> = st
            .files
            .keys()
            .copied()
            .filter(|&s| s < seq && Some(s) != cur.map(|c| c.0))
            .collect();
        for s in &doomed {
            st.files.remove(s);
            let p = file_name(&self.dir, *s);
            std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
        }
        if st.files.is_empty() && st.current.is_none() {
            st.next_seq = 1;
        }
        Ok(doomed)
    }

    /// Sequence numbers of the files present.
    pub fn files(&self) -> Vec<u32> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.files.keys().copied().collect()
    }

    /// Writes out and fsyncs the current file; no chunk is written after this.
    pub fn close(&self) -> Result<(), ChunksHeadError> {
        let mut st = self.write_state();
        if st.stopped {
            return Ok(());
        }
        st.stopped = true;
        self.finish_current(&mut st)
    }
}

impl Drop for ChunkDiskMapper {
    fn drop(&mut self) {
        // Best effort: what is lost here is still in the WAL.
        let mut st = self.write_state();
        if !st.stopped {
            let _ = self.flush(&mut st);
        }
    }
}

fn it_pos(rec: &ChunkRecord<'_>) -> usize {
    rec.chunk_ref.offset() as usize
}

fn read(r: HeadChunkRef, f: &MappedFile) -> Result<(u8, Arc<[u8]>), ChunksHeadError> {
    let (rec, _) = decode_record(r.seq(), &f.map[..f.readable], r.offset() as usize)?;
    Ok((rec.encoding, rec.data.into()))
}
