// go-snappy: Go's snappy framing format, as Thanos' `snappy` gRPC compressor writes and reads
// it (a buffered framed writer per message, a framed reader), for the interop test
// storeapi/tests/grpc_snappy.rs. Reads stdin, writes stdout.
//
//	go-snappy -c   # compress
//	go-snappy -d   # decompress
package main

import (
	"flag"
	"io"
	"os"

	"github.com/golang/snappy"
)

func main() {
	compress := flag.Bool("c", false, "compress stdin")
	decompress := flag.Bool("d", false, "decompress stdin")
	flag.Parse()
	switch {
	case *compress:
		w := snappy.NewBufferedWriter(os.Stdout)
		if _, err := io.Copy(w, os.Stdin); err != nil {
			fail(err)
		}
		if err := w.Close(); err != nil {
			fail(err)
		}
	case *decompress:
		if _, err := io.Copy(os.Stdout, snappy.NewReader(os.Stdin)); err != nil {
			fail(err)
		}
	default:
		fail(io.ErrUnexpectedEOF)
	}
}

func fail(err error) {
	os.Stderr.WriteString(err.Error() + "\n")
	os.Exit(1)
}
