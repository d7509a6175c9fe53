package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// levelVerbose sits between Debug and Info: knockd's -v lines (every
// stage of every knock), which a flood would otherwise turn into a flood
// of log lines.
const levelVerbose = slog.LevelDebug + 2

// LogOptions say where and how much the daemon logs.
type LogOptions struct {
	Verbose, Debug bool
	JSON           bool
	Stderr         io.Writer // nil: no terminal output (daemon mode)
	File           string    // knockd's LogFile
	Syslog         bool      // knockd's UseSyslog
}

// newLogger builds the daemon's logger; the returned closer flushes and
// closes the file and syslog connection.
func newLogger(o LogOptions) (*slog.Logger, io.Closer, error) {
	level := new(slog.LevelVar)
	switch {
	case o.Debug:
		level.Set(slog.LevelDebug)
	case o.Verbose:
		level.Set(levelVerbose)
	default:
		level.Set(slog.LevelInfo)
	}
	hopts := &slog.HandlerOptions{Level: level, ReplaceAttr: nameLevels}
	newHandler := func(w io.Writer) slog.Handler {
		if o.JSON {
			return slog.NewJSONHandler(w, hopts)
		}
		return slog.NewTextHandler(w, hopts)
	}
	var handlers []slog.Handler
	var closers multiCloser
	if o.Stderr != nil {
		handlers = append(handlers, newHandler(o.Stderr))
	}
	if o.File != "" {
		f, err := os.OpenFile(o.File, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to open log file: %w", err)
		}
		closers = append(closers, f)
		handlers = append(handlers, newHandler(f))
	}
	if o.Syslog {
		h, c, err := newSyslogHandler(hopts)
		if err != nil {
			closers.Close()
			return nil, nil, fmt.Errorf("failed to connect to syslog: %w", err)
		}
		closers = append(closers, c)
		handlers = append(handlers, h)
	}
	return slog.New(fanout(handlers)), closers, nil
}

func nameLevels(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey {
		if l, ok := a.Value.Any().(slog.Level); ok && l == levelVerbose {
			a.Value = slog.StringValue("VERBOSE")
		}
	}
	return a
}

// fanout sends every record to several handlers.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithAttrs(as)
	}
	return g
}

func (f fanout) WithGroup(name string) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithGroup(name)
	}
	return g
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
