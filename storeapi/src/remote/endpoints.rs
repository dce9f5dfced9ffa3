//! The set of StoreAPI endpoints a querier talks to: given statically or as DNS names
//! (`dns+`, `dnssrv+`, `dnssrvnoa+`; see [`super::dns`]) that are re-resolved periodically (so a fleet can grow without restarting the querier), each
//! with what its `Info` call last said (time range, external label sets), which decides
//! whether a request goes to it at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tsdb_index::{Labels, Matcher};

use super::dns::DnsResolver;
use crate::grpc::convert::from_proto_labels;
use crate::grpc::proto::info::info_client::InfoClient;
use crate::grpc::proto::info::InfoRequest;

/// How an endpoint was given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSpec {
    /// A fixed `host:port` or `http://` URI.
    Static(String),
    /// `dns+host:port`: every address `host` resolves to, at `port`, re-resolved at each
    /// refresh (Thanos' A/AAAA lookup).
    Dns {
        /// The name to resolve.
        host: String,
        /// The port of every address.
        port: u16,
    },
    /// `dnssrv+name` (each SRV target's addresses at the record's port) or
    /// `dnssrvnoa+name` (each target name at the record's port), re-resolved at each refresh.
    Srv {
        /// The SRV name, e.g. `_grpc._tcp.store.monitoring.svc`.
        name: String,
        /// Whether targets are resolved to addresses (`dnssrv+`) or used as names
        /// (`dnssrvnoa+`).
        resolve_targets: bool,
    },
}

impl EndpointSpec {
    /// Parses `host:port`, `http://host:port`, `dns+host:port`, `dnssrv+name` or
    /// `dnssrvnoa+name`, as Thanos accepts them.
    pub fn parse(s: &str) -> Result<Self, String> {
        for (prefix, resolve_targets) in [("dnssrvnoa+", false), ("dnssrv+", true)] {
            if let Some(name) = s.strip_prefix(prefix) {
                if name.is_empty() {
                    return Err(format!("endpoint {s}: empty SRV name"));
                }
                if name
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                {
                    return Err(format!(
                        "endpoint {s}: an SRV name takes no port (the records carry it)"
                    ));
                }
                return Ok(EndpointSpec::Srv {
                    name: name.to_string(),
                    resolve_targets,
                });
            }
        }
        if let Some(rest) = s.strip_prefix("dns+") {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("endpoint {s}: dns+ needs host:port"))?;
            let port = port
                .parse()
                .map_err(|_| format!("endpoint {s}: bad port {port:?}"))?;
            if host.is_empty() {
                return Err(format!("endpoint {s}: empty host"));
            }
            return Ok(EndpointSpec::Dns {
                host: host.trim_matches(|c| c == '[' || c == ']').to_string(),
                port,
            });
        }
        if s.is_empty() {
            return Err("empty endpoint".into());
        }
        Ok(EndpointSpec::Static(s.to_string()))
    }
}

/// What a store's `Info` call said.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreInfo {
    /// Oldest timestamp it holds (ms).
    pub min_time: i64,
    /// Newest timestamp it holds (ms).
    pub max_time: i64,
    /// Its external label sets (empty: none).
    pub label_sets: Vec<Labels>,
}

impl StoreInfo {
    /// Whether the store may hold series matching `matchers` in `[mint, maxt]`: its time
    /// range meets the request's, and one of its label sets agrees with every matcher on a
    /// label it has (a matcher on a label the set lacks does not rule the store out), as
    /// Thanos selects stores.
    pub fn may_match(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> bool {
        if self.max_time < mint || self.min_time > maxt {
            return false;
        }
        self.label_sets.is_empty()
            || self.label_sets.iter().any(|set| {
                matchers
                    .iter()
                    .all(|m| set.get(&m.name).is_none_or(|v| m.matches(v)))
            })
    }
}

/// One live endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The address as given or resolved.
    pub name: String,
    /// The gRPC channel (connected lazily, reused across refreshes).
    pub channel: Channel,
    /// Its last `Info`, if the call succeeded.
    pub info: Option<StoreInfo>,
}

/// The endpoints, refreshed at most once per `refresh_every`.
pub struct EndpointSet {
    specs: Vec<EndpointSpec>,
    refresh_every: Duration,
    resolver: DnsResolver,
    state: tokio::sync::Mutex<Snapshot>,
}

#[derive(Default)]
struct Snapshot {
    at: Option<Instant>,
    endpoints: Vec<Arc<Endpoint>>,
}

/// How long an `Info` call may take before the endpoint is used without one.
const INFO_TIMEOUT: Duration = Duration::from_secs(5);

fn channel_for(name: &str) -> Result<Channel, String> {
    let uri = if name.contains("://") {
        name.to_string()
    } else {
        format!("http://{name}")
    };
    Ok(tonic::transport::Endpoint::from_shared(uri)
        .map_err(|e| format!("endpoint {name}: {e}"))?
        .connect_lazy())
}

impl EndpointSet {
    /// Endpoints from their specs; nothing is resolved or called until the first use.
    /// Static endpoints are checked here, so a malformed one fails at start.
    pub fn new(specs: Vec<EndpointSpec>, refresh_every: Duration) -> Result<Self, String> {
        for s in &specs {
            if let EndpointSpec::Static(name) = s {
                tonic::transport::Endpoint::from_shared(if name.contains("://") {
                    name.clone()
                } else {
                    format!("http://{name}")
                })
                .map_err(|e| format!("endpoint {name}: {e}"))?;
            }
        }
        Ok(EndpointSet {
            specs,
            refresh_every,
            resolver: DnsResolver::system(),
            state: tokio::sync::Mutex::new(Snapshot::default()),
        })
    }

    /// The same endpoints, with DNS names resolved by `resolver`.
    pub fn with_resolver(mut self, resolver: DnsResolver) -> Self {
        self.resolver = resolver;
        self
    }

    /// The current endpoints, re-resolving names and refreshing `Info` when the last
    /// refresh is older than the refresh interval. A name that does not resolve contributes
    /// no endpoint until it does.
    pub async fn current(&self) -> Vec<Arc<Endpoint>> {
        let mut state = self.state.lock().await;
        if state.at.is_some_and(|t| t.elapsed() < self.refresh_every) {
            return state.endpoints.clone();
        }
        let mut names: Vec<String> = Vec::new();
        for spec in &self.specs {
            match spec {
                EndpointSpec::Static(name) => names.push(name.clone()),
                EndpointSpec::Dns { host, port } => {
                    if let Ok(addrs) = self.resolver.addresses(host, *port).await {
                        names.extend(addrs);
                    }
                }
                EndpointSpec::Srv {
                    name,
                    resolve_targets,
                } => {
                    if let Ok(targets) = self.resolver.srv(name, *resolve_targets).await {
                        names.extend(targets);
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        let known: HashMap<&str, &Arc<Endpoint>> = state
            .endpoints
            .iter()
            .map(|e| (e.name.as_str(), e))
            .collect();
        let mut channels = Vec::new();
        for name in names {
            let channel = match known.get(name.as_str()) {
                Some(e) => e.channel.clone(),
                None => match channel_for(&name) {
                    Ok(c) => c,
                    Err(_) => continue,
                },
            };
            channels.push((name, channel));
        }
        let mut calls = tokio::task::JoinSet::new();
        for (i, (_, channel)) in channels.iter().enumerate() {
            let channel = channel.clone();
            calls.spawn(async move { (i, fetch_info(channel).await) });
        }
        let mut infos: Vec<Option<StoreInfo>> = vec![None; channels.len()];
        while let Some(Ok((i, info))) = calls.join_next().await {
            infos[i] = info;
        }
        state.endpoints = channels
            .into_iter()
            .zip(infos)
            .map(|((name, channel), info)| {
                Arc::new(Endpoint {
                    name,
                    channel,
                    info,
                })
            })
            .collect();
        state.at = Some(Instant::now());
        state.endpoints.clone()
    }
}

async fn fetch_info(channel: Channel) -> Option<StoreInfo> {
    let mut client = InfoClient::new(channel);
    let resp = tokio::time::timeout(INFO_TIMEOUT, client.info(InfoRequest {}))
        .await
        .ok()?
        .ok()?
        .into_inner();
    let store = resp.store?;
    Some(StoreInfo {
        min_time: store.min_time,
        max_time: store.max_time,
        label_sets: resp
            .label_sets
            .iter()
            .map(|s| from_proto_labels(&s.labels))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb_index::MatchType;

    #[test]
    fn specs_parse_as_thanos_accepts_them() {
        assert_eq!(
            EndpointSpec::parse("store:10901"),
            Ok(EndpointSpec::Static("store:10901".into()))
        );
        assert_eq!(
            EndpointSpec::parse("dns+store.ns.svc:10901"),
            Ok(EndpointSpec::Dns {
                host: "store.ns.svc".into(),
                port: 10901
            })
        );
        assert!(EndpointSpec::parse("dns+store").is_err());
        assert!(EndpointSpec::parse("dns+store:x").is_err());
        assert_eq!(
            EndpointSpec::parse("dnssrv+_grpc._tcp.store"),
            Ok(EndpointSpec::Srv {
                name: "_grpc._tcp.store".into(),
                resolve_targets: true
            })
        );
        assert_eq!(
            EndpointSpec::parse("dnssrvnoa+_grpc._tcp.store"),
            Ok(EndpointSpec::Srv {
                name: "_grpc._tcp.store".into(),
                resolve_targets: false
            })
        );
        assert!(EndpointSpec::parse("dnssrv+").is_err());
        assert!(EndpointSpec::parse("dnssrv+_grpc._tcp.store:10901").is_err());
    }

    #[test]
    fn stores_are_selected_by_time_range_and_external_labels() {
        let info = StoreInfo {
            min_time: 1000,
            max_time: 2000,
            label_sets: vec![Labels::from_pairs([("cluster", "eu"), ("replica", "a")])],
        };
        let m = |n: &str, v: &str| Matcher::new(MatchType::Equal, n, v).unwrap();
        assert!(info.may_match(0, 1000, &[]));
        assert!(!info.may_match(2001, 3000, &[]));
        assert!(!info.may_match(0, 999, &[]));
        assert!(info.may_match(0, 5000, &[m("cluster", "eu"), m("job", "api")]));
        assert!(!info.may_match(0, 5000, &[m("cluster", "us")]));
        let re = Matcher::new(MatchType::Regexp, "cluster", "e.*").unwrap();
        assert!(info.may_match(0, 5000, &[re]));
        let none = StoreInfo {
            label_sets: vec![],
            ..info
        };
        assert!(none.may_match(0, 5000, &[m("cluster", "us")]));
    }
}
