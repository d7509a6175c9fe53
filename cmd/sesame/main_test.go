package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The CLI is tested as text: the real binary, run with arguments, its
// stdout, stderr and exit status compared with what a user would see.

var sesameBin string

// emptyHome is the home and configuration directory of the commands the
// tests run: empty, so no profiles file.
var emptyHome string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sesame-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sesameBin = filepath.Join(dir, "sesame")
	emptyHome = filepath.Join(dir, "home")
	if err := os.Mkdir(emptyHome, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if runtime.GOOS == "windows" {
		sesameBin += ".exe"
	}
	out, err := exec.Command("go", "build", "-o", sesameBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func sesame(t *testing.T, args ...string) result {
	t.Helper()
	return sesameWith(t, nil, "", args...)
}

// sesameWith runs sesame with env added to a clean environment and stdin
// as its standard input. The clean environment has no SESAME_ variables
// but a fresh, empty $SESAME_STATE_DIR, and a home and configuration
// directory of its own, empty, so that no profiles file or TOTP state of
// the user's can change what a test sees.
func sesameWith(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sesameBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESAME_") && !strings.HasPrefix(kv, "HOME=") &&
			!strings.HasPrefix(kv, "XDG_CONFIG_HOME=") && !strings.HasPrefix(kv, "AppData=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+emptyHome, "XDG_CONFIG_HOME="+emptyHome, "AppData="+emptyHome)
	// A TOTP state of the test's own (env can name another): each run
	// knocks the current step, whatever ran before.
	cmd.Env = append(cmd.Env, "SESAME_STATE_DIR="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running sesame %q: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

func (r result) check(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d", r.code, code)
	}
	if r.stdout != stdout {
		t.Errorf("stdout (-want +got):\n-%s\n+%s", stdout, r.stdout)
	}
	if r.stderr != stderr {
		t.Errorf("stderr (-want +got):\n-%s\n+%s", stderr, r.stderr)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"--help"}, {"--help", "host", "7000"}, {"-vh"}} {
		sesame(t, args...).check(t, 0, usage, "")
	}
	// Without arguments the help goes to stderr, as an error would.
	sesame(t).check(t, 2, "", usage)
}

func TestHelpText(t *testing.T) {
	t.Parallel()
	for i, line := range strings.Split(usage, "\n") {
		if len([]rune(line)) > 80 {
			t.Errorf("help line %d is longer than 80 columns: %q", i+1, line)
		}
	}
	for _, opt := range []string{"-u, --udp", "-d, --delay MS", "-4, --ipv4", "-6, --ipv6", "--source ADDR",
		"-v, --verbose", "-V, --version", "-h, --help"} {
		if !strings.Contains(usage, opt) {
			t.Errorf("help does not describe %s", opt)
		}
	}
	// Every example must be a command line sesame accepts.
	n := 0
	for _, line := range strings.Split(usage, "\n") {
		line = strings.TrimSpace(line)
		cmd, ok := strings.CutPrefix(line, "$ sesame ")
		if !ok {
			continue
		}
		cmd, _, _ = strings.Cut(cmd, " && ")
		n++
		if o, err := parse(strings.Fields(cmd), new(bytes.Buffer)); err != nil || o == nil {
			t.Errorf("example %q: %v", line, err)
		}
	}
	if n < 4 {
		t.Errorf("help has %d examples, want at least 4", n)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	want := regexp.MustCompile(`^sesame [0-9][^ ]* \(go[0-9][^)]*\)\n$`)
	for _, arg := range []string{"-V", "--version"} {
		r := sesame(t, arg, "host", "1")
		if r.code != 0 || r.stderr != "" || !want.MatchString(r.stdout) {
			t.Errorf("sesame %s: %+v, want stdout matching %s", arg, r, want)
		}
	}
	if r := sesame(t, "-V"); !strings.HasPrefix(r.stdout, "sesame 0.1.0-dev (go") {
		t.Errorf("sesame -V = %q, want sesame 0.1.0-dev (go...)", r.stdout)
	}
}

const helpHintLine = `sesame: hint: run "sesame --help" for the options and examples` + "\n"
const flagsWant = "want any of f s r p a u (FIN SYN RST PSH ACK URG), or x (all six), n (none) or i (ignore flags: a plain SYN) alone"
const orderHint = "sesame: hint: write the hosts first, then the ports: sesame HOST... PORT[:PROTO]...\n"

func TestMisuse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   string
		stderr string
	}{
		{"myserver", "sesame: error: no ports to knock after host \"myserver\"\n" + orderHint},
		{"h1 h2", "sesame: error: no ports to knock after host \"h2\"\n" + orderHint},
		{"7000 myserver", "sesame: error: missing host before port \"7000\"\n" + orderHint},
		{"h1 7000 h2 8000", "sesame: error: unexpected \"h2\" after the ports: hosts come first, then ports\n" + orderHint},
		{"-x myserver 7000", "sesame: error: unknown option -x\n" + helpHintLine},
		{"-vx myserver 7000", "sesame: error: unknown option -x\n" + helpHintLine},
		{"--udb myserver 7000", "sesame: error: unknown option --udb\n" + helpHintLine},
		{"myserver -1", "sesame: error: unknown option -1\nsesame: hint: ports are numbers from 1 to 65535, and options come before \"--\"\n"},
		{"myserver 7000 -d", "sesame: error: option -d needs a value\n" + helpHintLine},
		{"myserver 7000 --delay", "sesame: error: option --delay needs a value\n" + helpHintLine},
		{"-d soon myserver 7000", "sesame: error: invalid delay \"soon\": want a whole number of milliseconds, like -d 200\n"},
		{"-d 1.5 myserver 7000", "sesame: error: invalid delay \"1.5\": want a whole number of milliseconds, like -d 200\n"},
		{"-d -5 myserver 7000", "sesame: error: invalid delay \"-5\": it cannot be negative\n"},
		{"-d 9999999999999999 myserver 7000", "sesame: error: invalid delay \"9999999999999999\": too long\n"},
		{"-4 -6 myserver 7000", "sesame: error: -4 and -6 cannot be used together\nsesame: hint: give neither to use whichever family each host resolves to first\n"},
		{"--source myhost myserver 7000", "sesame: error: invalid --source address \"myhost\": want an IP address of this host, like 192.0.2.10\n"},
		{"-6 --source 127.0.0.1 myserver 7000", "sesame: error: --source 127.0.0.1 is not an IPv6 address, as -6 asks\n"},
		{"myserver 0", "sesame: error: port 0 in \"0\" is out of range: want 1 to 65535\n"},
		{"myserver 65536", "sesame: error: port 65536 in \"65536\" is out of range: want 1 to 65535\n"},
		{"myserver 7000:icmp", "sesame: error: invalid protocol \"icmp\" in \"7000:icmp\": want tcp or udp\n"},
		{"myserver tcp:ssh", "sesame: error: invalid port \"ssh\" in \"tcp:ssh\": want a number from 1 to 65535\n"},
		{"myserver:7000", "sesame: error: invalid port spec \"myserver:7000\": want PORT[:tcp|udp] or tcp|udp:PORT[:FLAGS], each its own argument\n"},
		{"myserver tcp:110:upz", "sesame: error: invalid flag \"z\" in \"tcp:110:upz\": " + flagsWant + "\n"},
		{"myserver tcp:110:xs", "sesame: error: invalid flags \"xs\" in \"tcp:110:xs\": x cannot be combined with other flags; " + flagsWant + "\n"},
		{"myserver tcp:110:in", "sesame: error: invalid flags \"in\" in \"tcp:110:in\": i cannot be combined with other flags; " + flagsWant + "\n"},
		{"myserver tcp:110:uu", "sesame: error: invalid flags \"uu\" in \"tcp:110:uu\": u given twice\n"},
		{"myserver udp:110:up", "sesame: error: invalid port spec \"udp:110:up\": flags are for tcp frames only\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			sesame(t, strings.Fields(tt.args)...).check(t, 2, "", tt.stderr)
		})
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   string
		stderr string
	}{
		{"nonexistent.invalid 7000", "sesame: error: failed to resolve \"nonexistent.invalid\": no such host\nsesame: hint: check the host name, or give its IP address\n"},
		{"-6 127.0.0.1 7000", "sesame: error: host \"127.0.0.1\" has no IPv6 address\nsesame: hint: leave out -4/-6 (or --source) to use the address family the host has\n"},
		{"-4 ::1 7000", "sesame: error: host \"::1\" has no IPv4 address\nsesame: hint: leave out -4/-6 (or --source) to use the address family the host has\n"},
		{"--source 192.0.2.77 127.0.0.1 9", "sesame: error: failed to knock tcp 127.0.0.1:9: bind 192.0.2.77: cannot assign requested address\nsesame: hint: --source must be one of this host's addresses (see \"ip address\")\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			if strings.Contains(tt.args, "--source") && runtime.GOOS != "linux" {
				t.Skip("errno text is Linux's")
			}
			sesame(t, strings.Fields(tt.args)...).check(t, 1, "", tt.stderr)
		})
	}
}

// udpPort gives a port on addr that only this test's socket uses, so that
// knocks land on the test, not on some service.
func udpPort(t *testing.T, addr string) (*net.UDPConn, uint16) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 0)))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no %s: %v", addr, err)
		}
		t.Skipf("no %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
}

// closedTCPPort gives a loopback port that was free a moment ago.
func closedTCPPort(t *testing.T, addr string) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no %s: %v", addr, err)
		}
		t.Skipf("no %s: %v", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).AddrPort().Port()
}

func TestVerbose(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			c, up := udpPort(t, host)
			tp := closedTCPPort(t, host)
			r := sesame(t, "-v", host, fmt.Sprint(tp), fmt.Sprintf("%d:udp", up), fmt.Sprintf("tcp:%d", tp))
			want := fmt.Sprintf("hitting tcp %s:%d\nhitting udp %s:%d\nhitting tcp %s:%d\n", host, tp, host, up, host, tp)
			r.check(t, 0, want, "")
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 16)
			if n, _, err := c.ReadFrom(buf); err != nil || !bytes.Equal(buf[:n], []byte{0}) {
				t.Errorf("UDP knock: %x, %v; want one zero byte", buf[:n], err)
			}
		})
	}
	// Quiet without -v, and -u makes bare ports UDP.
	c, up := udpPort(t, "127.0.0.1")
	sesame(t, "-u", "127.0.0.1", fmt.Sprint(up)).check(t, 0, "", "")
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := c.ReadFrom(make([]byte, 16)); err != nil {
		t.Errorf("sesame -u sent no datagram: %v", err)
	}
}

// TestSameAsKnock runs knockd's own knock client, when installed, with the
// same arguments, and compares what both print with -v.
func TestSameAsKnock(t *testing.T) {
	t.Parallel()
	knock, err := exec.LookPath("knock")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("knock (Debian package knockd) is not installed")
		}
		t.Skip("knock (Debian package knockd) is not installed")
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		_, up := udpPort(t, host)
		tp := closedTCPPort(t, host)
		args := []string{"-v", host, fmt.Sprint(tp), fmt.Sprintf("%d:udp", up), fmt.Sprintf("%d:tcp", tp)}
		out, err := exec.Command(knock, args...).Output()
		if err != nil {
			t.Fatalf("knock %q: %v", args, err)
		}
		sesame(t, args...).check(t, 0, string(out), "")
	}
}

// TestInterrupt checks that SIGINT during a delay stops sesame with one
// line and status 1.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	c, up := udpPort(t, "127.0.0.1")
	cmd := exec.Command(sesameBin, "-u", "-d", "60000", "127.0.0.1", fmt.Sprint(up), fmt.Sprint(up))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The first knock is sent at once; sesame then waits 60 s.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.ReadFrom(make([]byte, 16)); err != nil {
		t.Fatalf("no first knock: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sesame did not stop on SIGINT")
	}
	r := result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	r.check(t, 1, "", "sesame: error: interrupted\n")
}
