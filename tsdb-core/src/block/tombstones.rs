//! The `tombstones` file: time ranges deleted from series of a block.
//!
//! Format:
//! ```text
//! magic 0x0130BA30 (BE32) | format version 1 (1 byte) |
//! { series_ref uvarint64 | mint varint64 | maxt varint64 }* | CRC32-Castagnoli (BE32)
//! ```
//! The CRC covers only the entries, not the magic or the version byte. An empty file is the 9
//! bytes `01 30 BA 30 01 00 00 00 00`. Intervals are closed (`[mint, maxt]`); `series_ref` is
//! the series' index reference. A missing file means no tombstones.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::BlockError;
use super::fsutil;

/// File name of the tombstones file inside a block directory.
pub const TOMBSTONES_FILENAME: &str = "tombstones";
/// Magic number at the start of the file.
pub const TOMBSTONES_MAGIC: u32 = 0x0130_BA30;
/// The only format version.
pub const TOMBSTONES_VERSION: u8 = 1;
const HEADER_SIZE: usize = 5;
const CRC_SIZE: usize = 4;

/// A closed time interval `[mint, maxt]` in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

impl Interval {
    /// A new interval.
    pub fn new(mint: i64, maxt: i64) -> Self {
        Interval { mint, maxt }
    }

    /// Whether `t` lies in the interval.
    pub fn contains(&self, t: i64) -> bool {
        t >= self.mint && t <= self.maxt
    }
}

/// Adds `n` to sorted, non-overlapping `ivs`, merging overlapping and adjacent intervals (time
/// is discrete, so `[1,2]` and `[3,4]` become `[1,4]`).
pub fn add_interval(ivs: &mut Vec<Interval>, n: Interval) {
    // First interval that ends at or after n.mint - 1 (could touch or overlap n).
    let lo = ivs.partition_point(|iv| iv.maxt < n.mint.saturating_sub(1));
    // First interval that starts after n.maxt + 1 (cannot touch n).
    let hi = ivs.partition_point(|iv| iv.mint <= n.maxt.saturating_add(1));
    if lo >= hi {
        ivs.insert(lo, n);
        return;
    }
    let merged = Interval {
        mint: n.mint.min(ivs[lo].mint),
        maxt: n.maxt.max(ivs[hi - 1].maxt),
    };
    ivs[lo] = merged;
    ivs.drain(lo + 1..hi);
}

/// Deleted intervals per series, ordered by series reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    by_series: BTreeMap<u64, Vec<Interval>>,
}

impl Tombstones {
    /// No tombstones.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `iv` deleted for series `series_ref`.
    pub fn add(&mut self, series_ref: u64, iv: Interval) {
        add_interval(self.by_series.entry(series_ref).or_default(), iv);
    }

    /// The sorted, merged deleted intervals of a series (empty when none).
    pub fn get(&self, series_ref: u64) -> &[Interval] {
        self.by_series
            .get(&series_ref)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether there are no tombstones at all.
    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// Total number of intervals.
    pub fn total(&self) -> u64 {
        self.by_series.values().map(|v| v.len() as u64).sum()
    }

    /// Iterates `(series_ref, intervals)` in series order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[Interval])> {
        self.by_series.iter().map(|(r, v)| (*r, v.as_slice()))
    }

    /// Encodes the whole file.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_SIZE + CRC_SIZE + self.by_series.len() * 12);
        out.extend_from_slice(&TOMBSTONES_MAGIC.to_be_bytes());
        out.push(TOMBSTONES_VERSION);
        for (r, ivs) in &self.by_series {
            for iv in ivs {
                super::chunks::put_uvarint(&mut out, *r);
                put_varint(&mut out, iv.mint);
                put_varint(&mut out, iv.maxt);
            }
        }
        let crc = crc32c::crc32c(&out[HEADER_SIZE..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Decodes a whole file's bytes; `file` names it in errors.
    pub fn decode(data: &[u8], file: &Path) -> Result<Self, BlockError> {
        if data.len() < HEADER_SIZE + CRC_SIZE {
            return Err(BlockError::corrupt(
                file,
                "tombstones header",
                0,
                format!(
                    "file is {} bytes, shorter than header and checksum",
                    data.len()
                ),
            ));
        }
        let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        if magic != TOMBSTONES_MAGIC {
            return Err(BlockError::corrupt(
                file,
                "tombstones header",
                0,
                format!("invalid magic number {magic:#010x}"),
            ));
        }
        if data[4] != TOMBSTONES_VERSION {
            return Err(BlockError::corrupt(
                file,
                "tombstones header",
                4,
                format!("invalid tombstone format {:#x}", data[4]),
            ));
        }
        let crc_at = data.len() - CRC_SIZE;
        let entries = &data[HEADER_SIZE..crc_at];
        let want = u32::from_be_bytes([
            data[crc_at],
            data[crc_at + 1],
            data[crc_at + 2],
            data[crc_at + 3],
        ]);
        let got = crc32c::crc32c(entries);
        if want != got {
            return Err(BlockError::corrupt(
                file,
                "tombstones checksum",
                crc_at as u64,
                format!("checksum mismatch: stored {want:#010x}, computed {got:#010x}"),
            ));
        }
        let mut t = Tombstones::new();
        let mut pos = 0;
        while pos < entries.len() {
            let at = (HEADER_SIZE + pos) as u64;
            let bad = || BlockError::corrupt(file, "tombstones entries", at, "truncated entry");
            let (r, n) = super::chunks::read_uvarint(&entries[pos..], 10).ok_or_else(bad)?;
            pos += n;
            let (mint, n) = read_varint(&entries[pos..]).ok_or_else(bad)?;
            pos += n;
            let (maxt, n) = read_varint(&entries[pos..]).ok_or_else(bad)?;
            pos += n;
            t.add(r, Interval { mint, maxt });
        }
        Ok(t)
    }

    /// Reads `<dir>/tombstones`; a missing file means no tombstones. Returns the file size too.
    pub fn read_from_dir(dir: &Path) -> Result<(Self, u64), BlockError> {
        let path = dir.join(TOMBSTONES_FILENAME);
        match std::fs::read(&path) {
            Ok(data) => Ok((Self::decode(&data, &path)?, data.len() as u64)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Tombstones::new(), 0)),
            Err(e) => Err(BlockError::io(&path, "read", e)),
        }
    }

    /// Writes `<dir>/tombstones` atomically; returns its size.
    pub fn write_to_dir(&self, dir: &Path) -> Result<u64, BlockError> {
        let data = self.encode();
        fsutil::write_file_atomic(&dir.join(TOMBSTONES_FILENAME), &data)?;
        Ok(data.len() as u64)
    }
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    super::chunks::put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn read_varint(buf: &[u8]) -> Option<(i64, usize)> {
    let (u, n) = super::chunks::read_uvarint(buf, 10)?;
    Some((((u >> 1) as i64) ^ -((u & 1) as i64), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_nine_bytes() {
        assert_eq!(
            Tombstones::new().encode(),
            [0x01, 0x30, 0xBA, 0x30, 0x01, 0, 0, 0, 0]
        );
    }

    #[test]
    fn intervals_merge_like_prometheus() {
        let mut v = Vec::new();
        add_interval(&mut v, Interval::new(10, 20));
        add_interval(&mut v, Interval::new(30, 40));
        add_interval(&mut v, Interval::new(0, 5));
        assert_eq!(
            v,
            [
                Interval::new(0, 5),
                Interval::new(10, 20),
                Interval::new(30, 40)
            ]
        );
        add_interval(&mut v, Interval::new(21, 29));
        assert_eq!(v, [Interval::new(0, 5), Interval::new(10, 40)]);
        add_interval(&mut v, Interval::new(i64::MIN, 7));
        assert_eq!(v, [Interval::new(i64::MIN, 7), Interval::new(10, 40)]);
        add_interval(&mut v, Interval::new(50, i64::MAX));
        add_interval(&mut v, Interval::new(8, 9));
        assert_eq!(
            v,
            [Interval::new(i64::MIN, 40), Interval::new(50, i64::MAX)]
        );
    }

    #[test]
    fn round_trip_and_crc_covers_entries_only() {
        let mut t = Tombstones::new();
        t.add(16, Interval::new(-5, 100));
        t.add(3, Interval::new(1_700_000_000_000, 1_700_000_100_000));
        let enc = t.encode();
        let crc = crc32c::crc32c(&enc[5..enc.len() - 4]);
        assert_eq!(&enc[enc.len() - 4..], &crc.to_be_bytes());
        assert_eq!(Tombstones::decode(&enc, Path::new("t")).unwrap(), t);
    }
}
