//! Prometheus' HTTP query API (`/api/v1/...`) over any [`Queryable`], evaluated by our PromQL
//! engine, with Prometheus' JSON shapes, error types and status codes.
//!
//! The API does not own storage: a [`QueryableSource`] hands it the storage of the tenant a
//! request names, so the same router serves a single local database, a database per tenant, or
//! a fan-out over remote stores.

pub mod json;
pub mod params;
pub mod parse_query;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use promql::engine::{Engine, EngineError, EngineOpts, QueryResult};
use serde_json::{json, Map, Value as Json};
use tsdb_core::storage::{Queryable, SelectHints};
use tsdb_index::{Labels, Matcher};

use params::{parse_duration_ms, parse_go_bool, parse_time, Form, MAX_TIME_MS, MIN_TIME_MS};

/// Most points a range query may return per series, as in Prometheus.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The error classes of Prometheus' API, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// Invalid parameters (400).
    BadData,
    /// The query failed while running (422).
    Execution,
    /// The query ran out of time (503).
    Timeout,
    /// The query was cancelled (499).
    Canceled,
    /// A storage or server failure (500).
    Internal,
    /// Nothing at that path (404).
    NotFound,
    /// The endpoint is switched off (503), as Prometheus' admin API without its flag.
    Unavailable,
}

impl ErrorType {
    /// The `errorType` string of the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable => "unavailable",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An API failure: its class and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The class (decides the status code).
    pub kind: ErrorType,
    /// The message for the `error` field.
    pub message: String,
}

impl ApiError {
    /// An error of class `kind`.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// Prometheus' wording for a parameter that failed to parse.
    pub fn invalid_param(name: &str, err: impl std::fmt::Display) -> Self {
        ApiError::new(
            ErrorType::BadData,
            format!("invalid parameter {name:?}: {err}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": "error",
            "errorType": self.kind.as_str(),
            "error": self.message,
        });
        (self.kind.status(), axum::Json(body)).into_response()
    }
}

pub(crate) fn success(data: Json, warnings: Vec<String>, infos: Vec<String>) -> Response {
    let mut m = Map::new();
    m.insert("status".into(), Json::String("success".into()));
    m.insert("data".into(), data);
    if !warnings.is_empty() {
        m.insert("warnings".into(), json!(warnings));
    }
    if !infos.is_empty() {
        m.insert("infos".into(), json!(infos));
    }
    (StatusCode::OK, axum::Json(Json::Object(m))).into_response()
}

/// Hands the API the storage a request should read.
pub trait QueryableSource: Send + Sync + 'static {
    /// The storage of `tenant` (`None` when the request names none).
    fn queryable(&self, tenant: Option<&str>) -> Result<Arc<dyn Queryable>, ApiError>;

    /// The storage for a request that set Thanos' `partial_response` parameter (`None` when
    /// it did not). Sources without remote stores have nothing to leave out and ignore it.
    fn queryable_with_partial_response(
        &self,
        tenant: Option<&str>,
        partial_response: Option<bool>,
    ) -> Result<Arc<dyn Queryable>, ApiError> {
        let _ = partial_response;
        self.queryable(tenant)
    }
}

/// What the API needs to answer requests.
#[derive(Clone)]
pub struct ApiState {
    /// Where the data comes from.
    pub source: Arc<dyn QueryableSource>,
    /// The PromQL engine (limits, lookback).
    pub engine: Arc<Engine>,
    /// Request headers that name the tenant, first match wins.
    pub tenant_headers: Arc<Vec<String>>,
    /// Version reported by `/api/v1/status/buildinfo`.
    pub version: &'static str,
}

impl ApiState {
    /// The tenant a request names: the first non-empty value among the tenant headers.
    pub fn tenant<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        self.tenant_headers.iter().find_map(|h| {
            headers
                .get(h.as_str())
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        })
    }

    fn storage(&self, headers: &HeaderMap, form: &Form) -> Result<Arc<dyn Queryable>, ApiError> {
        let partial = match form.get("partial_response") {
            None | Some("") => None,
            Some(v) => Some(parse_go_bool(v).map_err(|e| {
                ApiError::new(
                    ErrorType::BadData,
                    format!("cannot parse parameter partial_response: {e}"),
                )
            })?),
        };
        self.source
            .queryable_with_partial_response(self.tenant(headers), partial)
    }
}

/// The HTTP side of a read-only node (`tsdb query`, `tsdb store`): the query API over
/// `source` with the default engine and no tenant headers, plus `/-/healthy` and `/-/ready`.
pub fn read_only_node(source: Arc<dyn QueryableSource>) -> Router {
    router(ApiState {
        source,
        engine: Arc::new(Engine::new(EngineOpts::default())),
        tenant_headers: Arc::new(Vec::new()),
        version: env!("CARGO_PKG_VERSION"),
    })
    .route("/-/healthy", get(|| async { "Healthy.\n" }))
    .route("/-/ready", get(|| async { "Ready.\n" }))
}

/// The `/api/v1` routes (mount with `Router::nest("/api/v1", ...)` or use [`router`]).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(label_names).post(label_names))
        .route("/api/v1/label/:name/values", get(label_values))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route(
            "/api/v1/parse_query",
            get(parse_query_tree).post(parse_query_tree),
        )
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .with_state(state)
}

/// The request's parameters: the URL query, and the form body of a POST or PUT.
pub(crate) fn form(method: &Method, query: Option<String>, body: &Bytes) -> Form {
    let body = (method == Method::POST || method == Method::PUT).then_some(body.as_ref());
    Form::parse(query.as_deref(), body)
}

pub(crate) fn time_param(form: &Form, name: &str, default: i64) -> Result<i64, ApiError> {
    match form.get(name) {
        None => Ok(default),
        Some(s) => parse_time(s).map_err(|e| ApiError::invalid_param(name, e)),
    }
}

fn required_time(form: &Form, name: &str) -> Result<i64, ApiError> {
    parse_time(form.get(name).unwrap_or_default()).map_err(|e| ApiError::invalid_param(name, e))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn parse_query(form: &Form) -> Result<(String, promql::ast::Expr), ApiError> {
    let text = form.get("query").unwrap_or_default().to_string();
    let expr = promql::parser::parse(&text).map_err(|e| ApiError::invalid_param("query", e))?;
    Ok((text, expr))
}

fn engine_error(e: &EngineError) -> ApiError {
    let kind = match e {
        EngineError::Timeout(_) => ErrorType::Timeout,
        EngineError::Cancelled(_) => ErrorType::Canceled,
        EngineError::Storage(_) => ErrorType::Internal,
        _ => ErrorType::Execution,
    };
    ApiError::new(kind, e.to_string())
}

fn query_response(text: &str, r: QueryResult) -> Response {
    match r.value {
        Ok(v) => {
            let body = json::query_body(
                &v,
                &r.annotations.warnings(text),
                &r.annotations.infos(text),
            );
            (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        Err(e) => engine_error(&e).into_response(),
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("query task failed: {e}")))
}

async fn query(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let form = form(&method, q, &body);
        let ts = time_param(&form, "time", now_ms())?;
        let (text, expr) = parse_query(&form)?;
        let storage = st.storage(&headers, &form)?;
        let engine = st.engine.clone();
        let r = blocking(move || engine.instant_query(&*storage, &expr, ts, None)).await?;
        Ok::<_, ApiError>(query_response(&text, r))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn query_range(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let form = form(&method, q, &body);
        let start = required_time(&form, "start")?;
        let end = required_time(&form, "end")?;
        if end < start {
            return Err(ApiError::new(
                ErrorType::BadData,
                "end timestamp must not be before start time",
            ));
        }
        let step = parse_duration_ms(form.get("step").unwrap_or_default())
            .map_err(|e| ApiError::invalid_param("step", e))?;
        if step <= 0 {
            return Err(ApiError::new(
                ErrorType::BadData,
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step > MAX_POINTS_PER_SERIES {
            return Err(ApiError::new(
                ErrorType::BadData,
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let (text, expr) = parse_query(&form)?;
        let storage = st.storage(&headers, &form)?;
        let engine = st.engine.clone();
        let r =
            blocking(move || engine.range_query(&*storage, &expr, start, end, step, None)).await?;
        Ok(query_response(&text, r))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) fn matcher_sets(form: &Form) -> Result<Vec<Vec<Matcher>>, ApiError> {
    form.all("match[]")
        .into_iter()
        .map(|m| {
            promql::parser::parse_metric_selector(m)
                .map_err(|e| ApiError::invalid_param("match[]", e))
        })
        .collect()
}

fn storage_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorType::Internal, e.to_string())
}

/// Labels of every series matching any of `sets` in `[start, end]`, sorted and distinct.
fn select_series(
    q: &dyn Queryable,
    sets: &[Vec<Matcher>],
    start: i64,
    end: i64,
) -> Result<(Vec<Labels>, Vec<String>), ApiError> {
    let querier = q.querier(start, end).map_err(storage_error)?;
    let hints = SelectHints {
        start,
        end,
        func: Some("series".into()),
        ..Default::default()
    };
    let mut out = Vec::new();
    for set in sets {
        let mut ss = querier
            .select(true, Some(&hints), set)
            .map_err(storage_error)?;
        while let Some(s) = ss.next_series() {
            out.push(s.map_err(storage_error)?.labels().clone());
        }
    }
    out.sort();
    out.dedup();
    Ok((out, querier.warnings()))
}

async fn series(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let form = form(&method, q, &body);
        let sets = matcher_sets(&form)?;
        if sets.is_empty() {
            return Err(ApiError::new(
                ErrorType::BadData,
                "no match[] parameter provided",
            ));
        }
        let start = time_param(&form, "start", MIN_TIME_MS)?;
        let end = time_param(&form, "end", MAX_TIME_MS)?;
        let storage = st.storage(&headers, &form)?;
        let (found, warnings) =
            blocking(move || select_series(&*storage, &sets, start, end)).await??;
        Ok(success(
            Json::Array(found.iter().map(json::labels).collect()),
            warnings,
            vec![],
        ))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// Label names (or values of `name`) over all series, or over those matching `sets`.
fn label_strings(
    q: &dyn Queryable,
    sets: &[Vec<Matcher>],
    start: i64,
    end: i64,
    name: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let querier = q.querier(start, end).map_err(storage_error)?;
    let one = |m: &[Matcher]| match name {
        Some(n) => querier.label_values(n, m),
        None => querier.label_names(m),
    };
    let mut out = if sets.is_empty() {
        one(&[]).map_err(storage_error)?
    } else {
        let mut all = Vec::new();
        for set in sets {
            all.extend(one(set).map_err(storage_error)?);
        }
        all
    };
    out.sort();
    out.dedup();
    Ok((out, querier.warnings()))
}

async fn labels_common(
    st: ApiState,
    method: Method,
    headers: HeaderMap,
    q: Option<String>,
    body: Bytes,
    name: Option<String>,
) -> Result<Response, ApiError> {
    let form = form(&method, q, &body);
    let sets = matcher_sets(&form)?;
    let start = time_param(&form, "start", MIN_TIME_MS)?;
    let end = time_param(&form, "end", MAX_TIME_MS)?;
    let limit = match form.get("limit") {
        None => 0,
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::invalid_param("limit", format!("cannot parse {s:?} to a valid limit"))
        })?,
    };
    let storage = st.storage(&headers, &form)?;
    let (mut found, mut warnings) =
        blocking(move || label_strings(&*storage, &sets, start, end, name.as_deref())).await??;
    if limit > 0 && found.len() > limit {
        found.truncate(limit);
        warnings.push("results truncated due to limit".to_string());
    }
    Ok(success(json!(found), warnings, vec![]))
}

async fn label_names(
    State(st): State<ApiState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    labels_common(st, method, headers, q, body, None)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn label_values(
    State(st): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    // Prometheus accepts names outside the legacy charset in the `U__` escaped form.
    let name = unescape_label_name(&name);
    labels_common(st, Method::GET, headers, q, Bytes::new(), Some(name))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Decodes a `U__`-escaped label name (`U__a_2e_b` is `a.b`, `__` is `_`); other names pass
/// through.
fn unescape_label_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let hex: String = chars.by_ref().take_while(|&c| c != '_').collect();
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            None => return name.to_string(),
        }
    }
    out
}

async fn format_query(method: Method, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let form = form(&method, q, &body);
    match parse_query(&form) {
        Ok((_, expr)) => success(
            Json::String(promql::pretty::prettify(&expr)),
            vec![],
            vec![],
        ),
        Err(e) => e.into_response(),
    }
}

async fn parse_query_tree(method: Method, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let f = form(&method, q, &body);
    match parse_query(&f) {
        Ok((_, expr)) => success(parse_query::translate(&expr), vec![], vec![]),
        Err(e) => e.into_response(),
    }
}

async fn buildinfo(State(st): State<ApiState>) -> Response {
    success(
        json!({
            "version": st.version,
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
        vec![],
        vec![],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_label_names_decode() {
        assert_eq!(unescape_label_name("job"), "job");
        assert_eq!(unescape_label_name("U__a_2e_b"), "a.b");
        assert_eq!(unescape_label_name("U__snake__case"), "snake_case");
    }
}
