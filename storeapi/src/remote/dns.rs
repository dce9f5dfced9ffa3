//! Name resolution for endpoints given as DNS names, as Thanos' discovery does it:
//! `dns+host:port` (A/AAAA records, every address at `port`), `dnssrv+name` (SRV records,
//! each target's addresses at the record's port) and `dnssrvnoa+name` (SRV records, each
//! target name itself at the record's port, left to the gRPC connection to resolve).
//!
//! By default A/AAAA lookups go through the operating system (so `/etc/hosts` applies) and
//! SRV lookups through the system's DNS servers (`/etc/resolv.conf`);
//! [`DnsResolver::with_server`] sends every lookup to one given server instead.

use std::net::SocketAddr;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

/// Resolves endpoint names to `host:port` strings.
#[derive(Clone)]
pub struct DnsResolver {
    /// The DNS client; `None` until the system configuration is first needed.
    dns: std::sync::Arc<tokio::sync::OnceCell<Result<TokioResolver, String>>>,
    /// A server every lookup goes to, instead of the system's resolver.
    server: Option<SocketAddr>,
}

impl Default for DnsResolver {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.server {
            Some(s) => write!(f, "DnsResolver({s})"),
            None => f.write_str("DnsResolver(system)"),
        }
    }
}

impl DnsResolver {
    /// The operating system's resolver and DNS servers.
    pub fn system() -> Self {
        DnsResolver {
            dns: Default::default(),
            server: None,
        }
    }

    /// Every lookup (A/AAAA and SRV) sent to the DNS server at `server` (UDP, then TCP).
    pub fn with_server(server: SocketAddr) -> Self {
        DnsResolver {
            dns: Default::default(),
            server: Some(server),
        }
    }

    async fn client(&self) -> Result<&TokioResolver, String> {
        let server = self.server;
        self.dns
            .get_or_init(|| async move {
                let mut builder = match server {
                    Some(addr) => {
                        let mut udp = ConnectionConfig::udp();
                        udp.port = addr.port();
                        let mut tcp = ConnectionConfig::tcp();
                        tcp.port = addr.port();
                        let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                        TokioResolver::builder_with_config(
                            ResolverConfig::from_parts(None, vec![], vec![ns]),
                            TokioRuntimeProvider::default(),
                        )
                    }
                    None => TokioResolver::builder_tokio()
                        .map_err(|e| format!("system DNS configuration: {e}"))?,
                };
                // Endpoints are re-resolved at every refresh: answers are not kept longer.
                builder.options_mut().cache_size = 0;
                builder.build().map_err(|e| format!("DNS resolver: {e}"))
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Every address of `host`, at `port` (`dns+`).
    pub async fn addresses(&self, host: &str, port: u16) -> Result<Vec<String>, String> {
        if self.server.is_none() {
            let addrs = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("lookup {host}: {e}"))?;
            return Ok(addrs.map(|a| a.to_string()).collect());
        }
        let ips = self
            .client()
            .await?
            .lookup_ip(host)
            .await
            .map_err(|e| format!("lookup {host}: {e}"))?;
        Ok(ips
            .iter()
            .map(|ip| SocketAddr::new(ip, port).to_string())
            .collect())
    }

    /// The targets of the SRV records of `name`: each target's addresses at the record's
    /// port, or (with `resolve_targets` false, `dnssrvnoa+`) the target names themselves.
    pub async fn srv(&self, name: &str, resolve_targets: bool) -> Result<Vec<String>, String> {
        let dns = self.client().await?;
        let lookup = dns
            .srv_lookup(name)
            .await
            .map_err(|e| format!("SRV lookup {name}: {e}"))?;
        let mut out = Vec::new();
        for record in lookup.answers() {
            let RData::SRV(srv) = &record.data else {
                continue;
            };
            let target = srv.target.to_utf8();
            let target = target.trim_end_matches('.');
            if resolve_targets {
                out.extend(self.addresses(target, srv.port).await?);
            } else {
                out.push(format!("{target}:{}", srv.port));
            }
        }
        Ok(out)
    }
}
