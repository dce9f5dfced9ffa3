//! Fuzz body for the XOR chunk decoder and the resuming appender.

use chunkenc::{XorChunk, XorIterator};

/// Decodes `data` as XOR chunk bytes. Properties checked: no panic; at most as many samples as
/// the header announces; if every sample decodes, re-encoding them decodes to the same samples,
/// and resuming an appender on `data` then appending one sample yields the old samples plus it.
pub fn xor_chunk(data: &[u8]) {
    let Ok(mut it) = XorIterator::new(data) else {
        return;
    };
    let announced = it.num_samples();
    let mut samples = Vec::new();
    loop {
        match it.next() {
            Ok(true) => {
                let (t, v) = it.at();
                samples.push((t, v.to_bits()));
                assert!(
                    samples.len() <= announced,
                    "more samples than the header says"
                );
            }
            Ok(false) => break,
            Err(_) => {
                // Resuming a chunk that does not decode must fail too.
                assert!(XorChunk::from_bytes(data.to_vec())
                    .unwrap()
                    .appender()
                    .is_err());
                return;
            }
        }
    }
    assert_eq!(samples.len(), announced);

    let mut app = XorChunk::new().appender().unwrap();
    for &(t, v) in &samples {
        app.append(t, f64::from_bits(v)).unwrap();
    }
    assert_eq!(decode(app.bytes()), samples, "re-encoded samples differ");

    let mut resumed = XorChunk::from_bytes(data.to_vec())
        .unwrap()
        .appender()
        .unwrap();
    let (t, v) = samples
        .last()
        .map_or((0, 0), |&(t, v)| (t.wrapping_add(15_000), v ^ 0x55));
    if resumed.append(t, f64::from_bits(v)).is_ok() {
        samples.push((t, v));
        assert_eq!(
            decode(resumed.bytes()),
            samples,
            "resumed chunk decodes differently"
        );
    }
}

fn decode(bytes: &[u8]) -> Vec<(i64, u64)> {
    let mut it = XorIterator::new(bytes).unwrap();
    let mut out = Vec::new();
    while it.next().unwrap() {
        out.push((it.at().0, it.at().1.to_bits()));
    }
    out
}
