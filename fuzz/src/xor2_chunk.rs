//! Fuzz body for the XOR2 chunk decoder and the resuming appender.

use chunkenc::{Xor2Chunk, Xor2Iterator};

/// Decodes `data` as XOR2 chunk bytes. Properties checked: no panic; at most as many samples
/// as the header announces; if every sample decodes, re-encoding them (with their start
/// timestamps) decodes to the same samples, and resuming an appender on `data` then appending
/// one sample yields the old samples plus it.
pub fn xor2_chunk(data: &[u8]) {
    let Ok(mut it) = Xor2Iterator::new(data) else {
        return;
    };
    let announced = it.num_samples();
    let mut samples = Vec::new();
    loop {
        match it.next() {
            Ok(true) => {
                samples.push((it.at_st(), it.at().0, it.at().1.to_bits()));
                assert!(
                    samples.len() <= announced,
                    "more samples than the header says"
                );
            }
            Ok(false) => break,
            Err(_) => {
                assert!(Xor2Chunk::from_bytes(data.to_vec())
                    .unwrap()
                    .appender()
                    .is_err());
                return;
            }
        }
    }
    assert_eq!(samples.len(), announced);

    let mut app = Xor2Chunk::new().appender().unwrap();
    for &(st, t, v) in &samples {
        app.append(st, t, f64::from_bits(v)).unwrap();
    }
    assert_eq!(decode(app.bytes()), samples, "re-encoded samples differ");

    // A header that Prometheus never writes (ST change index past the end) cannot be resumed.
    let Ok(mut resumed) = Xor2Chunk::from_bytes(data.to_vec()).unwrap().appender() else {
        let first_change = data[2] & 0x7f;
        assert!(first_change as usize >= announced || first_change == 0 && announced > 127);
        return;
    };
    let (st, t, v) = samples.last().map_or((0, 0, 0), |&(st, t, v)| {
        (st, t.wrapping_add(15_000), v ^ 0x55)
    });
    if resumed.append(st, t, f64::from_bits(v)).is_ok() {
        samples.push((st, t, v));
        assert_eq!(
            decode(resumed.bytes()),
            samples,
            "resumed chunk decodes differently"
        );
    }
}

fn decode(bytes: &[u8]) -> Vec<(i64, i64, u64)> {
    let mut it = Xor2Iterator::new(bytes).unwrap();
    let mut out = Vec::new();
    while it.next().unwrap() {
        out.push((it.at_st(), it.at().0, it.at().1.to_bits()));
    }
    out
}
