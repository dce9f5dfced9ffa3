//! The shipper against Prometheus' fixture blocks: file:// and memory:// buckets, restarts,
//! partial uploads and a store that fails mid-upload.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::stream::BoxStream;
use object_store::path::Path as ObjPath;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use tsdb_bucket::meta::source;
use tsdb_bucket::shipper::{bucket_metas, ShipperState, SHIPPER_STATE_FILENAME};
use tsdb_bucket::{Bucket, Shipper, ThanosMeta};
use ulid::Ulid;

fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A copy of the fixture blocks; returns the temp dir and the block ULIDs sorted.
fn fixture_copy() -> (tempfile::TempDir, Vec<Ulid>) {
    let tmp = tempfile::tempdir().unwrap();
    let src = shared_dir().join("fixtures/prom-blocks");
    let mut ids = Vec::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if let Ok(id) = e.file_name().to_str().unwrap().parse::<Ulid>() {
            copy_dir(&e.path(), &tmp.path().join(e.file_name()));
            ids.push(id);
        }
    }
    ids.sort();
    assert_eq!(ids.len(), 3);
    (tmp, ids)
}

fn labels() -> std::collections::BTreeMap<String, String> {
    [
        ("cluster".to_string(), "eu-1".to_string()),
        ("replica".to_string(), "a".to_string()),
    ]
    .into()
}

/// Every shipped block is byte-identical to the local one and carries the extension.
async fn check_bucket(bucket: &Bucket, dir: &Path, ids: &[Ulid]) {
    let metas = bucket_metas(bucket).await.unwrap();
    assert_eq!(
        metas.iter().map(|m| m.ulid()).collect::<Vec<_>>().len(),
        ids.len()
    );
    for id in ids {
        let local = dir.join(id.to_string());
        for rel in ["index", "chunks/000001"] {
            let want = std::fs::read(local.join(rel)).unwrap();
            let got = bucket.get(&format!("{id}/{rel}")).await.unwrap().unwrap();
            assert_eq!(got.as_ref(), &want[..], "{id}/{rel}");
        }
        assert!(!bucket.exists(&format!("{id}/tombstones")).await.unwrap());
        let raw = bucket
            .get(&format!("{id}/meta.json"))
            .await
            .unwrap()
            .unwrap();
        let meta = ThanosMeta::from_json(&raw).unwrap();
        let (local_meta, _) = tsdb_core::block::BlockMeta::read_from_dir(&local).unwrap();
        assert_eq!(meta.block, local_meta);
        assert_eq!(meta.thanos.labels, labels());
        assert_eq!(meta.thanos.source, source::SIDECAR);
        assert_eq!(meta.thanos.segment_files, vec!["000001".to_string()]);
        let files: Vec<_> = meta
            .thanos
            .files
            .iter()
            .map(|f| (f.rel_path.as_str(), f.size_bytes))
            .collect();
        let size = |rel: &str| std::fs::metadata(local.join(rel)).unwrap().len() as i64;
        assert_eq!(
            files,
            vec![
                ("chunks/000001", size("chunks/000001")),
                ("index", size("index")),
                ("meta.json", 0)
            ]
        );
        // The raw JSON has Thanos' field names.
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["thanos"]["downsample"]["resolution"], 0);
        assert_eq!(v["thanos"]["files"][1]["rel_path"], "index");
        assert_eq!(v["version"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ships_fixture_blocks_to_a_filesystem_bucket_once() {
    let (data, ids) = fixture_copy();
    let bucket_dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", bucket_dir.path().display());
    let bucket = Bucket::from_url(&url).unwrap();
    let shipper = Shipper::new(data.path(), bucket.clone()).with_labels(labels());
    let report = shipper.sync().await.unwrap();
    let mut got = report.uploaded.clone();
    got.sort();
    assert_eq!(got, ids);
    check_bucket(&bucket, data.path(), &ids).await;
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.path().join(SHIPPER_STATE_FILENAME)).unwrap())
            .unwrap();
    assert_eq!(state["version"], 1);
    assert_eq!(state["uploaded"].as_array().unwrap().len(), 3);

    // A second run (a restart) uploads nothing.
    let again = Shipper::new(data.path(), Bucket::from_url(&url).unwrap()).with_labels(labels());
    let report = again.sync().await.unwrap();
    assert!(report.uploaded.is_empty() && report.already_in_bucket.is_empty());

    // Lost state: the bucket's meta.json objects prevent a second upload.
    std::fs::remove_file(data.path().join(SHIPPER_STATE_FILENAME)).unwrap();
    let before = std::fs::metadata(bucket_dir.path().join(ids[0].to_string()).join("index"))
        .unwrap()
        .modified()
        .unwrap();
    let report = again.sync().await.unwrap();
    assert!(report.uploaded.is_empty());
    assert_eq!(report.already_in_bucket.len(), 3);
    let after = std::fs::metadata(bucket_dir.path().join(ids[0].to_string()).join("index"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);

    // A partial upload (no meta.json in the bucket, state lost) is uploaded again whole.
    std::fs::remove_file(data.path().join(SHIPPER_STATE_FILENAME)).unwrap();
    bucket
        .delete(&format!("{}/meta.json", ids[1]))
        .await
        .unwrap();
    bucket.delete(&format!("{}/index", ids[1])).await.unwrap();
    assert_eq!(bucket_metas(&bucket).await.unwrap().len(), 2);
    let report = again.sync().await.unwrap();
    assert_eq!(report.uploaded, vec![ids[1]]);
    check_bucket(&bucket, data.path(), &ids).await;

    // A block deleted locally leaves the state file.
    std::fs::remove_dir_all(data.path().join(ids[2].to_string())).unwrap();
    again.sync().await.unwrap();
    let state = ShipperState::read(data.path());
    assert_eq!(state.uploaded.len(), 2);
    assert!(!state.uploaded.contains(&ids[2]));
}

#[tokio::test]
async fn tenant_prefixes_keep_tenants_apart() {
    let (data, ids) = fixture_copy();
    let root = Bucket::from_url("memory://").unwrap();
    let a = root.with_prefix("tenant-a");
    let shipper = Shipper::new(data.path(), a.clone()).with_labels(labels());
    assert_eq!(shipper.sync().await.unwrap().uploaded.len(), 3);
    check_bucket(&a, data.path(), &ids).await;
    assert!(bucket_metas(&root.with_prefix("tenant-b"))
        .await
        .unwrap()
        .is_empty());
    let keys = root.list("").await.unwrap();
    assert!(
        keys.iter().all(|k| k.key.starts_with("tenant-a/")),
        "{keys:?}"
    );
    assert_eq!(keys.len(), 9);
}

#[tokio::test]
async fn skips_empty_and_compacted_blocks_unless_asked() {
    let (data, ids) = fixture_copy();
    let dir = data.path().join(ids[0].to_string());
    let (mut meta, _) = tsdb_core::block::BlockMeta::read_from_dir(&dir).unwrap();
    meta.compaction.level = 2;
    meta.write_to_dir(&dir).unwrap();
    let bucket = Bucket::from_url("memory://").unwrap();
    let report = Shipper::new(data.path(), bucket.clone())
        .sync()
        .await
        .unwrap();
    assert_eq!(report.skipped, vec![ids[0]]);
    assert_eq!(report.uploaded.len(), 2);
    let report = Shipper::new(data.path(), bucket.clone())
        .with_upload_compacted(true)
        .sync()
        .await
        .unwrap();
    assert_eq!(report.uploaded, vec![ids[0]]);
}

#[test]
fn bad_urls_are_config_errors() {
    for url in ["nope", "ftp://x/y", "file://relative"] {
        assert!(Bucket::from_url(url).is_err(), "{url}");
    }
    #[cfg(not(feature = "aws"))]
    assert!(Bucket::from_url("s3://bucket/prefix")
        .unwrap_err()
        .to_string()
        .contains("aws"));
}

/// An in-memory store whose puts start failing after a number of successful ones.
#[derive(Debug)]
struct FailingStore {
    inner: object_store::memory::InMemory,
    puts_left: AtomicUsize,
}

impl fmt::Display for FailingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailingStore")
    }
}

impl FailingStore {
    fn check(&self) -> object_store::Result<()> {
        let left = self.puts_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(object_store::Error::Generic {
                store: "failing",
                source: "injected failure".into(),
            });
        }
        self.puts_left.store(left - 1, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectStore for FailingStore {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check()?;
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check()?;
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    async fn delete(&self, location: &ObjPath) -> object_store::Result<()> {
        self.inner.delete(location).await
    }
    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy(&self, from: &ObjPath, to: &ObjPath) -> object_store::Result<()> {
        self.inner.copy(from, to).await
    }
    async fn copy_if_not_exists(&self, from: &ObjPath, to: &ObjPath) -> object_store::Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}

#[tokio::test]
async fn failures_at_every_put_leave_no_half_block_and_resume_without_duplicates() {
    // 3 blocks × 3 objects: fail after every possible number of successful puts.
    for allowed in 0..9 {
        let (data, ids) = fixture_copy();
        let store = Arc::new(FailingStore {
            inner: object_store::memory::InMemory::new(),
            puts_left: AtomicUsize::new(allowed),
        });
        let bucket = Bucket::from_store(store.clone(), "failing");
        let shipper = Shipper::new(data.path(), bucket.clone()).with_labels(labels());
        let err = shipper.sync().await.unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        // Exactly the blocks whose meta.json landed are visible, and they are complete.
        let visible = bucket_metas(&bucket).await.unwrap();
        assert_eq!(visible.len(), allowed / 3, "allowed {allowed}");
        let state = ShipperState::read(data.path());
        assert_eq!(state.uploaded.len(), allowed / 3);
        // The store recovers; a restarted shipper completes the rest, each block once.
        store.puts_left.store(usize::MAX, Ordering::SeqCst);
        let report = Shipper::new(data.path(), bucket.clone())
            .with_labels(labels())
            .sync()
            .await
            .unwrap();
        assert_eq!(report.uploaded.len(), 3 - allowed / 3, "allowed {allowed}");
        check_bucket(&bucket, data.path(), &ids).await;
        assert_eq!(bucket.list("").await.unwrap().len(), 9);
    }
}
