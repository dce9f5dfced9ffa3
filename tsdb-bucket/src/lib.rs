//! Long-term storage of TSDB blocks in object stores.
//!
//! - [`objstore`]: a [`Bucket`] over the `object_store` crate, chosen by URL (`file:///dir`,
//!   `memory://`, `s3://bucket/prefix` with feature `aws`, `gs://` with `gcp`, `az://` with
//!   `azure`), with retries on transient errors and tenant prefixes.
//! - [`meta`]: Thanos' `meta.json` extension (external labels, resolution, source, files) and
//!   the `deletion-mark.json` / `no-compact-mark.json` markers.
//! - [`shipper`]: uploads each completed block of a data directory once, `meta.json` last,
//!   and records what it shipped in Thanos' `thanos.shipper.json`.
//!
//! - [`compactor`]: Thanos' compactor: groups, leveled and vertical (replica-deduplicating)
//!   compaction, no-compact marks, retention per resolution, deletion marks and delayed
//!   deletion.
//!
//! - [`store`]: the bucket store: blocks queried in place through sparse local copies filled
//!   by byte-range reads, as a `Queryable` with each block's external labels.
//!
//! - [`downsample`]: Thanos' downsampling to 5 m and 1 h aggregates (aggregate chunks, the
//!   windowing, whole blocks) and the serving of downsampled blocks through the StoreAPI.
//!
//! Not yet: Thanos' index-header file and memcached/LRU caches; see the project README.

pub mod compactor;
pub mod downsample;
pub mod error;
pub mod meta;
pub mod objstore;
pub mod objstore_config;
pub mod shipper;
pub mod store;

pub use compactor::{BucketCompactor, CompactorConfig};
pub use error::BucketError;
pub use meta::{DeletionMark, NoCompactMark, ThanosMeta};
pub use objstore::Bucket;
pub use objstore_config::{BucketSpec, ObjstoreConfig};
pub use shipper::{ShipReport, Shipper};
pub use store::BucketStore;
