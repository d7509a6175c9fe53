//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
	"github.com/sesame-knock/sesame/internal/privilege"
)

// Running as a service: interfaces that go away and come back, reloads,
// daemon mode (issue 6).

// startSesamedWith writes conf to a file and runs sesamed with args (the
// file's path is appended as -c) in the server namespace.
func startSesamedWith(t *testing.T, lab *netlab.Lab, conf string, args ...string) (*netlab.Proc, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "sesame.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := lab.Server.Start(t, logPath(t, dir, "sesamed"), bin(t, "sesamed"), append(args, "-c", path)...)
	if _, err := p.WaitLog("msg=ready", 10*time.Second); err != nil {
		t.Fatalf("sesamed did not become ready: %v", err)
	}
	return p, path
}

// waitCount waits until the log holds n lines containing substr.
func waitCount(t *testing.T, p *netlab.Proc, substr string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(p.Lines(substr)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines with %q after %v, want %d", len(p.Lines(substr)), substr, within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInterfaceComesBack: the server's interface is deleted while sesamed
// runs, and created again (same name, new index, same addresses): sesamed
// keeps running, captures on it again, and a knock then opens a real door.
// With -i all, the interface is also dropped from and added back to the
// set of interfaces captured.
func TestInterfaceComesBack(t *testing.T) {
	for _, mode := range []string{"named", "all"} {
		t.Run(mode, func(t *testing.T) {
			lab := netlab.New(t, netlab.Config{Clients: 2})
			lab.Server.Echo(t, nativePort)
			iface := lab.Server.IfName
			if mode == "all" {
				iface = "all"
			}
			d, _ := startSesamedWith(t, lab, fmt.Sprintf(guardConf, 30, ""), "-i", iface, "-v")
			if !strings.Contains(d.Lines("msg=ready")[0], "afpacket:"+lab.Server.IfName) {
				t.Fatalf("ready line does not name the capture on %s: %s", lab.Server.IfName, d.Lines("msg=ready")[0])
			}
			before, after := lab.Client(0), lab.Client(1)
			to := dst(lab.Server.V4)
			knockWith(t, before, lab.Server.V4.String(), "7000", "8000:udp", "9000")
			waitCount(t, d, `msg="door open"`, 1, 5*time.Second)
			mustConnect(t, before, before.V4, to, "after the first knock")

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := lab.Unplug(ctx, lab.Server); err != nil {
				t.Fatal(err)
			}
			want := "capture stopped; will reopen"
			if mode == "all" {
				want = "interfaces changed"
			}
			if _, err := d.WaitLog(want, 5*time.Second); err != nil {
				t.Fatalf("the interface's removal was not noticed: %v", err)
			}
			if d.Exited() {
				t.Fatal("sesamed exited when its interface went away")
			}
			if err := lab.Plug(ctx, lab.Server); err != nil {
				t.Fatal(err)
			}
			want = "capture reopened"
			if mode == "all" {
				want = "capture started"
			}
			if _, err := d.WaitLog(want, 5*time.Second); err != nil {
				t.Fatalf("the capture did not come back with the interface: %v", err)
			}
			waitCount(t, d, "addresses changed", 1, 5*time.Second)
			mustFiltered(t, after, after.V4, to, "from the second client before its knock")
			knockWith(t, after, lab.Server.V4.String(), "7000", "8000:udp", "9000")
			waitCount(t, d, `msg="door open"`, 2, 5*time.Second)
			mustConnect(t, after, after.V4, to, "after a knock on the interface that came back")
		})
	}
}

// TestReload: SIGHUP with a broken file keeps the running configuration
// (the error is logged with file:line, and its doors still open); SIGHUP
// with a good file puts the new sequence in force, and an attempt that was
// half way through an unchanged event survives the reload.
func TestReload(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 2})
	dir := t.TempDir()
	marker := func(name string) string { return filepath.Join(dir, name) }
	event := func(name, seq string) string {
		return fmt.Sprintf("[%s]\n\tSequence = %s\n\tSeq_Timeout = 60\n\tStart_Command = echo %%IP%% >> %s\n", name, seq, marker(name))
	}
	first := event("kept", "7000,8000,9000")
	d, conf := startSesamedWith(t, lab, first, "-i", lab.Server.IfName, "-v")
	halfway, other := lab.Client(0), lab.Client(1)
	srv := lab.Server.V4.String()

	// An attempt in progress: two of three knocks.
	knockWith(t, halfway, srv, "7000", "8000")
	waitCount(t, d, "stage 2/3", 1, 5*time.Second)

	// A broken file: the reload fails, with the error's place, and the
	// old configuration keeps working.
	broken := first + "[new]\n\tSequence = 6000,6500,soon\n"
	if err := os.WriteFile(conf, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line, err := d.WaitLog("reload failed", 5*time.Second)
	if err != nil {
		t.Fatalf("no reload failure logged: %v", err)
	}
	if !strings.Contains(line, conf+":6:") {
		t.Errorf("the reload error does not say where: %s", line)
	}
	if _, err := d.WaitLog("still running with the previous configuration", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	knockWith(t, other, srv, "7000", "8000", "9000")
	waitCount(t, d, "OPEN SESAME", 1, 5*time.Second)
	if d.Exited() {
		t.Fatal("sesamed exited on a broken reload")
	}

	// A good file: the kept event and a new one.
	if err := os.WriteFile(conf, []byte(first+event("new", "6000,6500,6900")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitLog("msg=reloaded", 5*time.Second); err != nil {
		t.Fatalf("no reload: %v", err)
	}
	carried := d.Lines("attempts in progress carried over")
	if len(carried) != 1 || !strings.Contains(carried[0], "carried=1") {
		t.Errorf("carried-over line: %q, want carried=1 (the half-way knock)", carried)
	}
	// The capture kept its socket and got the new ports in its filter.
	if _, err := d.WaitLog("capture filter replaced", 5*time.Second); err != nil {
		t.Errorf("no filter swap logged: %v", err)
	}
	// The new sequence works at once (the filter was swapped before the
	// reload was done), and the half-way attempt finishes with its last
	// knock.
	knockWith(t, other, srv, "6000", "6500", "6900")
	waitCount(t, d, "OPEN SESAME", 2, 5*time.Second)
	knockWith(t, halfway, srv, "9000")
	waitCount(t, d, "OPEN SESAME", 3, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		kept, _ := os.ReadFile(marker("kept"))
		fresh, _ := os.ReadFile(marker("new"))
		k, n := strings.Fields(string(kept)), strings.Fields(string(fresh))
		if len(k) == 2 && len(n) == 1 {
			if k[0] != other.V4.String() || k[1] != halfway.V4.String() || n[0] != other.V4.String() {
				t.Fatalf("doors opened for kept=%v new=%v, want kept=[%s %s] new=[%s]", k, n, other.V4, halfway.V4, other.V4)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("start commands ran for kept=%v new=%v", k, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDaemonMode: sesamed -d returns once the daemon is ready; the pid
// file names the live daemon; SIGTERM runs the pending stop command and
// removes the pid file.
func TestDaemonMode(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	dir := t.TempDir()
	started, stopped := filepath.Join(dir, "started"), filepath.Join(dir, "stopped")
	conf := filepath.Join(dir, "knockd.conf")
	pidFile := filepath.Join(dir, "sesamed.pid")
	logFile := filepath.Join(dir, "sesamed.log")
	text := fmt.Sprintf("[door]\n\tSequence = 7000,8000,9000\n\tStart_Command = touch %s\n\tCmd_Timeout = 600\n\tStop_Command = touch %s\n", started, stopped)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lab.Server.Run(ctx, bin(t, "sesamed"), "-d", "-c", conf, "-i", lab.Server.IfName, "-p", pidFile, "-g", logFile)
	if err != nil {
		t.Fatalf("sesamed -d: %v\n%s", err, out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("no pid file once sesamed -d returned: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file holds %q", b)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) }) // if the test fails half way
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || filepath.Base(exe) != "sesamed" {
		t.Fatalf("pid %d from the pid file is %q (%v), want a live sesamed", pid, exe, err)
	}
	if pgid, _ := syscall.Getpgid(pid); pgid != pid {
		t.Errorf("the daemon is not a session/group leader of its own (pgid %d): it did not detach", pgid)
	}
	knockWith(t, lab.Client(0), lab.Server.V4.String(), "7000", "8000", "9000")
	deadline := time.Now().Add(5 * time.Second)
	for _, err := os.Stat(started); err != nil; _, err = os.Stat(started) {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("the knock ran no start command; log:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not exit on SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(stopped); err != nil {
		t.Error("SIGTERM did not run the pending stop command")
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("the pid file outlived the daemon")
	}
}

// capSysAdmin is CAP_SYS_ADMIN, which root has and the daemon does not need.
const capSysAdmin = privilege.Cap(21)

// TestPrivilegesDropped: with native doors and no commands, sesamed keeps
// only CAP_NET_RAW and CAP_NET_ADMIN once set up, on every thread and in
// the bounding set, and still opens doors with them (TestInterfaceComesBack
// and TestReloadUDPCapture reopen captures with them); with commands
// configured it keeps what it was given, and says why.
func TestPrivilegesDropped(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	lab.Server.Echo(t, nativePort)
	d, _ := startSesamedWith(t, lab, fmt.Sprintf(guardConf, 30, ""), "-i", lab.Server.IfName)
	if _, err := d.WaitLog("privileges dropped", time.Second); err != nil {
		t.Fatalf("no drop logged: %v", err)
	}
	threads, err := privilege.ThreadsOf(d.Pid())
	if err != nil {
		t.Fatal(err)
	}
	want := privilege.SetOf(privilege.NetRaw, privilege.NetAdmin)
	if len(threads) < 2 {
		t.Errorf("only %d threads seen", len(threads))
	}
	for _, th := range threads {
		if th.Effective != want || th.Permitted != want || th.Bounding != want || th.Inheritable != 0 || th.Ambient != 0 {
			t.Errorf("thread %v, want eff=prm=bnd=%v and nothing inheritable or ambient", th, want)
		}
	}
	c := lab.Client(0)
	knockWith(t, c, lab.Server.V4.String(), "7000", "8000:udp", "9000")
	waitCount(t, d, `msg="door open"`, 1, 5*time.Second)
	mustConnect(t, c, c.V4, dst(lab.Server.V4), "after the knock, privileges dropped")

	// With a command, nothing is dropped.
	cmd, _ := startSesamedWith(t, lab, "[door]\n\tSequence = 7100,8100\n\tStart_Command = true\n", "-i", lab.Server.IfName)
	if _, err := cmd.WaitLog("keeping privileges: events run commands", time.Second); err != nil {
		t.Fatalf("no reason logged for keeping privileges: %v", err)
	}
	threads, err = privilege.ThreadsOf(cmd.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if th := threads[0]; !th.Effective.Has(capSysAdmin) || !th.Bounding.Has(capSysAdmin) {
		t.Errorf("with commands configured the daemon lost privileges: %v", th)
	}
}

// TestSystemdNotify: under systemd (NOTIFY_SOCKET set), sesamed says
// READY=1 once every capture is open, RELOADING=1 then READY=1 around a
// reload, and STOPPING=1 when it begins to shut down.
func TestSystemdNotify(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conf := filepath.Join(dir, "sesame.conf")
	if err := os.WriteFile(conf, []byte("[door]\n\tSequence = 7000,8000\n\tOpen = tcp:2222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := lab.Server.Start(t, logPath(t, dir, "sesamed"), "env", "NOTIFY_SOCKET="+sock, bin(t, "sesamed"), "-c", conf, "-i", lab.Server.IfName)
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v\nlog:\n%s", err, p.Log())
		}
		return string(buf[:n])
	}
	expect := func(prefix string) {
		t.Helper()
		for {
			m := next()
			if strings.HasPrefix(m, "STATUS=") {
				continue
			}
			if !strings.HasPrefix(m, prefix) {
				t.Fatalf("notification %q, want %s", m, prefix)
			}
			return
		}
	}
	expect("READY=1")
	if len(p.Lines("msg=ready")) != 1 {
		t.Fatal("READY=1 came before the ready line")
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	expect("RELOADING=1\nMONOTONIC_USEC=")
	expect("READY=1")
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect("STOPPING=1")
	if err := p.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestStatus: sesamed --status reads the running daemon's counters over
// its control socket: hits, doors opened and open, failures by reason,
// and the capture's packets.
func TestStatus(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 2})
	sock := filepath.Join(t.TempDir(), "control.sock")
	d, _ := startSesamedWith(t, lab, fmt.Sprintf(guardConf, 30, ""), "-i", lab.Server.IfName, "--control-socket", sock)
	good, bad := lab.Client(0), lab.Client(1)
	knockWith(t, good, lab.Server.V4.String(), "7000", "8000:udp", "9000")
	knockWith(t, bad, lab.Server.V4.String(), "7000", "8000:udp", "7500") // a probe at stage 2
	waitCount(t, d, `msg="door open"`, 1, 5*time.Second)
	waitCount(t, d, `msg="failed: wrong port"`, 1, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lab.Server.Run(ctx, bin(t, "sesamed"), "--status", "--control-socket", sock)
	if err != nil {
		t.Fatalf("sesamed --status: %v\n%s", err, out)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			fields[strings.Join(f[:len(f)-1], " ")] = f[len(f)-1]
		}
	}
	for k, want := range map[string]string{"doors opened": "1", "doors open": "1", "wrong_port": "1", "pending stop commands": "0", "reloads": "0"} {
		if fields[k] != want {
			t.Errorf("%s = %q, want %s\n%s", k, fields[k], want, out)
		}
	}
	if n, _ := strconv.Atoi(fields["hits"]); n < 5 {
		t.Errorf("hits = %q, want at least the 5 knocks\n%s", fields["hits"], out)
	}
	if !strings.Contains(string(out), "afpacket:"+lab.Server.IfName) {
		t.Errorf("the capture is not listed:\n%s", out)
	}
	// Nobody listening: one clear error line.
	out, err = lab.Server.Run(ctx, bin(t, "sesamed"), "--status", "--control-socket", sock+".none")
	if err == nil || !strings.Contains(string(out), "sesamed: error: no sesamed is running") {
		t.Errorf("--status with no daemon: %v\n%s", err, out)
	}
}

// TestReloadUDPCapture: with Capture = udp, a reload that changes the
// ports replaces the sockets before it takes over (a socket cannot take
// a new filter); one that would need a privilege the daemon gave up (a
// port below 1024) is refused, and the old sockets go on.
func TestReloadUDPCapture(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	lab.Server.Echo(t, nativePort)
	conf := func(seq string) string {
		return "[options]\n\tCapture = udp\n[door]\n\tSequence = " + seq + "\n\tOpen = tcp:2222\n"
	}
	d, path := startSesamedWith(t, lab, conf("7000:udp,8000:udp"), "-v")
	if _, err := d.WaitLog("privileges dropped", time.Second); err != nil {
		t.Fatal(err)
	}
	c := lab.Client(0)
	srv := lab.Server.V4.String()
	reload := func(text, want string, n int) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := d.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitCount(t, d, want, n, 5*time.Second)
	}
	reload(conf("53:udp,8000:udp"), "still running with the previous configuration", 1)
	if !strings.Contains(d.Log(), "cap_net_bind_service") {
		t.Errorf("the refusal does not name the privilege:\n%s", d.Log())
	}
	reload(conf("7100:udp,8100:udp"), "msg=reloaded", 1)
	knockWith(t, c, "-u", srv, "7100", "8100")
	waitCount(t, d, `msg="door open"`, 1, 5*time.Second)
	mustConnect(t, c, c.V4, dst(lab.Server.V4), "after a knock on the reloaded UDP ports")
}
