//! The bucket store's caches, lazy readers and request limits over Prometheus' fixture
//! blocks: a query repeated after the blocks' readers were dropped (or after a restart) is
//! answered from the cache, in memory or in a real memcached, without one bucket read and
//! with the same answer; limits refuse a request with Thanos' errors.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tsdb_bucket::store::cache::lru::LruCache;
use tsdb_bucket::store::cache::memcached::{MemcachedCache, MemcachedConfig};
use tsdb_bucket::store::cache::{Cache, ItemKind};
use tsdb_bucket::store::limits::RequestLimits;
use tsdb_bucket::store::{BucketStore, StoreOptions};
use tsdb_bucket::Bucket;
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

/// Every sample matching `ms` as promtool-dump lines.
fn dump(q: &dyn Queryable, ms: &[Matcher]) -> Result<Vec<String>, String> {
    let querier = q.querier(i64::MIN, i64::MAX).map_err(|e| e.to_string())?;
    let mut set = querier.select(true, None, ms).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(s) = set.next_series() {
        let s = s.map_err(|e| e.to_string())?;
        let labels = s.labels().to_string();
        let mut it = s.iter();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            out.push(format!("{labels} {} {t}", go_g(v)));
        }
    }
    Ok(out)
}

fn expected_dump() -> Vec<String> {
    std::fs::read_to_string(fixture().join("expected.dump"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

async fn bucket_with_fixtures(dir: &Path) -> Bucket {
    std::fs::create_dir_all(dir).unwrap();
    let bucket = Bucket::from_url(&format!("file://{}", dir.display())).unwrap();
    for e in std::fs::read_dir(fixture()).unwrap() {
        let b = e.unwrap().path();
        if !b.join("index").is_file() {
            continue;
        }
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

fn narrow() -> Vec<Matcher> {
    vec![
        m(MatchType::Equal, "__name__", "http_requests_total"),
        m(MatchType::Equal, "code", "500"),
    ]
}

fn everything() -> Vec<Matcher> {
    vec![m(MatchType::Regexp, "__name__", ".+")]
}

fn requests(s: &BucketStore) -> u64 {
    s.stats().requests.load(Ordering::Relaxed)
}

fn options(index: Arc<dyn Cache>, chunks: Arc<dyn Cache>) -> StoreOptions {
    StoreOptions {
        index_cache: Some(index),
        chunks_cache: Some(chunks),
        lazy: true,
        idle_timeout: Duration::from_secs(3600),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_cache_answers_after_idle_blocks_are_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = bucket_with_fixtures(&tmp.path().join("bucket")).await;
    let cache_dir = tmp.path().join("cache");
    tokio::task::spawn_blocking(move || {
        let lru: Arc<dyn Cache> = Arc::new(LruCache::new(64 << 20, 16 << 20));
        let store =
            BucketStore::with_options(bucket, &cache_dir, options(lru.clone(), lru)).unwrap();
        store.sync().unwrap();
        // Lazy: nothing loaded yet, only the index-headers were built.
        assert_eq!(store.loaded_blocks(), 0);
        let after_sync = requests(&store);

        let first = dump(&store, &narrow()).unwrap();
        assert!(!first.is_empty());
        assert_eq!(store.loaded_blocks(), 3);
        assert!(requests(&store) > after_sync);
        let m = store.metrics();
        let index = m.index_cache.as_ref().unwrap();
        let chunks = m.chunks_cache.as_ref().unwrap();
        assert_eq!(index.counts(ItemKind::Postings).hits, 0);
        assert!(index.counts(ItemKind::Postings).stored > 0);
        assert!(index.counts(ItemKind::Series).stored > 0);
        assert!(chunks.counts(ItemKind::Chunks).stored > 0);

        // Idle timeout not reached: nothing dropped.
        assert_eq!(store.unload_idle(), 0);
        // Dropping every idle reader removes the sparse copies; the next identical query is
        // answered from the cache alone.
        assert_eq!(store.unload_idle_for(Duration::ZERO), 3);
        assert_eq!(store.loaded_blocks(), 0);
        let before = requests(&store);
        let second = dump(&store, &narrow()).unwrap();
        assert_eq!(second, first);
        assert_eq!(requests(&store), before, "second query read the bucket");
        let p = index.counts(ItemKind::Postings);
        let s = index.counts(ItemKind::Series);
        let c = chunks.counts(ItemKind::Chunks);
        assert!(p.hits > 0 && s.hits > 0 && c.hits > 0, "{p:?} {s:?} {c:?}");
        assert_eq!(m.headers.loads.load(Ordering::Relaxed), 6);
        assert_eq!(m.headers.unloads.load(Ordering::Relaxed), 3);
        let text = m.render();
        assert!(text.contains(&format!(
            "thanos_store_index_cache_hits_total{{item_type=\"Postings\"}} {}",
            p.hits
        )));

        // And everything reads back as Prometheus wrote it.
        let mut all = dump(&store, &everything()).unwrap();
        all.sort();
        let mut expected = expected_dump();
        expected.sort();
        assert_eq!(all, expected);
    })
    .await
    .unwrap();
}

/// A memcached server on a free loopback port, killed on drop.
struct Memcached {
    child: Child,
    addr: String,
}

impl Memcached {
    fn start() -> Memcached {
        let bin = std::env::var_os("PATH")
            .and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("memcached"))
                    .find(|f| f.is_file())
            })
            .expect("memcached is not installed (scripts/test installs it)");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(bin);
        cmd.args([
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-m",
            "64",
        ]);
        // memcached refuses to run as root without a user to switch to.
        cmd.args(["-u", "root"]);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        let mut up = false;
        for _ in 0..200 {
            if TcpStream::connect(&addr).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let mut m = Memcached { child, addr };
        assert!(up, "memcached did not start listening on {}", m.addr);
        assert!(m.child.try_wait().unwrap().is_none());
        m
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn memcached_client_speaks_the_text_protocol() {
    let server = Memcached::start();
    let c = MemcachedCache::new(MemcachedConfig {
        addresses: vec![server.addr.clone()],
        max_item_size: 100,
        ..Default::default()
    })
    .unwrap();
    c.store("k1", bytes::Bytes::from_static(b"one\r\nwith crlf"));
    c.store("k2", bytes::Bytes::from_static(b""));
    c.store("too-big", bytes::Bytes::from(vec![7u8; 101]));
    c.store("bad key", bytes::Bytes::from_static(b"x"));
    let got = c.fetch(&["k1".into(), "k2".into(), "k3".into(), "too-big".into()]);
    assert_eq!(got.len(), 2);
    assert_eq!(&got["k1"][..], b"one\r\nwith crlf");
    assert!(got["k2"].is_empty());
    assert_eq!(c.errors(), 0);

    // A server that went away is a miss, counted as an error.
    let addr = server.addr.clone();
    drop(server);
    let gone = MemcachedCache::new(MemcachedConfig {
        addresses: vec![addr],
        timeout: Duration::from_millis(200),
        ..Default::default()
    })
    .unwrap();
    assert!(gone.fetch(&["k1".into()]).is_empty());
    assert_eq!(gone.errors(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_serves_a_restarted_store_without_bucket_reads() {
    let server = Memcached::start();
    let tmp = tempfile::tempdir().unwrap();
    let bucket = bucket_with_fixtures(&tmp.path().join("bucket")).await;
    let cache_dir = tmp.path().join("cache");
    let addr = server.addr.clone();
    tokio::task::spawn_blocking(move || {
        let memcached = || -> Arc<dyn Cache> {
            Arc::new(
                MemcachedCache::new(MemcachedConfig {
                    addresses: vec![addr.clone()],
                    ..Default::default()
                })
                .unwrap(),
            )
        };
        let first = BucketStore::with_options(
            bucket.clone(),
            &cache_dir,
            options(memcached(), memcached()),
        )
        .unwrap();
        first.sync().unwrap();
        let answer = dump(&first, &narrow()).unwrap();
        assert!(!answer.is_empty());
        drop(first);

        // A restart on the same disk: index-headers reused, sparse copies empty, every
        // postings list, series and chunk comes from memcached.
        let second =
            BucketStore::with_options(bucket, &cache_dir, options(memcached(), memcached()))
                .unwrap();
        second.sync().unwrap();
        assert_eq!(requests(&second), 0);
        assert_eq!(dump(&second, &narrow()).unwrap(), answer);
        assert_eq!(requests(&second), 0, "the restarted store read the bucket");
        let m = second.metrics();
        let index = m.index_cache.as_ref().unwrap();
        let chunks = m.chunks_cache.as_ref().unwrap().counts(ItemKind::Chunks);
        assert!(index.counts(ItemKind::Postings).hits > 0);
        assert_eq!(
            index.counts(ItemKind::Series).hits,
            index.counts(ItemKind::Series).requests
        );
        assert!(chunks.hits > 0 && chunks.misses() == 0, "{chunks:?}");
    })
    .await
    .unwrap();
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_limits_refuse_with_thanos_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = bucket_with_fixtures(&tmp.path().join("bucket")).await;
    let cache_dir = tmp.path().join("cache");
    tokio::task::spawn_blocking(move || {
        let open = |limits: RequestLimits, dir: &str| {
            let s = BucketStore::with_options(
                bucket.clone(),
                cache_dir.join(dir),
                StoreOptions {
                    limits,
                    ..Default::default()
                },
            )
            .unwrap();
            s.sync().unwrap();
            s
        };
        let free = open(RequestLimits::default(), "free");
        let querier = free.querier(i64::MIN, i64::MAX).unwrap();
        let mut set = querier.select(true, None, &narrow()).unwrap();
        let mut n = 0u64;
        while let Some(s) = set.next_series() {
            s.unwrap();
            n += 1;
        }
        assert!(n > 2);

        // Exactly as many series as the limit: allowed.
        let at_limit = open(RequestLimits::from_series_and_samples(n, 0), "at");
        assert!(dump(&at_limit, &narrow()).is_ok());
        let below = open(RequestLimits::from_series_and_samples(n - 1, 0), "below");
        assert_eq!(
            dump(&below, &narrow()).unwrap_err(),
            format!("exceeded series limit: limit {} violated (got {n})", n - 1)
        );
        assert_eq!(
            below.metrics().dropped_series_limit.load(Ordering::Relaxed),
            1
        );
        // 120 samples: one chunk, and the narrow query needs more.
        let samples = open(RequestLimits::from_series_and_samples(0, 120), "samples");
        let e = dump(&samples, &narrow()).unwrap_err();
        assert!(
            e.starts_with("exceeded chunks limit: limit 1 violated (got "),
            "{e}"
        );
    })
    .await
    .unwrap();
}
