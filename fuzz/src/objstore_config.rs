//! Thanos' objstore YAML configuration: arbitrary text parses to a configuration or to a
//! typed error, never a panic or a hang.

use tsdb_bucket::ObjstoreConfig;

/// Parses `data` (as UTF-8, lossily) as an objstore configuration.
pub fn objstore_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = ObjstoreConfig::parse(&text);
}
