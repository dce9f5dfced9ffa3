//! Peak heap of PromQL queries over an in-memory data set, measured with a counting
//! allocator: `cargo run --release -p promql --example peak_heap`.
//!
//! The data set has the go-peer shape the engine benchmarks use (1 000 counters and 1 000
//! gauges, 480 samples 15 s apart); each query runs once over the whole 2 h at a 1 m step and
//! the allocator's high-water mark above the level before the query is printed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use promql::engine::{Engine, EngineOpts};
use promql::parser::{parse_with, Options};
use promql::test_storage::TestStorage;
use tsdb_index::Labels;

/// Counts live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const T0: i64 = 1_700_000_000_000;
const STEP_MS: i64 = 15_000;
const SAMPLES: i64 = 480;

fn storage() -> TestStorage {
    let mut st = TestStorage::new();
    let codes = ["200", "404", "500"];
    for s in 0..1000usize {
        let inst = format!("i-{}", s % 50);
        let series = s.to_string();
        let counter = Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("instance", inst.as_str()),
            ("code", codes[s % 3]),
            ("series", series.as_str()),
        ]);
        let gauge = Labels::from_pairs([
            ("__name__", "node_temp"),
            ("job", "node"),
            ("instance", inst.as_str()),
            ("series", series.as_str()),
        ]);
        for k in 0..SAMPLES {
            let t = T0 + k * STEP_MS;
            let c = (k as f64) * ((s % 97) as f64 + 1.0);
            st.append_float(counter.clone(), t, c).expect("in order");
            st.append_float(gauge.clone(), t, 20.0 + ((k + s as i64) % 10) as f64)
                .expect("in order");
        }
    }
    st
}

fn main() {
    let st = storage();
    let engine = Engine::new(EngineOpts::default());
    let end = T0 + (SAMPLES - 1) * STEP_MS;
    for q in [
        "http_requests_total",
        "sum(rate(http_requests_total[5m]))",
        "sum by (code) (rate(http_requests_total[5m]))",
        "rate(http_requests_total[5m]) / on(instance, series) group_left node_temp",
        "max_over_time(rate(http_requests_total[5m])[30m:1m])",
    ] {
        let expr = parse_with(q, Options::all()).expect("query parses");
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let r = engine.range_query(&st, &expr, T0, end, 60_000, None);
        let peak = PEAK.load(Ordering::Relaxed) - base;
        assert!(r.value.is_ok(), "{q}: {:?}", r.value.err());
        drop(r);
        println!("{:>8.1} MiB  {q}", peak as f64 / (1024.0 * 1024.0));
    }
}
