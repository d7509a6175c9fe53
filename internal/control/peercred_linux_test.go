//go:build linux

package control

import (
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// TestPeerCredRefused: a client that is neither root nor the daemon's user
// is refused even when it can reach the socket. Root only: the client is a
// thread of this test that takes another uid.
func TestPeerCredRefused(t *testing.T) {
	netlab.RequireRoot(t)
	path := sockPath(t)
	serve(t, path, nil)
	got, err := askAs(path, 65534)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"error":"permission denied: uid 65534 is neither root nor the daemon's user"}` + "\n"
	if string(got) != want {
		t.Errorf("reply to uid 65534 = %q, want %q", got, want)
	}
	if _, err := status(t, path); err != nil {
		t.Errorf("root is refused too: %v", err)
	}
}

// askAs sends "status\n" from a thread whose effective uid is uid, and
// returns the reply. The thread keeps root's file-system uid, so the 0600
// socket file lets it connect; what the daemon sees through SO_PEERCRED is
// the effective uid. The thread is locked and never unlocked, so it ends
// with its goroutine and its credentials go with it.
func askAs(path string, uid int) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ch <- func() result {
			if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), 0); e != 0 {
				return result{err: fmt.Errorf("setresuid(%d): %w", uid, e)}
			}
			unix.RawSyscall(unix.SYS_SETFSUID, 0, 0, 0)
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return result{err: err}
			}
			defer unix.Close(fd)
			tv := unix.Timeval{Sec: 5}
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
				return result{err: fmt.Errorf("connect as uid %d: %w", uid, err)}
			}
			// The daemon may refuse, and close, before this is written
			// (EPIPE); its reply is there to read all the same.
			unix.Write(fd, []byte("status\n"))
			var out []byte
			buf := make([]byte, 4096)
			for {
				n, err := unix.Read(fd, buf)
				if n > 0 {
					out = append(out, buf[:n]...)
				}
				if n <= 0 || err != nil {
					return result{b: out}
				}
			}
		}()
	}()
	r := <-ch
	return r.b, r.err
}
