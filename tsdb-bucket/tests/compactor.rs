//! The bucket compactor on blocks our `Db` cut and the shipper uploaded: leveled merges,
//! replica deduplication, the overlap halt, no-compact marks, retention and delayed deletion.
//! Before and after, the real `promtool tsdb dump` reads the bucket's live blocks, and must
//! find the same samples.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tsdb_bucket::compactor::sync::BucketState;
use tsdb_bucket::compactor::{BucketCompactor, CompactorConfig, ResolutionRetention};
use tsdb_bucket::meta::{source, NoCompactMark, NO_COMPACT_MARK_FILENAME};
use tsdb_bucket::{Bucket, BucketError, Shipper};
use tsdb_core::db::{Db, DbOptions};
use tsdb_index::Labels;
use ulid::Ulid;

const HOUR: i64 = 3_600_000;
const STEP: i64 = 60_000;

fn promtool() -> PathBuf {
    let dir = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/prometheus-ref/usr/bin")
        });
    dir.join("promtool")
}

/// `promtool tsdb dump` of a directory of blocks.
fn promtool_dump(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    let out = std::process::Command::new(promtool())
        .args(["tsdb", "dump"])
        .arg(dir)
        .output()
        .expect("run promtool (set PROMETHEUS_BIN)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A data directory with `hours` of data of 6 series, cut into 2 h blocks (the head keeps
/// the last 2 h, which are not shipped).
fn cut_blocks(dir: &Path, hours: i64) {
    let opts = DbOptions {
        no_block_compaction: true,
        ..DbOptions::default()
    };
    let db = Db::open(dir, opts).unwrap();
    let mut t = 0;
    while t < hours * HOUR {
        let mut app = db.appender();
        for i in 0..6 {
            let labels = Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("pod", &format!("pod-{i}")),
            ]);
            app.append(&labels, t, (t / STEP * (i + 1)) as f64).unwrap();
        }
        app.commit().unwrap();
        t += STEP;
    }
    db.compact().unwrap();
    db.close().unwrap();
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn ship(dir: &Path, bucket: &Bucket, ext: BTreeMap<String, String>) -> Vec<Ulid> {
    let report = Shipper::new(dir, bucket.clone())
        .with_labels(ext)
        .without_state_file()
        .sync()
        .await
        .unwrap();
    report.uploaded
}

/// Downloads the live blocks of the bucket (those not marked for deletion) into `dest`.
async fn download_live(bucket: &Bucket, dest: &Path) -> Vec<Ulid> {
    let state = BucketState::load(bucket).await.unwrap();
    let mut ids = Vec::new();
    for b in state.live() {
        let id = b.ulid();
        for obj in bucket.list(&format!("{id}/")).await.unwrap() {
            let local = dest.join(&obj.key);
            std::fs::create_dir_all(local.parent().unwrap()).unwrap();
            bucket.download_file(&obj.key, &local).await.unwrap();
        }
        ids.push(id);
    }
    ids
}

async fn live_dump(bucket: &Bucket) -> String {
    let dir = tempfile::tempdir().unwrap();
    download_live(bucket, dir.path()).await;
    promtool_dump(dir.path())
}

fn config(work: &Path) -> CompactorConfig {
    CompactorConfig::new(work)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_sidecar_blocks_into_8h_blocks_then_deletes_the_inputs_after_the_delay() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("prom");
    cut_blocks(&data, 20);
    let bucket =
        Bucket::from_url(&format!("file://{}", tmp.path().join("bucket").display())).unwrap();
    std::fs::create_dir_all(tmp.path().join("bucket")).unwrap();
    let ext = labels(&[("cluster", "eu-1")]);
    let shipped = ship(&data, &bucket, ext.clone()).await;
    assert_eq!(shipped.len(), 9);
    let before = live_dump(&bucket).await;
    assert!(
        before.lines().count() > 6 * 17 * 60,
        "{}",
        before.lines().count()
    );

    let compactor = BucketCompactor::new(bucket.clone(), config(&tmp.path().join("work")));
    let report = compactor.run().await.unwrap();
    // [0, 8 h) and [8 h, 16 h) are complete 8 h ranges; [16 h, 18 h) is the newest block.
    assert_eq!(report.compactions.len(), 2, "{report:?}");
    for c in &report.compactions {
        assert_eq!(c.inputs.len(), 4);
        let out = c.output.as_ref().unwrap();
        assert_eq!(out.compaction.level, 2);
        assert_eq!(out.max_time - out.min_time, 8 * HOUR);
    }
    assert!(report.deleted.is_empty());
    let state = BucketState::load(&bucket).await.unwrap();
    assert_eq!(state.blocks.len(), 11);
    assert_eq!(state.live().count(), 3);
    for b in state.live().filter(|b| b.meta.block.compaction.level == 2) {
        assert_eq!(b.meta.thanos.labels, ext);
        assert_eq!(b.meta.thanos.source, source::COMPACTOR);
    }
    assert_eq!(live_dump(&bucket).await, before);

    // Nothing more to merge; with no delay the marked inputs go.
    let mut cfg = config(&tmp.path().join("work"));
    cfg.delete_delay_secs = 0;
    let report = BucketCompactor::new(bucket.clone(), cfg)
        .run()
        .await
        .unwrap();
    assert!(report.compactions.is_empty(), "{report:?}");
    assert_eq!(report.deleted.len(), 8);
    let state = BucketState::load(&bucket).await.unwrap();
    assert_eq!(state.blocks.len(), 3);
    assert!(state.skipped.is_empty(), "{:?}", state.skipped);
    assert_eq!(bucket.list_dirs().await.unwrap().len(), 3);
    assert_eq!(live_dump(&bucket).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_are_merged_into_one_copy_and_overlaps_halt_without_replica_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket_dir = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    let bucket = Bucket::from_url(&format!("file://{}", bucket_dir.display())).unwrap();
    for replica in ["a", "b"] {
        let data = tmp.path().join(replica);
        cut_blocks(&data, 12);
        ship(
            &data,
            &bucket,
            labels(&[("cluster", "eu-1"), ("replica", replica)]),
        )
        .await;
    }
    // One replica's samples, as promtool reads them.
    let one_replica = {
        let dir = tempfile::tempdir().unwrap();
        let state = BucketState::load(&bucket).await.unwrap();
        for b in state
            .live()
            .filter(|b| b.meta.thanos.labels["replica"] == "a")
        {
            let id = b.ulid();
            for obj in bucket.list(&format!("{id}/")).await.unwrap() {
                let local = dir.path().join(&obj.key);
                std::fs::create_dir_all(local.parent().unwrap()).unwrap();
                bucket.download_file(&obj.key, &local).await.unwrap();
            }
        }
        promtool_dump(dir.path())
    };

    // Without replica labels, the replicas are two groups, compacted apart.
    let mut cfg = config(&tmp.path().join("work"));
    cfg.replica_labels = vec!["replica".into()];
    cfg.vertical_compaction = false;
    let mut halting = cfg.clone();
    halting.replica_labels.clear();
    let separate = BucketCompactor::new(bucket.clone(), halting.clone())
        .run()
        .await
        .unwrap();
    assert!(separate
        .compactions
        .iter()
        .all(|c| c.group.contains("replica")));

    // Both replicas shipped with the same labels: one group of overlapping blocks, and no
    // deduplication asked for. The compactor halts and marks nothing.
    let overlapping = tempfile::tempdir().unwrap();
    let ob = Bucket::from_url(&format!("file://{}", overlapping.path().display())).unwrap();
    for replica in ["a", "b"] {
        ship(
            &tmp.path().join(replica),
            &ob,
            labels(&[("cluster", "eu-1")]),
        )
        .await;
    }
    let err = BucketCompactor::new(ob.clone(), halting.clone())
        .run()
        .await
        .unwrap_err();
    match &err {
        BucketError::Halt { group, message } => {
            assert!(group.contains("cluster"), "{group}");
            assert!(message.contains("overlap"), "{message}");
        }
        other => panic!("expected a halt, got {other}"),
    }
    assert!(BucketState::load(&ob)
        .await
        .unwrap()
        .blocks
        .iter()
        .all(|b| b.deletion_mark.is_none()));

    // Deduplicating by `replica`: one group, merged into single copies.
    let fresh = tempfile::tempdir().unwrap();
    let dedup = Bucket::from_url(&format!("file://{}", fresh.path().display())).unwrap();
    for replica in ["a", "b"] {
        ship(
            &tmp.path().join(replica),
            &dedup,
            labels(&[("cluster", "eu-1"), ("replica", replica)]),
        )
        .await;
    }
    let report = BucketCompactor::new(dedup.clone(), cfg)
        .run()
        .await
        .unwrap();
    assert!(!report.compactions.is_empty());
    let state = BucketState::load(&dedup).await.unwrap();
    for b in state.live() {
        assert_eq!(
            b.meta.thanos.labels,
            labels(&[("cluster", "eu-1")]),
            "{b:?}"
        );
    }
    assert_eq!(live_dump(&dedup).await, one_replica);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_compact_marks_are_never_merged_nor_merged_across() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("prom");
    cut_blocks(&data, 20);
    let bucket_dir = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    let bucket = Bucket::from_url(&format!("file://{}", bucket_dir.display())).unwrap();
    ship(&data, &bucket, labels(&[("cluster", "eu-1")])).await;
    let before = live_dump(&bucket).await;
    let state = BucketState::load(&bucket).await.unwrap();
    let frozen = state.blocks[1].ulid(); // [2 h, 4 h)
    let mark = NoCompactMark::now(frozen, "manual", "test");
    bucket
        .put(
            &format!("{frozen}/{NO_COMPACT_MARK_FILENAME}"),
            mark.to_json().into(),
        )
        .await
        .unwrap();

    let report = BucketCompactor::new(bucket.clone(), config(&tmp.path().join("work")))
        .run()
        .await
        .unwrap();
    assert!(!report.compactions.is_empty());
    for c in &report.compactions {
        assert!(!c.inputs.contains(&frozen), "{c:?}");
        let out = c.output.as_ref().unwrap();
        assert!(out.min_time >= 4 * HOUR, "{out:?}");
    }
    let state = BucketState::load(&bucket).await.unwrap();
    assert!(state.live().any(|b| b.ulid() == frozen));
    assert_eq!(live_dump(&bucket).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_marks_old_blocks_and_a_half_deleted_block_reads_as_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("prom");
    cut_blocks(&data, 8);
    let bucket_dir = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    let bucket = Bucket::from_url(&format!("file://{}", bucket_dir.display())).unwrap();
    let shipped = ship(&data, &bucket, labels(&[("cluster", "eu-1")])).await;
    assert_eq!(shipped.len(), 3);

    // A block whose meta.json is gone (a deletion that stopped half way) is skipped.
    bucket
        .delete(&format!("{}/meta.json", shipped[0]))
        .await
        .unwrap();
    let mut cfg = config(&tmp.path().join("work"));
    cfg.retention = ResolutionRetention {
        raw_ms: HOUR,
        ..Default::default()
    };
    let report = BucketCompactor::new(bucket.clone(), cfg.clone())
        .run()
        .await
        .unwrap();
    // The samples are from 1970: far beyond an hour of retention.
    assert_eq!(report.marked_by_retention.len(), 2, "{report:?}");
    assert_eq!(report.skipped_blocks.len(), 1);
    assert!(report.deleted.is_empty());
    cfg.delete_delay_secs = 0;
    let report = BucketCompactor::new(bucket.clone(), cfg.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(report.deleted.len(), 2);
    assert!(
        report.deleted_partial.is_empty(),
        "a fresh partial upload stays"
    );
    assert!(BucketState::load(&bucket).await.unwrap().blocks.is_empty());
    // Once old enough, the aborted upload goes too.
    cfg.partial_upload_max_age_secs = 0;
    let report = BucketCompactor::new(bucket.clone(), cfg)
        .run()
        .await
        .unwrap();
    assert_eq!(report.deleted_partial, vec![shipped[0].to_string()]);
    assert!(bucket.list_dirs().await.unwrap().is_empty());
}
