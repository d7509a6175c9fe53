//go:build !prometheus

package metrics

import (
	"context"
	"net"
)

// Prometheus reports whether this build serves Prometheus metrics (built
// with -tags prometheus). Without it, net/http stays out of the daemon, and
// a configuration that asks for a metrics listener is refused at start-up.
const Prometheus = false

// Serve returns ErrNoPrometheus: this build has no metrics server.
func Serve(ctx context.Context, addr string, snap func() Snapshot) error {
	return ErrNoPrometheus
}

// ServeListener closes ln and returns ErrNoPrometheus.
func ServeListener(ctx context.Context, ln net.Listener, snap func() Snapshot) error {
	ln.Close()
	return ErrNoPrometheus
}
