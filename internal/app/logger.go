package app

import (
	"io"
	"log/slog"
)

// newLogger is the process's JSON logger on w (stderr): one line per
// record, durations written as Go durations ("5s") rather than the
// handler's default nanoseconds, so a log line reads like the config.
func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsText}))
}

func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
