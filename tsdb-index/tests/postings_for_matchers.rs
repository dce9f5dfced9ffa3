//! `postings_for_matchers` against brute-force label filtering, over an index written by our
//! writer and over the in-memory postings.

use tsdb_index::postings::collect;
use tsdb_index::{postings_for_matchers, Labels, MatchType, Matcher, MemPostings, Reader, Writer};

/// A deterministic set of series over a few labels, some of which are often absent.
fn series() -> Vec<Labels> {
    let mut out = Vec::new();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let vals = ["1", "2", "3", "foo", "foobar", "bar", "2\n"];
    for i in 0..300 {
        let mut pairs: Vec<(String, String)> = vec![("__name__".into(), format!("m{}", i % 4))];
        for name in ["a", "b", "c"] {
            let k = rnd(vals.len() as u64 + 2);
            if (k as usize) < vals.len() {
                pairs.push((name.to_string(), vals[k as usize].to_string()));
            }
        }
        pairs.push(("i".into(), i.to_string()));
        out.push(Labels::from_pairs(pairs));
    }
    out.sort();
    out.dedup();
    out
}

fn matchers() -> Vec<Matcher> {
    let mut v = Vec::new();
    for name in ["a", "b", "missing", "__name__"] {
        for (kind, value) in [
            (MatchType::Equal, "1"),
            (MatchType::Equal, ""),
            (MatchType::Equal, "foo"),
            (MatchType::NotEqual, "1"),
            (MatchType::NotEqual, ""),
            (MatchType::Regexp, ".*"),
            (MatchType::Regexp, ".+"),
            (MatchType::Regexp, "1|2"),
            (MatchType::Regexp, "1|2|"),
            (MatchType::Regexp, "foo.*"),
            (MatchType::Regexp, "(foo)?"),
            (MatchType::Regexp, ""),
            (MatchType::Regexp, "2."),
            (MatchType::Regexp, "m[12]"),
            (MatchType::NotRegexp, ".*"),
            (MatchType::NotRegexp, ".+"),
            (MatchType::NotRegexp, "1|2"),
            (MatchType::NotRegexp, "foo.*"),
            (MatchType::NotRegexp, "(foo)?"),
            (MatchType::NotRegexp, ""),
        ] {
            v.push(Matcher::new(kind, name, value).unwrap());
        }
    }
    v
}

fn brute_force(all: &[(u64, Labels)], ms: &[Matcher]) -> Vec<u64> {
    all.iter()
        .filter(|(_, l)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
        .map(|(id, _)| *id)
        .collect()
}

#[test]
fn matches_brute_force() {
    let series = series();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let mut w = Writer::create(&path).unwrap();
    let mut syms: Vec<&str> = series
        .iter()
        .flat_map(|l| l.iter().flat_map(|l| [l.name, l.value]))
        .collect();
    syms.sort_unstable();
    syms.dedup();
    for s in syms {
        w.add_symbol(s).unwrap();
    }
    let mut file_ids = Vec::new();
    for l in &series {
        file_ids.push((w.add_series(l, &[]).unwrap(), l.clone()));
    }
    w.finish().unwrap();
    let r = Reader::open(&path).unwrap();

    let mut mem = MemPostings::new();
    let mem_ids: Vec<(u64, Labels)> = series
        .iter()
        .enumerate()
        .map(|(i, l)| (i as u64 * 3 + 1, l.clone()))
        .collect();
    for (id, l) in &mem_ids {
        mem.add(*id, l);
    }

    let ms = matchers();
    let mut checked = 0;
    let mut nonempty = 0;
    let mut check = |sel: &[Matcher]| {
        let want = brute_force(&file_ids, sel);
        let got = collect(postings_for_matchers(&r, sel).unwrap()).unwrap();
        assert_eq!(got, want, "file index, matchers {sel:?}");
        let want = brute_force(&mem_ids, sel);
        let got = collect(postings_for_matchers(&mem, sel).unwrap()).unwrap();
        assert_eq!(got, want, "mem postings, matchers {sel:?}");
        checked += 1;
        if !want.is_empty() {
            nonempty += 1;
        }
    };
    for i in 0..ms.len() {
        check(&[ms[i].clone()]);
        // Pairs: every matcher with a sample of others (all pairs would be slow-ish in debug).
        for j in (0..ms.len()).step_by(7) {
            check(&[ms[i].clone(), ms[(i + j) % ms.len()].clone()]);
        }
        check(&[
            ms[i].clone(),
            ms[(i * 5 + 3) % ms.len()].clone(),
            ms[(i * 11 + 1) % ms.len()].clone(),
        ]);
    }
    assert!(
        checked > 500 && nonempty > 100,
        "{checked} selectors, {nonempty} non-empty"
    );

    // The all-postings matcher.
    let all = collect(postings_for_matchers(&r, &[Matcher::equal("", "")]).unwrap()).unwrap();
    assert_eq!(all.len(), series.len());
}
