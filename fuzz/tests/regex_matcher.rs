//! Runs the `regex_matcher` fuzz body over Prometheus' test patterns with matching and
//! non-matching values, and over deterministic pseudo-random mutations of them.

use tsdb_fuzz::harness::SplitMix64;
use tsdb_fuzz::regex_matcher::regex_matcher;

/// Patterns in the style of Prometheus' regexp_test.go list, plus syntax corner cases.
const PATTERNS: &[&str] = &[
    "",
    "foo",
    "^foo",
    "(foo|bar)",
    "foo.*",
    ".*foo",
    "^.*foo$",
    "^.+foo$",
    ".?",
    ".*",
    ".+",
    "foo.+",
    ".+foo",
    "foo\n.+",
    ".*foo.*",
    ".+foo.+",
    ".*foo.*|",
    "(?i).*foo.*",
    ".*foo.*|bar.*",
    "foo.*|.*bar.*",
    ".*foo.*|.*bar.*",
    ".*foo.*bar.*|.*hello.*",
    "(?s:.*)",
    "(?i:foo)",
    "(?i:(foo1|foo2|bar))",
    "^(?i:foo|oo)|(bar)$",
    "((.*)(bar|b|buzz)(.+)|foo)$",
    "^$",
    "(prometheus|api_prom)_api_v1_.+",
    "10\\.0\\.(1|2)\\.+",
    "((fo(bar))|.+foo)",
    "fo.?",
    ".?foo.+",
    "foo.?|bar",
    "ſſs",
    ".*-.*-.*-.*-.*",
    "(.+)-(.+)-(.+)",
    "(?i)k.*",
    "(?i)k-(a|b)",
    ".*(?i:k)",
    "a.*(?i:sk)",
    "(?i:some)-pattern.*",
    "[a-c][0-9]",
    "\\d+\\s\\w",
    "a{2,3}b",
    "(?-s:.)*x",
    "(?m)^a$",
    "\\bfoo\\b",
    "[^a-z]+",
    "a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r",
    "(?i)(a.*|b.*|c.*|d.*|e.*|f.*|g.*|h.*|i.*|j.*|k.*|l.*|m.*|n.*|o.*|p.*|q.*)",
];

const VALUES: &[&str] = &[
    "",
    "foo",
    "FOO",
    "bar",
    "foobar",
    "xfoo",
    "foox",
    "\n",
    "foo\n",
    "a-b-c",
    "10.0.1.2",
    "prometheus_api_v1_x",
    "\u{212a}",
    "ſſS",
    "k-a",
    "some-pattern",
    "a\u{212a}sk",
    "aab",
    "1 a",
];

/// Bytes that make mutations likely to hit regex syntax.
const SYNTAX: &[u8] = b"\\.+*?()|[]{}^$-,:=!<>PpdwsbBiIzAQEu0123456789aK";

fn input(pattern: &[u8], values: &[&[u8]]) -> Vec<u8> {
    let mut data = pattern.to_vec();
    for v in values {
        data.push(0);
        data.extend_from_slice(v);
    }
    data
}

#[test]
fn seeds() {
    let values: Vec<&[u8]> = VALUES.iter().map(|v| v.as_bytes()).collect();
    for p in PATTERNS {
        regex_matcher(&input(p.as_bytes(), &values));
    }
}

#[test]
fn mutations() {
    let mut rng = SplitMix64(0x5eed_f00d);
    for _ in 0..3000 {
        let mut pattern = PATTERNS[rng.below(PATTERNS.len())].as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            match rng.below(5) {
                0 if !pattern.is_empty() => {
                    let i = rng.below(pattern.len());
                    pattern[i] ^= 1 << rng.below(8);
                }
                1 => {
                    let i = rng.below(pattern.len() + 1);
                    pattern.insert(i, SYNTAX[rng.below(SYNTAX.len())]);
                }
                2 if !pattern.is_empty() => {
                    let i = rng.below(pattern.len());
                    pattern.remove(i);
                }
                3 => {
                    let other = PATTERNS[rng.below(PATTERNS.len())].as_bytes();
                    pattern.push(b'|');
                    pattern.extend_from_slice(other);
                }
                _ => pattern.truncate(rng.below(pattern.len() + 1)),
            }
        }
        let mut values: Vec<Vec<u8>> = Vec::new();
        for _ in 0..rng.below(8) {
            let mut v = VALUES[rng.below(VALUES.len())].as_bytes().to_vec();
            if rng.below(2) == 0 && !v.is_empty() {
                let i = rng.below(v.len());
                v[i] = b"abfoKk-\n.x0"[rng.below(11)];
            }
            values.push(v);
        }
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        regex_matcher(&input(&pattern, &refs));
    }
}

#[test]
fn random_bytes_and_caps() {
    let mut rng = SplitMix64(7);
    for _ in 0..500 {
        let len = rng.below(64);
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        regex_matcher(&data);
    }
    // Over-long and huge-repetition patterns are cut or rejected, not compiled forever.
    regex_matcher(&input(&[b'a'; 5000], &[b"aaa"]));
    regex_matcher(&input(b"(\\pL{1000}){1000}", &[b"x"]));
    regex_matcher(&input(&b"(".repeat(600), &[b"x"]));
}
