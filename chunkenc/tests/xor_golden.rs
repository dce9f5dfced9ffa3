//! Byte-exactness against Prometheus' own Go encoder (main, 3.14) for XOR and XOR2.
//!
//! `xor_golden.txt` holds sample sets (gauges, counters with start timestamps that change,
//! stale markers, special floats, 13/20/64-bit timestamp jumps, more than 127 samples) and the
//! chunks that Prometheus' `tsdb/chunkenc` wrote for them, including chunks where the Go code
//! resumed appending through `Chunk.Appender()` part-way. The Go program was a throwaway that
//! linked Prometheus' package; its output is the fixture.
//!
//! For every chunk we check: our appender writes the same bytes (resuming from the serialized
//! bytes at the same point), and our iterator decodes Prometheus' bytes to the input samples.

use chunkenc::{Xor2Appender, Xor2Chunk, Xor2Iterator, XorAppender, XorChunk, XorIterator};

struct Set {
    name: String,
    samples: Vec<(i64, i64, u64)>,
    chunks: Vec<(u8, i64, Vec<u8>)>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn parse() -> Vec<Set> {
    let text = include_str!("xor_golden.txt");
    let mut sets: Vec<Set> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "set" => sets.push(Set {
                name: f[1].to_string(),
                samples: Vec::new(),
                chunks: Vec::new(),
            }),
            "chunk" => sets.last_mut().unwrap().chunks.push((
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                hex(f[3]),
            )),
            _ => sets.last_mut().unwrap().samples.push((
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                u64::from_str_radix(f[2], 16).unwrap(),
            )),
        }
    }
    sets
}

fn encode_xor(samples: &[(i64, i64, u64)], resume_at: i64) -> Vec<u8> {
    let mut app = XorAppender::new();
    for (i, &(_, t, v)) in samples.iter().enumerate() {
        if i as i64 == resume_at {
            let bytes = app.into_chunk().into_bytes();
            app = XorChunk::from_bytes(bytes).unwrap().appender().unwrap();
        }
        app.append(t, f64::from_bits(v)).unwrap();
    }
    app.into_chunk().into_bytes()
}

fn encode_xor2(samples: &[(i64, i64, u64)], resume_at: i64) -> Vec<u8> {
    let mut app = Xor2Appender::new();
    for (i, &(st, t, v)) in samples.iter().enumerate() {
        if i as i64 == resume_at {
            let bytes = app.into_chunk().into_bytes();
            app = Xor2Chunk::from_bytes(bytes).unwrap().appender().unwrap();
        }
        app.append(st, t, f64::from_bits(v)).unwrap();
    }
    app.into_chunk().into_bytes()
}

#[test]
fn our_encoders_write_prometheus_bytes_and_decode_them() {
    let sets = parse();
    assert_eq!(sets.len(), 6);
    let mut checked = 0;
    for set in &sets {
        for (enc, resume_at, want) in &set.chunks {
            let what = format!("set {} encoding {enc} resumed at {resume_at}", set.name);
            match enc {
                1 => {
                    assert_eq!(encode_xor(&set.samples, *resume_at), *want, "{what}");
                    let mut it = XorIterator::new(want).unwrap();
                    for &(_, t, v) in &set.samples {
                        assert!(it.next().unwrap(), "{what}");
                        assert_eq!((it.at().0, it.at().1.to_bits()), (t, v), "{what}");
                    }
                    assert!(!it.next().unwrap(), "{what}");
                }
                4 => {
                    assert_eq!(encode_xor2(&set.samples, *resume_at), *want, "{what}");
                    let mut it = Xor2Iterator::new(want).unwrap();
                    for &(st, t, v) in &set.samples {
                        assert!(it.next().unwrap(), "{what}");
                        let got = (it.at_st(), it.at().0, it.at().1.to_bits());
                        assert_eq!(got, (st, t, v), "{what}");
                    }
                    assert!(!it.next().unwrap(), "{what}");
                }
                other => panic!("unexpected encoding {other}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 36);
}
