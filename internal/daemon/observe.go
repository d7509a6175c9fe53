package daemon

// Observability: the counters the engine keeps, read over the local
// control socket (sesamed --status) and, in a build with -tags
// prometheus, served over HTTP for Prometheus.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sesame-knock/sesame/internal/control"
	"github.com/sesame-knock/sesame/internal/metrics"
)

// snapshot reads the counters and gauges now. Safe from any goroutine.
func (d *daemon) snapshot() metrics.Snapshot {
	now := time.Now()
	stats := d.feeds.stats()
	caps := make([]metrics.Capture, 0, len(stats))
	for key, st := range stats {
		caps = append(caps, metrics.Capture{Name: key, Packets: st.Packets, Drops: st.Drops, Undecodable: st.Undecodable})
	}
	slices.SortFunc(caps, func(a, b metrics.Capture) int { return strings.Compare(a.Name, b.Name) })
	pending := d.runner.Pending()
	return d.stats.Snapshot(now, metrics.State{
		Version: d.o.Version, Config: *d.source.Load(), Started: d.started,
		AttemptsInProgress: d.eng.active(),
		// Native doors until their timeout, and command doors until
		// their stop command has run.
		DoorsOpen:    d.open.Count(now) + pending,
		PendingStops: pending,
		Captures:     caps,
	})
}

// serveObservers opens the control socket and, when asked, the Prometheus
// listener, before the daemon says it is ready. A control socket another
// live sesamed answers on is not fatal (knockd runs one daemon per
// interface, and so may sesamed): this one then runs without one.
func (d *daemon) serveObservers(ctx context.Context, wg *sync.WaitGroup) error {
	path := d.o.ControlSocket
	if path == "" {
		path = control.DefaultSocket
	}
	var srv *control.Server
	if path != NoControlSocket {
		var err error
		srv, err = control.Listen(path)
		switch {
		case err == nil:
		case errors.Is(err, control.ErrInUse) || path == control.DefaultSocket:
			// Another daemon's socket, or no /run to write in (not root).
			d.log.Warn("no control socket: sesamed --status cannot reach this daemon", "err", err, "hint", "give each sesamed its own --control-socket PATH")
		default:
			return fmt.Errorf("failed to open the control socket: %w", err)
		}
	}
	var ln net.Listener
	if d.o.MetricsListen != "" {
		var err error
		if !metrics.Prometheus {
			err = fmt.Errorf("--metrics %s: %w", d.o.MetricsListen, metrics.ErrNoPrometheus)
		} else if ln, err = net.Listen("tcp", d.o.MetricsListen); err != nil {
			err = fmt.Errorf("failed to serve metrics: %w", err)
		}
		if err != nil {
			if srv != nil {
				srv.Close()
			}
			return err
		}
	}
	if srv != nil {
		srv.Log = d.log
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ctx, control.Handler{Status: d.snapshot}); err != nil {
				d.log.Error("control socket stopped", "err", err)
			}
		}()
	}
	if ln != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := metrics.ServeListener(ctx, ln, d.snapshot); err != nil {
				d.log.Error("metrics server stopped", "err", err)
			}
		}()
		d.log.Info("serving metrics for Prometheus", "addr", "http://"+ln.Addr().String()+"/metrics")
	}
	return nil
}

// NoControlSocket as Options.ControlSocket runs without one.
const NoControlSocket = "none"
