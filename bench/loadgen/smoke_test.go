//go:build smoke

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the whole load generator in --quick mode against a built
// tokengate. It needs bin/tokengate (make build) and about 15 seconds, so
// it is built only with -tags smoke: go test -tags smoke ./bench/loadgen
func TestSmoke(t *testing.T) {
	bin := os.Getenv("TOKENGATE_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "bin", "tokengate")
	}
	results := t.TempDir()
	o, err := parseFlags([]string{"--quick", "--tokengate", bin, "--results", results}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, o); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{"== 1. Throughput", "== 2. Cold burst", "== 3. Repeated inactive", "== 4. Flood", "== Summary", "results written to"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, name := range []string{"latest.md", "latest.svg"} {
		if fi, err := os.Stat(filepath.Join(results, name)); err != nil || fi.Size() == 0 {
			t.Errorf("results file %s: %v", name, err)
		}
	}
}
