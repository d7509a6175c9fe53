//go:build prometheus

package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestServe scrapes a real server on a loopback port.
func TestServe(t *testing.T) {
	if !Prometheus {
		t.Fatal("Prometheus = false in a build with the prometheus tag")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	scrapes := 0
	go func() {
		done <- ServeListener(ctx, ln, func() Snapshot { scrapes++; return sample() })
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}

	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	if got, want := resp.Header.Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	var want strings.Builder
	if err := WritePrometheus(&want, sample()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.String(), string(body)); diff != "" {
		t.Errorf("GET /metrics body (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodHead, "/metrics", http.StatusOK},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/metrics/x", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s = %s, want %d", tc.method, tc.path, resp.Status, tc.status)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener still running 10 s after its context ended")
	}
	if scrapes != 2 { // GET and HEAD
		t.Errorf("snap called %d times, want 2", scrapes)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Errorf("the port still accepts connections after shutdown")
	}
}

// TestServeAddrInUse: a port that cannot be had is an error at once.
func TestServeAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Serve(context.Background(), ln.Addr().String(), func() Snapshot { return Snapshot{} })
	if err == nil || !strings.Contains(err.Error(), "failed to listen for Prometheus") {
		t.Errorf("Serve on a taken port = %v, want a listen error", err)
	}
}
