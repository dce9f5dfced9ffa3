//! Thanos' binary index-header built from Prometheus' fixture blocks: byte for byte what the
//! format prescribes (the expectation is assembled here from the index bytes and the layout,
//! not by our writer), sections equal to the index', reused after a restart without reading
//! the bucket, and rebuilt when the file on disk is damaged.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use tsdb_bucket::store::index_header::{
    load_or_build, HeaderSource, IndexHeader, IndexHeaderError, FILE_NAME,
};
use tsdb_bucket::{Bucket, BucketStore};
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{MatchType, Matcher};

fn fixture() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("fixtures/prom-blocks")
}

fn block_dirs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("index").is_file())
        .collect();
    v.sort();
    assert_eq!(v.len(), 3);
    v
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap())
}

/// The index-header of `index`, assembled from Thanos' layout: 14-byte header, the symbols
/// `[TOC.symbols, TOC.series)`, the index from `TOC.postings_table` to its end, and a TOC of
/// the two positions with the CRC32C of those 16 bytes.
fn expected_header(index: &[u8]) -> Vec<u8> {
    let toc = &index[index.len() - 52..];
    let (symbols, series, postings_table) = (be64(toc), be64(&toc[8..]), be64(&toc[40..]));
    let mut e = vec![0xBA, 0xAA, 0xD7, 0x92, 1, index[4]];
    e.extend_from_slice(&postings_table.to_be_bytes());
    e.extend_from_slice(&index[symbols as usize..series as usize]);
    let post_at = e.len() as u64;
    e.extend_from_slice(&index[postings_table as usize..]);
    let mut toc = Vec::new();
    toc.extend_from_slice(&14u64.to_be_bytes());
    toc.extend_from_slice(&post_at.to_be_bytes());
    toc.extend_from_slice(&crc32c::crc32c(&toc).to_be_bytes());
    e.extend_from_slice(&toc);
    e
}

async fn bucket_with_fixtures(dir: &Path) -> Bucket {
    std::fs::create_dir_all(dir).unwrap();
    let bucket = Bucket::from_url(&format!("file://{}", dir.display())).unwrap();
    for b in block_dirs() {
        let id = b.file_name().unwrap().to_str().unwrap().to_string();
        for rel in ["index", "meta.json", "chunks/000001"] {
            let data = std::fs::read(b.join(rel)).unwrap();
            bucket
                .put(&format!("{id}/{rel}"), data.into())
                .await
                .unwrap();
        }
    }
    bucket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_headers_match_the_format_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = bucket_with_fixtures(&tmp.path().join("bucket")).await;
    for b in block_dirs() {
        let id = b.file_name().unwrap().to_str().unwrap().to_string();
        let index = std::fs::read(b.join("index")).unwrap();
        let key = format!("{id}/index");
        let h = IndexHeader::build(&bucket, &key, index.len() as u64, None)
            .await
            .unwrap();
        assert_eq!(h.bytes(), expected_header(&index), "block {id}");

        // Its sections are the index' own.
        let toc = h.index_toc();
        assert_eq!(h.index_version(), index[4]);
        assert_eq!(h.index_size(), index.len() as u64);
        assert_eq!(
            h.symbols(),
            &index[toc.symbols as usize..toc.series as usize]
        );
        assert_eq!(h.postings_table(), &index[toc.postings_table as usize..]);
        for (off, bytes) in h.index_ranges() {
            assert_eq!(bytes, &index[off as usize..off as usize + bytes.len()]);
        }

        // Written atomically, then reused as it is.
        let path = tmp.path().join("cache").join(&id).join(FILE_NAME);
        let (_, src) = load_or_build(&path, &bucket, &key, index.len() as u64, None)
            .await
            .unwrap();
        assert_eq!(src, HeaderSource::Built);
        assert!(!path.with_extension("tmp").exists());
        assert_eq!(std::fs::read(&path).unwrap(), expected_header(&index));
        let (again, src) = load_or_build(&path, &bucket, &key, index.len() as u64, None)
            .await
            .unwrap();
        assert_eq!(src, HeaderSource::Reused);
        assert_eq!(again.bytes(), h.bytes());
    }
}

#[test]
fn damaged_headers_are_typed_errors() {
    let index = std::fs::read(block_dirs()[0].join("index")).unwrap();
    let good = expected_header(&index);
    IndexHeader::parse("good", good.clone()).unwrap();

    let short = good[..20].to_vec();
    assert!(matches!(
        IndexHeader::parse("x", short),
        Err(IndexHeaderError::TooShort { len: 20, .. })
    ));
    let mut magic = good.clone();
    magic[0] = 0;
    assert!(matches!(
        IndexHeader::parse("x", magic),
        Err(IndexHeaderError::BadMagic {
            found: 0x00AA_D792,
            ..
        })
    ));
    let mut version = good.clone();
    version[4] = 2;
    assert!(matches!(
        IndexHeader::parse("x", version),
        Err(IndexHeaderError::UnsupportedVersion { version: 2, .. })
    ));
    let mut toc = good.clone();
    let n = toc.len();
    toc[n - 5] ^= 1;
    assert!(matches!(
        IndexHeader::parse("x", toc),
        Err(IndexHeaderError::Checksum { section: "TOC", .. })
    ));
    // A flipped byte inside the symbol table fails its checksum.
    let mut sym = good.clone();
    sym[20] ^= 0x40;
    assert!(matches!(
        IndexHeader::parse("x", sym),
        Err(IndexHeaderError::Checksum {
            section: "symbol table",
            ..
        })
    ));
    // Every truncation is refused without a panic.
    for cut in (0..good.len()).step_by(97) {
        assert!(IndexHeader::parse("x", good[..cut].to_vec()).is_err());
    }
}

fn count_samples(store: &BucketStore) -> usize {
    let q = store.querier(i64::MIN, i64::MAX).unwrap();
    let ms = [Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap()];
    let mut set = q.select(true, None, &ms).unwrap();
    let mut n = 0;
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reuses_headers_and_a_damaged_one_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = bucket_with_fixtures(&tmp.path().join("bucket")).await;
    let cache = tmp.path().join("cache");
    let expected_samples = std::fs::read_to_string(fixture().join("expected.dump"))
        .unwrap()
        .lines()
        .count();
    tokio::task::spawn_blocking(move || {
        let first = BucketStore::new(bucket.clone(), &cache).unwrap();
        first.sync().unwrap();
        let m = first.metrics();
        assert_eq!(m.headers.built.load(Ordering::Relaxed), 3);
        // Four range reads per block build its header; opening the index then reads nothing
        // more, opening the chunk segment reads its 8-byte header.
        assert_eq!(m.fetch.requests.load(Ordering::Relaxed), 3 * 4 + 3);
        assert_eq!(count_samples(&first), expected_samples);
        drop(first);

        // A restart: headers reused, opening the blocks reads only the segment headers.
        let second = BucketStore::new(bucket.clone(), &cache).unwrap();
        second.sync().unwrap();
        let m = second.metrics();
        assert_eq!(m.headers.reused.load(Ordering::Relaxed), 3);
        assert_eq!(m.headers.built.load(Ordering::Relaxed), 0);
        assert_eq!(m.fetch.requests.load(Ordering::Relaxed), 3);
        assert_eq!(count_samples(&second), expected_samples);
        drop(second);

        // A damaged header is rebuilt, and answers stay whole.
        let victim = block_dirs()[1].file_name().unwrap().to_owned();
        let path = cache.join(victim).join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let third = BucketStore::new(bucket, &cache).unwrap();
        third.sync().unwrap();
        let m = third.metrics();
        assert_eq!(m.headers.rebuilt.load(Ordering::Relaxed), 1);
        assert_eq!(m.headers.reused.load(Ordering::Relaxed), 2);
        IndexHeader::read(&path).unwrap();
        assert_eq!(count_samples(&third), expected_samples);
    })
    .await
    .unwrap();
}
