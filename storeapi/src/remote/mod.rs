//! A PromQL-ready [`Queryable`] over remote StoreAPI endpoints: the querier role of Thanos.
//!
//! A select fans the request out concurrently to every endpoint that may hold matching data
//! (by the time range and external labels of its last `Info`, see [`endpoints`]), merges
//! the copies of a series that several stores return with the same labels (a sidecar and a
//! store gateway over the same Prometheus' blocks, say) sample by sample, as Thanos' proxy
//! does, and deduplicates the replicas of a series (series whose labels differ only in
//! replica labels) with [`PenaltyDedupIterator`]. I/O happens while selecting; the sample iterators
//! handed to the engine then decode chunks synchronously (DESIGN rule 2).
//!
//! Partial response, as Thanos: by default a store that fails is left out and named in a
//! warning ([`Querier::warnings`]); with partial response off, it fails the request.

pub mod dns;
pub mod endpoints;

use dns::DnsResolver;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chunkenc::Encoding;
use tokio::runtime::Handle;
use tsdb_core::head::querier::iter_chunks;
use tsdb_core::head::series::ClosedChunk;
use tsdb_core::querier::series::MergeSampleIterator;
use tsdb_core::storage::{
    Querier, Queryable, Result, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
};
use tsdb_index::{Labels, Matcher};

use crate::dedup::PenaltyDedupIterator;
use crate::downsampled::{aggrs_from_func, float_chunks, series_samples};
use crate::grpc::convert::{chunk_encoding, from_proto_labels, to_proto_matchers};
use crate::grpc::proto::store_client::StoreClient;
use crate::grpc::proto::{
    series_response, LabelNamesRequest, LabelValuesRequest, PartialResponseStrategy, SeriesRequest,
};
use endpoints::{Endpoint, EndpointSet, EndpointSpec};

/// How often DNS names are re-resolved and `Info` refreshed (Thanos' DNS interval).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// StoreAPI endpoints queried together. Cheap to clone.
#[derive(Clone)]
pub struct RemoteStores {
    endpoints: Arc<EndpointSet>,
    replica_labels: Arc<Vec<String>>,
    runtime: Handle,
    partial_response: bool,
    /// Coarsest resolution (ms) of downsampled data the stores may answer with (0: raw).
    max_source_resolution: i64,
    /// Whether a range query may also use data as coarse as a fifth of its step.
    auto_downsampling: bool,
    dedup: DedupFunc,
}

/// How the replicas of a series are merged (Thanos' `--deduplication.func`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DedupFunc {
    /// Follow one replica and switch only across a gap ([`PenaltyDedupIterator`]): made
    /// for replicas scraping at different times. Up to two samples of the replica switched
    /// to can be skipped at a switch, also where one replica's data simply ends.
    #[default]
    Penalty,
    /// Every sample of every replica, in time order, a timestamp once (the first replica's
    /// sample wins): exact for replicas that hold the same samples (remote-written copies,
    /// explicit timestamps), denser than either replica otherwise.
    Chain,
}

impl std::str::FromStr for DedupFunc {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "penalty" | "" => Ok(DedupFunc::Penalty),
            "chain" => Ok(DedupFunc::Chain),
            _ => Err(format!(
                "unknown deduplication function {s:?} (penalty, chain)"
            )),
        }
    }
}

/// The series of one request, grouped by labels without replica labels, then by their full
/// labels (one replica each): one chunk list per store that returned the replica.
type Grouped = BTreeMap<Labels, BTreeMap<Labels, Vec<Vec<ClosedChunk>>>>;

impl RemoteStores {
    /// Endpoints given as `host:port`, `http://` URIs or `dns+host:port` names (see
    /// [`EndpointSpec::parse`]), connected lazily and refreshed every
    /// [`DEFAULT_REFRESH_INTERVAL`]; series that differ only in `replica_labels` are
    /// deduplicated; partial responses are on. `runtime` runs the gRPC calls.
    pub fn new(
        endpoints: &[String],
        replica_labels: Vec<String>,
        runtime: Handle,
    ) -> std::result::Result<Self, String> {
        Self::with_refresh_interval(endpoints, replica_labels, runtime, DEFAULT_REFRESH_INTERVAL)
    }

    /// Like [`RemoteStores::new`], refreshing the endpoints every `refresh_every`.
    pub fn with_refresh_interval(
        endpoints: &[String],
        replica_labels: Vec<String>,
        runtime: Handle,
        refresh_every: Duration,
    ) -> std::result::Result<Self, String> {
        Self::with_resolver(
            endpoints,
            replica_labels,
            runtime,
            refresh_every,
            DnsResolver::system(),
        )
    }

    /// Like [`RemoteStores::with_refresh_interval`], resolving `dns+` and `dnssrv+` names
    /// with `resolver`.
    pub fn with_resolver(
        endpoints: &[String],
        replica_labels: Vec<String>,
        runtime: Handle,
        refresh_every: Duration,
        resolver: DnsResolver,
    ) -> std::result::Result<Self, String> {
        let specs = endpoints
            .iter()
            .map(|e| EndpointSpec::parse(e))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let _enter = runtime.enter();
        Ok(RemoteStores {
            endpoints: Arc::new(EndpointSet::new(specs, refresh_every)?.with_resolver(resolver)),
            replica_labels: Arc::new(replica_labels),
            runtime,
            partial_response: true,
            max_source_resolution: 0,
            auto_downsampling: false,
            dedup: DedupFunc::Penalty,
        })
    }

    /// The same stores merging replicas with `func`.
    pub fn with_dedup_func(&self, func: DedupFunc) -> Self {
        RemoteStores {
            dedup: func,
            ..self.clone()
        }
    }

    /// The same stores, allowing downsampled data as coarse as `ms` (Thanos'
    /// `max_source_resolution`: 0 raw only, 300000 up to 5 m, 3600000 up to 1 h).
    pub fn with_max_source_resolution(&self, ms: i64) -> Self {
        RemoteStores {
            max_source_resolution: ms.max(0),
            ..self.clone()
        }
    }

    /// The same stores with auto-downsampling on or off (Thanos'
    /// `--query.auto-downsampling`): a range query then also accepts data whose resolution
    /// is at most a fifth of its step.
    pub fn with_auto_downsampling(&self, enabled: bool) -> Self {
        RemoteStores {
            auto_downsampling: enabled,
            ..self.clone()
        }
    }

    /// The resolution window sent to the stores for a selection with `hints`.
    fn resolution_window(&self, hints: Option<&SelectHints>) -> i64 {
        let auto = match hints {
            Some(h) if self.auto_downsampling => h.step / 5,
            _ => 0,
        };
        self.max_source_resolution.max(auto)
    }

    /// The same stores with partial responses on (a failing store becomes a warning) or
    /// off (it fails the request).
    pub fn with_partial_response(&self, enabled: bool) -> Self {
        RemoteStores {
            partial_response: enabled,
            ..self.clone()
        }
    }

    /// The endpoints as last resolved (resolving them if due).
    pub fn endpoints(&self) -> Vec<Arc<Endpoint>> {
        self.runtime.block_on(self.endpoints.current())
    }

    fn fail(endpoint: &str, e: impl std::fmt::Display) -> StorageError {
        StorageError::Other(format!("store {endpoint}: {e}"))
    }

    /// A store's failure: a warning with partial responses, else the request's error.
    fn tolerate(&self, err: StorageError, warnings: &Mutex<Vec<String>>) -> Result<()> {
        if !self.partial_response {
            return Err(err);
        }
        warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(err.to_string());
        Ok(())
    }

    /// The endpoints that may hold series matching `ms` in `[mint, maxt]`.
    fn selected(&self, mint: i64, maxt: i64, ms: &[Matcher]) -> Vec<Arc<Endpoint>> {
        self.endpoints()
            .into_iter()
            .filter(|e| e.info.as_ref().is_none_or(|i| i.may_match(mint, maxt, ms)))
            .collect()
    }

    /// Every series of the selected endpoints matching `ms` in `[mint, maxt]`. Series that
    /// come back downsampled are read through the aggregates the hints' function needs.
    fn fetch(
        &self,
        mint: i64,
        maxt: i64,
        ms: &[Matcher],
        hints: Option<&SelectHints>,
        warnings: &Mutex<Vec<String>>,
    ) -> Result<Grouped> {
        let aggrs = aggrs_from_func(hints.and_then(|h| h.func.as_deref()));
        let req = SeriesRequest {
            min_time: mint,
            max_time: maxt,
            matchers: to_proto_matchers(ms),
            max_resolution_window: self.resolution_window(hints),
            aggregates: aggrs.iter().map(|a| *a as i32).collect(),
            partial_response_strategy: if self.partial_response {
                PartialResponseStrategy::Warn as i32
            } else {
                PartialResponseStrategy::Abort as i32
            },
            ..Default::default()
        };
        let endpoints = self.selected(mint, maxt, ms);
        let results = self.runtime.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for e in endpoints {
                let req = req.clone();
                set.spawn(async move {
                    let name = e.name.clone();
                    let mut client = StoreClient::new(e.channel.clone());
                    let mut stream = client
                        .series(req)
                        .await
                        .map_err(|err| Self::fail(&name, err))?
                        .into_inner();
                    let (mut series, mut warnings) = (Vec::new(), Vec::new());
                    while let Some(frame) = stream
                        .message()
                        .await
                        .map_err(|err| Self::fail(&name, err))?
                    {
                        match frame.result {
                            Some(series_response::Result::Series(s)) => series.push(s),
                            Some(series_response::Result::Warning(w)) => {
                                warnings.push(format!("store {name}: {w}"))
                            }
                            _ => {}
                        }
                    }
                    Ok::<_, StorageError>((series, warnings))
                });
            }
            let mut all = Vec::new();
            while let Some(r) = set.join_next().await {
                all.push(r.map_err(|e| StorageError::Other(e.to_string()))?);
            }
            Ok::<_, StorageError>(all)
        })?;
        let replica: Vec<&str> = self.replica_labels.iter().map(String::as_str).collect();
        let mut grouped = Grouped::new();
        for store in results {
            let (series, store_warnings) = match store {
                Ok(r) => r,
                Err(e) => {
                    self.tolerate(e, warnings)?;
                    continue;
                }
            };
            warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(store_warnings);
            for s in series {
                let full = from_proto_labels(&s.labels);
                let labels = full.without(&replica);
                if s.chunks.iter().any(|c| c.raw.is_none()) {
                    let mut aggr_chunks = s.chunks;
                    aggr_chunks.sort_by_key(|c| c.min_time);
                    let samples = series_samples(&aggr_chunks, &aggrs).map_err(|e| {
                        StorageError::Corrupt {
                            file: format!("downsampled series {labels}"),
                            message: e.to_string(),
                        }
                    })?;
                    grouped
                        .entry(labels)
                        .or_default()
                        .entry(full)
                        .or_default()
                        .push(float_chunks(&samples, 120));
                    continue;
                }
                let mut chunks: Vec<ClosedChunk> = s
                    .chunks
                    .into_iter()
                    .filter_map(|c| {
                        let raw = c.raw?;
                        let encoding = chunk_encoding(&raw).unwrap_or(Encoding::None);
                        (encoding != Encoding::None).then(|| ClosedChunk {
                            encoding,
                            bytes: raw.data.into(),
                            min_t: c.min_time,
                            max_t: c.max_time,
                        })
                    })
                    .collect();
                chunks.sort_by_key(|c| c.min_t);
                grouped
                    .entry(labels)
                    .or_default()
                    .entry(full)
                    .or_default()
                    .push(chunks);
            }
        }
        Ok(grouped)
    }

    /// Runs a label call on every selected endpoint concurrently and merges the answers.
    fn label_call<F, Fut>(
        &self,
        mint: i64,
        maxt: i64,
        ms: &[Matcher],
        warnings: &Mutex<Vec<String>>,
        call: F,
    ) -> Result<Vec<String>>
    where
        F: Fn(StoreClient<tonic::transport::Channel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Vec<String>, tonic::Status>>
            + Send
            + 'static,
    {
        let endpoints = self.selected(mint, maxt, ms);
        let results = self.runtime.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for e in endpoints {
                let name = e.name.clone();
                let fut = call(StoreClient::new(e.channel.clone()));
                set.spawn(async move { fut.await.map_err(|err| Self::fail(&name, err)) });
            }
            let mut all = Vec::new();
            while let Some(r) = set.join_next().await {
                all.push(r.map_err(|e| StorageError::Other(e.to_string()))?);
            }
            Ok::<_, StorageError>(all)
        })?;
        let mut out = Vec::new();
        for r in results {
            match r {
                Ok(v) => out.extend(v),
                Err(e) => self.tolerate(e, warnings)?,
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl Queryable for RemoteStores {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(RemoteQuerier {
            stores: self,
            mint,
            maxt,
            warnings: Mutex::new(Vec::new()),
        }))
    }
}

struct RemoteQuerier<'a> {
    stores: &'a RemoteStores,
    mint: i64,
    maxt: i64,
    warnings: Mutex<Vec<String>>,
}

impl Querier for RemoteQuerier<'_> {
    fn select<'b>(
        &'b self,
        _sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet + 'b>> {
        let grouped = self
            .stores
            .fetch(self.mint, self.maxt, matchers, hints, &self.warnings)?;
        // Thanos adjusts counters at replica switches for these functions only.
        let counter = hints
            .and_then(|h| h.func.as_deref())
            .is_some_and(|f| matches!(f, "rate" | "increase" | "irate" | "resets"));
        Ok(Box::new(RemoteSeriesSet {
            series: grouped.into_iter(),
            mint: self.mint,
            maxt: self.maxt,
            counter,
            dedup: self.stores.dedup,
        }))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let req = LabelValuesRequest {
            label: name.into(),
            start: self.mint,
            end: self.maxt,
            matchers: to_proto_matchers(matchers),
            ..Default::default()
        };
        self.stores.label_call(
            self.mint,
            self.maxt,
            matchers,
            &self.warnings,
            move |mut client| {
                let req = req.clone();
                async move { Ok(client.label_values(req).await?.into_inner().values) }
            },
        )
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let req = LabelNamesRequest {
            start: self.mint,
            end: self.maxt,
            matchers: to_proto_matchers(matchers),
            ..Default::default()
        };
        let mut out = self.stores.label_call(
            self.mint,
            self.maxt,
            matchers,
            &self.warnings,
            move |mut client| {
                let req = req.clone();
                async move { Ok(client.label_names(req).await?.into_inner().names) }
            },
        )?;
        out.retain(|n| !self.stores.replica_labels.contains(n));
        Ok(out)
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = self
            .warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        w.sort();
        w.dedup();
        w
    }
}

struct RemoteSeriesSet {
    series: std::collections::btree_map::IntoIter<Labels, BTreeMap<Labels, Vec<Vec<ClosedChunk>>>>,
    mint: i64,
    maxt: i64,
    counter: bool,
    dedup: DedupFunc,
}

impl SeriesSet for RemoteSeriesSet {
    fn next_series(&mut self) -> Option<Result<Box<dyn Series + '_>>> {
        let (labels, replicas) = self.series.next()?;
        Some(Ok(Box::new(RemoteSeries {
            labels,
            replicas: replicas.into_values().collect(),
            mint: self.mint,
            maxt: self.maxt,
            counter: self.counter,
            dedup: self.dedup,
        })))
    }
}

/// A series and, for each of its replicas, the chunks each store returned for it.
struct RemoteSeries {
    labels: Labels,
    replicas: Vec<Vec<Vec<ClosedChunk>>>,
    mint: i64,
    maxt: i64,
    /// Whether replica switches adjust counters.
    counter: bool,
    dedup: DedupFunc,
}

impl Series for RemoteSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        if self.dedup == DedupFunc::Chain {
            let copies = self.replicas.iter().flatten();
            return match self.replicas.as_slice() {
                [copies] if copies.len() == 1 => iter_chunks(&copies[0], self.mint, self.maxt),
                _ => Box::new(MergeSampleIterator::new(
                    copies
                        .map(|chunks| iter_chunks(chunks, self.mint, self.maxt))
                        .collect(),
                )),
            };
        }
        // The stores' copies of one replica are merged (a sample at the same time in several
        // copies counts once); the replicas are then deduplicated.
        let mut its = self.replicas.iter().map(|copies| match copies.as_slice() {
            [chunks] => iter_chunks(chunks, self.mint, self.maxt),
            _ => Box::new(MergeSampleIterator::new(
                copies
                    .iter()
                    .map(|chunks| iter_chunks(chunks, self.mint, self.maxt))
                    .collect(),
            )),
        });
        let Some(first) = its.next() else {
            return iter_chunks(&[], self.mint, self.maxt);
        };
        its.fold(first, |acc, next| {
            Box::new(PenaltyDedupIterator::new(acc, next).for_counters(self.counter))
        })
    }
}
