//go:build prometheus

package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Prometheus reports whether this build serves Prometheus metrics (built
// with -tags prometheus). Without it, net/http stays out of the daemon.
const Prometheus = true

// Serve serves GET /metrics on addr (host:port) until ctx ends; snap is
// called once per scrape.
func Serve(ctx context.Context, addr string, snap func() Snapshot) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen for Prometheus: %w", err)
	}
	return ServeListener(ctx, ln, snap)
}

// ServeListener is Serve on a listener the caller opened; it closes ln.
// It returns nil once ctx has ended and the server has shut down.
func ServeListener(ctx context.Context, ln net.Listener, snap func() Snapshot) error {
	srv := &http.Server{
		Handler:           handler(snap),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done, shut := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(shut)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		// Scrapes under way get a moment to finish; then they are cut.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	err := srv.Serve(ln)
	close(done)
	<-shut
	if errors.Is(err, http.ErrServerClosed) && ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("prometheus metrics server on %s failed: %w", ln.Addr(), err)
}

// handler answers GET and HEAD /metrics, and nothing else.
func handler(snap func() Snapshot) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var b bytes.Buffer
		if err := WritePrometheus(&b, snap()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		w.Write(b.Bytes())
	})
}
