//! The bucket store over Prometheus' fixture blocks shipped to a file:// bucket: every
//! sample reads back exactly as Prometheus wrote it (its own dump), with the external
//! labels added; a narrow query reads a fraction of the bucket; a matcher on an external
//! label rules blocks out without reading them; new and deleted blocks follow a sync.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use tsdb_bucket::meta::{DeletionMark, DELETION_MARK_FILENAME};
use tsdb_bucket::{Bucket, BucketStore, Shipper};
use tsdb_core::gofloat::go_g;
use tsdb_core::storage::{Queryable, ValueType};
use tsdb_index::{MatchType, Matcher};

fn fixture() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("fixtures/prom-blocks")
}

fn m(kind: MatchType, name: &str, value: &str) -> Matcher {
    Matcher::new(kind, name, value).unwrap()
}

/// Every sample matching `ms` as promtool-dump lines, without the labels in `drop`.
fn dump(q: &dyn Queryable, ms: &[Matcher], drop: &[&str]) -> Vec<String> {
    let querier = q.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = querier.select(true, None, ms).unwrap();
    let mut out = Vec::new();
    while let Some(s) = set.next_series() {
        let s = s.unwrap();
        let labels = s.labels().without(drop).to_string();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push(format!("{labels} {} {t}", go_g(v)));
        }
        assert!(it.err().is_none(), "{:?}", it.err());
    }
    out
}

async fn ship_fixture(bucket: &Bucket, labels: &[(&str, &str)]) -> Vec<ulid::Ulid> {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Shipper::new(fixture(), bucket.clone())
        .with_labels(labels)
        .with_upload_compacted(true)
        .without_state_file()
        .sync()
        .await
        .unwrap()
        .uploaded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_bucket_in_place_as_prometheus_wrote_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket_dir = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    let bucket = Bucket::from_url(&format!("file://{}", bucket_dir.display())).unwrap();
    let shipped = ship_fixture(&bucket, &[("cluster", "eu-1")]).await;
    assert_eq!(shipped.len(), 3);
    let total: u64 = bucket.list("").await.unwrap().iter().map(|o| o.size).sum();

    let cache = tmp.path().join("cache");
    let store = tokio::task::spawn_blocking(move || {
        let store = BucketStore::new(bucket, cache).unwrap();
        let report = store.sync().unwrap();
        assert_eq!(report.added.len(), 3);
        store
    })
    .await
    .unwrap();
    let after_open = store.stats().bytes.load(Ordering::Relaxed);
    assert!(
        after_open > 0 && after_open < total,
        "{after_open} of {total}"
    );

    let store = std::sync::Arc::new(store);
    let s = store.clone();
    tokio::task::spawn_blocking(move || {
        // A narrow query reads a small part of the bucket.
        let narrow = dump(
            &*s,
            &[
                m(MatchType::Equal, "__name__", "http_requests_total"),
                m(MatchType::Equal, "code", "500"),
                m(MatchType::Equal, "instance", "10.0.0.1:9100"),
            ],
            &["cluster"],
        );
        assert_eq!(narrow.len(), 1920);
        let narrow_bytes = s.stats().bytes.load(Ordering::Relaxed);
        println!(
            "bucket {total} bytes; opening 3 blocks read {after_open}; one series read {narrow_bytes} in all"
        );
        assert!(narrow_bytes < total, "{narrow_bytes} of {total}");

        // A matcher on an external label that no block has reads nothing.
        let before = s.stats().requests.load(Ordering::Relaxed);
        let none = dump(
            &*s,
            &[
                m(MatchType::Equal, "cluster", "us-1"),
                m(MatchType::Regexp, "__name__", ".+"),
            ],
            &[],
        );
        assert!(none.is_empty());
        assert_eq!(s.stats().requests.load(Ordering::Relaxed), before);

        // Everything, with the external label: exactly Prometheus' own dump.
        let all = dump(
            &*s,
            &[
                m(MatchType::Equal, "cluster", "eu-1"),
                m(MatchType::Regexp, "__name__", ".+"),
            ],
            &["cluster"],
        );
        let expected: Vec<String> = std::fs::read_to_string(fixture().join("expected.dump"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(all, expected);
        let q = s.querier(i64::MIN, i64::MAX).unwrap();
        assert_eq!(q.label_values("cluster", &[]).unwrap(), ["eu-1"]);
        assert!(q.label_names(&[]).unwrap().contains(&"cluster".to_string()));
        // The external label is on every series.
        let with = dump(&*s, &[m(MatchType::Equal, "job", "api")], &[]);
        assert!(with.iter().all(|l| l.contains("cluster=\"eu-1\"")));
    })
    .await
    .unwrap();

    // A block marked for deletion is no longer served after a sync.
    let bucket = Bucket::from_url(&format!("file://{}", bucket_dir.display())).unwrap();
    let mark = DeletionMark::now(shipped[0], "test");
    bucket
        .put(
            &format!("{}/{DELETION_MARK_FILENAME}", shipped[0]),
            mark.to_json().into(),
        )
        .await
        .unwrap();
    let s = store.clone();
    tokio::task::spawn_blocking(move || {
        let report = s.sync().unwrap();
        assert_eq!(report.removed, vec![shipped[0]]);
        assert_eq!(report.serving, 2);
        let all = dump(&*s, &[m(MatchType::Regexp, "__name__", ".+")], &["cluster"]);
        assert!(!all.is_empty() && all.len() < 16800, "{}", all.len());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrow_query_reads_a_small_part_of_a_large_block() {
    use tsdb_core::db::{Db, DbOptions};
    use tsdb_index::Labels;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("prom");
    let db = Db::open(&data, DbOptions::default()).unwrap();
    // 3000 series over 5 h, cut into 2 h blocks.
    let mut t = 0;
    while t < 5 * 3_600_000 {
        let mut app = db.appender();
        for i in 0..3000 {
            let labels = Labels::from_pairs([
                ("__name__", "node_cpu_seconds_total"),
                ("instance", &format!("host-{:04}", i / 8)),
                ("cpu", &format!("{}", i % 8)),
            ]);
            app.append(&labels, t, (t / 1000 + i) as f64).unwrap();
        }
        app.commit().unwrap();
        t += 60_000;
    }
    db.compact().unwrap();
    let local = dump(&db, &[m(MatchType::Equal, "instance", "host-0042")], &[]);
    db.close().unwrap();
    let bucket_dir = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    let bucket = Bucket::from_url(&format!("file://{}", bucket_dir.display())).unwrap();
    Shipper::new(&data, bucket.clone()).sync().await.unwrap();
    let total: u64 = bucket.list("").await.unwrap().iter().map(|o| o.size).sum();
    let cache = tmp.path().join("cache");
    tokio::task::spawn_blocking(move || {
        let store = BucketStore::new(bucket, cache).unwrap();
        assert_eq!(store.sync().unwrap().serving, 1);
        let opened = store.stats().bytes.load(Ordering::Relaxed);
        let got = dump(
            &store,
            &[m(MatchType::Equal, "instance", "host-0042")],
            &[],
        );
        let read = store.stats().bytes.load(Ordering::Relaxed);
        println!(
            "bucket {total} bytes; opening the block read {opened}; 8 of 3000 series read {read} in all ({} requests)",
            store.stats().requests.load(Ordering::Relaxed)
        );
        // The head kept the last hours: the block holds [0, 2 h).
        let in_block: Vec<String> = local
            .iter()
            .filter(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap() < 7_200_000)
            .cloned()
            .collect();
        assert_eq!(got, in_block);
        assert!(read * 2 < total, "read {read} of {total}");
    })
    .await
    .unwrap();
}
