//! `tsdb sidecar`: Thanos' sidecar next to a running Prometheus. Serves Prometheus' data over
//! the StoreAPI, reading it through Prometheus' remote-read API (streamed XOR chunks) and its
//! label API, with the external labels given; with a bucket, ships Prometheus' completed
//! blocks (Thanos' shipper: `meta.json` last, state in `thanos.shipper.json`).

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chunkenc::Encoding;
use prost::Message;
use storeapi::prompb::read::{ChunkEncoding, ReadResponse};
use storeapi::remote_read::{decode_stream, read_request, DEFAULT_MAX_FRAME};
use tsdb_core::head::querier::{encode_samples, iter_chunks};
use tsdb_core::head::series::ClosedChunk;
use tsdb_core::storage::{
    Querier, Queryable, Result, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
};
use tsdb_index::{Labels, Matcher};

/// Largest remote-read answer read (after decompression for sampled answers).
const MAX_ANSWER: u64 = 1 << 30;

/// Prometheus' data, read over HTTP: remote read for series, the HTTP API for labels.
#[derive(Clone)]
pub struct PrometheusReader {
    base: String,
    agent: ureq::Agent,
}

impl PrometheusReader {
    /// A reader of the Prometheus at `base` (`http://host:9090`).
    pub fn new(base: &str) -> Self {
        PrometheusReader {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(120))
                .build(),
        }
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> StorageError {
        StorageError::Other(format!("prometheus {} {what}: {e}", self.base))
    }

    /// The series matching `matchers` in `[mint, maxt]`, with their chunks.
    fn read(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<Vec<ChunkedSeries>> {
        let req = read_request(mint, maxt, matchers);
        let body = snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .map_err(|e| self.fail("remote read", e))?;
        let resp = self
            .agent
            .post(&format!("{}/api/v1/read", self.base))
            .set("Content-Type", "application/x-protobuf")
            .set("Content-Encoding", "snappy")
            .set("X-Prometheus-Remote-Read-Version", "0.1.0")
            .send_bytes(&body)
            .map_err(|e| self.fail("remote read", e))?;
        let streamed = resp
            .header("Content-Type")
            .is_some_and(|c| c.starts_with("application/x-streamed-protobuf"));
        let mut data = Vec::new();
        resp.into_reader()
            .take(MAX_ANSWER)
            .read_to_end(&mut data)
            .map_err(|e| self.fail("remote read", e))?;
        let mut out: Vec<ChunkedSeries> = Vec::new();
        if streamed {
            for frame in
                decode_stream(&data, DEFAULT_MAX_FRAME).map_err(|e| self.fail("remote read", e))?
            {
                for s in frame.chunked_series {
                    let labels = Labels::from_pairs(
                        s.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())),
                    );
                    let chunks = s.chunks.into_iter().filter_map(|c| {
                        let encoding = match ChunkEncoding::try_from(c.r#type).ok()? {
                            ChunkEncoding::Xor => Encoding::Xor,
                            ChunkEncoding::Histogram => Encoding::Histogram,
                            ChunkEncoding::FloatHistogram => Encoding::FloatHistogram,
                            ChunkEncoding::Unknown => return None,
                        };
                        Some(ClosedChunk {
                            encoding,
                            bytes: c.data.into(),
                            min_t: c.min_time_ms,
                            max_t: c.max_time_ms,
                        })
                    });
                    // A series' chunks may come in several frames, one after the other.
                    match out.last_mut() {
                        Some(last) if last.labels == labels => last.chunks.extend(chunks),
                        _ => out.push(ChunkedSeries {
                            labels,
                            chunks: chunks.collect(),
                        }),
                    }
                }
            }
        } else {
            let raw = snap::raw::Decoder::new()
                .decompress_vec(&data)
                .map_err(|e| self.fail("remote read", e))?;
            let resp =
                ReadResponse::decode(raw.as_slice()).map_err(|e| self.fail("remote read", e))?;
            for ts in resp.results.into_iter().flat_map(|r| r.timeseries) {
                let labels = Labels::from_pairs(
                    ts.labels
                        .iter()
                        .map(|l| (l.name.as_str(), l.value.as_str())),
                );
                let samples: Vec<(i64, f64)> =
                    ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
                let mut it = SliceIterator {
                    samples: &samples,
                    at: None,
                    no_histogram: Default::default(),
                    no_float_histogram: Default::default(),
                };
                let chunks = encode_samples(&mut it, mint, maxt, 120)?
                    .into_iter()
                    .map(ClosedChunk::from)
                    .collect();
                out.push(ChunkedSeries { labels, chunks });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// `GET path` of Prometheus' HTTP API with the time range and selectors; the `data`
    /// strings of the answer.
    fn strings(
        &self,
        path: &str,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>> {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        // Bounds beyond what Prometheus parses mean "all time", its default.
        if mint > -62_135_596_800_000 {
            req = req.query("start", &format!("{:.3}", mint as f64 / 1000.0));
        }
        if maxt < 253_402_300_799_000 {
            req = req.query("end", &format!("{:.3}", maxt as f64 / 1000.0));
        }
        // Prometheus refuses a selector whose every matcher matches the empty string; such
        // a selector means every series, its default.
        if !matchers.iter().all(|m| m.matches("")) {
            let selector: Vec<String> = matchers.iter().map(|m| m.to_string()).collect();
            req = req.query("match[]", &format!("{{{}}}", selector.join(",")));
        }
        let mut text = String::new();
        req.call()
            .map_err(|e| self.fail(path, e))?
            .into_reader()
            .take(MAX_ANSWER)
            .read_to_string(&mut text)
            .map_err(|e| self.fail(path, e))?;
        let body: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| self.fail(path, e))?;
        Ok(body["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// A series as remote read returned it.
struct ChunkedSeries {
    labels: Labels,
    chunks: Vec<ClosedChunk>,
}

/// Samples of a sampled answer, as a [`SampleIterator`] for re-encoding.
struct SliceIterator<'a> {
    samples: &'a [(i64, f64)],
    at: Option<usize>,
    /// Returned by the histogram accessors, which a float-only iterator never has reason
    /// to be asked for.
    no_histogram: chunkenc::Histogram,
    no_float_histogram: chunkenc::FloatHistogram,
}

impl SampleIterator for SliceIterator<'_> {
    fn next(&mut self) -> tsdb_core::storage::ValueType {
        let i = self.at.map_or(0, |i| i + 1);
        self.at = Some(i);
        if i < self.samples.len() {
            tsdb_core::storage::ValueType::Float
        } else {
            tsdb_core::storage::ValueType::None
        }
    }
    fn seek(&mut self, t: i64) -> tsdb_core::storage::ValueType {
        let from = self.at.unwrap_or(0);
        let i = from + self.samples[from.min(self.samples.len())..].partition_point(|s| s.0 < t);
        self.at = Some(i);
        if i < self.samples.len() {
            tsdb_core::storage::ValueType::Float
        } else {
            tsdb_core::storage::ValueType::None
        }
    }
    fn at(&self) -> (i64, f64) {
        self.samples
            .get(self.at.unwrap_or(0))
            .copied()
            .unwrap_or((i64::MIN, f64::NAN))
    }
    fn at_histogram(&self) -> (i64, &chunkenc::Histogram) {
        (self.at_t(), &self.no_histogram)
    }
    fn at_float_histogram(&mut self) -> (i64, &chunkenc::FloatHistogram) {
        (self.at_t(), &self.no_float_histogram)
    }
    fn at_t(&self) -> i64 {
        self.at().0
    }
    fn err(&self) -> Option<&StorageError> {
        None
    }
}

impl Queryable for PrometheusReader {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(PrometheusQuerier {
            reader: self,
            mint,
            maxt,
        }))
    }
}

struct PrometheusQuerier<'a> {
    reader: &'a PrometheusReader,
    mint: i64,
    maxt: i64,
}

impl Querier for PrometheusQuerier<'_> {
    fn select<'b>(
        &'b self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet + 'b>> {
        let series = self.reader.read(self.mint, self.maxt, matchers)?;
        Ok(Box::new(ReadSeriesSet {
            series: series.into_iter(),
            mint: self.mint,
            maxt: self.maxt,
        }))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let path = format!("/api/v1/label/{name}/values");
        self.reader.strings(&path, self.mint, self.maxt, matchers)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.reader
            .strings("/api/v1/labels", self.mint, self.maxt, matchers)
    }
}

struct ReadSeriesSet {
    series: std::vec::IntoIter<ChunkedSeries>,
    mint: i64,
    maxt: i64,
}

impl SeriesSet for ReadSeriesSet {
    fn next_series(&mut self) -> Option<Result<Box<dyn Series + '_>>> {
        let s = self.series.next()?;
        Some(Ok(Box::new(ReadSeries {
            series: s,
            mint: self.mint,
            maxt: self.maxt,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_labels_come_from_the_global_section() {
        let yaml = "global:\n  scrape_interval: 1s\n  external_labels:\n    cluster: eu-1\n    replica: \"a: b\"\n    zone: 'it''s'\nruntime:\n  gogc: 75\nscrape_configs:\n- job_name: x\n  external_labels:\n    no: pe\n";
        assert_eq!(
            external_labels_from_config(yaml),
            vec![
                ("cluster".to_string(), "eu-1".to_string()),
                ("replica".to_string(), "a: b".to_string()),
                ("zone".to_string(), "it's".to_string()),
            ]
        );
        assert!(external_labels_from_config("global:\n  scrape_interval: 1s\n").is_empty());
    }
}

struct ReadSeries {
    series: ChunkedSeries,
    mint: i64,
    maxt: i64,
}

impl Series for ReadSeries {
    fn labels(&self) -> &Labels {
        &self.series.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        iter_chunks(&self.series.chunks, self.mint, self.maxt)
    }
}

/// The `global.external_labels` of Prometheus' configuration as its
/// `/api/v1/status/config` renders it (Go's YAML: two-space indents, one `name: value` per
/// line, values quoted only when they must be).
pub fn external_labels_from_config(yaml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_global = false;
    let mut in_labels = false;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if indent == 0 {
            in_global = text == "global:";
            in_labels = false;
            continue;
        }
        if in_global && indent == 2 {
            in_labels = text == "external_labels:";
            continue;
        }
        if in_labels && indent >= 4 {
            if let Some((k, v)) = text.split_once(':') {
                out.push((unquote(k.trim()), unquote(v.trim())));
            }
        }
    }
    out
}

/// A YAML scalar without its quotes (double-quoted ones unescaped as JSON strings).
fn unquote(s: &str) -> String {
    if s.starts_with('"') {
        serde_json::from_str(s).unwrap_or_else(|_| s.trim_matches('"').to_string())
    } else if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else {
        s.to_string()
    }
}

/// Settings of a sidecar.
#[derive(Debug, Clone)]
pub struct SidecarConfig {
    /// Prometheus' base URL.
    pub prometheus: String,
    /// Prometheus' data directory (`--storage.tsdb.path`), whose blocks are shipped.
    pub tsdb_path: PathBuf,
    /// The bucket to ship to (URL or objstore configuration), if any.
    pub bucket: Option<tsdb_bucket::BucketSpec>,
    /// StoreAPI gRPC listen address.
    pub grpc_listen: SocketAddr,
    /// HTTP listen address (health endpoints).
    pub listen: SocketAddr,
    /// Prometheus' external labels, added to every series and block; when empty, they are
    /// read from Prometheus' configuration (`/api/v1/status/config`), as Thanos does.
    pub external_labels: Vec<(String, String)>,
    /// How often blocks are shipped.
    pub ship_interval: Duration,
}

/// Runs the sidecar until `shutdown` resolves; `on_bound` learns (HTTP, gRPC) addresses.
pub async fn run(
    cfg: SidecarConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr, SocketAddr),
) -> std::io::Result<()> {
    let mut cfg = cfg;
    if cfg.external_labels.is_empty() {
        let url = format!(
            "{}/api/v1/status/config",
            cfg.prometheus.trim_end_matches('/')
        );
        let yaml = tokio::task::spawn_blocking(move || -> std::result::Result<String, String> {
            let body: serde_json::Value = serde_json::from_reader(
                ureq::get(&url)
                    .call()
                    .map_err(|e| format!("{url}: {e}"))?
                    .into_reader()
                    .take(MAX_ANSWER),
            )
            .map_err(|e| format!("{url}: {e}"))?;
            Ok(body["data"]["yaml"]
                .as_str()
                .unwrap_or_default()
                .to_string())
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
        cfg.external_labels = external_labels_from_config(&yaml);
    }
    let labels = Labels::from_pairs(
        cfg.external_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let reader = Arc::new(PrometheusReader::new(&cfg.prometheus));
    let blocks_dir = cfg.tsdb_path.clone();
    let store = storeapi::grpc::LocalStore::new(reader, labels, move || {
        // Prometheus holds data up to now; its oldest block (if any) bounds it below.
        let min = tsdb_core::compact::planner::read_block_metas(&blocks_dir)
            .ok()
            .and_then(|m| m.iter().map(|m| m.min_time).min())
            .unwrap_or(i64::MIN);
        (min, i64::MAX)
    })
    .with_component("sidecar");
    let grpc_listener = tokio::net::TcpListener::bind(cfg.grpc_listen).await?;
    let http_listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    on_bound(http_listener.local_addr()?, grpc_listener.local_addr()?);

    let shipper = match &cfg.bucket {
        Some(spec) => {
            check_no_local_compaction(&cfg.prometheus).await?;
            let bucket = spec
                .open()
                .map_err(|e| std::io::Error::other(format!("bucket {spec}: {e}")))?;
            let ext = cfg.external_labels.iter().cloned().collect();
            let shipper = tsdb_bucket::Shipper::new(&cfg.tsdb_path, bucket).with_labels(ext);
            Some(tokio::spawn(ship_forever(shipper, cfg.ship_interval)))
        }
        None => None,
    };
    let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc = tokio::spawn(storeapi::grpc::serve(
        Arc::new(store),
        grpc_listener,
        async {
            let _ = grpc_stopped.await;
        },
    ));
    let router = axum::Router::new()
        .route("/-/healthy", axum::routing::get(|| async { "Healthy.\n" }))
        .route("/-/ready", axum::routing::get(|| async { "Ready.\n" }));
    let served = axum::serve(http_listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_grpc.send(());
    let _ = grpc.await;
    if let Some(s) = shipper {
        s.abort();
    }
    served
}

/// Refuses to ship from a Prometheus that compacts its own blocks (its minimum and maximum
/// block durations differ): the bucket would get overlapping blocks, as Thanos' sidecar
/// refuses it.
async fn check_no_local_compaction(prometheus: &str) -> std::io::Result<()> {
    let url = format!("{}/api/v1/status/flags", prometheus.trim_end_matches('/'));
    let flags =
        tokio::task::spawn_blocking(move || -> std::result::Result<serde_json::Value, String> {
            serde_json::from_reader(
                ureq::get(&url)
                    .call()
                    .map_err(|e| format!("{url}: {e}"))?
                    .into_reader()
                    .take(MAX_ANSWER),
            )
            .map_err(|e| format!("{url}: {e}"))
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    let flag = |name: &str| flags["data"][name].as_str().unwrap_or_default().to_string();
    let (min, max) = (
        flag("storage.tsdb.min-block-duration"),
        flag("storage.tsdb.max-block-duration"),
    );
    if min != max {
        return Err(std::io::Error::other(format!(
            "Prometheus compacts its own blocks (min block duration {min}, max {max}): \
             run it with --storage.tsdb.min-block-duration and \
             --storage.tsdb.max-block-duration equal (2h) before shipping its blocks"
        )));
    }
    Ok(())
}

async fn ship_forever(shipper: tsdb_bucket::Shipper, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match shipper.sync().await {
            Ok(r) if !r.uploaded.is_empty() => eprintln!(
                "tsdb sidecar: shipped {} block(s), {} bytes",
                r.uploaded.len(),
                r.bytes
            ),
            Ok(_) => {}
            Err(e) => eprintln!("tsdb sidecar: shipping failed: {e}"),
        }
    }
}
