//! Endpoints discovered through DNS as Thanos discovers them: `dnssrv+` (SRV records, then
//! each target's A records), `dnssrvnoa+` (SRV target names used as they are) and `dns+`,
//! against a DNS server on a loopback port whose answers the test changes while the querier
//! runs, so that a store joining or leaving the fleet is picked up without a restart.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use storeapi::grpc::LocalStore;
use storeapi::remote::dns::DnsResolver;
use storeapi::remote::RemoteStores;
use tsdb_core::querier::Blocks;
use tsdb_index::Labels;

/// What the test DNS server answers: SRV records by name (target, port) and A records.
#[derive(Default)]
struct Zone {
    srv: BTreeMap<String, Vec<(String, u16)>>,
    a: BTreeMap<String, Ipv4Addr>,
}

/// A DNS server on UDP loopback answering from `zone`; runs until the runtime stops.
async fn dns_server(zone: Arc<Mutex<Zone>>) -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            reply.metadata.authoritative = true;
            reply.metadata.recursion_desired = query.metadata.recursion_desired;
            reply.metadata.recursion_available = true;
            let mut found = false;
            for q in &query.queries {
                reply.queries.push(q.clone());
                let name = q.name().to_ascii().to_ascii_lowercase();
                let zone = zone.lock().unwrap();
                match q.query_type() {
                    RecordType::SRV => {
                        for (target, port) in zone.srv.get(&name).into_iter().flatten() {
                            found = true;
                            let target = Name::from_str(target).unwrap();
                            let srv = SRV::new(0, 10, *port, target);
                            reply.add_answer(Record::from_rdata(
                                q.name().clone(),
                                0,
                                RData::SRV(srv),
                            ));
                        }
                    }
                    RecordType::A => {
                        if let Some(ip) = zone.a.get(&name) {
                            found = true;
                            reply.add_answer(Record::from_rdata(
                                q.name().clone(),
                                0,
                                RData::A(A(*ip)),
                            ));
                        }
                    }
                    _ => found |= zone.a.contains_key(&name) || zone.srv.contains_key(&name),
                }
            }
            if !found {
                reply.metadata.response_code = ResponseCode::NXDomain;
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

/// A StoreAPI server over an empty block set with `replica` as external label; returns
/// its port.
async fn store(replica: &str) -> u16 {
    let dir = tempfile::tempdir().unwrap();
    let blocks = Blocks::open_dir(dir.path()).unwrap();
    let store = LocalStore::new(
        Arc::new(blocks),
        Labels::from_pairs([("replica", replica)]),
        || (0, 1000),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _keep = dir;
        storeapi::grpc::serve(Arc::new(store), listener, std::future::pending()).await
    });
    port
}

/// The endpoints the querier sees now, with the `replica` label their `Info` reported.
async fn endpoints(stores: &RemoteStores) -> Vec<(String, String)> {
    let stores = stores.clone();
    tokio::task::spawn_blocking(move || {
        stores
            .endpoints()
            .iter()
            .map(|e| {
                let replica = e
                    .info
                    .as_ref()
                    .and_then(|i| i.label_sets.first())
                    .and_then(|l| l.get("replica").map(str::to_string))
                    .unwrap_or_default();
                (e.name.clone(), replica)
            })
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_records_find_stores_and_follow_the_fleet() {
    let (p1, p2) = (store("a").await, store("b").await);
    let zone = Arc::new(Mutex::new(Zone::default()));
    {
        let mut z = zone.lock().unwrap();
        z.srv.insert(
            "_grpc._tcp.stores.test.".into(),
            vec![
                ("s1.stores.test.".into(), p1),
                ("s2.stores.test.".into(), p2),
            ],
        );
        z.a.insert("s1.stores.test.".into(), Ipv4Addr::LOCALHOST);
        z.a.insert("s2.stores.test.".into(), Ipv4Addr::LOCALHOST);
        z.a.insert("stores.test.".into(), Ipv4Addr::LOCALHOST);
    }
    let server = dns_server(zone.clone()).await;
    let runtime = tokio::runtime::Handle::current();
    let srv = RemoteStores::with_resolver(
        &["dnssrv+_grpc._tcp.stores.test.".to_string()],
        vec!["replica".into()],
        runtime.clone(),
        Duration::ZERO,
        DnsResolver::with_server(server),
    )
    .unwrap();
    // Endpoints come sorted by address.
    let mut both = vec![
        (format!("127.0.0.1:{p1}"), "a".to_string()),
        (format!("127.0.0.1:{p2}"), "b".to_string()),
    ];
    both.sort();
    assert_eq!(endpoints(&srv).await, both);

    // dnssrvnoa+: the target names themselves, at the records' ports.
    let noa = RemoteStores::with_resolver(
        &["dnssrvnoa+_grpc._tcp.stores.test.".to_string()],
        vec![],
        runtime.clone(),
        Duration::ZERO,
        DnsResolver::with_server(server),
    )
    .unwrap();
    let names: Vec<String> = endpoints(&noa).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec![
            format!("s1.stores.test:{p1}"),
            format!("s2.stores.test:{p2}")
        ]
    );

    // dns+: A records at the given port.
    let a = RemoteStores::with_resolver(
        &[format!("dns+stores.test:{p2}")],
        vec![],
        runtime.clone(),
        Duration::ZERO,
        DnsResolver::with_server(server),
    )
    .unwrap();
    assert_eq!(
        endpoints(&a).await,
        vec![(format!("127.0.0.1:{p2}"), "b".to_string())]
    );

    // A store leaves the fleet: the next refresh drops it; an unknown name yields nothing.
    zone.lock()
        .unwrap()
        .srv
        .get_mut("_grpc._tcp.stores.test.")
        .unwrap()
        .retain(|(t, _)| t.starts_with("s1"));
    assert_eq!(
        endpoints(&srv).await,
        vec![(format!("127.0.0.1:{p1}"), "a".to_string())]
    );
    let none = RemoteStores::with_resolver(
        &["dnssrv+_grpc._tcp.nowhere.test.".to_string()],
        vec![],
        runtime,
        Duration::ZERO,
        DnsResolver::with_server(server),
    )
    .unwrap();
    assert!(endpoints(&none).await.is_empty());
}
