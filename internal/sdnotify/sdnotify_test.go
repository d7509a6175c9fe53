//go:build unix

package sdnotify

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// listen opens a unixgram socket at addr (a path, or @abstract on Linux)
// and points $NOTIFY_SOCKET at it.
func listen(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("failed to listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv(EnvSocket, addr)
	return conn
}

// next is the next datagram queued on conn, without waiting: a datagram
// on a unix socket is in the receiver's queue once sendto returns, so
// whatever Notify sent is there when it returns.
func next(t *testing.T, conn *net.UnixConn) (string, bool) {
	t.Helper()
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, rerr := -1, error(nil)
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
		return true // never wait for more
	})
	if err != nil {
		t.Fatal(err)
	}
	if rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK {
		return "", false
	}
	if rerr != nil {
		t.Fatalf("failed to read the notify socket: %v", rerr)
	}
	return string(buf[:n]), true
}

func sendAll(t *testing.T) {
	t.Helper()
	for _, f := range []func() error{
		Ready, Stopping,
		func() error { return Status("listening on eth0\nREADY=1") },
		func() error { return MainPID(4242) },
		func() error { return Notify("WATCHDOG=1\nSTATUS=x") },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
}

var want = []string{
	"READY=1",
	"STOPPING=1",
	"STATUS=listening on eth0 READY=1",
	"MAINPID=4242",
	"WATCHDOG=1\nSTATUS=x",
}

func check(t *testing.T, conn *net.UnixConn) {
	t.Helper()
	sendAll(t)
	for i, w := range want {
		got, ok := next(t, conn)
		if !ok {
			t.Fatalf("datagram %d: nothing received, want %q", i, w)
		}
		if got != w {
			t.Errorf("datagram %d = %q, want %q", i, got, w)
		}
	}
	checkReloading(t, conn)
	if got, ok := next(t, conn); ok {
		t.Errorf("unexpected datagram %q", got)
	}
}

// checkReloading checks RELOADING=1 and that its MONOTONIC_USEC lies
// between two readings of the clock taken around it.
func checkReloading(t *testing.T, conn *net.UnixConn) {
	t.Helper()
	before := mustMonotonic(t)
	if err := Reloading(); err != nil {
		t.Fatal(err)
	}
	after := mustMonotonic(t)
	got, ok := next(t, conn)
	if !ok {
		t.Fatal("RELOADING=1 not received")
	}
	rest, found := strings.CutPrefix(got, "RELOADING=1\nMONOTONIC_USEC=")
	if !found {
		t.Fatalf("got %q, want RELOADING=1\\nMONOTONIC_USEC=N", got)
	}
	usec, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		t.Fatalf("got %q: MONOTONIC_USEC is not a number: %v", got, err)
	}
	if usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC=%d, want within [%d, %d]", usec, before, after)
	}
}

func mustMonotonic(t *testing.T) uint64 {
	t.Helper()
	usec, err := monotonicUsec()
	if err != nil {
		t.Fatal(err)
	}
	return usec
}

func TestNotifyPath(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	check(t, conn)
}

// TestNotifyUnset: without $NOTIFY_SOCKET nothing is sent and nothing
// fails, whatever is sent.
func TestNotifyUnset(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	t.Setenv(EnvSocket, "")
	sendAll(t)
	if err := Reloading(); err != nil {
		t.Fatal(err)
	}
	if got, ok := next(t, conn); ok {
		t.Errorf("sent %q with %s unset", got, EnvSocket)
	}
}

func TestNotifyErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, env string
		send      func() error
		want      string
	}{
		{"no listener", filepath.Join(dir, "absent.sock"), Ready, "failed to notify systemd"},
		{"vsock", "vsock:2:1234", Ready, `unsupported NOTIFY_SOCKET="vsock:2:1234"`},
		{"relative", "notify.sock", Stopping, "unsupported NOTIFY_SOCKET"},
		{"bad pid", filepath.Join(dir, "absent.sock"), func() error { return MainPID(0) }, "invalid MAINPID 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvSocket, tt.env)
			err := tt.send()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
