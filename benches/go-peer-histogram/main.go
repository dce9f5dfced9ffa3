// Command go-peer-histogram times Prometheus' own histogram chunk code (tsdb/chunkenc of the
// installed Prometheus source) on exactly the data of our criterion bench
// benches/benches/chunkenc_histogram.rs: 12,000 counter histograms (schema 3, 20 positive
// buckets in two spans) in 120-sample chunks. It prints one JSON line per measurement
// (best of -reps wall-clock runs, ns per sample) and an FNV-1a checksum of the encoded bytes, which
// our bench prints too (CHUNKENC_HISTOGRAM_PEER=1), so both sides provably used the same data
// and produced the same chunks.
//
//	eval "$(shared/tools/install-prometheus-go)"
//	go build -o /tmp/go-peer-histogram ./benches/go-peer-histogram && /tmp/go-peer-histogram
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

const (
	samples  = 12000
	perChunk = 120
)

type splitMix64 struct{ s uint64 }

func (r *splitMix64) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

type sample struct {
	t int64
	h *histogram.Histogram
}

// intSamples mirrors int_samples() of the Rust bench draw for draw.
func intSamples() []sample {
	r := &splitMix64{42}
	var abs [20]uint64
	var zero uint64
	sum := 0.0
	t := int64(1_700_000_000_000)
	out := make([]sample, 0, samples)
	for i := 0; i < samples; i++ {
		for j := range abs {
			abs[j] += r.next() % 50
		}
		zero += r.next() % 5
		sum += float64(r.next()%10000) / 7.0
		t += 15000 + int64(r.next()%21) - 10
		buckets := make([]int64, 20)
		prev := int64(0)
		total := zero
		for j, c := range abs {
			buckets[j] = int64(c) - prev
			prev = int64(c)
			total += c
		}
		out = append(out, sample{t, &histogram.Histogram{
			Schema:          3,
			ZeroThreshold:   math.Ldexp(1, -128),
			ZeroCount:       zero,
			Count:           total,
			Sum:             sum,
			PositiveSpans:   []histogram.Span{{Offset: -4, Length: 12}, {Offset: 3, Length: 8}},
			PositiveBuckets: buckets,
		}})
	}
	return out
}

func floatSamples(ints []sample) ([]int64, []*histogram.FloatHistogram) {
	ts := make([]int64, len(ints))
	fs := make([]*histogram.FloatHistogram, len(ints))
	for i, s := range ints {
		f := s.h.ToFloat(nil)
		for j := range f.PositiveBuckets {
			f.PositiveBuckets[j] *= 0.37
		}
		ts[i], fs[i] = s.t, f
	}
	return ts, fs
}

func encodeInt(ss []sample) [][]byte {
	var out [][]byte
	for i := 0; i < len(ss); i += perChunk {
		c := chunkenc.NewHistogramChunk()
		app, _ := c.Appender()
		for _, s := range ss[i:min(i+perChunk, len(ss))] {
			if nc, _, _, err := app.AppendHistogram(nil, s.t, s.h, false); err != nil || nc != nil {
				panic("unexpected cut")
			}
		}
		out = append(out, c.Bytes())
	}
	return out
}

func encodeFloat(ts []int64, fs []*histogram.FloatHistogram) [][]byte {
	var out [][]byte
	for i := 0; i < len(fs); i += perChunk {
		c := chunkenc.NewFloatHistogramChunk()
		app, _ := c.Appender()
		for k := i; k < min(i+perChunk, len(fs)); k++ {
			if nc, _, _, err := app.AppendFloatHistogram(nil, ts[k], fs[k], false); err != nil || nc != nil {
				panic("unexpected cut")
			}
		}
		out = append(out, c.Bytes())
	}
	return out
}

func checksum(chunks [][]byte) (uint64, int) {
	h := fnv.New64a()
	n := 0
	for _, c := range chunks {
		h.Write(c)
		n += len(c)
	}
	return h.Sum64(), n
}

func best(reps int, f func()) float64 {
	bestD := time.Duration(math.MaxInt64)
	for i := 0; i < reps; i++ {
		start := time.Now()
		f()
		if d := time.Since(start); d < bestD {
			bestD = d
		}
	}
	return float64(bestD.Nanoseconds()) / samples
}

var sink float64

func main() {
	reps := flag.Int("reps", 7, "runs per measurement; the best is reported")
	flag.Parse()
	ints := intSamples()
	ts, fs := floatSamples(ints)
	intChunks := encodeInt(ints)
	floatChunks := encodeFloat(ts, fs)
	emit := func(name string, ns float64, chunks [][]byte) {
		sum, n := checksum(chunks)
		line, _ := json.Marshal(map[string]any{
			"bench": name, "ns_per_sample": ns, "bytes_per_sample": float64(n) / samples,
			"checksum": fmt.Sprintf("%016x", sum),
		})
		fmt.Println(string(line))
	}
	emit("encode_int", best(*reps, func() { encodeInt(ints) }), intChunks)
	emit("encode_float", best(*reps, func() { encodeFloat(ts, fs) }), floatChunks)
	var it chunkenc.Iterator
	var h *histogram.Histogram
	emit("decode_int", best(*reps, func() {
		for _, b := range intChunks {
			c, _ := chunkenc.FromData(chunkenc.EncHistogram, b)
			it = c.Iterator(it)
			for it.Next() == chunkenc.ValHistogram {
				_, h = it.AtHistogram(h)
				sink += float64(h.Count)
			}
		}
	}), intChunks)
	var fh *histogram.FloatHistogram
	emit("decode_float", best(*reps, func() {
		for _, b := range floatChunks {
			c, _ := chunkenc.FromData(chunkenc.EncFloatHistogram, b)
			it = c.Iterator(it)
			for it.Next() == chunkenc.ValFloatHistogram {
				_, fh = it.AtFloatHistogram(fh)
				sink += fh.Count
			}
		}
	}), floatChunks)
	if sink == 42 {
		os.Exit(1)
	}
}
