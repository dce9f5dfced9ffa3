//! Fuzz body for the float histogram chunk decoder and the resuming appender.

use chunkenc::{AppendOutcome, FloatHistogram, FloatHistogramAppender, FloatHistogramIterator};

/// Decodes `data` as float histogram chunk bytes, with the same properties as
/// [`crate::histogram_chunk::histogram_chunk`].
pub fn float_histogram_chunk(data: &[u8]) {
    let Ok(mut it) = FloatHistogramIterator::new(data) else {
        assert!(FloatHistogramAppender::from_bytes(data.to_vec()).is_err());
        return;
    };
    let announced = it.num_samples();
    let mut samples = Vec::new();
    loop {
        match it.next() {
            Ok(true) => {
                let (t, h) = it.at_float_histogram();
                samples.push((t, h.clone()));
                assert!(
                    samples.len() <= announced,
                    "more samples than the header says"
                );
            }
            Ok(false) => break,
            Err(_) => {
                assert!(
                    FloatHistogramAppender::from_bytes(data.to_vec()).is_err(),
                    "resumed a chunk that does not decode"
                );
                return;
            }
        }
    }
    assert_eq!(samples.len(), announced);
    let mut app =
        FloatHistogramAppender::from_bytes(data.to_vec()).expect("decodable chunk resumes");
    let Some((t, h)) = samples.last().cloned() else {
        return;
    };
    let t = t.wrapping_add(15_000);
    if let Ok(AppendOutcome::Appended) = app.append_float_histogram(None, t, &h, false) {
        samples.push((t, h));
        assert_eq!(
            render(app.bytes()),
            render_samples(&samples),
            "resumed chunk decodes differently"
        );
    }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn render_samples(samples: &[(i64, FloatHistogram)]) -> Vec<String> {
    samples
        .iter()
        .map(|(t, h)| {
            format!(
                "{t} {} {} {} {} {} {:?} {:?} {:?} {:?} {:?}",
                h.schema,
                h.zero_threshold.to_bits(),
                h.count.to_bits(),
                h.zero_count.to_bits(),
                h.sum.to_bits(),
                h.positive_spans,
                h.negative_spans,
                bits(&h.positive_buckets),
                bits(&h.negative_buckets),
                bits(&h.custom_values),
            )
        })
        .collect()
}

fn render(bytes: &[u8]) -> Vec<String> {
    let mut it = FloatHistogramIterator::new(bytes).expect("own chunk has a header");
    let mut out = Vec::new();
    while it.next().expect("own chunk decodes") {
        let (t, h) = it.at_float_histogram();
        out.push((t, h.clone()));
    }
    render_samples(&out)
}
