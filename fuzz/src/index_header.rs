//! Thanos' binary index-header: arbitrary bytes parse or fail with a typed error, and whatever
//! parses re-encodes to the same bytes and describes index ranges that fit the index.

use tsdb_bucket::store::index_header::IndexHeader;

/// Parses `data` as an index-header and checks what parses.
pub fn index_header(data: &[u8]) {
    let Ok(h) = IndexHeader::parse("fuzz", data.to_vec()) else {
        return;
    };
    let again = IndexHeader::encode(
        h.index_version(),
        h.index_toc().postings_table,
        h.symbols(),
        h.postings_table(),
    );
    assert_eq!(again, data);
    for (off, bytes) in h.index_ranges() {
        assert!(off + bytes.len() as u64 <= h.index_size());
    }
}
