//! The StoreAPI over local storage: any [`Queryable`] with external labels, as a Thanos
//! receiver or sidecar serves its TSDB.
//!
//! External labels are added to every series (replacing a series label of the same name); a
//! matcher on an external label selects or deselects the whole store, as in Thanos. Samples
//! are sent as raw chunks of at most 120 samples (XOR, histogram or float histogram).

// tonic's `Status` is the error type of every gRPC handler; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tsdb_core::head::querier::encode_samples;
use tsdb_core::storage::{Queryable, SelectHints};
use tsdb_index::{Labels, LabelsBuilder, MatchType, Matcher};

use super::convert::{matchers, to_proto_chunk, to_proto_labels};
use super::proto::info::{info_server, InfoRequest, InfoResponse, StoreInfo, TsdbInfo};
use super::proto::{
    series_response, store_server, Aggr, AggrChunk, LabelNamesRequest, LabelNamesResponse,
    LabelValuesRequest, LabelValuesResponse, Series, SeriesRequest, SeriesResponse, ZLabelSet,
};

/// Samples per chunk sent, as Prometheus cuts chunks.
pub const SAMPLES_PER_CHUNK: usize = 120;

type TimeRange = dyn Fn() -> (i64, i64) + Send + Sync;
/// The label sets of the data behind a store and each one's time range.
type LabelSets = dyn Fn() -> Vec<(Labels, i64, i64)> + Send + Sync;

/// What a [`ChunkedStorage`] is asked for.
#[derive(Debug, Clone, Copy)]
pub struct ChunkSelection<'a> {
    /// Start of the range, ms (inclusive).
    pub mint: i64,
    /// End of the range, ms (inclusive).
    pub maxt: i64,
    /// Matchers on the stored labels (external labels already handled).
    pub matchers: &'a [Matcher],
    /// The coarsest resolution the client accepts (Thanos' `max_resolution_window`).
    pub max_resolution_window: i64,
    /// The aggregates to send for downsampled chunks.
    pub aggregates: &'a [Aggr],
}

/// Storage that hands out its stored chunks as they are, downsampled aggregates included
/// (a bucket of blocks of several resolutions), instead of samples.
pub trait ChunkedStorage: Send + Sync {
    /// The matching series with their chunks overlapping the range: raw chunks in `raw`,
    /// downsampled ones with the requested aggregates set. Series in any order.
    fn select_chunks(
        &self,
        sel: &ChunkSelection<'_>,
    ) -> tsdb_core::storage::Result<Vec<(Labels, Vec<AggrChunk>)>>;
}

/// A StoreAPI server over local storage (cheap to clone: its parts are shared).
#[derive(Clone)]
pub struct LocalStore {
    storage: Arc<dyn Queryable>,
    external_labels: Labels,
    time_range: Arc<TimeRange>,
    /// When set, the label sets `Info` reports (for storage whose series carry labels of
    /// their own, such as a bucket of blocks from many sources); else the external labels.
    label_sets: Option<Arc<LabelSets>>,
    component: String,
    /// When set, series (with chunks) come from here rather than from `storage`.
    chunked: Option<Arc<dyn ChunkedStorage>>,
}

impl LocalStore {
    /// Serves `storage` with `external_labels`; `time_range` reports the oldest and newest
    /// timestamps it holds (for `Info`).
    pub fn new(
        storage: Arc<dyn Queryable>,
        external_labels: Labels,
        time_range: impl Fn() -> (i64, i64) + Send + Sync + 'static,
    ) -> Self {
        LocalStore {
            storage,
            external_labels,
            time_range: Arc::new(time_range),
            label_sets: None,
            component: "store".into(),
            chunked: None,
        }
    }

    /// Answers `Series` calls that want chunks from `chunked`, which sends stored chunks
    /// as they are (downsampled aggregates included) and honours the request's
    /// `max_resolution_window` and `aggregates`; labels and `skip_chunks` calls still use
    /// the queryable.
    pub fn with_chunked_storage(mut self, chunked: Arc<dyn ChunkedStorage>) -> Self {
        self.chunked = Some(chunked);
        self
    }

    /// Reports these label sets (each with its time range) in `Info` instead of the
    /// external labels, so that queriers can skip this store for selectors no set matches.
    pub fn with_label_sets(
        mut self,
        sets: impl Fn() -> Vec<(Labels, i64, i64)> + Send + Sync + 'static,
    ) -> Self {
        self.label_sets = Some(Arc::new(sets));
        self
    }

    /// Sets the component type `Info` reports (`receive`, `sidecar`, `store`, ...).
    pub fn with_component(mut self, component: &str) -> Self {
        self.component = component.into();
        self
    }

    /// The matchers to run against storage, or `None` when a matcher on an external label
    /// rules this store out. With no matcher left, every series matches.
    fn local_matchers(&self, ms: Vec<Matcher>) -> Option<Vec<Matcher>> {
        let mut local = Vec::new();
        for m in ms {
            match self.external_labels.get(&m.name) {
                Some(v) if !m.matches(v) => return None,
                Some(_) => {}
                None => local.push(m),
            }
        }
        if local.is_empty() {
            local.push(Matcher::new(MatchType::Regexp, "__name__", ".*").ok()?);
        }
        Some(local)
    }

    fn with_external(&self, l: &Labels) -> Labels {
        if self.external_labels.is_empty() {
            return l.clone();
        }
        let mut b = LabelsBuilder::new();
        for x in l.iter() {
            b.set(x.name, x.value);
        }
        for x in self.external_labels.iter() {
            b.set(x.name, x.value);
        }
        b.build()
    }

    /// Streams the series of `req` into `tx` (runs on a blocking thread).
    fn send_series(
        &self,
        req: &SeriesRequest,
        ms: Vec<Matcher>,
        tx: &mpsc::Sender<Result<SeriesResponse, Status>>,
    ) -> Result<(), Status> {
        let internal = |e: tsdb_core::storage::StorageError| Status::internal(e.to_string());
        if let (Some(chunked), false) = (&self.chunked, req.skip_chunks) {
            return self.send_chunked(chunked.as_ref(), req, ms, tx);
        }
        let querier = self
            .storage
            .querier(req.min_time, req.max_time)
            .map_err(internal)?;
        let hints = SelectHints {
            start: req.min_time,
            end: req.max_time,
            func: if req.skip_chunks {
                Some("series".into())
            } else {
                None
            },
            ..Default::default()
        };
        let mut set = querier.select(true, Some(&hints), &ms).map_err(internal)?;
        // Thanos' `without_replica_labels`: the querier will deduplicate, so the labels go
        // here and the series are sorted without them (frames are gathered for that).
        let drop: Vec<&str> = req
            .without_replica_labels
            .iter()
            .map(String::as_str)
            .collect();
        let mut held: Vec<(Labels, Series)> = Vec::new();
        let mut sent = 0i64;
        while let Some(series) = set.next_series() {
            let series = series.map_err(internal)?;
            let labels = self.with_external(series.labels());
            let labels = if drop.is_empty() {
                labels
            } else {
                labels.without(&drop)
            };
            let mut chunks = Vec::new();
            if !req.skip_chunks {
                let built = encode_samples(
                    &mut *series.iter(),
                    req.min_time,
                    req.max_time,
                    SAMPLES_PER_CHUNK,
                )
                .map_err(internal)?;
                for c in built {
                    let Some(raw) = to_proto_chunk(c.encoding, c.bytes) else {
                        continue;
                    };
                    chunks.push(AggrChunk {
                        min_time: c.min_t,
                        max_time: c.max_t,
                        raw: Some(raw),
                        ..Default::default()
                    });
                }
                if chunks.is_empty() {
                    continue;
                }
            }
            let series = Series {
                labels: to_proto_labels(&labels),
                chunks,
            };
            if !drop.is_empty() {
                held.push((labels, series));
                continue;
            }
            if !send(tx, series) {
                return Ok(());
            }
            sent += 1;
            if req.limit > 0 && sent >= req.limit {
                break;
            }
        }
        held.sort_by(|a, b| a.0.cmp(&b.0));
        let limit = if req.limit > 0 {
            req.limit as usize
        } else {
            usize::MAX
        };
        for (_, series) in held.into_iter().take(limit) {
            if !send(tx, series) {
                break;
            }
        }
        Ok(())
    }
}

impl LocalStore {
    /// Streams the series of a [`ChunkedStorage`], sorted by their labels with the external
    /// labels added and the replica labels removed.
    fn send_chunked(
        &self,
        chunked: &dyn ChunkedStorage,
        req: &SeriesRequest,
        ms: Vec<Matcher>,
        tx: &mpsc::Sender<Result<SeriesResponse, Status>>,
    ) -> Result<(), Status> {
        let mut aggregates = Vec::new();
        for a in &req.aggregates {
            let aggr = Aggr::try_from(*a)
                .map_err(|_| Status::invalid_argument(format!("unknown aggregate {a}")))?;
            aggregates.push(aggr);
        }
        let sel = ChunkSelection {
            mint: req.min_time,
            maxt: req.max_time,
            matchers: &ms,
            max_resolution_window: req.max_resolution_window,
            aggregates: &aggregates,
        };
        let found = chunked
            .select_chunks(&sel)
            .map_err(|e| Status::internal(e.to_string()))?;
        let drop: Vec<&str> = req
            .without_replica_labels
            .iter()
            .map(String::as_str)
            .collect();
        let mut out: Vec<(Labels, Vec<AggrChunk>)> = found
            .into_iter()
            .filter(|(_, chunks)| !chunks.is_empty())
            .map(|(l, chunks)| {
                let l = self.with_external(&l);
                let l = if drop.is_empty() { l } else { l.without(&drop) };
                (l, chunks)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        let limit = if req.limit > 0 {
            req.limit as usize
        } else {
            usize::MAX
        };
        for (labels, chunks) in out.into_iter().take(limit) {
            let series = Series {
                labels: to_proto_labels(&labels),
                chunks,
            };
            if !send(tx, series) {
                break;
            }
        }
        Ok(())
    }
}

/// Sends one series frame; false when the client went away.
fn send(tx: &mpsc::Sender<Result<SeriesResponse, Status>>, series: Series) -> bool {
    let frame = SeriesResponse {
        result: Some(series_response::Result::Series(series)),
    };
    tx.blocking_send(Ok(frame)).is_ok()
}

type SeriesStream = Pin<Box<dyn Stream<Item = Result<SeriesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl store_server::Store for LocalStore {
    type SeriesStream = SeriesStream;

    async fn series(
        &self,
        request: Request<SeriesRequest>,
    ) -> Result<Response<Self::SeriesStream>, Status> {
        let req = request.into_inner();
        if req.min_time > req.max_time {
            return Err(Status::invalid_argument(format!(
                "min_time {} is after max_time {}",
                req.min_time, req.max_time
            )));
        }
        let (tx, rx) = mpsc::channel(64);
        let Some(ms) = self.local_matchers(matchers(&req.matchers)?) else {
            return Ok(Response::new(Box::pin(ReceiverStream::new(rx))));
        };
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(status) = store.send_series(&req, ms, &tx) {
                let _ = tx.blocking_send(Err(status));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn label_names(
        &self,
        request: Request<LabelNamesRequest>,
    ) -> Result<Response<LabelNamesResponse>, Status> {
        let req = request.into_inner();
        let Some(ms) = self.local_matchers(matchers(&req.matchers)?) else {
            return Ok(Response::new(LabelNamesResponse::default()));
        };
        let store = self.clone();
        let mut names = tokio::task::spawn_blocking(move || {
            let q = store.storage.querier(req.start, req.end)?;
            q.label_names(&ms)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| Status::internal(e.to_string()))?;
        names.extend(self.external_labels.iter().map(|l| l.name.to_string()));
        names.sort();
        names.dedup();
        if req.limit > 0 {
            names.truncate(req.limit as usize);
        }
        Ok(Response::new(LabelNamesResponse {
            names,
            ..Default::default()
        }))
    }

    async fn label_values(
        &self,
        request: Request<LabelValuesRequest>,
    ) -> Result<Response<LabelValuesResponse>, Status> {
        let req = request.into_inner();
        if req.label.is_empty() {
            return Err(Status::invalid_argument(
                "label name parameter cannot be empty",
            ));
        }
        let Some(ms) = self.local_matchers(matchers(&req.matchers)?) else {
            return Ok(Response::new(LabelValuesResponse::default()));
        };
        if let Some(v) = self.external_labels.get(&req.label) {
            return Ok(Response::new(LabelValuesResponse {
                values: vec![v.to_string()],
                ..Default::default()
            }));
        }
        let store = self.clone();
        let label = req.label.clone();
        let mut values = tokio::task::spawn_blocking(move || {
            let q = store.storage.querier(req.start, req.end)?;
            q.label_values(&label, &ms)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| Status::internal(e.to_string()))?;
        if req.limit > 0 {
            values.truncate(req.limit as usize);
        }
        Ok(Response::new(LabelValuesResponse {
            values,
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl info_server::Info for LocalStore {
    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let (min_time, max_time) = (self.time_range)();
        let sets: Vec<(Labels, i64, i64)> = match &self.label_sets {
            Some(f) => f(),
            None => vec![(self.external_labels.clone(), min_time, max_time)],
        };
        let zset = |l: &Labels| ZLabelSet {
            labels: to_proto_labels(l),
        };
        Ok(Response::new(InfoResponse {
            label_sets: sets.iter().map(|(l, _, _)| zset(l)).collect(),
            component_type: self.component.clone(),
            store: Some(StoreInfo {
                min_time,
                max_time,
                supports_sharding: false,
                supports_without_replica_labels: true,
                tsdb_infos: sets
                    .iter()
                    .map(|(l, mint, maxt)| TsdbInfo {
                        labels: Some(zset(l)),
                        min_time: *mint,
                        max_time: *maxt,
                    })
                    .collect(),
                supports_projections: false,
            }),
        }))
    }
}
