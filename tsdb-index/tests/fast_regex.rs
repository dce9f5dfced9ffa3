//! FastRegexMatcher against the plain anchored automaton: Prometheus' regexp_test.go pattern
//! and value lists, its set-match and short-cut expectations, Go syntax differences, and a
//! property test over generated patterns.

use proptest::prelude::*;
use regex_automata::meta::Regex;
use tsdb_index::fast_regex::{plain_regex, FastRegexMatcher, MAX_SET_MATCHES};

/// The 100 words of Prometheus' long-alternation test patterns.
const WORDS: &str = "zQPbMkNO|NNSPdvMi|iWuuSoAl|qbvKMimS|IecrXtPa|seTckYqt|NxnyHkgB|fIDlOgKb|UhlWIygH|OtNoJxHG|cUTkFVIV|mTgFIHjr|jQkoIDtE|PPMKxRXl|AwMfwVkQ|CQyMrTQJ|BzrqxVSi|nTpcWuhF|PertdywG|ZZDgCtXN|WWdDPyyE|uVtNQsKk|BdeCHvPZ|wshRnFlH|aOUIitIp|RxZeCdXT|CFZMslCj|AVBZRDxl|IzIGCnhw|ythYuWiz|oztXVXhl|VbLkwqQx|qvaUgyVC|VawUjPWC|ecloYJuj|boCLTdSU|uPrKeAZx|hrMWLWBq|JOnUNHRM|rYnujkPq|dDEdZhIj|DRrfvugG|yEGfDxVV|YMYdJWuP|PHUQZNWM|AmKNrLis|zTxndVfn|FPsHoJnc|EIulZTua|KlAPhdzg|ScHJJCLt|NtTfMzME|eMCwuFdo|SEpJVJbR|cdhXZeCx|sAVtBwRh|kVFEVcMI|jzJrxraA|tGLHTell|NNWoeSaw|DcOKSetX|UXZAJyka|THpMphDP|rizheevl|kDCBRidd|pCZZRqyu|pSygkitl|SwZGkAaW|wILOrfNX|QkwVOerj|kHOMxPDr|EwOVycJv|AJvtzQFS|yEOjKYYB|LizIINLL|JBRSsfcG|YPiUqqNl|IsdEbvee|MjEpGcBm|OxXZVgEQ|xClXGuxa|UzRCGFEb|buJbvfvA|IPZQxRet|oFYShsMc|oBHffuHO|bzzKrcBR|KAjzrGCl|IPUsAVls|OGMUMbIU|gyDccHuR|bjlalnDd|ZLWjeMna|fdsuIlxQ|dVXtiomV|XxedTjNg|XWMHlNoA|nnyqArQX|opfkWGhb|wYtnhdYb";

fn words() -> Vec<&'static str> {
    WORDS.split('|').collect()
}

/// Prometheus' test patterns (model/labels/regexp_test.go), long ones rebuilt from [WORDS].
fn patterns() -> Vec<String> {
    let mut p: Vec<String> = [
        "", "foo", "^foo", "(foo|bar)", "foo.*", ".*foo", "^.*foo$", "^.+foo$", ".?", ".*", ".+",
        "foo.+", ".+foo", "foo\n.+", "foo\n.*", ".*foo.*", ".+foo.+", ".*foo.*|", "(?i).*foo.*",
        ".*foo.*|bar.*", "foo.*|.*bar.*", ".*foo.*|.*bar.*", ".*foo.*bar.*|.*hello.*",
        ".*foo.*|.*bar.*|.*hello.*", ".+.*foo.*|.*bar.*", "(?s:.*)", "(?s:.+)", "(?s:^.*foo$)",
        "(?i:foo)", "(?i:(foo|bar))", "(?i:(foo1|foo2|bar))", "^(?i:foo|oo)|(bar)$",
        "(?i:(foo1|foo2|aaa|bbb|ccc|ddd|eee|fff|ggg|hhh|iii|lll|mmm|nnn|ooo|ppp|qqq|rrr|sss|ttt|uuu|vvv|www|xxx|yyy|zzz))",
        "((.*)(bar|b|buzz)(.+)|foo)$", "^$", "(prometheus|api_prom)_api_v1_.+",
        "10\\.0\\.(1|2)\\.+", "10\\.0\\.(1|2).+", "((fo(bar))|.+foo)",
        "(?i)report.scheduled.job_runscheduledreports", "report.scheduled.job_runscheduledreports",
        "(?i:(AAAAAAAAAAAAAAAAAAAAAAAA|BBBBBBBBBBBBBBBBBBBBBBBB|cccccccccccccccccccccccC|ſſſſſſſſſſſſſſſſſſſſſſſſS|SSSSSSSSSSSSSSSSSSSSSSSSſ))",
        "(?i:(zQPbMkNO.*|NNSPdvMi.*|iWuuSoAl.*))",
        "fo.?", "foo.?", "f.?o", ".*foo.?", ".?foo.+", "foo.?|bar", "ſſs",
        ".*-.*-.*-.*-.*", ".+-.*-.*-.*-.+", "-.*-.*-.*-.*", ".*-.*-.*-.*-",
        "(.+)-(.+)-(.+)-(.+)-(.+)", "((.*))(?i:f)((.*))o((.*))o((.*))",
        "((.*))f((.*))(?i:o)((.*))o((.*))", "(.*0.*)", "(?i)k.*", "(?i)k-(a|b)", "(?i)(ka.+|kb.+)",
        ".*(?i:k)", "a.*(?i:sk)", "(?i:some)-pattern.*",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let w = words();
    p.push(w.join("|"));
    p.push(
        w.iter()
            .map(|w| format!(".*{w}.*"))
            .collect::<Vec<_>>()
            .join("|"),
    );
    p.push(format!("(?i:({}))", w.join("|")));
    p.push(format!(
        "(?i:({}))",
        w.iter()
            .map(|w| format!("{w}.*"))
            .collect::<Vec<_>>()
            .join("|")
    ));
    p.push(format!(
        "(?i:({}))",
        w.iter()
            .map(|w| format!(".*{w}"))
            .collect::<Vec<_>>()
            .join("|")
    ));
    // A long alternation whose values share prefixes (like pod names of one deployment).
    let shared: Vec<String> = (0..400)
        .map(|i| {
            format!(
                "{}yefj{:02}j{:04}",
                ["j", "l", "t", "u"][i % 4],
                i % 97,
                i * 7 % 3000
            )
        })
        .collect();
    p.push(shared.join("|"));
    p
}

/// Prometheus' test values (valid UTF-8 ones) plus deterministic random ASCII values.
fn values() -> Vec<String> {
    let mut v: Vec<String> = [
        "foo",
        " foo bar",
        "bar",
        "buzz\nbar",
        "bar foo",
        "bfoo",
        "\n",
        "\nfoo",
        "foo\n",
        "hello foo world",
        "hello foo\n world",
        "",
        "FOO",
        "Foo",
        "fOo",
        "foO",
        "OO",
        "Oo",
        "\nfoo\n",
        "ffffffffffffffffffff",
        "prometheus",
        "prometheus_api_v1",
        "prometheus_api_v1_foo",
        "10.0.1.20",
        "10.0.2.10",
        "10.0.3.30",
        "10.0.4.40",
        "report.scheduled.job_runscheduledreports",
        "Report.Scheduled.JobRunScheduledReports",
        "Report.Scheduled.Job_RunScheduledReports",
        "foofoo0",
        "foofoo",
        "😀foo0",
        "ſſs",
        "ſſS",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "BBBBBBBBBBBBBBBBBBBBBBBB",
        "cccccccccccccccccccccccC",
        "ſſſſſſſſſſſſſſſſſſſſſſſſS",
        "SSSSSSSSSSSSSSSSSSSSSSSSſ",
        "a-b-c-d-e",
        "aaaaaa-bbbbbb-cccccc-dddddd-eeeeee",
        "aaaaaa----eeeeee",
        "----",
        "-a-a-a-",
        "zQPbMkNO",
        "zQPbMkNo",
        "jyyfj00j0061",
        "jyyfj00j006",
        "jyyfj00j00612",
        "NNSPdvMi",
        "NNSPdvMiXXX",
        "NNSPdvMixxx",
        "nnSPdvMi",
        "nnSPdvMiXXX",
        "\u{212a}",
        "\u{212a}a",
        "\u{212a}b",
        "\u{212a}-a",
        "\u{212a}-abc",
        "\u{212a}elvin",
        "abc\u{212a}",
        "a\u{212a}",
        "axſk",
        "axs\u{212a}",
        "ſome-pattern",
        "SOME-pattern",
        "ſk",
        "kſ",
        "jyefj05j0035",
        "lyefj12j0084",
        "tyefj00j0000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
        .chars()
        .collect();
    let mut rng = SplitMix(1);
    for (count, len) in [(10, 10), (5, 30), (1, 100)] {
        for _ in 0..count {
            v.push(
                (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect(),
            );
        }
    }
    let tail: String = (0..50)
        .map(|_| alphabet[rng.below(alphabet.len())])
        .collect();
    v.push(format!("foo{tail}"));
    v.push(format!("{tail}foo"));
    for w in words().iter().take(20) {
        v.push(w.to_string());
        v.push(w.to_lowercase());
        v.push(format!("x{w}y"));
        v.push(format!("{}\u{212a}", w.to_uppercase()));
    }
    v
}

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The plain Rust regex, as the brief defines the reference: `^(?s:pattern)$`.
fn raw_regex(pattern: &str) -> Regex {
    Regex::new(&format!("^(?s:{pattern})$")).expect("raw regex compiles")
}

#[test]
fn prometheus_patterns_agree_with_plain_regex() {
    let values = values();
    for p in patterns() {
        let m = FastRegexMatcher::new(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        let plain = plain_regex(&p).unwrap();
        let raw = raw_regex(&p);
        for v in &values {
            let want = raw.is_match(v.as_str());
            assert_eq!(plain.is_match(v.as_str()), want, "plain {p:?} on {v:?}");
            assert_eq!(
                m.matches(v),
                want,
                "{p:?} on {v:?} (strategy {})",
                m.strategy()
            );
        }
    }
}

#[test]
fn every_prometheus_test_pattern_is_optimized_like_prometheus() {
    // Patterns Prometheus' own tests expect to be handled without the automaton.
    for p in [
        ".*",
        ".+",
        "",
        "^$",
        "foo",
        "foo.*",
        ".*foo",
        ".*foo.*",
        "(?i:foo)",
        "(?i:(foo|bar))",
        "(.+)foo(.*)",
        "^.+foo.+",
        "^(.*)(foo|foobar)(.*)$",
        "10\\.0\\.(1|2).+",
        "^.+foo",
        "foo-.*$",
        "(prometheus|api_prom)_api_v1_.+",
        "((fo(bar))|.+foo)",
        "(.+)/(gateway|cortex-gw|cortex-gw-internal)",
        "[1^3]",
        ".*foo.*bar.*",
        "/|/bar.*",
        "(xyz-016a-ixb-dp.*|xyz-016a-ixb-op.*)",
        "(?i:(xyz-016a-ixb-dp.*|xyz-016a-ixb-op.*))",
        "ext.?|xfs",
        "foo.?",
        ".*foo.*|.*bar.*|.*baz.*",
        ".*-.*-.*-.*-.*",
    ] {
        let m = FastRegexMatcher::new(p).unwrap();
        assert!(
            !m.strategy().contains("regex"),
            "{p:?} should not need the automaton, strategy {}",
            m.strategy()
        );
        assert!(m.is_optimized(), "{p:?}");
    }
    // And ones where only literal pre-checks (or nothing) apply.
    for (p, optimized) in [
        ("10\\.0\\.(1|2)\\.+", true),
        ("[a-z][a-z]", false),
        ("\\d*", false),
        (".", false),
        ("(?i)report.scheduled.job_runscheduledreports", true),
    ] {
        let m = FastRegexMatcher::new(p).unwrap();
        assert!(m.strategy().contains("regex"), "{p:?}: {}", m.strategy());
        assert_eq!(m.is_optimized(), optimized, "{p:?}: {}", m.strategy());
    }
}

#[test]
fn strategies_for_common_shapes() {
    let cases = [
        (".*", "true"),
        (".*?", "true"),
        ("(.*)", "true"),
        ("^.*$", "true"),
        (".+", "any-non-empty"),
        ("(?s:.+)", "any-non-empty"),
        ("", "empty"),
        ("^$", "empty"),
        ("^foo$", "equal"),
        ("a|b|c", "multi-slice"),
        ("(?i:foo)", "equal"),
        ("(?i:(foo1|foo2|bar))", "multi-slice"),
        (".*foo.*", "contains=\"foo\" accept"),
        (
            "(.+)foo(.*)",
            "contains=\"foo\" contains,any-non-empty,true",
        ),
        ("^.+foo", "suffix=\"foo\" suffix,any-non-empty"),
        ("foo-.*$", "prefix=\"foo-\" accept"),
        ("foo.?", "prefix=\"foo\" prefix,zero-or-one-char"),
        (".*foo", "suffix=\"foo\" accept"),
        ("(?i)foo.*", "prefix-fold=\"foo\" accept"),
        (".*foo.*|.*bar.*|.*baz.*", "contains,true,true"),
        ("(?-s:.*)", "any-without-newline"),
    ];
    for (p, want) in cases {
        assert_eq!(FastRegexMatcher::new(p).unwrap().strategy(), want, "{p:?}");
    }
    // 16 or more alternatives go into a hash map, prefixes included.
    let many = words().join("|");
    assert_eq!(
        FastRegexMatcher::new(&many).unwrap().strategy(),
        "multi-map"
    );
    let many_prefixes = format!(
        "(?i:({}))",
        words()
            .iter()
            .map(|w| format!("{w}.*"))
            .collect::<Vec<_>>()
            .join("|")
    );
    assert!(FastRegexMatcher::new(&many_prefixes)
        .unwrap()
        .strategy()
        .starts_with("multi-map"));
}

#[test]
fn set_matches_as_prometheus_finds_them() {
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("foo", Some(&["foo"])),
        ("^foo", Some(&["foo"])),
        ("^foo$", Some(&["foo"])),
        ("foo|bar|zz", Some(&["foo", "bar", "zz"])),
        ("foo|bar|baz", Some(&["foo", "bar", "baz"])),
        ("foo|bar|baz|(zz)", Some(&["foo", "bar", "baz", "zz"])),
        ("bar|b|buzz", Some(&["bar", "b", "buzz"])),
        ("^((bar|b|buzz))$", Some(&["bar", "b", "buzz"])),
        ("^(bar|b|buzz)$", Some(&["bar", "b", "buzz"])),
        ("^(?:prod|production)$", Some(&["prod", "production"])),
        ("(bar|b|b^uz$z)", None),
        ("^$|Running", None),
        ("fo\\.o|bar\\?|\\^baz", Some(&["fo.o", "bar?", "^baz"])),
        ("[abc]d", Some(&["ad", "bd", "cd"])),
        (
            "ABC|ABD|AEF|BCX|BCY",
            Some(&["ABC", "ABD", "AEF", "BCX", "BCY"]),
        ),
        (
            "api_(v1|prom)_push",
            Some(&["api_v1_push", "api_prom_push"]),
        ),
        (
            "(api|rpc)_(v1|prom)_push",
            Some(&[
                "api_v1_push",
                "api_prom_push",
                "rpc_v1_push",
                "rpc_prom_push",
            ]),
        ),
        (
            "(api|rpc)_(v1|prom)_(push|query)",
            Some(&[
                "api_v1_push",
                "api_v1_query",
                "api_prom_push",
                "api_prom_query",
                "rpc_v1_push",
                "rpc_v1_query",
                "rpc_prom_push",
                "rpc_prom_query",
            ]),
        ),
        (
            "[-1-2][a-c]",
            Some(&["-a", "-b", "-c", "1a", "1b", "1c", "2a", "2b", "2c"]),
        ),
        ("(.+)/(foo|bar)", None),
        ("fo.o|bar?|^baz", None),
        ("(?i)foo", None),
        ("(?i)foo|bar|baz", None),
        ("(api|rpc)_(v1|prom)_((?i)push|query)", None),
        ("api_v1_(?i)push", None),
        ("api|(?i)rpc", None),
        ("rpc|(?i)(?-i)api", Some(&["rpc", "api"])),
        ("(?i)((?-i)api|(?-i)rpc)", Some(&["api", "rpc"])),
        ("(?i)rpc|(?-i)api", None),
        ("(api|rpc)_[^0-9]", None),
        ("[a-z][a-z]", None),
        ("a|b", Some(&["a", "b"])),
    ];
    for (p, want) in cases {
        let m = FastRegexMatcher::new(p).unwrap();
        let got: Option<Vec<&str>> = m
            .set_matches()
            .map(|s| s.iter().map(String::as_str).collect());
        let mut got_sorted = got.clone();
        let mut want_sorted: Option<Vec<&str>> = want.map(|w| w.to_vec());
        // Order follows the pattern; the HIR may factor alternations differently from Go, so
        // compare as sets.
        if let Some(g) = got_sorted.as_mut() {
            g.sort_unstable();
        }
        if let Some(w) = want_sorted.as_mut() {
            w.sort_unstable();
        }
        assert_eq!(got_sorted, want_sorted, "{p:?} (got {got:?})");
        // Matching a set member and a near miss agrees with the automaton.
        let plain = plain_regex(p).unwrap();
        for v in want.iter().flat_map(|w| w.iter()) {
            assert!(m.matches(v) && plain.is_match(*v), "{p:?} {v:?}");
            let longer = format!("{v}x");
            assert_eq!(
                m.matches(&longer),
                plain.is_match(longer.as_str()),
                "{p:?} {longer:?}"
            );
        }
    }
}

#[test]
fn set_matches_size_limit() {
    let at_limit: Vec<String> = (0..MAX_SET_MATCHES - 1).map(|i| format!("v{i}")).collect();
    assert_eq!(
        FastRegexMatcher::new(&at_limit.join("|"))
            .unwrap()
            .set_matches()
            .map(<[String]>::len),
        Some(MAX_SET_MATCHES - 1)
    );
    let over: Vec<String> = (0..MAX_SET_MATCHES).map(|i| format!("v{i}")).collect();
    let m = FastRegexMatcher::new(&over.join("|")).unwrap();
    assert_eq!(m.set_matches(), None);
    assert!(m.matches("v255") && !m.matches("v256"));
    // Through the parser: a class product of 17 * 16 = 272 strings is too many.
    let m = FastRegexMatcher::new("[a-q][a-p]").unwrap();
    assert_eq!(m.set_matches(), None);
    let m = FastRegexMatcher::new("[a-p][a-p]").unwrap();
    assert_eq!(m.set_matches().map(<[String]>::len), Some(256));
}

#[test]
fn prefix_for_range_scans() {
    for (p, want) in [
        ("foo.*", Some("foo")),
        ("foo", Some("foo")),
        ("foo|foobar", Some("foo")),
        ("foo(bar|baz).*", Some("fooba")),
        (
            "(xyz-016a-ixb-dp.*|xyz-016a-ixb-op.*)",
            Some("xyz-016a-ixb-"),
        ),
        ("^release.*", Some("release")),
        (".*foo", None),
        ("(?i)foo.*", None),
        ("foo|bar", None),
        ("é.*|ê.*", None),
        (".*", None),
    ] {
        let m = FastRegexMatcher::new(p).unwrap();
        assert_eq!(m.prefix(), want, "{p:?}");
    }
}

#[test]
fn go_syntax_perl_classes_are_ascii() {
    let cases: &[(&str, &str, bool)] = &[
        ("\\d+", "123", true),
        ("\\d+", "١٢٣", false),
        ("\\w+", "abc_9", true),
        ("\\w+", "é", false),
        ("\\s", " ", true),
        ("\\s", "\u{b}", false),
        ("\\s", "\u{a0}", false),
        ("\\S", "\u{b}", true),
        ("\\D", "٣", true),
        ("\\W", "é", true),
        ("[\\d]", "٣", false),
        ("[^\\d]", "٣", true),
        ("[\\Wa]", "é", true),
        ("[\\s]", "\u{b}", false),
        ("a\\bé", "aé", true),
        ("é\\bx", "éx", true),
        ("é\\b", "é", false),
        ("é\\B", "é", true),
        ("(?i)\\w", "\u{212a}", true),
        ("(?i)\\W", "\u{212a}", false),
        ("[[:word:]]+", "ab_1", true),
        ("[[:space:]]", "\u{b}", true),
        ("\\pL+", "éa", true),
        ("(?i)K", "\u{212a}", true),
        ("x{2,3}", "xxx", true),
        ("a{1000}", &"a".repeat(1000), true),
    ];
    for (p, v, want) in cases {
        let m = FastRegexMatcher::new(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        assert_eq!(m.matches(v), *want, "{p:?} on {v:?}");
        assert_eq!(
            plain_regex(p).unwrap().is_match(*v),
            *want,
            "plain {p:?} on {v:?}"
        );
    }
}

#[test]
fn patterns_go_rejects_or_reads_differently_are_errors() {
    for p in [
        "(",
        "[",
        "a)",
        "*",
        "a**",
        "[a&&b]",
        "[a--b]",
        "[a~~b]",
        "[[a]]",
        "(?x)a b",
        "(?u)a",
        "(?R)a",
        "\\u0041",
        "\\U00000041",
        "a{,3}",
        "a{1001}",
        "a{2,1001}",
        "\\<",
        "\\b{start}",
        "\\p{gc=L}",
        "\\1",
        "\\Qa\\E",
        "[z-a]",
        "\\pX",
    ] {
        let e = FastRegexMatcher::new(p).expect_err(p);
        assert_eq!(e.pattern, p);
        assert!(!e.message.is_empty());
        assert!(plain_regex(p).is_err(), "{p:?}");
    }
}

/// A random pattern built from the pieces Prometheus' patterns are made of.
fn pattern_strategy() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        4 => "[a-cfoK-]{1,4}".prop_map(|s| s),
        1 => Just("\\.".to_string()),
        2 => Just(".".to_string()),
        3 => Just(".*".to_string()),
        2 => Just(".+".to_string()),
        1 => Just(".?".to_string()),
        1 => Just("(?-s:.)*".to_string()),
        1 => Just("(?-s:.+)".to_string()),
        1 => Just("[a-c]".to_string()),
        1 => Just("[^a]".to_string()),
        1 => Just("[Kk]".to_string()),
        1 => Just("^".to_string()),
        1 => Just("$".to_string()),
        1 => Just("x{2}".to_string()),
        1 => Just("\\d".to_string()),
    ];
    atom.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            3 => prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            2 => prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join("|")),
            1 => inner.clone().prop_map(|s| format!("({s})")),
            1 => inner.clone().prop_map(|s| format!("(?i:{s})")),
            1 => inner.clone().prop_map(|s| format!("(?:{s})+")),
            1 => inner.prop_map(|s| format!("(?:{s})?")),
        ]
    })
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(vec!['a', 'b', 'c', 'f', 'o', 'k', 'K', '-', '.', 'x', '1']),
            1 => prop::sample::select(vec!['\u{212a}', 'ſ', 's', 'S', '\n', 'é', 'A', 'O', 'F']),
        ],
        0..12,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn generated_patterns_agree_with_plain_regex(
        pattern in pattern_strategy(),
        values in prop::collection::vec(value_strategy(), 1..24),
    ) {
        let m = FastRegexMatcher::new(&pattern).unwrap();
        let plain = plain_regex(&pattern).unwrap();
        // \d is ASCII in Go; Rust's Unicode \d only differs on non-ASCII digits, which the
        // generated values do not contain, so the raw Rust regex must agree too.
        let raw = raw_regex(&pattern);
        for v in &values {
            let want = raw.is_match(v.as_str());
            prop_assert_eq!(plain.is_match(v.as_str()), want, "plain {:?} on {:?}", pattern, v);
            prop_assert_eq!(m.matches(v), want, "{:?} on {:?} ({})", pattern, v, m.strategy());
        }
        // Every member of a reported set matches; anything else matching is in the set.
        if let Some(set) = m.set_matches() {
            for s in set {
                prop_assert!(raw.is_match(s.as_str()), "{:?} set member {:?}", pattern, s);
            }
            for v in &values {
                if raw.is_match(v.as_str()) {
                    prop_assert!(set.contains(v), "{:?}: {:?} matches but not in set", pattern, v);
                }
            }
        }
        if let Some(prefix) = m.prefix() {
            for v in &values {
                if raw.is_match(v.as_str()) {
                    prop_assert!(v.starts_with(prefix), "{:?}: {:?} lacks prefix {:?}", pattern, v, prefix);
                }
            }
        }
    }
}
