package app

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/testlog"
)

func TestLogDurationsAreGoDurations(t *testing.T) {
	var buf testlog.Buffer
	newLogger(&buf, slog.LevelInfo).Info("x", slog.Duration("cool_down", 5*time.Second),
		slog.Group("g", slog.Duration("d", 1500*time.Millisecond)), slog.Int("n", 3))
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(buf.String())), &m); err != nil {
		t.Fatal(err)
	}
	if m["cool_down"] != "5s" || m["g"].(map[string]any)["d"] != "1.5s" || m["n"] != float64(3) {
		t.Fatalf("logged %s", buf.String())
	}
}
