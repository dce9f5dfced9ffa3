//! Prometheus' TSDB admin API, per tenant: `delete_series`, `clean_tombstones` and
//! `snapshot` under `/api/v1/admin/tsdb/`, by POST or PUT, answered as Prometheus answers
//! them (204 without a body for the first two, `{"name": ...}` for a snapshot, 503
//! `unavailable` while the API is not enabled).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use tsdb_core::db::Db;

use super::ServeState;
use crate::http_api::params::{parse_go_bool, Form, MAX_TIME_MS, MIN_TIME_MS};
use crate::http_api::{blocking, form, matcher_sets, success, time_param, ApiError, ErrorType};

/// The admin routes (state: the node's).
pub fn router() -> Router<Arc<ServeState>> {
    Router::new()
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(delete_series).put(delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(clean_tombstones).put(clean_tombstones),
        )
        .route("/api/v1/admin/tsdb/snapshot", post(snapshot).put(snapshot))
}

/// The database a request addresses, once the admin API is known to be on.
fn admin_db(st: &ServeState, headers: &HeaderMap) -> Result<Arc<Db>, ApiError> {
    if !st.admin_api {
        return Err(ApiError::new(ErrorType::Unavailable, "admin APIs disabled"));
    }
    st.tenants.db(st.api.tenant(headers))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorType::Internal, e.to_string())
}

async fn delete_series(
    State(st): State<Arc<ServeState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let db = admin_db(&st, &headers)?;
        let form = form(&method, q, &body);
        if form.all("match[]").is_empty() {
            return Err(ApiError::new(
                ErrorType::BadData,
                "no match[] parameter provided",
            ));
        }
        let start = time_param(&form, "start", MIN_TIME_MS)?;
        let end = time_param(&form, "end", MAX_TIME_MS)?;
        // Every selector is checked before anything is deleted.
        let sets = matcher_sets(&form)?;
        blocking(move || {
            sets.iter()
                .try_for_each(|set| db.delete(set, start, end).map_err(internal))
        })
        .await??;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn clean_tombstones(State(st): State<Arc<ServeState>>, headers: HeaderMap) -> Response {
    let run = async {
        let db = admin_db(&st, &headers)?;
        blocking(move || db.clean_tombstones().map_err(internal)).await??;
        Ok::<_, ApiError>(StatusCode::NO_CONTENT.into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn snapshot(
    State(st): State<Arc<ServeState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let db = admin_db(&st, &headers)?;
        let skip_head = skip_head(&form(&method, q, &body))?;
        let name = snapshot_name(std::time::SystemTime::now());
        let dir = db.dir().join("snapshots").join(&name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| internal(format!("create snapshot directory: {e}")))?;
        blocking(move || {
            db.snapshot(&dir, !skip_head)
                .map_err(|e| internal(format!("create snapshot: {e}")))
        })
        .await??;
        Ok::<_, ApiError>(success(json!({ "name": name }), vec![], vec![]))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// The `skip_head` parameter, read as Go's `strconv.ParseBool` reads it.
fn skip_head(form: &Form) -> Result<bool, ApiError> {
    match form.get("skip_head") {
        None | Some("") => Ok(false),
        Some(v) => parse_go_bool(v).map_err(|e| {
            ApiError::invalid_param("skip_head", format!("unable to parse boolean: {e}"))
        }),
    }
}

/// A snapshot directory name as Prometheus makes it: the UTC time to the second, then 16 hex
/// digits of randomness (`20261125T061500Z-1f2e3d4c5b6a7980`).
fn snapshot_name(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let random = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            now.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        // Go's rand.Int63: 63 bits.
        h.finish() >> 1
    };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{random:016x}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_look_like_prometheus_ones() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_051_300);
        let name = snapshot_name(t);
        assert!(name.starts_with("20251125T061500Z-"), "{name}");
        assert_eq!(name.len(), "20251125T061500Z-".len() + 16);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn skip_head_parses_as_go_does() {
        let f = |q: &str| skip_head(&Form::parse(Some(q), None));
        assert_eq!(f("skip_head=true"), Ok(true));
        assert_eq!(f("skip_head=0"), Ok(false));
        assert_eq!(f(""), Ok(false));
        let err = f("skip_head=yes").unwrap_err();
        assert_eq!(err.kind, ErrorType::BadData);
        assert!(err.message.starts_with("invalid parameter \"skip_head\""));
    }
}
