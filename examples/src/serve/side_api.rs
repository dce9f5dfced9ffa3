//! `/api/v1/query_exemplars` (the exemplars each tenant's database keeps) and
//! `/api/v1/metadata` (see [`super::metadata`]), in Prometheus' JSON shapes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value as Json};

use super::metadata::type_name;
use super::ServeState;
use crate::http_api::json::{labels as labels_json, write_timestamp};
use crate::http_api::params::{MAX_TIME_MS, MIN_TIME_MS};
use crate::http_api::{form, success, time_param, ApiError, ErrorType};

/// The routes (state: the node's).
pub fn router() -> Router<Arc<ServeState>> {
    Router::new()
        .route(
            "/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars),
        )
        .route("/api/v1/metadata", get(metadata))
}

fn tenant(st: &ServeState, headers: &HeaderMap) -> Result<String, ApiError> {
    let id = st
        .api
        .tenant(headers)
        .unwrap_or(&st.default_tenant)
        .to_string();
    super::tenants::validate_tenant(&id).map_err(|e| ApiError::new(ErrorType::BadData, e))?;
    Ok(id)
}

async fn query_exemplars(
    State(st): State<Arc<ServeState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = || {
        let form = form(&method, q, &body);
        let start = time_param(&form, "start", MIN_TIME_MS)?;
        let end = time_param(&form, "end", MAX_TIME_MS)?;
        if end < start {
            return Err(ApiError::new(
                ErrorType::BadData,
                "end timestamp must not be before start timestamp",
            ));
        }
        let text = form.get("query").unwrap_or_default();
        let expr = promql::parser::parse(text).map_err(|e| ApiError::invalid_param("query", e))?;
        let selectors: Vec<Vec<tsdb_index::Matcher>> = expr
            .selectors()
            .into_iter()
            .map(|vs| vs.matchers.clone())
            .collect();
        let db = st.tenants.db(Some(&tenant(&st, &headers)?))?;
        let data: Vec<Json> = db
            .query_exemplars(&selectors, start, end)
            .into_iter()
            .map(|(series, exemplars)| {
                let list: Vec<Json> = exemplars
                    .iter()
                    .map(|e| {
                        let mut ts = String::new();
                        write_timestamp(&mut ts, e.t);
                        json!({
                            "labels": labels_json(&e.labels),
                            "value": crate::http_api::json::float(e.value),
                            "timestamp": serde_json::from_str::<Json>(&ts).unwrap_or(Json::Null),
                        })
                    })
                    .collect();
                json!({"seriesLabels": labels_json(&series), "exemplars": list})
            })
            .collect();
        Ok(success(Json::Array(data), vec![], vec![]))
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

async fn metadata(
    State(st): State<Arc<ServeState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let run = || {
        let form = form(&Method::GET, q, &Bytes::new());
        let count = |name: &str| -> Result<usize, ApiError> {
            match form.get(name) {
                None | Some("") => Ok(0),
                Some(s) => s.parse::<i64>().map(|n| n.max(0) as usize).map_err(|_| {
                    ApiError::new(ErrorType::BadData, format!("{name} must be a number"))
                }),
            }
        };
        let limit = count("limit")?;
        let per_metric = count("limit_per_metric")?;
        let metric = form.get("metric").filter(|m| !m.is_empty());
        let store = st.metadata.get(&tenant(&st, &headers)?);
        let mut data = serde_json::Map::new();
        for (name, entries) in store.get(metric, limit, per_metric) {
            let list: Vec<Json> = entries
                .iter()
                .map(|m| json!({"type": type_name(m.metric_type), "help": m.help, "unit": m.unit}))
                .collect();
            data.insert(name, Json::Array(list));
        }
        Ok::<_, ApiError>(success(Json::Object(data), vec![], vec![]))
    };
    run().unwrap_or_else(IntoResponse::into_response)
}
