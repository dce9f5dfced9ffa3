//! `postings_for_matchers` on a high-cardinality index written by our writer (1M series by
//! default; `INDEX_BENCH_N=10` gives Prometheus' 5M), with the selectors of Prometheus'
//! `BenchmarkQuerier/Block/PostingsForMatchers`.
//!
//! `cargo bench -p tsdb-benches --bench postings_for_matchers`. `plan/*` measures the call
//! alone, as Prometheus' benchmark does (postings are lazy, so this is planning, label value
//! matching and opening lists); `drain/*` also iterates the result. `head/*` runs the same
//! selectors over `MemPostings`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tsdb_index::postings::Postings;
use tsdb_index::{postings_for_matchers, IndexReader, MatchType, Matcher, MemPostings, Reader};

#[path = "support/index_data.rs"]
mod index_data;
use index_data::SUFFIX;

fn m(kind: MatchType, name: &str, value: &str) -> Matcher {
    Matcher::new(kind, name, value).unwrap()
}

fn cases() -> Vec<(String, Vec<Matcher>)> {
    use MatchType::*;
    let n1 = m(Equal, "n", &format!("1{SUFFIX}"));
    let nx = m(Equal, "n", &format!("X{SUFFIX}"));
    let j_foo = m(Equal, "j", "foo");
    let j_not_foo = m(NotEqual, "j", "foo");
    let i_star = m(Regexp, "i", ".*");
    let i1_star = m(Regexp, "i", "1.*");
    let i_star1 = m(Regexp, "i", ".*1");
    let i_star1_star = m(Regexp, "i", ".*1.*");
    let i_plus = m(Regexp, "i", ".+");
    let i1_plus = m(Regexp, "i", "1.+");
    let i_empty_re = m(Regexp, "i", "");
    let i_not_empty = m(NotEqual, "i", "");
    let i_not2 = m(NotEqual, "i", &format!("2{SUFFIX}"));
    let i_not2_star = m(NotRegexp, "i", "2.*");
    let i_not_star2_star = m(NotRegexp, "i", ".*2.*");
    let j_foo_bar = m(Regexp, "j", "foo|bar");
    let j_xxx_yyy = m(Regexp, "j", "XXX|YYY");
    let j_xplus = m(Regexp, "j", "X.+");
    let i_charset = m(Regexp, "i", "1[0-9]");
    let i_alt = m(Regexp, "i", "(1|2|3|4|5|6|20|55)");
    let i_not_alt = m(NotRegexp, "i", "(1|2|3|4|5|6|20|55)");
    let i_xyz = m(Regexp, "i", "X|Y|Z");
    let i_not_xyz = m(NotRegexp, "i", "X|Y|Z");
    let c =
        |name: &str, ms: &[&Matcher]| (name.to_string(), ms.iter().map(|&m| m.clone()).collect());
    vec![
        c(r#"n="1""#, &[&n1]),
        c(r#"n="X""#, &[&nx]),
        c(r#"n="1",j="foo""#, &[&n1, &j_foo]),
        c(r#"n="X",j="foo""#, &[&nx, &j_foo]),
        c(r#"j="foo",n="1""#, &[&j_foo, &n1]),
        c(r#"n="1",j!="foo""#, &[&n1, &j_not_foo]),
        c(r#"n="1",i!="2""#, &[&n1, &i_not2]),
        c(r#"n="X",j!="foo""#, &[&nx, &j_not_foo]),
        c(r#"i=~"1[0-9]",j=~"foo|bar""#, &[&i_charset, &j_foo_bar]),
        c(r#"j=~"foo|bar""#, &[&j_foo_bar]),
        c(r#"j=~"XXX|YYY""#, &[&j_xxx_yyy]),
        c(r#"j=~"X.+""#, &[&j_xplus]),
        c(r#"i=~"(1|2|3|4|5|6|20|55)""#, &[&i_alt]),
        c(r#"i!~"(1|2|3|4|5|6|20|55)""#, &[&i_not_alt]),
        c(r#"i=~"X|Y|Z""#, &[&i_xyz]),
        c(r#"i!~"X|Y|Z""#, &[&i_not_xyz]),
        c(r#"i=~".*""#, &[&i_star]),
        c(r#"i=~"1.*""#, &[&i1_star]),
        c(r#"i=~".*1""#, &[&i_star1]),
        c(r#"i=~".+""#, &[&i_plus]),
        c(r#"i=~".+",j=~"X.+""#, &[&i_plus, &j_xplus]),
        c(r#"i=~"""#, &[&i_empty_re]),
        c(r#"i!="""#, &[&i_not_empty]),
        c(r#"n="1",i=~".*",j="foo""#, &[&n1, &i_star, &j_foo]),
        c(r#"n="X",i=~".*",j="foo""#, &[&nx, &i_star, &j_foo]),
        c(
            r#"n="1",i=~".*",i!="2",j="foo""#,
            &[&n1, &i_star, &i_not2, &j_foo],
        ),
        c(r#"n="1",i!="""#, &[&n1, &i_not_empty]),
        c(r#"n="1",i!="",j="foo""#, &[&n1, &i_not_empty, &j_foo]),
        c(r#"n="1",i!="",j=~"X.+""#, &[&n1, &i_not_empty, &j_xplus]),
        c(
            r#"n="1",i!="",j=~"XXX|YYY""#,
            &[&n1, &i_not_empty, &j_xxx_yyy],
        ),
        c(r#"n="1",i=~"X|Y|Z",j="foo""#, &[&n1, &i_xyz, &j_foo]),
        c(r#"n="1",i!~"X|Y|Z",j="foo""#, &[&n1, &i_not_xyz, &j_foo]),
        c(r#"n="1",i=~".+",j="foo""#, &[&n1, &i_plus, &j_foo]),
        c(r#"n="1",i=~"1.+",j="foo""#, &[&n1, &i1_plus, &j_foo]),
        c(r#"n="1",i=~".*1.*",j="foo""#, &[&n1, &i_star1_star, &j_foo]),
        c(
            r#"n="1",i=~".+",i!="2",j="foo""#,
            &[&n1, &i_plus, &i_not2, &j_foo],
        ),
        c(
            r#"n="1",i=~".+",i!~"2.*",j="foo""#,
            &[&n1, &i_plus, &i_not2_star, &j_foo],
        ),
        c(
            r#"n="1",i=~".+",i!~".*2.*",j="foo""#,
            &[&n1, &i_plus, &i_not_star2_star, &j_foo],
        ),
        c(
            r#"n="X",i=~".+",i!~".*2.*",j="foo""#,
            &[&nx, &i_plus, &i_not_star2_star, &j_foo],
        ),
    ]
}

fn run<R: IndexReader>(c: &mut Criterion, group: &str, ix: &R, drain: bool) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (name, ms) in cases() {
        g.bench_function(&name, |b| {
            b.iter(|| {
                let mut p = postings_for_matchers(ix, &ms).unwrap();
                let mut n = 0u64;
                if drain {
                    while p.next() {
                        n += 1;
                    }
                }
                n
            })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let t = Instant::now();
    let series = index_data::bench_series(index_data::n_max());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    index_data::write_index(&path, &series);
    eprintln!(
        "wrote {} series, {} bytes in {:?}",
        series.len(),
        std::fs::metadata(&path).unwrap().len(),
        t.elapsed()
    );
    let r = Reader::open(&path).unwrap();
    run(c, "plan", &r, false);
    run(c, "drain", &r, true);

    let mut mem = MemPostings::new();
    for (i, l) in series.iter().enumerate() {
        mem.add(i as u64, l);
    }
    drop(series);
    run(c, "head/drain", &mem, true);
}

criterion_group!(benches, bench);
criterion_main!(benches);
