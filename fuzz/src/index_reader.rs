//! Fuzz body for the index reader: open arbitrary bytes as an index and read every section.
//!
//! Each input is tried twice: as given, and with every checksum recomputed (best effort), so
//! that mutations reach the decoders behind the CRC checks instead of stopping at them.

use std::sync::OnceLock;

use tsdb_index::postings::Postings;
use tsdb_index::{postings_for_matchers, MatchType, Matcher, Reader};

/// Opens `data` as an index and walks it; must never panic, hang or over-allocate.
pub fn index_reader(data: &[u8]) {
    walk(data.to_vec());
    let fixed = fix_checksums(data);
    if fixed != data {
        walk(fixed);
    }
}

fn walk(data: Vec<u8>) {
    let Ok(r) = Reader::from_bytes("fuzz", data) else {
        return;
    };
    let _ = r.symbols().count();
    let _ = r.verify();
    let names: Vec<String> = r.label_names().into_iter().map(String::from).collect();
    for name in names.iter().take(8) {
        let Ok(values) = r.label_values(name) else {
            continue;
        };
        if let Ok(mut p) = r.postings(name, &values) {
            while p.next() {}
        }
        for m in matchers() {
            let mut m = m.clone();
            m.name.clone_from(name);
            if let Ok(mut p) = postings_for_matchers(&r, &[m]) {
                let (mut labels, mut chunks) = (Vec::new(), Vec::new());
                let mut n = 0;
                while p.next() && n < 1000 {
                    let _ = r.series(p.at(), &mut labels, &mut chunks);
                    n += 1;
                }
            }
        }
    }
}

/// Matchers to plan over every label name (compiled once: regex compilation is slow).
fn matchers() -> &'static [Matcher] {
    static M: OnceLock<Vec<Matcher>> = OnceLock::new();
    M.get_or_init(|| {
        [
            (MatchType::Regexp, ".+"),
            (MatchType::NotEqual, ""),
            (MatchType::Equal, ""),
            (MatchType::NotRegexp, "a.*"),
        ]
        .into_iter()
        .filter_map(|(kind, pattern)| Matcher::new(kind, "", pattern).ok())
        .collect()
    })
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be64(d: &[u8], at: usize) -> Option<u64> {
    let b = d.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_be_bytes(a))
}

fn uvarint(d: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for i in 0..10 {
        let b = *d.get(at + i)?;
        x |= ((b & 0x7f) as u64) << (7 * i);
        if b < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

/// Recomputes the CRC of a `len BE32 | payload | CRC` section at `off`; returns its end.
fn fix_section(d: &mut [u8], off: usize) -> Option<usize> {
    let len = be32(d, off)? as usize;
    let end = off.checked_add(4)?.checked_add(len)?;
    if end.checked_add(4)? > d.len() {
        return None;
    }
    let crc = crc32c::crc32c(&d[off + 4..end]);
    d[end..end + 4].copy_from_slice(&crc.to_be_bytes());
    Some(end + 4)
}

/// Recomputes every checksum it can find (TOC, symbols, series, postings, offset tables).
fn fix_checksums(data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    if d.len() < 52 + 5 {
        return d;
    }
    let toc = d.len() - 52;
    let offs: Vec<usize> = (0..6)
        .map(|i| be64(&d, toc + 8 * i).map_or(usize::MAX, |v| v.min(usize::MAX as u64) as usize))
        .collect();
    let (symbols, series, label_indices, label_table, postings, postings_table) =
        (offs[0], offs[1], offs[2], offs[3], offs[4], offs[5]);
    fix_section(&mut d, symbols);
    fix_section(&mut d, label_table);
    fix_section(&mut d, postings_table);
    // Series entries, 16-byte aligned, up to the label indices.
    let mut pos = series;
    let end = label_indices.min(toc);
    let mut guard = 0;
    while pos < end && guard < 100_000 {
        guard += 1;
        pos = pos.div_ceil(16) * 16;
        let Some((len, n)) = uvarint(&d, pos) else {
            break;
        };
        let body = pos + n;
        let Some(crc_at) = body.checked_add(len as usize) else {
            break;
        };
        if crc_at.saturating_add(4) > toc {
            break;
        }
        let crc = crc32c::crc32c(&d[body..crc_at]);
        d[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
        pos = crc_at + 4;
    }
    // Label indices and postings lists: consecutive 4-byte aligned sections.
    for (start, stop) in [(label_indices, postings), (postings, label_table)] {
        let mut pos = start;
        let stop = stop.min(toc);
        let mut guard = 0;
        while pos < stop && guard < 100_000 {
            guard += 1;
            pos = pos.div_ceil(4) * 4;
            match fix_section(&mut d, pos) {
                Some(next) if next <= stop => pos = next,
                _ => break,
            }
        }
    }
    let crc = crc32c::crc32c(&d[toc..toc + 48]);
    d[toc + 48..toc + 52].copy_from_slice(&crc.to_be_bytes());
    d
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixing_checksums_of_a_valid_file_changes_nothing() {
        // A tiny valid index: header, empty symbol table, all-postings list, tables, TOC —
        // built by hand to keep this test independent of the writer.
        let mut d = vec![0xba, 0xaa, 0xd7, 0x00, 0x02];
        let crc0 = crc32c::crc32c(&[0, 0, 0, 0]);
        d.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0]);
        d.extend_from_slice(&crc0.to_be_bytes());
        assert_eq!(super::fix_checksums(&d), d);
    }
}
