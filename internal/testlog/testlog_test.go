package testlog

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x\n"))
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "x\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

func TestJSON(t *testing.T) {
	logger, logs := JSON(slog.LevelInfo)
	logger.Debug("hidden")
	logger.Info("shown", "k", "v")
	if s := logs.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown","k":"v"`) {
		t.Fatalf("logs: %s", s)
	}
}
