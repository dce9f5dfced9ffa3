//! Damaged index files give typed errors naming the file and the section, never a panic.

mod common;

use tsdb_index::postings::{collect, Postings};
use tsdb_index::{IndexError, Reader};

fn fixture() -> (String, Vec<u8>) {
    let dir = &common::fixture_blocks()[0];
    let path = dir.join("index");
    (path.display().to_string(), std::fs::read(&path).unwrap())
}

/// Opens `bytes` and reads every section; the first error.
fn open_and_walk(name: &str, bytes: Vec<u8>) -> Result<(), IndexError> {
    let r = Reader::from_bytes(name, bytes)?;
    r.verify()?;
    Ok(())
}

fn crc_section(e: &IndexError) -> Option<(&str, &'static str)> {
    match e {
        IndexError::Crc { file, section, .. } => Some((file.as_str(), *section)),
        _ => None,
    }
}

#[test]
fn flipped_byte_in_each_section_names_it() {
    let (name, orig) = fixture();
    let r = Reader::from_bytes(name.clone(), orig.clone()).unwrap();
    let toc = *r.toc();
    let first_series = collect(r.all_postings().unwrap()).unwrap()[0] * 16;
    drop(r);
    let flip = |at: u64| {
        let mut b = orig.clone();
        b[at as usize] ^= 0x5a;
        b
    };

    // Symbols: inside the first symbol's bytes.
    let e = Reader::from_bytes(name.clone(), flip(toc.symbols + 10)).unwrap_err();
    assert_eq!(crc_section(&e), Some((name.as_str(), "symbols")), "{e}");

    // Postings offset table.
    let e = Reader::from_bytes(name.clone(), flip(toc.postings_table + 12)).unwrap_err();
    assert_eq!(
        crc_section(&e),
        Some((name.as_str(), "postings offset table")),
        "{e}"
    );

    // TOC.
    let e = Reader::from_bytes(name.clone(), flip(orig.len() as u64 - 20)).unwrap_err();
    assert_eq!(crc_section(&e), Some((name.as_str(), "TOC")), "{e}");

    // Series: the file opens, reading the series fails.
    let r = Reader::from_bytes(name.clone(), flip(first_series + 3)).unwrap();
    let (mut l, mut c) = (Vec::new(), Vec::new());
    let e = r.series(first_series / 16, &mut l, &mut c).unwrap_err();
    assert_eq!(crc_section(&e), Some((name.as_str(), "series")), "{e}");
    let e = r.verify().unwrap_err();
    assert_eq!(crc_section(&e), Some((name.as_str(), "series")), "{e}");

    // Postings: the all-postings list is the first list, 4-byte aligned after the postings
    // start; flip one of its IDs.
    let list = toc.postings.div_ceil(4) * 4;
    let r = Reader::from_bytes(name.clone(), flip(list + 9)).unwrap();
    let e = r
        .all_postings()
        .err()
        .expect("corrupt postings list must fail");
    assert_eq!(crc_section(&e), Some((name.as_str(), "postings")), "{e}");
    assert!(r.verify().is_err());
}

#[test]
fn header_errors() {
    let (name, orig) = fixture();
    let mut b = orig.clone();
    b[0] = 0;
    assert!(matches!(
        Reader::from_bytes(name.clone(), b).unwrap_err(),
        IndexError::BadMagic {
            found: 0x00aad700,
            ..
        }
    ));
    let mut b = orig.clone();
    b[4] = 9;
    assert!(matches!(
        Reader::from_bytes(name.clone(), b).unwrap_err(),
        IndexError::UnsupportedVersion { version: 9, .. }
    ));
    let e = Reader::from_bytes(name.clone(), Vec::new()).unwrap_err();
    assert!(e.to_string().contains(&name), "{e}");
    // An empty file on disk too.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("index");
    std::fs::write(&p, b"").unwrap();
    let e = Reader::open(&p).unwrap_err();
    assert!(e.to_string().contains(&p.display().to_string()), "{e}");
    // A missing file.
    assert!(matches!(
        Reader::open(dir.path().join("nope")).unwrap_err(),
        IndexError::Io { op: "open", .. }
    ));
}

#[test]
fn every_truncation_fails_cleanly() {
    let (name, orig) = fixture();
    for len in 0..orig.len() {
        let e = open_and_walk(&name, orig[..len].to_vec());
        assert!(e.is_err(), "truncated to {len} bytes must fail");
    }
}

#[test]
fn every_flipped_byte_is_caught_or_harmless() {
    let (name, orig) = fixture();
    let r = Reader::from_bytes(name.clone(), orig.clone()).unwrap();
    let toc = *r.toc();
    drop(r);
    for at in 0..orig.len() {
        let mut b = orig.clone();
        b[at] ^= 0xff;
        let res = open_and_walk(&name, b);
        // Label indices (between the series and the postings) are not read by v2 readers, and
        // padding is never checksummed; everything else is.
        let unread = (at as u64 >= toc.label_indices && (at as u64) < toc.postings)
            || (at as u64 >= toc.label_indices_table && (at as u64) < toc.postings_table)
            || orig[at] == 0;
        if !unread {
            assert!(res.is_err(), "flip at {at} went unnoticed");
        }
        if let Err(e) = res {
            assert!(e.to_string().contains(&name), "{e}");
        }
    }
}

#[test]
fn seek_past_corrupt_list_reports_error_through_merge() {
    // A reader over valid bytes, postings merged across values: the cursor API reports no error.
    let (name, orig) = fixture();
    let r = Reader::from_bytes(name, orig).unwrap();
    let name = r.label_names()[0];
    let values = r.label_values(name).unwrap();
    let mut p = r.postings(name, &values).unwrap();
    while p.next() {}
    assert!(p.err().is_none());
}

#[test]
fn series_reference_near_the_end_fails_cleanly() {
    let (name, orig) = fixture();
    let r = Reader::from_bytes(name, orig.clone()).unwrap();
    let (mut l, mut c) = (Vec::new(), Vec::new());
    let len = orig.len() as u64;
    for id in [
        len / 16,
        len / 16 - 1,
        len / 16 + 1,
        u64::MAX / 16,
        u64::MAX,
    ] {
        assert!(r.series(id, &mut l, &mut c).is_err(), "series {id}");
    }
}
