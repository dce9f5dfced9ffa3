//! Corrupted blocks (truncated files, flipped bytes in every file and section, bad magic
//! numbers, wrong checksums, bad meta) give typed errors that name the file, never a panic.

mod block_common;

use std::path::Path;

use block_common::{copy_first_block, read_all};
use tsdb_core::block::reader::Block;
use tsdb_core::block::BlockError;

fn mutate(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut d = std::fs::read(path).unwrap();
    f(&mut d);
    std::fs::write(path, d).unwrap();
}

/// Opens and fully reads the block in a fresh copy after applying `damage`; returns the error.
fn damaged(damage: impl FnOnce(&Path)) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let block = copy_first_block(tmp.path());
    assert!(read_all(tmp.path()).is_ok(), "pristine copy must read");
    damage(&block);
    match read_all(tmp.path()) {
        Ok(_) => panic!("damaged block read without error"),
        Err(e) => e,
    }
}

#[test]
fn meta_errors_name_meta_json() {
    let e = damaged(|b| mutate(&b.join("meta.json"), |d| d.truncate(d.len() / 2)));
    assert!(e.contains("meta.json"), "{e}");
    let e = damaged(|b| {
        mutate(&b.join("meta.json"), |d| {
            let s = String::from_utf8(d.clone())
                .unwrap()
                .replace("\"version\": 1", "\"version\": 2");
            *d = s.into_bytes();
        })
    });
    assert!(e.contains("meta.json") && e.contains("version 2"), "{e}");
    let e = damaged(|b| std::fs::remove_file(b.join("meta.json")).unwrap());
    assert!(e.contains("meta.json"), "{e}");
}

#[test]
fn tombstone_errors_name_file_and_section() {
    let e = damaged(|b| mutate(&b.join("tombstones"), |d| d[0] ^= 0xff));
    assert!(e.contains("tombstones") && e.contains("magic"), "{e}");
    let e = damaged(|b| mutate(&b.join("tombstones"), |d| d.truncate(6)));
    assert!(e.contains("tombstones header"), "{e}");
    let e = damaged(|b| mutate(&b.join("tombstones"), |d| *d.last_mut().unwrap() ^= 1));
    assert!(e.contains("tombstones checksum"), "{e}");
    let e = damaged(|b| mutate(&b.join("tombstones"), |d| d[4] = 2));
    assert!(e.contains("tombstone format"), "{e}");
    // A valid checksum over a truncated entry.
    let e = damaged(|b| {
        let mut d = vec![0x01, 0x30, 0xBA, 0x30, 0x01, 0x05, 0x80];
        let crc = crc32c::crc32c(&d[5..]);
        d.extend_from_slice(&crc.to_be_bytes());
        std::fs::write(b.join("tombstones"), d).unwrap();
    });
    assert!(e.contains("tombstones entries"), "{e}");
}

#[test]
fn chunk_segment_errors_name_file_and_section() {
    let seg = |b: &Path| b.join("chunks/000001");
    let e = damaged(|b| mutate(&seg(b), |d| d[1] ^= 0x40));
    assert!(
        e.contains("000001") && e.contains("segment header") && e.contains("magic"),
        "{e}"
    );
    let e = damaged(|b| mutate(&seg(b), |d| d[4] = 9));
    assert!(e.contains("000001") && e.contains("version"), "{e}");
    let e = damaged(|b| mutate(&seg(b), |d| d.truncate(5)));
    assert!(
        e.contains("000001") && e.contains("shorter than the header"),
        "{e}"
    );
    // Truncation in the middle of the records: the chunks past the cut are out of range.
    let e = damaged(|b| mutate(&seg(b), |d| d.truncate(d.len() / 2)));
    assert!(e.contains("000001") && e.contains("chunk"), "{e}");
    // A flipped byte in every region of the records: checksum or length errors, never a panic.
    let len = std::fs::metadata(seg(&copy_first_block(tempfile::tempdir().unwrap().path())))
        .unwrap()
        .len() as usize;
    for pos in (8..len).step_by(len / 23) {
        let e = damaged(|b| mutate(&seg(b), |d| d[pos] ^= 0x10));
        assert!(e.contains("000001"), "flip at {pos}: {e}");
    }
    let e = damaged(|b| std::fs::remove_file(seg(b)).unwrap());
    assert!(e.contains("segment index 0 out of range"), "{e}");
}

#[test]
fn index_errors_name_the_index_file() {
    let len = {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::metadata(copy_first_block(tmp.path()).join("index"))
            .unwrap()
            .len() as usize
    };
    let e = damaged(|b| mutate(&b.join("index"), |d| d[0] = 0));
    assert!(e.contains("index") && e.contains("magic"), "{e}");
    let e = damaged(|b| mutate(&b.join("index"), |d| d.truncate(d.len() - 10)));
    assert!(e.contains("/index"), "{e}");
    // Flip a byte in each region of the file: symbols, series, postings, offset table, TOC.
    let mut failures = 0;
    for pos in (5..len).step_by(97) {
        let tmp = tempfile::tempdir().unwrap();
        let b = copy_first_block(tmp.path());
        mutate(&b.join("index"), |d| d[pos] ^= 0x01);
        // Some bytes (zero padding between sections) are not covered by any checksum; reading
        // must still not panic, and any error must name the index file.
        if let Err(e) = read_all(tmp.path()) {
            assert!(e.contains("index"), "flip at {pos}: {e}");
            failures += 1;
        }
    }
    assert!(
        failures > len / 97 / 2,
        "most index flips must be detected ({failures})"
    );
}

#[test]
fn open_errors_are_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let b = copy_first_block(tmp.path());
    mutate(&b.join("chunks/000001"), |d| d[0] = 0);
    match Block::open(&b) {
        Err(BlockError::Corrupt {
            file,
            section,
            offset,
            ..
        }) => {
            assert!(file.ends_with("chunks/000001"));
            assert_eq!(section, "segment header");
            assert_eq!(offset, 0);
        }
        other => panic!("unexpected {other:?}"),
    }
    std::fs::remove_file(b.join("index")).unwrap();
    assert!(matches!(Block::open(&b), Err(BlockError::Index { .. })));
}
