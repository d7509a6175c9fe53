package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sesame-knock/sesame/internal/metrics"
)

// sockPath is a socket path in a fresh directory, short enough for
// sun_path whatever the test's name.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sesame-control-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "run", "control.sock")
}

func snapshot() metrics.Snapshot {
	var c metrics.Counters
	c.Hit()
	c.Opened()
	c.Fail(metrics.WrongPort)
	started := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	return c.Snapshot(started.Add(time.Hour), metrics.State{
		Version: "v0.4.0", Config: "/etc/knockd.conf", Started: started,
		AttemptsInProgress: 3, DoorsOpen: 1, PendingStops: 1,
		Captures: []metrics.Capture{{Name: "eth0", Packets: 10, Drops: 1, Undecodable: 2}},
	})
}

// serve starts a server on path answering with snapshot(); it stops when
// the test ends.
func serve(t *testing.T, path string, tune func(*Server)) (*Server, *atomic.Int64) {
	t.Helper()
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var calls atomic.Int64
	go func() {
		done <- s.Serve(ctx, Handler{Status: func() metrics.Snapshot { calls.Add(1); return snapshot() }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v, want nil after its context ended", err)
		}
	})
	return s, &calls
}

func status(t *testing.T, path string) (metrics.Snapshot, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Status(ctx, path)
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket file mode = %v, want a socket, 0600", fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o755 {
		t.Errorf("socket directory mode = %v (%v), want 0755", di.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, Handler{Status: snapshot}) }()

	got, err := status(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snapshot(), got); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still there after Serve returned: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	_, err = status(t, path)
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("Status after shutdown = %v, want ErrNotRunning", err)
	}
}

// TestRawProtocol speaks the protocol by hand, as a person with socat
// would.
func TestRawProtocol(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	serve(t, path, nil)
	want, _ := json.Marshal(snapshot())
	tests := []struct {
		name, send string
		want       string
	}{
		{"status", "status\n", string(want) + "\n"},
		{"status CRLF", "status\r\n", string(want) + "\n"},
		{"trailing data ignored", "status\nstatus\n", string(want) + "\n"},
		{"unknown", "reload\n", `{"error":"unknown request \"reload\" (want \"status\")"}` + "\n"},
		{"empty", "\n", `{"error":"empty request (want \"status\")"}` + "\n"},
		{"binary", "\x00\xff\n", `{"error":"unknown request (want \"status\")"}` + "\n"},
		{"oversize", strings.Repeat("s", 4096), `{"error":"request too long (at most 128 bytes with its line feed)"}` + "\n"},
		{"just too long", strings.Repeat("s", MaxRequest) + "\n", `{"error":"request too long (at most 128 bytes with its line feed)"}` + "\n"},
		{"hang up early", "stat", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.send)
			c.(*net.UnixConn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("reply to %q = %q, want %q", tc.send, got, tc.want)
			}
		})
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// A daemon that died leaves its socket file behind.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := status(t, path); !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "nothing answers") {
		t.Errorf("Status on a stale socket = %v, want ErrNotRunning, nothing answers", err)
	}
	serve(t, path, nil)
	if _, err := status(t, path); err != nil {
		t.Errorf("Status after replacing the stale socket: %v", err)
	}
}

func TestLiveSocketRefused(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	serve(t, path, nil)
	_, err := Listen(path)
	if want := "another sesamed is running (control socket " + path + " answers)"; err == nil || err.Error() != want {
		t.Fatalf("second Listen = %v, want %q", err, want)
	}
	if _, err := status(t, path); err != nil {
		t.Errorf("the first daemon no longer answers: %v", err)
	}
}

func TestNotASocketKept(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(path)
	if err == nil || !strings.Contains(err.Error(), "is not a socket (not removing it)") {
		t.Errorf("Listen over a regular file = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Errorf("the file was changed: %q", b)
	}
	if _, err := status(t, path); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Status on a regular file = %v, want ErrNotRunning", err)
	}
}

func TestPathTooLong(t *testing.T) {
	t.Parallel()
	_, err := Listen("/tmp/" + strings.Repeat("x", 200) + "/control.sock")
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("Listen = %v, want a path too long error", err)
	}
}

// TestCloseKeepsAnothersSocket: a server whose file was replaced does not
// remove the new one on Close.
func TestCloseKeepsAnothersSocket(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	other, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed the other server's socket: %v", err)
	}
}

// TestSlowClient: a client that connects and says nothing is cut off at
// the deadline, and does not hold its slot for longer.
func TestSlowClient(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	serve(t, path, func(s *Server) { s.Timeout = 200 * time.Millisecond; s.MaxConns = 1 })
	slow, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	// With one slot, this waits for the slow client's deadline.
	if _, err := status(t, path); err != nil {
		t.Fatalf("Status behind a slow client: %v", err)
	}
	slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := slow.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		t.Errorf("slow client read = %d, %v; want the server to have closed it (EOF)", n, err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the slow client held the server for %v", d)
	}
}

// TestConcurrent: many clients at once, with a small connection limit,
// all get their answer.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	_, calls := serve(t, path, func(s *Server) { s.MaxConns = 3 })
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := status(t, path)
			if err == nil && s.Hits != 1 {
				err = errors.New("wrong snapshot")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := calls.Load(); got != n {
		t.Errorf("handler called %d times, want %d", got, n)
	}
}

// TestStatusTimeout: a daemon that accepts and never answers is reported
// as not answering, at the caller's deadline.
func TestStatusTimeout(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	os.MkdirAll(filepath.Dir(path), 0o755)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = Status(ctx, path)
	if want := "sesamed did not answer on " + path + " in time"; err == nil || err.Error() != want {
		t.Errorf("Status = %v, want %q", err, want)
	}
}

// TestStatusErrors pins the messages a person sees.
func TestStatusErrors(t *testing.T) {
	t.Parallel()
	const p = "/run/sesamed/control.sock"
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name string
		err  error
		is   error
		want string
	}{
		{"missing", opErr(syscall.ENOENT), ErrNotRunning, "no sesamed is running (/run/sesamed/control.sock: no such file)"},
		{"stale", opErr(syscall.ECONNREFUSED), ErrNotRunning, "no sesamed is running (/run/sesamed/control.sock: nothing answers; the socket is left from a daemon that stopped)"},
		{"access", opErr(syscall.EACCES), ErrPermission, "permission denied: run as root (/run/sesamed/control.sock)"},
		{"perm", opErr(syscall.EPERM), ErrPermission, "permission denied: run as root (/run/sesamed/control.sock)"},
		{"not a socket", opErr(syscall.ENOTSOCK), ErrNotRunning, "no sesamed is running (/run/sesamed/control.sock is not a socket)"},
		{"other", opErr(syscall.EMFILE), nil, "failed to reach sesamed on /run/sesamed/control.sock: dial unix: connect: too many open files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := dialError(p, tc.err)
			if err.Error() != tc.want {
				t.Errorf("message = %q, want %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
	// And for real: no file.
	_, err := status(t, filepath.Join(t.TempDir(), "none.sock"))
	if !errors.Is(err, ErrNotRunning) || !strings.HasSuffix(err.Error(), "none.sock: no such file)") {
		t.Errorf("Status without a socket = %v", err)
	}
}

// TestRefusalReply: a daemon's "permission denied" reply is ErrPermission
// for the caller.
func TestRefusalReply(t *testing.T) {
	t.Parallel()
	path := sockPath(t)
	os.MkdirAll(filepath.Dir(path), 0o755)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		writeError(c, "permission denied: uid 1000 is neither root nor the daemon's user")
		c.Close()
	}()
	_, err = status(t, path)
	want := "permission denied: run as root (sesamed on " + path + " says: permission denied: uid 1000 is neither root nor the daemon's user)"
	if !errors.Is(err, ErrPermission) || err.Error() != want {
		t.Errorf("Status = %v, want %q", err, want)
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		uid, self int
		want      bool
	}{
		{0, 0, true},
		{1000, 0, false},
		{0, 1000, true},
		{1000, 1000, true},
		{1001, 1000, false},
		{65534, 0, false},
	}
	for _, tc := range tests {
		if got := allowed(tc.uid, tc.self); got != tc.want {
			t.Errorf("allowed(peer %d, daemon %d) = %v, want %v", tc.uid, tc.self, got, tc.want)
		}
	}
}
