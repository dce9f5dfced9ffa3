//! `POST /api/v1/write`: Prometheus remote write 1.0 and 2.0 into the tenant's database,
//! answered only once the samples are committed to the WAL, with the status codes of
//! Prometheus' own receiver (415 for an unsupported type or encoding, 400 for bodies that do
//! not decode and for samples the head refuses, 500 for failures worth a retry).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use storeapi::remote_write::{
    check_content_encoding, decode_write_request_with, protocol_from_content_type, DecodeOptions,
    DecodedWrite, HistogramSample, ProtocolVersion,
};
use tsdb_core::db::Db;
use tsdb_core::head::AppendError;

use super::ServeState;
use crate::http_api::now_ms;

/// How far in the future a sample may be, as in Prometheus (10 minutes).
pub const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

fn text(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, msg.into()).into_response()
}

/// Counts written by one request (the v2 response headers).
#[derive(Debug, Default, Clone, Copy)]
struct Written {
    samples: usize,
    histograms: usize,
    exemplars: usize,
}

/// The handler.
pub async fn write(State(st): State<Arc<ServeState>>, headers: HeaderMap, body: Bytes) -> Response {
    let resp = handle(&st, &headers, body).await;
    st.metrics.write_request(resp.status().as_u16());
    resp
}

async fn handle(st: &ServeState, headers: &HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let version = match protocol_from_content_type(&header("content-type")) {
        Ok(v) => v,
        Err(e) => return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()),
    };
    if let Err(e) = check_content_encoding(&header("content-encoding")) {
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string());
    }
    let opts = DecodeOptions {
        max_decompressed_len: st.max_decompressed_len,
    };
    let decoded = match decode_write_request_with(&body, version, &opts) {
        Ok(d) => d,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let db = match st.tenants.db(st.api.tenant(headers)) {
        Ok(db) => db,
        Err(e) if e.kind == crate::http_api::ErrorType::BadData => {
            return text(StatusCode::BAD_REQUEST, e.message)
        }
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.message),
    };
    let total = decoded.num_samples() + decoded.num_histograms();
    let metadata = metadata_of(&decoded);
    let res = tokio::task::spawn_blocking(move || append(&db, &decoded)).await;
    let (written, outcome) = match res {
        Ok(r) => r,
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("append task failed: {e}"),
            )
        }
    };
    if outcome.is_ok() && !metadata.is_empty() {
        let store = st
            .metadata
            .get(st.api.tenant(headers).unwrap_or(&st.default_tenant));
        for (name, md) in &metadata {
            store.add(name, md);
        }
    }
    let mut resp = match outcome {
        Ok(()) => {
            st.metrics.samples_written.fetch_add(
                (written.samples + written.histograms) as u64,
                Ordering::Relaxed,
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Err((code, msg)) => {
            st.metrics
                .samples_rejected
                .fetch_add(total as u64, Ordering::Relaxed);
            text(code, msg)
        }
    };
    if version == ProtocolVersion::V2 {
        let h = resp.headers_mut();
        for (name, n) in [
            ("X-Prometheus-Remote-Write-Samples-Written", written.samples),
            (
                "X-Prometheus-Remote-Write-Histograms-Written",
                written.histograms,
            ),
            (
                "X-Prometheus-Remote-Write-Exemplars-Written",
                written.exemplars,
            ),
        ] {
            h.insert(name, HeaderValue::from(n));
        }
    }
    resp
}

/// The metric metadata a request carries (v1 family metadata, v2 per-series metadata).
fn metadata_of(req: &DecodedWrite) -> Vec<(String, storeapi::Metadata)> {
    let mut out: Vec<(String, storeapi::Metadata)> = req
        .metadata
        .iter()
        .map(|f| (f.metric_family_name.clone(), f.metadata.clone()))
        .collect();
    for s in &req.series {
        if let (Some(md), Some(name)) = (&s.metadata, s.labels.get("__name__")) {
            out.push((name.to_string(), md.clone()));
        }
    }
    out
}

/// Appends a decoded request in one transaction: all of it is committed, or none.
fn append(db: &Db, req: &DecodedWrite) -> (Written, Result<(), (StatusCode, String)>) {
    let none = Written::default();
    let max_t = now_ms() + MAX_AHEAD_MS;
    let mut app = db.appender();
    for s in &req.series {
        let floats = s.samples.iter().map(|&(t, v)| (t, Some(v), None));
        let histograms = s.histograms.iter().map(|(t, h)| (*t, None, Some(h)));
        for (t, v, h) in floats.chain(histograms) {
            let err = if t > max_t {
                Some(AppendError::OutOfBounds {
                    t,
                    min_valid: i64::MIN,
                })
            } else {
                match (v, h) {
                    (Some(v), _) => app.append(&s.labels, t, v).err(),
                    (_, Some(HistogramSample::Int(h))) => {
                        app.append_histogram(&s.labels, t, h).err()
                    }
                    (_, Some(HistogramSample::Float(h))) => {
                        app.append_float_histogram(&s.labels, t, h).err()
                    }
                    (None, None) => None,
                }
            };
            if let Some(e) = err {
                let code = match e {
                    AppendError::OutOfOrder { .. }
                    | AppendError::OutOfBounds { .. }
                    | AppendError::DuplicateSample { .. }
                    | AppendError::TooOld { .. }
                    | AppendError::InvalidHistogram(_)
                    | AppendError::EmptyLabels => StatusCode::BAD_REQUEST,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let _ = app.rollback();
                return (none, Err((code, format!("{e} for series {}", s.labels))));
            }
        }
    }
    // Exemplars go with their series' samples; like Prometheus' receiver, one that is out of
    // order is left out without failing the request.
    let mut exemplars = 0;
    for s in &req.series {
        for e in &s.exemplars {
            let e = tsdb_core::head::exemplars::Exemplar {
                labels: e.labels.clone(),
                value: e.value,
                t: e.timestamp,
            };
            if app.append_exemplar(&s.labels, &e).is_ok() {
                exemplars += 1;
            }
        }
    }
    match app.commit() {
        Ok(()) => (
            Written {
                samples: req.num_samples(),
                histograms: req.num_histograms(),
                exemplars,
            },
            Ok(()),
        ),
        Err(e) => (
            none,
            Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        ),
    }
}
