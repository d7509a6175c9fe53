package firewalld

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// busConfig is a private message bus: a socket in the test's temporary
// directory, everything allowed, no activation, no link to the host's
// system bus.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=@SOCKET@</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow send_type="signal"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
`

// startBus starts a private dbus-daemon and returns its address. The
// daemon is killed (by its PID) when the test ends. Without dbus-daemon the
// test skips, or fails under CI=true.
func startBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		netlab.SkipOrFail(t, "dbus-daemon is not installed (apt-get install dbus-daemon): %v", err)
	}
	// A short directory: a unix socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "sesame-fwd-bus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(busConfig, "@SOCKET@", sock)), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "dbus-daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile", "--nosyslog")
	cmd.Stdout, cmd.Stderr = log, log
	// Pdeathsig: if the test binary dies without its cleanups (a panic),
	// the bus goes with it instead of lingering. The signal comes when the
	// thread that started the daemon ends, so that thread is locked and
	// kept until the daemon has gone: netlab ends the threads it uses to
	// enter namespaces, and one of those must not take the bus with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	started, done, release := make(chan error), make(chan struct{}), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err != nil {
			return
		}
		_ = cmd.Wait()
		close(done)
		<-release
	}()
	if err := <-started; err != nil {
		t.Fatalf("failed to start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		defer close(release)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	addr := "unix:path=" + sock
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dbus.Connect(addr)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case <-done:
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("dbus-daemon exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dbus-daemon does not answer on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connect opens a connection to the bus, closed when the test ends.
func connect(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	c, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("failed to connect to %s: %v", addr, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil && !errors.Is(err, dbus.ErrClosed) {
			t.Logf("closing bus connection: %v", err)
		}
	})
	return c
}
