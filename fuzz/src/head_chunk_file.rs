//! Fuzz body for the head chunk file reader (`chunks_head/NNNNNN`).

use tsdb_core::chunks_head::format::{decode_record, encode_record, RecordIter};

/// Reads `data` as head chunk file 1. Must not panic; every record it yields must decode
/// again at its reference and re-encode to exactly the bytes it was read from, records must
/// follow each other without gaps, and their chunks must decode without panicking.
pub fn head_chunk_file(data: &[u8]) {
    let mut it = RecordIter::new(1, data);
    let mut expect_at = 8usize;
    let mut buf = Vec::new();
    while let Some(r) = it.next() {
        let Ok(rec) = r else {
            // The damage is reported where the next record would have started.
            assert!(it.position() == expect_at || it.position() == 0);
            break;
        };
        let at = rec.chunk_ref.offset() as usize;
        assert_eq!(at, expect_at, "records must be contiguous");
        let (again, next) = decode_record(1, data, at).expect("a yielded record decodes again");
        assert_eq!(again, rec);
        buf.clear();
        let enc = rec.encoding | if rec.out_of_order { 0x80 } else { 0 };
        encode_record(
            &mut buf,
            rec.series_ref,
            rec.min_t,
            rec.max_t,
            enc,
            rec.data,
        );
        assert_eq!(&data[at..next], &buf[..], "re-encoding differs");
        expect_at = next;
        if let Ok(e) = chunkenc::Encoding::try_from(rec.encoding) {
            if let Ok(mut c) = chunkenc::iter(e, rec.data) {
                let mut n = 0;
                while let Ok(Some(_)) = c.next() {
                    n += 1;
                    if n > 1 << 16 {
                        break;
                    }
                }
            }
        }
    }
}
