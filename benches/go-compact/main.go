// go-compact: Prometheus 3.5's own LeveledCompactor merging given block directories, timed,
// for the side-by-side run of benches/benches/compaction.rs.
//
//	eval "$(../../../shared/tools/install-prometheus-go)"   # once
//	go build -o /tmp/go-compact . && /tmp/go-compact -reps 5 DIR/BLOCK1 DIR/BLOCK2 DIR/BLOCK3
//
// Each repetition compacts the blocks into a fresh temporary directory (the output is removed
// afterwards) and the best wall time is printed as one JSON line, with the output block's stats
// so that the peer can check both sides wrote the same samples.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/prometheus/tsdb"
)

func main() {
	reps := flag.Int("reps", 5, "repetitions (best is reported)")
	keep := flag.String("keep", "", "write the last repetition's output block into this directory and keep it")
	flag.Parse()
	dirs := flag.Args()
	if len(dirs) == 0 {
		fmt.Fprintln(os.Stderr, "usage: go-compact [-reps N] BLOCKDIR...")
		os.Exit(2)
	}
	ranges := tsdb.ExponentialBlockRanges(2*3600*1000, 10, 3)
	best := time.Duration(1<<63 - 1)
	var stats tsdb.BlockStats
	for i := 0; i < *reps; i++ {
		dest, err := os.MkdirTemp("", "go-compact-")
		check(err)
		if *keep != "" && i == *reps-1 {
			check(os.RemoveAll(dest))
			dest = *keep
			check(os.MkdirAll(dest, 0o777))
		}
		c, err := tsdb.NewLeveledCompactor(context.Background(), nil, nil, ranges, nil, nil)
		check(err)
		start := time.Now()
		uids, err := c.Compact(dest, dirs, nil)
		el := time.Since(start)
		check(err)
		if el < best {
			best = el
		}
		if len(uids) == 1 {
			b, err := tsdb.OpenBlock(nil, filepath.Join(dest, uids[0].String()), nil, nil)
			check(err)
			stats = b.Meta().Stats
			b.Close()
		}
		if dest != *keep {
			check(os.RemoveAll(dest))
		}
	}
	out, _ := json.Marshal(map[string]any{
		"bench":       "compact",
		"blocks":      len(dirs),
		"best_ms":     float64(best.Microseconds()) / 1000,
		"num_samples": stats.NumSamples,
		"num_series":  stats.NumSeries,
		"num_chunks":  stats.NumChunks,
	})
	fmt.Println(string(out))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
