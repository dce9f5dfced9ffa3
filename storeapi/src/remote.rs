//! A PromQL-ready [`Queryable`] over remote StoreAPI endpoints: the querier role of Thanos.
//!
//! A select fans the request out to every endpoint concurrently, merges the series by labels
//! (after removing replica labels), and deduplicates the replicas of a series with
//! [`PenaltyDedupIterator`]. I/O happens while selecting; the sample iterators handed to the
//! engine then decode chunks synchronously (DESIGN rule 2). A failing endpoint fails the
//! select (the storage traits have no channel for partial-response warnings yet).

use std::collections::BTreeMap;
use std::sync::Arc;

use chunkenc::Encoding;
use tokio::runtime::Handle;
use tonic::transport::Channel;
use tsdb_core::head::querier::iter_chunks;
use tsdb_core::head::series::ClosedChunk;
use tsdb_core::storage::{
    Querier, Queryable, Result, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
};
use tsdb_index::{Labels, Matcher};

use crate::dedup::PenaltyDedupIterator;
use crate::grpc::convert::{chunk_encoding, from_proto_labels, to_proto_matchers};
use crate::grpc::proto::store_client::StoreClient;
use crate::grpc::proto::{series_response, LabelNamesRequest, LabelValuesRequest, SeriesRequest};

/// StoreAPI endpoints queried together.
#[derive(Clone)]
pub struct RemoteStores {
    endpoints: Vec<(String, Channel)>,
    replica_labels: Arc<Vec<String>>,
    runtime: Handle,
}

impl RemoteStores {
    /// Endpoints given as `host:port` (or full `http://` URIs), connected lazily; series that
    /// differ only in `replica_labels` are deduplicated. `runtime` runs the gRPC calls.
    pub fn new(
        endpoints: &[String],
        replica_labels: Vec<String>,
        runtime: Handle,
    ) -> std::result::Result<Self, String> {
        let _enter = runtime.enter();
        let endpoints = endpoints
            .iter()
            .map(|e| {
                let uri = if e.contains("://") {
                    e.clone()
                } else {
                    format!("http://{e}")
                };
                let ch = tonic::transport::Endpoint::from_shared(uri)
                    .map_err(|err| format!("endpoint {e}: {err}"))?
                    .connect_lazy();
                Ok((e.clone(), ch))
            })
            .collect::<std::result::Result<_, String>>()?;
        Ok(RemoteStores {
            endpoints,
            replica_labels: Arc::new(replica_labels),
            runtime,
        })
    }

    fn fail(endpoint: &str, e: impl std::fmt::Display) -> StorageError {
        StorageError::Other(format!("store {endpoint}: {e}"))
    }

    /// Every series of every endpoint matching `ms` in `[mint, maxt]`: labels without replica
    /// labels → one chunk list per replica.
    fn fetch(
        &self,
        mint: i64,
        maxt: i64,
        ms: &[Matcher],
    ) -> Result<BTreeMap<Labels, Vec<Vec<ClosedChunk>>>> {
        let req = SeriesRequest {
            min_time: mint,
            max_time: maxt,
            matchers: to_proto_matchers(ms),
            ..Default::default()
        };
        let results = self.runtime.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for (name, ch) in &self.endpoints {
                let (name, ch, req) = (name.clone(), ch.clone(), req.clone());
                set.spawn(async move {
                    let mut client = StoreClient::new(ch);
                    let mut stream = client
                        .series(req)
                        .await
                        .map_err(|e| Self::fail(&name, e))?
                        .into_inner();
                    let mut out = Vec::new();
                    while let Some(frame) =
                        stream.message().await.map_err(|e| Self::fail(&name, e))?
                    {
                        if let Some(series_response::Result::Series(s)) = frame.result {
                            out.push(s);
                        }
                    }
                    Ok::<_, StorageError>(out)
                });
            }
            let mut all = Vec::new();
            while let Some(r) = set.join_next().await {
                all.push(r.map_err(|e| StorageError::Other(e.to_string()))?);
            }
            Ok::<_, StorageError>(all)
        })?;
        let replica: Vec<&str> = self.replica_labels.iter().map(String::as_str).collect();
        let mut grouped: BTreeMap<Labels, Vec<Vec<ClosedChunk>>> = BTreeMap::new();
        for store in results {
            for s in store? {
                let labels = from_proto_labels(&s.labels).without(&replica);
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
                grouped.entry(labels).or_default().push(chunks);
            }
        }
        Ok(grouped)
    }
}

impl Queryable for RemoteStores {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(RemoteQuerier {
            stores: self,
            mint,
            maxt,
        }))
    }
}

struct RemoteQuerier<'a> {
    stores: &'a RemoteStores,
    mint: i64,
    maxt: i64,
}

impl Querier for RemoteQuerier<'_> {
    fn select<'b>(
        &'b self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Box<dyn SeriesSet + 'b>> {
        let grouped = self.stores.fetch(self.mint, self.maxt, matchers)?;
        Ok(Box::new(RemoteSeriesSet {
            series: grouped.into_iter(),
            mint: self.mint,
            maxt: self.maxt,
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
        let mut out = Vec::new();
        for (endpoint, ch) in &self.stores.endpoints {
            let r = self
                .stores
                .runtime
                .block_on(StoreClient::new(ch.clone()).label_values(req.clone()))
                .map_err(|e| RemoteStores::fail(endpoint, e))?;
            out.extend(r.into_inner().values);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let req = LabelNamesRequest {
            start: self.mint,
            end: self.maxt,
            matchers: to_proto_matchers(matchers),
            ..Default::default()
        };
        let mut out = Vec::new();
        for (endpoint, ch) in &self.stores.endpoints {
            let r = self
                .stores
                .runtime
                .block_on(StoreClient::new(ch.clone()).label_names(req.clone()))
                .map_err(|e| RemoteStores::fail(endpoint, e))?;
            out.extend(r.into_inner().names);
        }
        out.retain(|n| !self.stores.replica_labels.contains(n));
        out.sort();
        out.dedup();
        Ok(out)
    }
}

struct RemoteSeriesSet {
    series: std::collections::btree_map::IntoIter<Labels, Vec<Vec<ClosedChunk>>>,
    mint: i64,
    maxt: i64,
}

impl SeriesSet for RemoteSeriesSet {
    fn next_series(&mut self) -> Option<Result<Box<dyn Series + '_>>> {
        let (labels, replicas) = self.series.next()?;
        Some(Ok(Box::new(RemoteSeries {
            labels,
            replicas,
            mint: self.mint,
            maxt: self.maxt,
        })))
    }
}

/// A series and the chunks each replica (store) returned for it.
struct RemoteSeries {
    labels: Labels,
    replicas: Vec<Vec<ClosedChunk>>,
    mint: i64,
    maxt: i64,
}

impl Series for RemoteSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        let mut its = self
            .replicas
            .iter()
            .map(|chunks| iter_chunks(chunks, self.mint, self.maxt));
        let Some(first) = its.next() else {
            return iter_chunks(&[], self.mint, self.maxt);
        };
        its.fold(first, |acc, next| {
            Box::new(PenaltyDedupIterator::new(acc, next))
        })
    }
}
