//! A memcached backend speaking memcached's text protocol (`get` with many keys, `set`) over
//! a few pooled TCP connections per server; keys are spread over servers by hash.
//!
//! Written here rather than taken from a crate: the store's readers are synchronous, need only
//! these two commands, and must bound every read by the item size they accept (a reply
//! larger than `max_item_size` is refused, not allocated); the maintained Rust clients are
//! async-only or pull a TLS stack and a connection-pool crate for features not used here.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::Cache;

/// Settings of a [`MemcachedCache`], named after Thanos' memcached client config.
#[derive(Debug, Clone)]
pub struct MemcachedConfig {
    /// `host:port` of each server.
    pub addresses: Vec<String>,
    /// Timeout of one operation (connect, read, write).
    pub timeout: Duration,
    /// Idle connections kept per server.
    pub max_idle_connections: usize,
    /// Items above this size are neither stored nor accepted in replies.
    pub max_item_size: usize,
    /// Keys per `get` command.
    pub max_get_multi_batch_size: usize,
    /// Expiry of stored items, in seconds (0: never).
    pub expiration_secs: u32,
}

impl Default for MemcachedConfig {
    fn default() -> Self {
        MemcachedConfig {
            addresses: Vec::new(),
            timeout: Duration::from_millis(500),
            max_idle_connections: 4,
            max_item_size: 1024 * 1024,
            max_get_multi_batch_size: 100,
            expiration_secs: 24 * 3600,
        }
    }
}

/// A reply that does not follow the protocol, or an I/O failure.
#[derive(Debug, thiserror::Error)]
pub enum MemcachedError {
    /// Network failure.
    #[error("memcached {addr}: {source}")]
    Io {
        /// The server.
        addr: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An unexpected reply.
    #[error("memcached {addr}: unexpected reply {reply:?}")]
    Protocol {
        /// The server.
        addr: String,
        /// The reply line (truncated).
        reply: String,
    },
    /// No server configured.
    #[error("memcached: no server address given")]
    NoServers,
}

struct Server {
    addr: String,
    idle: Mutex<Vec<BufReader<TcpStream>>>,
}

/// A memcached cache; see the module docs. Failures count as misses and are counted in
/// [`MemcachedCache::errors`].
pub struct MemcachedCache {
    servers: Vec<Server>,
    cfg: MemcachedConfig,
    errors: AtomicU64,
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 250 && k.bytes().all(|b| b > b' ' && b != 0x7f)
}

impl MemcachedCache {
    /// A client of the servers in `cfg` (connections are opened on first use).
    pub fn new(cfg: MemcachedConfig) -> Result<Self, MemcachedError> {
        if cfg.addresses.is_empty() {
            return Err(MemcachedError::NoServers);
        }
        let servers = cfg
            .addresses
            .iter()
            .map(|a| Server {
                addr: a.clone(),
                idle: Mutex::new(Vec::new()),
            })
            .collect();
        Ok(MemcachedCache {
            servers,
            cfg,
            errors: AtomicU64::new(0),
        })
    }

    /// Operations that failed (network or protocol) so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn server_of(&self, key: &str) -> usize {
        (crc32c::crc32c(key.as_bytes()) as usize) % self.servers.len()
    }

    fn connect(&self, s: &Server) -> Result<BufReader<TcpStream>, MemcachedError> {
        let io = |source| MemcachedError::Io {
            addr: s.addr.clone(),
            source,
        };
        if let Some(c) = s.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(c);
        }
        let addr = s
            .addr
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| io(std::io::Error::other("address resolves to nothing")))?;
        let stream = TcpStream::connect_timeout(&addr, self.cfg.timeout).map_err(io)?;
        stream
            .set_read_timeout(Some(self.cfg.timeout))
            .map_err(io)?;
        stream
            .set_write_timeout(Some(self.cfg.timeout))
            .map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        Ok(BufReader::new(stream))
    }

    fn release(&self, s: &Server, c: BufReader<TcpStream>) {
        let mut idle = s.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.cfg.max_idle_connections {
            idle.push(c);
        }
    }

    /// Runs `op` on a connection to server `i`; the connection is reused only if `op`
    /// succeeded (a failed one may hold half a reply).
    fn with_conn<T>(
        &self,
        i: usize,
        op: impl FnOnce(&mut BufReader<TcpStream>, &str) -> Result<T, MemcachedError>,
    ) -> Result<T, MemcachedError> {
        let s = &self.servers[i];
        let mut c = self.connect(s)?;
        let out = op(&mut c, &s.addr)?;
        self.release(s, c);
        Ok(out)
    }

    /// `get` of up to a batch of keys on one server.
    pub fn get_multi(
        &self,
        server: usize,
        keys: &[&str],
    ) -> Result<HashMap<String, Bytes>, MemcachedError> {
        let max = self.cfg.max_item_size;
        self.with_conn(server, |c, addr| {
            let io = |source| MemcachedError::Io {
                addr: addr.to_string(),
                source,
            };
            let mut cmd = String::from("get");
            for k in keys {
                cmd.push(' ');
                cmd.push_str(k);
            }
            cmd.push_str("\r\n");
            c.get_mut().write_all(cmd.as_bytes()).map_err(io)?;
            let mut out = HashMap::new();
            let mut line = String::new();
            loop {
                line.clear();
                // A reply line is short; bound it so a rogue server cannot grow it forever.
                let n = c.by_ref().take(512).read_line(&mut line).map_err(io)?;
                let bad = || MemcachedError::Protocol {
                    addr: addr.to_string(),
                    reply: line.chars().take(80).collect(),
                };
                if n == 0 || !line.ends_with("\r\n") {
                    return Err(bad());
                }
                let l = line.trim_end();
                if l == "END" {
                    return Ok(out);
                }
                let mut parts = l.split(' ');
                let (Some("VALUE"), Some(key), Some(_flags), Some(len)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad());
                };
                let len: usize = len.parse().map_err(|_| bad())?;
                if len > max {
                    return Err(bad());
                }
                let key = key.to_string();
                let mut data = vec![0u8; len + 2];
                c.read_exact(&mut data).map_err(io)?;
                if !data.ends_with(b"\r\n") {
                    return Err(bad());
                }
                data.truncate(len);
                out.insert(key, Bytes::from(data));
            }
        })
    }

    /// `set` of one item.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), MemcachedError> {
        let server = self.server_of(key);
        let exp = self.cfg.expiration_secs;
        self.with_conn(server, |c, addr| {
            let io = |source| MemcachedError::Io {
                addr: addr.to_string(),
                source,
            };
            let mut msg = format!("set {key} 0 {exp} {}\r\n", value.len()).into_bytes();
            msg.extend_from_slice(value);
            msg.extend_from_slice(b"\r\n");
            c.get_mut().write_all(&msg).map_err(io)?;
            let mut line = String::new();
            c.by_ref().take(512).read_line(&mut line).map_err(io)?;
            if line == "STORED\r\n" {
                Ok(())
            } else {
                Err(MemcachedError::Protocol {
                    addr: addr.to_string(),
                    reply: line.chars().take(80).collect(),
                })
            }
        })
    }
}

impl Cache for MemcachedCache {
    fn fetch(&self, keys: &[String]) -> HashMap<String, Bytes> {
        let mut by_server: Vec<Vec<&str>> = vec![Vec::new(); self.servers.len()];
        for k in keys.iter().filter(|k| valid_key(k)) {
            by_server[self.server_of(k)].push(k);
        }
        let mut out = HashMap::new();
        let batch = self.cfg.max_get_multi_batch_size.max(1);
        for (i, ks) in by_server.iter().enumerate() {
            for chunk in ks.chunks(batch) {
                match self.get_multi(i, chunk) {
                    Ok(found) => out.extend(found),
                    Err(_) => {
                        self.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        out
    }

    fn store(&self, key: &str, value: Bytes) {
        if !valid_key(key) || value.len() > self.cfg.max_item_size {
            return;
        }
        if self.set(key, &value).is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn backend(&self) -> &'static str {
        "memcached"
    }
}
