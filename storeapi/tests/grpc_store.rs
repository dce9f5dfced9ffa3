//! Our StoreAPI gRPC server over the blocks Prometheus wrote (`fixtures/prom-blocks`), read by
//! our generated client: every sample of `expected.dump` comes back through `Series` chunks,
//! external labels select and label the store, and bad requests get gRPC errors.

use std::path::PathBuf;
use std::sync::Arc;

use storeapi::grpc::convert::{chunk_encoding, from_proto_labels};
use storeapi::grpc::proto::info::info_client::InfoClient;
use storeapi::grpc::proto::info::InfoRequest;
use storeapi::grpc::proto::store_client::StoreClient;
use storeapi::grpc::proto::{
    label_matcher, series_response, LabelMatcher, LabelNamesRequest, LabelValuesRequest,
    SeriesRequest,
};
use storeapi::grpc::LocalStore;
use tsdb_core::gofloat::go_g;
use tsdb_core::querier::Blocks;
use tsdb_index::Labels;

fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn matcher(t: label_matcher::Type, name: &str, value: &str) -> LabelMatcher {
    LabelMatcher {
        r#type: t as i32,
        name: name.into(),
        value: value.into(),
    }
}

async fn start() -> (String, tokio::sync::oneshot::Sender<()>) {
    let blocks = Blocks::open_dir(&shared_dir().join("fixtures/prom-blocks")).unwrap();
    let range = {
        let metas: Vec<_> = blocks.blocks().iter().map(|b| b.meta().clone()).collect();
        let min = metas.iter().map(|m| m.min_time).min().unwrap();
        let max = metas.iter().map(|m| m.max_time).max().unwrap();
        move || (min, max)
    };
    let store = LocalStore::new(
        Arc::new(blocks),
        Labels::from_pairs([("cluster", "eu"), ("replica", "a")]),
        range,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(storeapi::grpc::serve(Arc::new(store), listener, async {
        let _ = rx.await;
    }));
    (addr, tx)
}

async fn series_dump(
    client: &mut StoreClient<tonic::transport::Channel>,
    req: SeriesRequest,
) -> Vec<String> {
    let mut stream = client.series(req).await.unwrap().into_inner();
    let mut lines = Vec::new();
    while let Some(frame) = stream.message().await.unwrap() {
        let Some(series_response::Result::Series(s)) = frame.result else {
            continue;
        };
        let labels = from_proto_labels(&s.labels);
        assert_eq!(labels.get("cluster"), Some("eu"));
        let shown = labels.without(&["cluster", "replica"]);
        for c in &s.chunks {
            let raw = c.raw.as_ref().unwrap();
            let mut it = chunkenc::iter(chunk_encoding(raw).unwrap(), &raw.data).unwrap();
            let mut n = 0;
            while it.next().unwrap().is_some() {
                let (t, v) = it.at();
                assert!(t >= c.min_time && t <= c.max_time);
                lines.push(format!("{shown} {} {t}", go_g(v)));
                n += 1;
            }
            assert!(n <= 120);
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_label_names_values_and_info_over_grpc() {
    let (addr, stop) = start().await;
    let mut client = StoreClient::connect(addr.clone()).await.unwrap();

    let all = SeriesRequest {
        min_time: i64::MIN,
        max_time: i64::MAX,
        matchers: vec![matcher(label_matcher::Type::Re, "__name__", ".+")],
        ..Default::default()
    };
    let mut got = series_dump(&mut client, all.clone()).await;
    let mut want: Vec<String> =
        std::fs::read_to_string(shared_dir().join("fixtures/prom-blocks/expected.dump"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
    // Series arrive sorted by labels; compare sample sets.
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);

    // A matcher on an external label selects the whole store, or nothing.
    let mut other = all.clone();
    other
        .matchers
        .push(matcher(label_matcher::Type::Eq, "cluster", "us"));
    assert!(series_dump(&mut client, other).await.is_empty());
    let mut same = all.clone();
    same.matchers
        .push(matcher(label_matcher::Type::Re, "cluster", "e.*"));
    assert_eq!(series_dump(&mut client, same).await.len(), want.len());

    // skip_chunks: labels only; limit caps the series.
    let mut labels_only = all.clone();
    labels_only.skip_chunks = true;
    labels_only.limit = 3;
    let mut stream = client.series(labels_only).await.unwrap().into_inner();
    let mut n = 0;
    while let Some(frame) = stream.message().await.unwrap() {
        if let Some(series_response::Result::Series(s)) = frame.result {
            assert!(s.chunks.is_empty());
            n += 1;
        }
    }
    assert_eq!(n, 3);

    let names = client
        .label_names(LabelNamesRequest {
            start: i64::MIN,
            end: i64::MAX,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .names;
    assert!(names.contains(&"cluster".to_string()) && names.contains(&"__name__".to_string()));
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    let values = client
        .label_values(LabelValuesRequest {
            label: "job".into(),
            start: i64::MIN,
            end: i64::MAX,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .values;
    assert!(values.contains(&"api".to_string()));
    let ext = client
        .label_values(LabelValuesRequest {
            label: "cluster".into(),
            start: i64::MIN,
            end: i64::MAX,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .values;
    assert_eq!(ext, vec!["eu".to_string()]);

    // Bad requests: typed gRPC errors.
    let mut bad = all.clone();
    bad.matchers = vec![matcher(label_matcher::Type::Re, "job", "(")];
    let Err(err) = client.series(bad).await else {
        panic!("bad regex accepted");
    };
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let mut backwards = all.clone();
    backwards.min_time = 10;
    backwards.max_time = 5;
    let Err(err) = client.series(backwards).await else {
        panic!("inverted range accepted");
    };
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let info = InfoClient::connect(addr)
        .await
        .unwrap()
        .info(InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.label_sets.len(), 1);
    assert_eq!(
        from_proto_labels(&info.label_sets[0].labels),
        Labels::from_pairs([("cluster", "eu"), ("replica", "a")])
    );
    let s = info.store.unwrap();
    assert!(s.min_time < s.max_time);
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replica_labels_drops_them_and_keeps_the_order() {
    let (addr, stop) = start().await;
    let mut client = StoreClient::connect(addr.clone()).await.unwrap();
    let req = SeriesRequest {
        min_time: i64::MIN,
        max_time: i64::MAX,
        matchers: vec![matcher(label_matcher::Type::Re, "__name__", ".+")],
        without_replica_labels: vec!["replica".into()],
        skip_chunks: true,
        ..Default::default()
    };
    let mut stream = client.series(req).await.unwrap().into_inner();
    let mut seen = Vec::new();
    while let Some(frame) = stream.message().await.unwrap() {
        if let Some(series_response::Result::Series(s)) = frame.result {
            let labels = from_proto_labels(&s.labels);
            assert_eq!(labels.get("replica"), None);
            assert_eq!(labels.get("cluster"), Some("eu"));
            seen.push(labels);
        }
    }
    assert!(!seen.is_empty());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "not sorted");
    let _ = stop.send(());
}

/// Runs the Go snappy peer (`GO_SNAPPY`, built by `scripts/test` from benches/go-snappy) on
/// `input` with `flag` (`-c` or `-d`).
fn go_snappy(go: &str, flag: &str, input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new(go)
        .arg(flag)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "go-snappy {flag} failed");
    out.stdout
}

/// A `Series` call as a Thanos querier with `--grpc-compression=snappy` sends it: the request
/// message compressed by Go's snappy framed writer, `grpc-encoding: snappy`. The answer comes
/// back snappy-compressed, Go's framed reader decodes every message, and the samples are the
/// fixture's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snappy_compressed_calls_as_thanos_sends_them() {
    use http_body_util::BodyExt;
    use prost::Message;
    use storeapi::grpc::proto::SeriesResponse;
    use tower_service::Service;

    let Ok(go) = std::env::var("GO_SNAPPY") else {
        eprintln!("GO_SNAPPY not set: skipping the interop test with Go's snappy framing");
        return;
    };
    let (addr, stop) = start().await;
    let request = SeriesRequest {
        min_time: i64::MIN,
        max_time: i64::MAX,
        matchers: vec![matcher(label_matcher::Type::Re, "__name__", ".+")],
        ..Default::default()
    };
    let packed = go_snappy(&go, "-c", &request.encode_to_vec());
    let mut body = vec![1u8];
    body.extend_from_slice(&(packed.len() as u32).to_be_bytes());
    body.extend_from_slice(&packed);

    let mut channel = tonic::transport::Endpoint::from_shared(addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let http_request = http::Request::post(format!("{addr}/thanos.Store/Series"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-encoding", "snappy")
        .header("grpc-accept-encoding", "snappy")
        .body(tonic::body::boxed(
            http_body_util::Full::new(bytes::Bytes::from(body))
                .map_err(|never| -> tonic::Status { match never {} }),
        ))
        .unwrap();
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let response = channel.call(http_request).await.unwrap();
    assert_eq!(response.headers()["grpc-encoding"], "snappy");
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap();
    assert_eq!(trailers["grpc-status"], "0", "{trailers:?}");
    let mut wire = collected.to_bytes();
    let mut samples = 0;
    let mut series = 0;
    while !wire.is_empty() {
        assert_eq!(wire[0], 1, "every message is compressed");
        let len = u32::from_be_bytes(wire[1..5].try_into().unwrap()) as usize;
        let message = go_snappy(&go, "-d", &wire[5..5 + len]);
        wire = wire.slice(5 + len..);
        if let Some(series_response::Result::Series(s)) =
            SeriesResponse::decode(message.as_slice()).unwrap().result
        {
            series += 1;
            for c in &s.chunks {
                let raw = c.raw.as_ref().unwrap();
                let mut it = chunkenc::iter(chunk_encoding(raw).unwrap(), &raw.data).unwrap();
                while it.next().unwrap().is_some() {
                    samples += 1;
                }
            }
        }
    }
    let want = std::fs::read_to_string(shared_dir().join("fixtures/prom-blocks/expected.dump"))
        .unwrap()
        .lines()
        .count();
    assert!(series > 0);
    assert_eq!(samples, want);
    let _ = stop.send(());
}

/// Our client side of the same compression (`SnappyClientLayer`) against our server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snappy_client_layer_reads_the_whole_fixture() {
    let (addr, stop) = start().await;
    let channel = tonic::transport::Endpoint::from_shared(addr)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let layered = tower_layer::Layer::layer(&storeapi::grpc::snappy::SnappyClientLayer, channel);
    let mut client = StoreClient::new(layered);
    let all = SeriesRequest {
        min_time: i64::MIN,
        max_time: i64::MAX,
        matchers: vec![matcher(label_matcher::Type::Re, "__name__", ".+")],
        ..Default::default()
    };
    let mut stream = client.series(all).await.unwrap().into_inner();
    let mut n = 0;
    while let Some(frame) = stream.message().await.unwrap() {
        if let Some(series_response::Result::Series(s)) = frame.result {
            n += s.chunks.len();
        }
    }
    assert!(n > 0);
    let _ = stop.send(());
}
