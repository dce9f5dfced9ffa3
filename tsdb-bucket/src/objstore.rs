//! A bucket: an `object_store` backend chosen by URL, with keys relative to a prefix.
//!
//! URLs: `file:///abs/dir` (the embedded default; the directory is created), `memory://`
//! (process-local, for tests), `s3://bucket/prefix?endpoint=http://host:port&region=..`
//! (feature `aws`; credentials from the usual `AWS_*` variables or query options such as
//! `access_key_id`), `gs://bucket/prefix` (feature `gcp`), `az://container/prefix` (feature
//! `azure`). Remote backends retry transient failures with exponential backoff.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tsdb_bucket::Bucket;
//! let bucket = Bucket::from_url("memory://").unwrap().with_prefix("tenant-a");
//! bucket.put("x/y", bytes::Bytes::from_static(b"hi")).await.unwrap();
//! assert_eq!(bucket.get("x/y").await.unwrap().unwrap().as_ref(), b"hi");
//! assert!(bucket.get("x/z").await.unwrap().is_none());
//! # });
//! ```

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload};

use crate::error::BucketError;
use crate::objstore_config::Provider;

/// Objects at most this big are uploaded in one request; bigger ones as multipart uploads.
const SINGLE_PUT_LIMIT: u64 = 16 << 20;
/// Part size of multipart uploads.
const PART_SIZE: usize = 16 << 20;

/// An object store with keys relative to an optional prefix. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    description: String,
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the bucket.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written, Unix ms.
    pub modified_ms: i64,
}

impl Bucket {
    /// Opens the bucket a URL names (see the module doc for the schemes).
    pub fn from_url(url: &str) -> Result<Self, BucketError> {
        let bad = |message: String| BucketError::Config {
            url: url.to_string(),
            message,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let name = || {
            parsed
                .host_str()
                .map(str::to_string)
                .ok_or_else(|| bad(format!("{} URL without a bucket name", parsed.scheme())))
        };
        let provider = match parsed.scheme() {
            "file" => Provider::Filesystem {
                directory: parsed
                    .to_file_path()
                    .map_err(|()| bad("not an absolute local path".into()))?
                    .to_string_lossy()
                    .into_owned(),
            },
            "memory" => {
                return Ok(Bucket {
                    store: Arc::new(object_store::memory::InMemory::new()),
                    description: url.to_string(),
                })
            }
            "s3" | "s3a" => Provider::S3 {
                bucket: name()?,
                options: remote::url_options(&parsed, &[("insecure", "allow_http")]),
            },
            "gs" => Provider::Gcs {
                bucket: name()?,
                options: remote::url_options(&parsed, &[]),
            },
            "az" | "azure" | "abfs" => Provider::Azure {
                container: name()?,
                options: remote::url_options(&parsed, &[]),
            },
            other => return Err(bad(format!("unknown scheme {other:?}"))),
        };
        let mut bucket = Self::open_provider(&provider, url).map_err(bad)?;
        // Cloud URLs carry a path inside the bucket: keys live under it.
        if !matches!(provider, Provider::Filesystem { .. }) {
            let prefix = parsed.path().trim_matches('/');
            if !prefix.is_empty() {
                bucket = bucket.with_prefix(prefix);
            }
        }
        Ok(bucket)
    }

    /// Opens the bucket of a provider's settings (see [`crate::objstore_config`]).
    pub fn from_provider(provider: &Provider) -> Result<Self, BucketError> {
        let description = match provider {
            Provider::Filesystem { directory } => format!("file://{directory}"),
            Provider::S3 { bucket, .. } => format!("s3://{bucket}"),
            Provider::Gcs { bucket, .. } => format!("gs://{bucket}"),
            Provider::Azure { container, .. } => format!("az://{container}"),
        };
        Self::open_provider(provider, &description).map_err(|message| BucketError::Config {
            url: description.clone(),
            message,
        })
    }

    fn open_provider(provider: &Provider, description: &str) -> Result<Self, String> {
        let store: Arc<dyn ObjectStore> = match provider {
            Provider::Filesystem { directory } => {
                let dir = std::path::absolute(directory)
                    .map_err(|e| format!("directory {directory:?}: {e}"))?;
                std::fs::create_dir_all(&dir).map_err(|e| format!("create {dir:?}: {e}"))?;
                // Directories left empty by deletes are removed, so that a deleted block
                // leaves no trace, as in an object store.
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(&dir)
                        .map_err(|e| e.to_string())?
                        .with_automatic_cleanup(true),
                )
            }
            Provider::S3 { bucket, options } => remote::s3(bucket, options)?,
            Provider::Gcs { bucket, options } => remote::gcs(bucket, options)?,
            Provider::Azure { container, options } => remote::azure(container, options)?,
        };
        Ok(Bucket {
            store,
            description: description.to_string(),
        })
    }

    /// Wraps any `object_store` backend.
    pub fn from_store(store: Arc<dyn ObjectStore>, description: impl Into<String>) -> Self {
        Bucket {
            store,
            description: description.into(),
        }
    }

    /// The same bucket with every key under `prefix/` (a tenant's part of a shared bucket).
    pub fn with_prefix(&self, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            return self.clone();
        }
        Bucket {
            store: Arc::new(PrefixStore::new(self.store.clone(), prefix)),
            description: format!("{}/{prefix}", self.description.trim_end_matches('/')),
        }
    }

    /// The URL (and prefixes) this bucket was opened with, for messages.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Writes an object in one request (atomically: readers see the old or the new object).
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), BucketError> {
        self.store
            .put(&Path::from(key), PutPayload::from(data))
            .await
            .map_err(|e| BucketError::store("put", key, e))?;
        Ok(())
    }

    /// Uploads a local file; big files go up as multipart uploads, which become visible only
    /// when complete.
    pub async fn upload_file(&self, local: &FsPath, key: &str) -> Result<u64, BucketError> {
        let size = std::fs::metadata(local)
            .map_err(|e| BucketError::io("stat", local, e))?
            .len();
        if size <= SINGLE_PUT_LIMIT {
            let data = std::fs::read(local).map_err(|e| BucketError::io("read", local, e))?;
            self.put(key, Bytes::from(data)).await?;
            return Ok(size);
        }
        let path = Path::from(key);
        let mut upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| BucketError::store("put_multipart", key, e))?;
        let result = async {
            use std::io::Read;
            let mut file =
                std::fs::File::open(local).map_err(|e| BucketError::io("open", local, e))?;
            loop {
                let mut part = Vec::with_capacity(PART_SIZE);
                (&mut file)
                    .take(PART_SIZE as u64)
                    .read_to_end(&mut part)
                    .map_err(|e| BucketError::io("read", local, e))?;
                if part.is_empty() {
                    break;
                }
                upload
                    .put_part(PutPayload::from(part))
                    .await
                    .map_err(|e| BucketError::store("put_part", key, e))?;
            }
            upload
                .complete()
                .await
                .map_err(|e| BucketError::store("complete_multipart", key, e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = upload.abort().await;
        }
        result.map(|()| size)
    }

    /// Reads a whole object; `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, BucketError> {
        match self.store.get(&Path::from(key)).await {
            Ok(res) => Ok(Some(
                res.bytes()
                    .await
                    .map_err(|e| BucketError::store("get", key, e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(BucketError::store("get", key, e)),
        }
    }

    /// Streams an object into the local file `local` (created or truncated, then fsynced),
    /// never holding more than one network chunk in memory. Returns the bytes written.
    pub async fn download_file(&self, key: &str, local: &FsPath) -> Result<u64, BucketError> {
        use std::io::Write as _;
        let res = self
            .store
            .get(&Path::from(key))
            .await
            .map_err(|e| BucketError::store("get", key, e))?;
        let mut file =
            std::fs::File::create(local).map_err(|e| BucketError::io("create", local, e))?;
        let mut stream = res.into_stream();
        let mut total = 0u64;
        while let Some(part) = stream
            .try_next()
            .await
            .map_err(|e| BucketError::store("get", key, e))?
        {
            file.write_all(&part)
                .map_err(|e| BucketError::io("write", local, e))?;
            total += part.len() as u64;
        }
        file.sync_all()
            .map_err(|e| BucketError::io("fsync", local, e))?;
        Ok(total)
    }

    /// Reads a byte range of an object.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, BucketError> {
        self.store
            .get_range(&Path::from(key), range)
            .await
            .map_err(|e| BucketError::store("get_range", key, e))
    }

    /// The size of an object; `None` if it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, BucketError> {
        match self.store.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(BucketError::store("head", key, e)),
        }
    }

    /// Whether an object exists.
    pub async fn exists(&self, key: &str) -> Result<bool, BucketError> {
        Ok(self.size(key).await?.is_some())
    }

    /// Deletes an object (deleting a missing object is not an error).
    pub async fn delete(&self, key: &str) -> Result<(), BucketError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BucketError::store("delete", key, e)),
        }
    }

    /// Every object under `prefix` (recursively), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BucketError> {
        let p = (!prefix.is_empty()).then(|| Path::from(prefix));
        let mut out: Vec<ObjectInfo> = self
            .store
            .list(p.as_ref())
            .map_ok(|m| ObjectInfo {
                key: m.location.to_string(),
                size: m.size,
                modified_ms: m.last_modified.timestamp_millis(),
            })
            .try_collect()
            .await
            .map_err(|e| BucketError::store("list", prefix, e))?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The names of the top-level "directories" (common prefixes), sorted.
    pub async fn list_dirs(&self) -> Result<Vec<String>, BucketError> {
        let res = self
            .store
            .list_with_delimiter(None)
            .await
            .map_err(|e| BucketError::store("list", "", e))?;
        let mut dirs: Vec<String> = res
            .common_prefixes
            .iter()
            .filter_map(|p| p.parts().last().map(|s| s.as_ref().to_string()))
            .collect();
        dirs.sort();
        Ok(dirs)
    }
}

/// Cloud backends, each behind its cargo feature: each takes the bucket (or container)
/// name and `object_store` configuration keys.
mod remote {
    use std::sync::Arc;

    use object_store::ObjectStore;

    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    fn retry() -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: std::time::Duration::from_millis(100),
                max_backoff: std::time::Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: 8,
            retry_timeout: std::time::Duration::from_secs(60),
        }
    }

    /// Query options `?key=value` of a URL, with some keys renamed (`(from, to)`).
    pub(super) fn url_options(url: &url::Url, renames: &[(&str, &str)]) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| {
                let key = renames
                    .iter()
                    .find(|(from, _)| *from == k)
                    .map_or_else(|| k.clone().into_owned(), |(_, to)| to.to_string());
                (key, v.into_owned())
            })
            .collect()
    }

    #[cfg(feature = "aws")]
    pub(super) fn s3(
        bucket: &str,
        options: &[(String, String)],
    ) -> Result<Arc<dyn ObjectStore>, String> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry());
        let mut region_set = std::env::var("AWS_REGION").is_ok();
        for (k, v) in options {
            region_set |= k == "region";
            let key: AmazonS3ConfigKey = k
                .parse()
                .map_err(|e| format!("unknown s3 option {k:?}: {e}"))?;
            if matches!(key, AmazonS3ConfigKey::Endpoint) && v.starts_with("http://") {
                builder = builder.with_allow_http(true);
            }
            builder = builder.with_config(key, v);
        }
        if !region_set {
            builder = builder.with_region("us-east-1");
        }
        Ok(Arc::new(builder.build().map_err(|e| e.to_string())?))
    }

    #[cfg(not(feature = "aws"))]
    pub(super) fn s3(_: &str, _: &[(String, String)]) -> Result<Arc<dyn ObjectStore>, String> {
        Err("S3 support is not compiled in (cargo feature `aws` of tsdb-bucket)".into())
    }

    #[cfg(feature = "gcp")]
    pub(super) fn gcs(
        bucket: &str,
        options: &[(String, String)],
    ) -> Result<Arc<dyn ObjectStore>, String> {
        use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
        let mut builder = GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry());
        for (k, v) in options {
            let key: GoogleConfigKey = k
                .parse()
                .map_err(|e| format!("unknown gcs option {k:?}: {e}"))?;
            builder = builder.with_config(key, v);
        }
        Ok(Arc::new(builder.build().map_err(|e| e.to_string())?))
    }

    #[cfg(not(feature = "gcp"))]
    pub(super) fn gcs(_: &str, _: &[(String, String)]) -> Result<Arc<dyn ObjectStore>, String> {
        Err("GCS support is not compiled in (cargo feature `gcp` of tsdb-bucket)".into())
    }

    #[cfg(feature = "azure")]
    pub(super) fn azure(
        container: &str,
        options: &[(String, String)],
    ) -> Result<Arc<dyn ObjectStore>, String> {
        use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
        let mut builder = MicrosoftAzureBuilder::from_env()
            .with_container_name(container)
            .with_retry(retry());
        for (k, v) in options {
            let key: AzureConfigKey = k
                .parse()
                .map_err(|e| format!("unknown azure option {k:?}: {e}"))?;
            builder = builder.with_config(key, v);
        }
        Ok(Arc::new(builder.build().map_err(|e| e.to_string())?))
    }

    #[cfg(not(feature = "azure"))]
    pub(super) fn azure(_: &str, _: &[(String, String)]) -> Result<Arc<dyn ObjectStore>, String> {
        Err("Azure support is not compiled in (cargo feature `azure` of tsdb-bucket)".into())
    }
}
