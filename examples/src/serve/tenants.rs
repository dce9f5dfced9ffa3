//! One database per tenant, opened on first use under `<data>/<tenant>/`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tsdb_core::db::{Db, DbOptions};
use tsdb_core::storage::Queryable;

use crate::http_api::{ApiError, ErrorType, QueryableSource};

/// Longest tenant ID accepted (as Cortex and Thanos limit it).
pub const MAX_TENANT_LEN: usize = 150;

/// Checks a tenant ID: 1 to 150 characters from Cortex' safe set (letters, digits and
/// `! - _ . * ' ( )`), and not `.` or `..`, so that it is always a plain directory name.
pub fn validate_tenant(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_TENANT_LEN {
        return Err(format!(
            "tenant ID must be 1 to {MAX_TENANT_LEN} characters long, got {}",
            id.len()
        ));
    }
    if id == "." || id == ".." {
        return Err(format!("tenant ID {id:?} is not allowed"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!-_.*'()".contains(*c)))
    {
        return Err(format!(
            "tenant ID {id:?} contains unsupported character {c:?}"
        ));
    }
    Ok(())
}

/// The open databases, by tenant.
pub struct Tenants {
    root: PathBuf,
    default_tenant: String,
    opts: DbOptions,
    /// When true, the default tenant's database is the data directory itself (so that an
    /// existing Prometheus data directory is served as is).
    default_at_root: bool,
    open: Mutex<HashMap<String, Arc<Db>>>,
}

impl Tenants {
    /// Databases under `root`; requests without a tenant use `default_tenant`.
    pub fn new(
        root: PathBuf,
        default_tenant: String,
        default_at_root: bool,
        opts: DbOptions,
    ) -> Self {
        Tenants {
            root,
            default_tenant,
            opts,
            default_at_root,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The database of `tenant` (the default tenant when `None`), opening it if needed.
    pub fn db(&self, tenant: Option<&str>) -> Result<Arc<Db>, ApiError> {
        let id = tenant.unwrap_or(&self.default_tenant);
        validate_tenant(id).map_err(|e| ApiError::new(ErrorType::BadData, e))?;
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = open.get(id) {
            return Ok(db.clone());
        }
        let dir = if self.default_at_root && id == self.default_tenant {
            self.root.clone()
        } else {
            self.root.join(id)
        };
        let db = Db::open(&dir, self.opts.clone()).map_err(|e| {
            ApiError::new(
                ErrorType::Internal,
                format!("opening the database of tenant {id:?}: {e}"),
            )
        })?;
        let db = Arc::new(db);
        open.insert(id.to_string(), db.clone());
        Ok(db)
    }

    /// Every open database, by tenant.
    pub fn all(&self) -> Vec<(String, Arc<Db>)> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = open.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Closes every database (flushing its WAL); errors are returned per tenant.
    pub fn close_all(&self) -> Vec<(String, String)> {
        let drained: Vec<_> = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            open.drain().collect()
        };
        let mut errors = Vec::new();
        for (tenant, db) in drained {
            match Arc::try_unwrap(db) {
                Ok(db) => {
                    if let Err(e) = db.close() {
                        errors.push((tenant, e.to_string()));
                    }
                }
                Err(_) => errors.push((tenant, "still in use at shutdown".to_string())),
            }
        }
        errors
    }
}

impl QueryableSource for Tenants {
    fn queryable(&self, tenant: Option<&str>) -> Result<Arc<dyn Queryable>, ApiError> {
        Ok(self.db(tenant)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_plain_names() {
        assert!(validate_tenant("team-a").is_ok());
        assert!(validate_tenant("a.b_c(1)").is_ok());
        assert!(validate_tenant("").is_err());
        assert!(validate_tenant("..").is_err());
        assert!(validate_tenant("a/b").is_err());
        assert!(validate_tenant(&"x".repeat(151)).is_err());
    }
}
