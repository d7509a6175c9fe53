//go:build !prometheus

package metrics

import (
	"context"
	"errors"
	"net"
	"testing"
)

// TestServeStub: a build without the prometheus tag says so, so the daemon
// can refuse a metrics listener at start-up with the reason.
func TestServeStub(t *testing.T) {
	t.Parallel()
	if Prometheus {
		t.Fatal("Prometheus = true in a build without the prometheus tag")
	}
	err := Serve(context.Background(), "127.0.0.1:0", func() Snapshot { return Snapshot{} })
	if !errors.Is(err, ErrNoPrometheus) {
		t.Fatalf("Serve = %v, want ErrNoPrometheus", err)
	}
	if want := "this sesamed was built without Prometheus support (go build -tags prometheus)"; err.Error() != want {
		t.Errorf("Serve error = %q, want %q", err, want)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ServeListener(context.Background(), ln, nil); !errors.Is(err, ErrNoPrometheus) {
		t.Errorf("ServeListener = %v, want ErrNoPrometheus", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Errorf("ServeListener left the listener open")
	}
}
