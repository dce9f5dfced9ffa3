//! Fuzz body for the integer histogram chunk decoder and the resuming appender.

use chunkenc::{AppendOutcome, HistogramAppender, HistogramIterator};

/// Decodes `data` as integer histogram chunk bytes. Properties checked: no panic; at most as
/// many samples as the header announces; resuming an appender on `data` succeeds exactly when
/// every sample decodes; appending a copy of the last sample to the resumed appender, when it
/// is appendable, yields a chunk that decodes to the old samples plus that one.
pub fn histogram_chunk(data: &[u8]) {
    let Ok(mut it) = HistogramIterator::new(data) else {
        assert!(HistogramAppender::from_bytes(data.to_vec()).is_err());
        return;
    };
    let announced = it.num_samples();
    let mut samples = Vec::new();
    loop {
        match it.next() {
            Ok(true) => {
                let (t, h) = it.at_histogram();
                samples.push((t, h.clone()));
                let _ = it.at_float_histogram();
                assert!(
                    samples.len() <= announced,
                    "more samples than the header says"
                );
            }
            Ok(false) => break,
            Err(_) => {
                assert!(
                    HistogramAppender::from_bytes(data.to_vec()).is_err(),
                    "resumed a chunk that does not decode"
                );
                return;
            }
        }
    }
    assert_eq!(samples.len(), announced);
    let mut app = HistogramAppender::from_bytes(data.to_vec()).expect("decodable chunk resumes");
    let Some((t, h)) = samples.last().cloned() else {
        return;
    };
    let t = t.wrapping_add(15_000);
    if let Ok(AppendOutcome::Appended) = app.append_histogram(None, t, &h, false) {
        samples.push((t, h));
        assert_eq!(
            render(app.bytes()),
            render_samples(&samples),
            "resumed chunk decodes differently"
        );
    }
}

fn render_samples(samples: &[(i64, chunkenc::Histogram)]) -> Vec<String> {
    samples
        .iter()
        .map(|(t, h)| {
            // Hints are positional (first sample unknown, later ones not a reset); compare the rest.
            let h = chunkenc::Histogram {
                counter_reset_hint: chunkenc::CounterResetHint::Unknown,
                ..h.clone()
            };
            format!("{t} {h:?} {}", h.sum.to_bits())
        })
        .collect()
}

fn render(bytes: &[u8]) -> Vec<String> {
    let mut it = HistogramIterator::new(bytes).expect("own chunk has a header");
    let mut out = Vec::new();
    while it.next().expect("own chunk decodes") {
        let (t, h) = it.at_histogram();
        out.push((t, h.clone()));
    }
    render_samples(&out)
}
