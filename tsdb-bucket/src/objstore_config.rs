//! Thanos' object-storage configuration (`--objstore.config-file` / `--objstore.config`):
//! a YAML document naming a provider, its settings and an optional key prefix, e.g.
//!
//! ```yaml
//! type: S3
//! config:
//!   bucket: metrics
//!   endpoint: minio:9000
//!   insecure: true
//!   access_key: ...
//!   secret_key: ...
//! prefix: tenant-a
//! ```
//!
//! Providers: `FILESYSTEM`, `S3`, `GCS` and `AZURE` (the type is case-insensitive, as in
//! Thanos). As in Thanos, unknown keys are errors, so a misspelt setting is not silently
//! dropped. Settings Thanos knows but this client cannot honour are reported: those that
//! would change what is stored or who may read it (server-side encryption, user metadata,
//! signature v2, ...) are errors; those that only tune the HTTP client are returned as
//! [`ObjstoreConfig::ignored`] for the caller to log.
//!
//! ```
//! use tsdb_bucket::objstore_config::ObjstoreConfig;
//! let cfg = ObjstoreConfig::parse("type: filesystem\nconfig:\n  directory: /tmp/b\nprefix: t1\n").unwrap();
//! assert_eq!(cfg.prefix, "t1");
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::BucketError;
use crate::objstore::Bucket;

/// A parsed Thanos object-storage configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjstoreConfig {
    /// The provider and its settings.
    pub provider: Provider,
    /// Every key lives under this prefix (empty: none).
    pub prefix: String,
    /// Settings accepted but without effect here (names as written), for the caller to log.
    pub ignored: Vec<String>,
}

/// One provider's settings, in the terms of our `object_store` backends.
#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    /// A local directory.
    Filesystem {
        /// The directory (created if missing).
        directory: String,
    },
    /// S3 or an S3-compatible server.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Builder options (`object_store`'s S3 configuration keys).
        options: Vec<(String, String)>,
    },
    /// Google Cloud Storage.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Builder options (`object_store`'s GCS configuration keys).
        options: Vec<(String, String)>,
    },
    /// Azure Blob Storage.
    Azure {
        /// Container name.
        container: String,
        /// Builder options (`object_store`'s Azure configuration keys).
        options: Vec<(String, String)>,
    },
}

/// The document's outer shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    prefix: Option<String>,
}

/// Thanos' `http_config` block, shared by the cloud providers.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpConfig {
    #[serde(default)]
    idle_conn_timeout: Option<Value>,
    #[serde(default)]
    response_header_timeout: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
    #[serde(default)]
    tls_handshake_timeout: Option<Value>,
    #[serde(default)]
    expect_continue_timeout: Option<Value>,
    #[serde(default)]
    max_idle_conns: Option<Value>,
    #[serde(default)]
    max_idle_conns_per_host: Option<Value>,
    #[serde(default)]
    max_conns_per_host: Option<Value>,
    #[serde(default)]
    disable_compression: Option<Value>,
    #[serde(default)]
    tls_config: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FilesystemConfig {
    #[serde(default)]
    directory: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct S3Config {
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    disable_dualstack: bool,
    #[serde(default)]
    aws_sdk_auth: bool,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    signature_version2: bool,
    #[serde(default)]
    secret_key: String,
    #[serde(default)]
    session_token: String,
    #[serde(default)]
    put_user_metadata: BTreeMap<String, String>,
    #[serde(default)]
    http_config: Option<HttpConfig>,
    #[serde(default)]
    trace: Option<Value>,
    #[serde(default)]
    list_objects_version: String,
    #[serde(default)]
    bucket_lookup_type: Option<Value>,
    #[serde(default)]
    send_content_md5: bool,
    #[serde(default)]
    disable_multipart: bool,
    #[serde(default)]
    part_size: u64,
    #[serde(default)]
    sse_config: Option<SseConfig>,
    #[serde(default)]
    sts_endpoint: String,
    #[serde(default)]
    max_retries: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SseConfig {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    kms_key_id: String,
    #[serde(default)]
    kms_encryption_context: BTreeMap<String, String>,
    #[serde(default)]
    encryption_key: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GcsConfig {
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    service_account: String,
    #[serde(default)]
    use_grpc: bool,
    #[serde(default)]
    grpc_conn_pool_size: Option<Value>,
    #[serde(default)]
    http_config: Option<HttpConfig>,
    #[serde(default)]
    chunk_size_bytes: Option<Value>,
    #[serde(default)]
    max_retries: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AzureConfig {
    #[serde(default)]
    az_tenant_id: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    storage_account: String,
    #[serde(default)]
    storage_account_key: String,
    #[serde(default)]
    storage_connection_string: String,
    #[serde(default)]
    storage_create_container: bool,
    #[serde(default)]
    container: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    user_assigned_id: String,
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    reader_config: Option<Value>,
    #[serde(default)]
    pipeline_config: Option<Value>,
    #[serde(default)]
    http_config: Option<HttpConfig>,
    #[serde(default)]
    msi_resource: String,
}

/// Collects the options of one provider and the settings it leaves without effect.
struct Options {
    pairs: Vec<(String, String)>,
    ignored: Vec<String>,
}

impl Options {
    fn new() -> Self {
        Options {
            pairs: Vec::new(),
            ignored: Vec::new(),
        }
    }

    fn set(&mut self, key: &str, value: impl Into<String>) {
        self.pairs.push((key.to_string(), value.into()));
    }

    fn ignore_if(&mut self, present: bool, name: &str) {
        if present {
            self.ignored.push(name.to_string());
        }
    }

    /// Applies `http_config`: certificate checks and the response timeout have
    /// equivalents; connection-pool tuning does not.
    fn http(&mut self, http: Option<HttpConfig>) {
        let Some(http) = http else { return };
        if http.insecure_skip_verify {
            self.set("allow_invalid_certificates", "true");
        }
        if let Some(t) = http.response_header_timeout {
            self.set("timeout", t);
        }
        for (present, name) in [
            (http.idle_conn_timeout.is_some(), "idle_conn_timeout"),
            (
                http.tls_handshake_timeout.is_some(),
                "tls_handshake_timeout",
            ),
            (
                http.expect_continue_timeout.is_some(),
                "expect_continue_timeout",
            ),
            (http.max_idle_conns.is_some(), "max_idle_conns"),
            (
                http.max_idle_conns_per_host.is_some(),
                "max_idle_conns_per_host",
            ),
            (http.max_conns_per_host.is_some(), "max_conns_per_host"),
            (http.disable_compression.is_some(), "disable_compression"),
            (http.tls_config.is_some(), "tls_config"),
        ] {
            self.ignore_if(present, &format!("http_config.{name}"));
        }
    }
}

impl ObjstoreConfig {
    /// Parses a configuration document.
    pub fn parse(yaml: &str) -> Result<Self, BucketError> {
        let doc: Document = serde_saphyr::from_str(yaml).map_err(|e| bad(e.to_string()))?;
        let config = doc.config.unwrap_or(Value::Null);
        let (provider, ignored) = match doc.kind.to_ascii_uppercase().as_str() {
            "FILESYSTEM" => filesystem(config)?,
            "S3" => s3(config)?,
            "GCS" => gcs(config)?,
            "AZURE" => azure(config)?,
            "SWIFT" | "COS" | "ALIYUNOSS" | "BOS" | "OCI" | "OBS" => {
                return Err(bad(format!(
                    "bucket type {} is not supported (supported: FILESYSTEM, S3, GCS, AZURE)",
                    doc.kind
                )))
            }
            _ => {
                return Err(bad(format!(
                    "bucket with type {} is not supported",
                    doc.kind
                )))
            }
        };
        Ok(ObjstoreConfig {
            provider,
            prefix: doc.prefix.unwrap_or_default().trim_matches('/').to_string(),
            ignored,
        })
    }

    /// Reads and parses a configuration file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, BucketError> {
        let text = std::fs::read_to_string(path).map_err(|source| BucketError::Io {
            op: "read objstore config",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Opens the bucket this configuration names.
    pub fn open(&self) -> Result<Bucket, BucketError> {
        let bucket = Bucket::from_provider(&self.provider)?;
        Ok(bucket.with_prefix(&self.prefix))
    }
}

/// How a bucket was named: a URL (`--bucket`) or a Thanos objstore configuration
/// (`--objstore.config-file` / `--objstore.config`).
#[derive(Debug, Clone, PartialEq)]
pub enum BucketSpec {
    /// A bucket URL (see [`Bucket::from_url`]).
    Url(String),
    /// A parsed objstore configuration.
    Config(ObjstoreConfig),
}

impl BucketSpec {
    /// Opens the bucket.
    pub fn open(&self) -> Result<Bucket, BucketError> {
        match self {
            BucketSpec::Url(url) => Bucket::from_url(url),
            BucketSpec::Config(c) => c.open(),
        }
    }
}

/// Shows a URL as given and a configuration by its provider, bucket and prefix, never its
/// credentials.
impl std::fmt::Display for BucketSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BucketSpec::Url(url) => f.write_str(url),
            BucketSpec::Config(c) => {
                let (scheme, name) = match &c.provider {
                    Provider::Filesystem { directory } => ("file://", directory.as_str()),
                    Provider::S3 { bucket, .. } => ("s3://", bucket.as_str()),
                    Provider::Gcs { bucket, .. } => ("gs://", bucket.as_str()),
                    Provider::Azure { container, .. } => ("az://", container.as_str()),
                };
                write!(f, "{scheme}{name}")?;
                if !c.prefix.is_empty() {
                    write!(f, "/{}", c.prefix)?;
                }
                f.write_str(" (objstore config)")
            }
        }
    }
}

fn bad(message: String) -> BucketError {
    BucketError::Config {
        url: "objstore config".into(),
        message,
    }
}

/// Deserializes a provider's `config` block (absent: every setting at its default).
fn settings<T: serde::de::DeserializeOwned + Default>(
    config: Value,
    kind: &str,
) -> Result<T, BucketError> {
    if config.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(config).map_err(|e| bad(format!("{kind} config: {e}")))
}

fn filesystem(config: Value) -> Result<(Provider, Vec<String>), BucketError> {
    let c: FilesystemConfig = settings(config, "FILESYSTEM")?;
    if c.directory.is_empty() {
        return Err(bad("missing directory for filesystem bucket".into()));
    }
    Ok((
        Provider::Filesystem {
            directory: c.directory,
        },
        Vec::new(),
    ))
}

fn s3(config: Value) -> Result<(Provider, Vec<String>), BucketError> {
    let c: S3Config = settings(config, "S3")?;
    if c.endpoint.is_empty() {
        return Err(bad("no s3 endpoint in config file".into()));
    }
    if c.bucket.is_empty() {
        return Err(bad("missing s3 bucket name".into()));
    }
    if c.aws_sdk_auth && !c.access_key.is_empty() {
        return Err(bad(
            "aws_sdk_auth and access_key are mutually exclusive".into()
        ));
    }
    if c.access_key.is_empty() != c.secret_key.is_empty() {
        return Err(bad(
            "s3 access_key and secret_key must be given together (or neither, for credentials from the environment)".into(),
        ));
    }
    if c.signature_version2 {
        return Err(bad("signature_version2 is not supported".into()));
    }
    if let Some(sse) = &c.sse_config {
        if !sse.kind.is_empty()
            || !sse.kms_key_id.is_empty()
            || !sse.encryption_key.is_empty()
            || !sse.kms_encryption_context.is_empty()
        {
            return Err(bad(
                "sse_config (server-side encryption) is not supported".into()
            ));
        }
    }
    if !c.put_user_metadata.is_empty() {
        return Err(bad("put_user_metadata is not supported".into()));
    }
    if !c.sts_endpoint.is_empty() {
        return Err(bad("sts_endpoint is not supported".into()));
    }
    let mut o = Options::new();
    // Thanos' endpoint is host[:port]; `insecure` chooses plain HTTP.
    let endpoint = if c.endpoint.contains("://") {
        c.endpoint.clone()
    } else if c.insecure {
        format!("http://{}", c.endpoint)
    } else {
        format!("https://{}", c.endpoint)
    };
    if endpoint.starts_with("http://") {
        o.set("allow_http", "true");
    }
    o.set("endpoint", endpoint);
    o.set(
        "region",
        if c.region.is_empty() {
            "us-east-1".to_string()
        } else {
            c.region.clone()
        },
    );
    if !c.access_key.is_empty() {
        o.set("access_key_id", c.access_key.clone());
        o.set("secret_access_key", c.secret_key.clone());
    }
    if !c.session_token.is_empty() {
        o.set("token", c.session_token.clone());
    }
    // Thanos' `auto` lookup uses virtual-hosted style on AWS and path style elsewhere.
    let lookup = match &c.bucket_lookup_type {
        None => "auto".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => "auto".into(),
            Some(1) => "virtual-hosted".into(),
            Some(2) => "path".into(),
            _ => return Err(bad(format!("bad bucket_lookup_type {n}"))),
        },
        Some(other) => return Err(bad(format!("bad bucket_lookup_type {other}"))),
    };
    let virtual_hosted = match lookup.as_str() {
        "auto" => c.endpoint.contains("amazonaws.com"),
        "virtual-hosted" => true,
        "path" => false,
        other => return Err(bad(format!("bad bucket_lookup_type {other:?}"))),
    };
    if virtual_hosted {
        o.set("virtual_hosted_style_request", "true");
    }
    if c.list_objects_version == "v1" {
        o.ignored
            .push("list_objects_version: v1 (v2 is used)".into());
    }
    o.ignore_if(c.disable_dualstack, "disable_dualstack");
    o.ignore_if(
        c.aws_sdk_auth,
        "aws_sdk_auth (credentials come from the environment)",
    );
    o.ignore_if(c.trace.is_some(), "trace");
    o.ignore_if(c.send_content_md5, "send_content_md5");
    o.ignore_if(c.disable_multipart, "disable_multipart");
    o.ignore_if(c.part_size != 0, "part_size");
    o.ignore_if(c.max_retries.is_some(), "max_retries");
    o.http(c.http_config);
    Ok((
        Provider::S3 {
            bucket: c.bucket,
            options: o.pairs,
        },
        o.ignored,
    ))
}

fn gcs(config: Value) -> Result<(Provider, Vec<String>), BucketError> {
    let c: GcsConfig = settings(config, "GCS")?;
    if c.bucket.is_empty() {
        return Err(bad("missing Google Cloud Storage bucket name".into()));
    }
    if c.use_grpc {
        return Err(bad("use_grpc is not supported".into()));
    }
    let mut o = Options::new();
    if !c.service_account.is_empty() {
        o.set("service_account_key", c.service_account.clone());
    }
    o.ignore_if(c.grpc_conn_pool_size.is_some(), "grpc_conn_pool_size");
    o.ignore_if(c.chunk_size_bytes.is_some(), "chunk_size_bytes");
    o.ignore_if(c.max_retries.is_some(), "max_retries");
    o.http(c.http_config);
    Ok((
        Provider::Gcs {
            bucket: c.bucket,
            options: o.pairs,
        },
        o.ignored,
    ))
}

fn azure(config: Value) -> Result<(Provider, Vec<String>), BucketError> {
    let c: AzureConfig = settings(config, "AZURE")?;
    let mut problems = Vec::new();
    if c.storage_account.is_empty() {
        problems.push("storage_account is required");
    }
    if c.container.is_empty() {
        problems.push("no container specified");
    }
    let sp = [&c.az_tenant_id, &c.client_id, &c.client_secret];
    if sp.iter().any(|s| !s.is_empty()) && sp.iter().any(|s| s.is_empty()) {
        problems.push("az_tenant_id, client_id and client_secret must be set together");
    }
    if !c.storage_account_key.is_empty() && !c.storage_connection_string.is_empty() {
        problems.push("storage_account_key and storage_connection_string cannot both be set");
    }
    if !c.user_assigned_id.is_empty() && !c.storage_account_key.is_empty() {
        problems.push("user_assigned_id cannot be set with storage_account_key");
    }
    if !problems.is_empty() {
        return Err(bad(problems.join(", ")));
    }
    if !c.storage_connection_string.is_empty() {
        return Err(bad("storage_connection_string is not supported".into()));
    }
    if c.storage_create_container {
        return Err(bad("storage_create_container is not supported".into()));
    }
    let mut o = Options::new();
    o.set("account_name", c.storage_account.clone());
    let suffix = if c.endpoint.is_empty() {
        "blob.core.windows.net"
    } else {
        c.endpoint.as_str()
    };
    // Thanos' endpoint is the DNS suffix after the account name.
    o.set(
        "endpoint",
        format!("https://{}.{suffix}", c.storage_account),
    );
    if !c.storage_account_key.is_empty() {
        o.set("access_key", c.storage_account_key.clone());
    }
    if !c.client_id.is_empty() {
        o.set("client_id", c.client_id.clone());
        o.set("client_secret", c.client_secret.clone());
        o.set("tenant_id", c.az_tenant_id.clone());
    }
    if !c.user_assigned_id.is_empty() {
        o.set("client_id", c.user_assigned_id.clone());
    }
    o.ignore_if(!c.msi_resource.is_empty(), "msi_resource");
    o.ignore_if(c.max_retries.is_some(), "max_retries");
    o.ignore_if(c.reader_config.is_some(), "reader_config");
    o.ignore_if(c.pipeline_config.is_some(), "pipeline_config");
    o.http(c.http_config);
    Ok((
        Provider::Azure {
            container: c.container,
            options: o.pairs,
        },
        o.ignored,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option<'a>(options: &'a [(String, String)], key: &str) -> Option<&'a str> {
        options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn s3_settings_map_onto_the_s3_builder() {
        let cfg = ObjstoreConfig::parse(
            "type: s3\nconfig:\n  bucket: metrics\n  endpoint: 127.0.0.1:9000\n  insecure: true\n  access_key: AK\n  secret_key: SK\n  http_config:\n    insecure_skip_verify: true\n    idle_conn_timeout: 1m30s\nprefix: /team-a/\n",
        )
        .unwrap();
        assert_eq!(cfg.prefix, "team-a");
        let Provider::S3 { bucket, options } = &cfg.provider else {
            panic!("{cfg:?}")
        };
        assert_eq!(bucket, "metrics");
        assert_eq!(option(options, "endpoint"), Some("http://127.0.0.1:9000"));
        assert_eq!(option(options, "allow_http"), Some("true"));
        assert_eq!(option(options, "access_key_id"), Some("AK"));
        assert_eq!(option(options, "secret_access_key"), Some("SK"));
        assert_eq!(option(options, "region"), Some("us-east-1"));
        assert_eq!(option(options, "allow_invalid_certificates"), Some("true"));
        assert_eq!(option(options, "virtual_hosted_style_request"), None);
        assert_eq!(cfg.ignored, vec!["http_config.idle_conn_timeout"]);
    }

    #[test]
    fn aws_endpoints_use_virtual_hosted_requests_unless_told_otherwise() {
        let on_aws = "type: S3\nconfig:\n  bucket: b\n  endpoint: s3.eu-west-1.amazonaws.com\n  region: eu-west-1\n";
        let Provider::S3 { options, .. } = ObjstoreConfig::parse(on_aws).unwrap().provider else {
            panic!()
        };
        assert_eq!(
            option(&options, "endpoint"),
            Some("https://s3.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            option(&options, "virtual_hosted_style_request"),
            Some("true")
        );
        let path = format!("{on_aws}  bucket_lookup_type: path\n");
        let Provider::S3 { options, .. } = ObjstoreConfig::parse(&path).unwrap().provider else {
            panic!()
        };
        assert_eq!(option(&options, "virtual_hosted_style_request"), None);
    }

    #[test]
    fn thanos_validation_rules_are_kept() {
        for (yaml, message) in [
            ("type: S3\nconfig:\n  bucket: b\n", "no s3 endpoint"),
            (
                "type: S3\nconfig:\n  bucket: b\n  endpoint: e\n  access_key: a\n",
                "together",
            ),
            (
                "type: S3\nconfig:\n  bucket: b\n  endpoint: e\n  sse_config:\n    type: SSE-S3\n",
                "encryption",
            ),
            (
                "type: S3\nconfig:\n  bucket: b\n  endpoint: e\n  bukket: x\n",
                "unknown field",
            ),
            (
                "type: FILESYSTEM\nconfig:\n  directory: ''\n",
                "missing directory",
            ),
            (
                "type: FILESYSTEM\nconfig:\n  directory: /x\nextra: 1\n",
                "unknown field",
            ),
            ("type: SWIFT\nconfig: {}\n", "not supported"),
            ("type: NOPE\n", "not supported"),
            (
                "type: AZURE\nconfig:\n  container: c\n",
                "storage_account is required",
            ),
            ("type: GCS\nconfig: {}\n", "bucket name"),
            ("config: {}\n", "type"),
            ("type: [\n", ""),
        ] {
            let err = ObjstoreConfig::parse(yaml).unwrap_err().to_string();
            assert!(err.contains(message), "{yaml:?}: {err}");
        }
    }

    #[test]
    fn azure_endpoint_is_the_suffix_after_the_account() {
        let cfg = ObjstoreConfig::parse(
            "type: AZURE\nconfig:\n  storage_account: acct\n  storage_account_key: a2V5\n  container: blocks\n  endpoint: blob.core.chinacloudapi.cn\n",
        )
        .unwrap();
        let Provider::Azure { container, options } = &cfg.provider else {
            panic!()
        };
        assert_eq!(container, "blocks");
        assert_eq!(
            option(options, "endpoint"),
            Some("https://acct.blob.core.chinacloudapi.cn")
        );
        assert_eq!(option(options, "access_key"), Some("a2V5"));
    }

    #[test]
    fn a_filesystem_bucket_opens_with_its_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "type: FILESYSTEM\nconfig:\n  directory: {}\nprefix: tenant\n",
            dir.path().display()
        );
        let bucket = ObjstoreConfig::parse(&yaml).unwrap().open().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(bucket.put("k", bytes::Bytes::from_static(b"v")))
            .unwrap();
        assert_eq!(std::fs::read(dir.path().join("tenant/k")).unwrap(), b"v");
    }
}
