//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	netlab.SkipOrFail(t, format, args...)
}

const (
	doorPort   = 2222
	seqTimeout = 5 // s
	cmdTimeout = 3 // s

	// filteredWithin is how long a connect may take before it counts as
	// "failed": the drop rule eats the SYN, so it simply times out.
	filteredWithin = 500 * time.Millisecond
)

// daemon is a knock daemon under test, started in the lab's server namespace.
type daemon struct {
	name  string
	args  func(conf, iface string) []string
	ready string // a log line containing this says every capture is open
	// openSrc picks the knocker's address out of an "OPEN SESAME" line.
	openSrc func(line string) (netip.Addr, bool)
	// short lists the tests (by top-level name) where this daemon is known
	// not to meet sesame's spec: their failures become findings, not errors.
	short map[string]string
}

var srcField = regexp.MustCompile(`\bsrc="?([0-9a-fA-F.:]+)`)

var daemons = []*daemon{
	{
		name:  "sesamed",
		args:  func(conf, iface string) []string { return []string{"-c", conf, "-i", iface, "-v"} },
		ready: "msg=ready",
		openSrc: func(line string) (netip.Addr, bool) {
			m := srcField.FindStringSubmatch(line)
			if m == nil {
				return netip.Addr{}, false
			}
			a, err := netip.ParseAddr(m[1])
			return a, err == nil
		},
	},
	{
		name: "knockd",
		// -v: knockd prints "listening on IF..." and every stage and
		// "ADDR: EVENT: OPEN SESAME" on stdout (no LogFile, no syslog).
		args:  func(conf, iface string) []string { return []string{"-c", conf, "-i", iface, "-v"} },
		ready: "listening on",
		openSrc: func(line string) (netip.Addr, bool) {
			i := strings.Index(line, ": ")
			if i < 0 {
				return netip.Addr{}, false
			}
			a, err := netip.ParseAddr(line[:i])
			return a, err == nil
		},
		// What Debian's knockd 0.8 was seen to do in this lab (see the
		// findings these produce when the tests run).
		short: map[string]string{
			"TestKnockTwice":       "knockd 0.8 fails an attempt on a repeated knock: 7000 7000 8000 … stops at Stage 1",
			"TestScanOpensNothing": "knockd 0.8 filters only the sequence ports, so a sequential scan is a valid knock",
			"TestManySources":      "knockd 0.8 drops concurrent attempts: once one source opens, the others' last knocks are ignored",
			"TestStopOnSIGTERM":    "knockd 0.8 on SIGTERM waits for its sleeping stop-command children, i.e. for Cmd_Timeout",
		},
	},
}

// event is one [section] of a knockd.conf.
type event struct {
	Name       string
	Sequence   string
	SeqTimeout int
	TCPFlags   string
	CmdTimeout int
	Start      string
	Stop       string
	Start6     string
	Stop6      string
}

func (e event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s]\n", e.Name)
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "\t%-16s = %s\n", k, v)
		}
	}
	kv("Sequence", e.Sequence)
	if e.SeqTimeout > 0 {
		kv("Seq_Timeout", fmt.Sprint(e.SeqTimeout))
	}
	kv("TCPFlags", e.TCPFlags)
	kv("Start_Command", e.Start)
	kv("Start_Command_6", e.Start6)
	if e.CmdTimeout > 0 {
		kv("Cmd_Timeout", fmt.Sprint(e.CmdTimeout))
	}
	kv("Stop_Command", e.Stop)
	kv("Stop_Command_6", e.Stop6)
	return b.String()
}

// scene is one daemon guarding one door in a fresh lab.
type scene struct {
	t     *testing.T
	d     *daemon
	lab   *netlab.Lab
	door  *netlab.Door
	proc  *netlab.Proc
	ev    event
	judge judge
}

// doorEvent is the usual event: the sequence opens the door (IPv4 and IPv6)
// for Cmd_Timeout.
func doorEvent(door *netlab.Door, sequence string) event {
	return event{
		Name: "door", Sequence: sequence, SeqTimeout: seqTimeout, TCPFlags: "syn",
		CmdTimeout: cmdTimeout,
		Start:      door.StartCommand(), Stop: door.StopCommand(),
		Start6: door.StartCommand6(), Stop6: door.StopCommand6(),
	}
}

// newScene builds a lab with a door on doorPort, writes a knockd.conf with
// the event that edit returns (from doorEvent(door, sequence)), starts the
// daemon on the server's interface and waits until it is ready.
func newScene(t *testing.T, d *daemon, cfg netlab.Config, sequence string, edit func(*event)) *scene {
	t.Helper()
	path := bin(t, d.name)
	lab := netlab.New(t, cfg)
	door := lab.Server.Protect(t, doorPort)
	ev := doorEvent(door, sequence)
	if edit != nil {
		edit(&ev)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "knockd.conf")
	text := "# written by sesame's e2e tests\n[options]\n\tInterface = " + lab.Server.IfName + "\n\n" + ev.String()
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	logfile := filepath.Join(dir, d.name+".log")
	if keep := os.Getenv("E2E_LOGDIR"); keep != "" { // keep the daemons' logs (CI artifacts)
		base := filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
		logfile = base + ".log"
		_ = os.MkdirAll(keep, 0o755)
		_ = os.Remove(logfile)
		if tcpdump, ok := binPath["tcpdump"]; ok {
			// And what reached the server, to tell a lost packet from a
			// missed one.
			td := lab.Server.Start(t, base+".tcpdump.log", tcpdump, "-n", "-i", lab.Server.IfName, "-U", "-w", base+".pcap")
			if _, err := td.WaitLog("listening on", 5*time.Second); err != nil {
				t.Logf("tcpdump: %v", err)
			}
		}
	}
	proc := lab.Server.Start(t, logfile, path, d.args(conf, lab.Server.IfName)...)
	if _, err := proc.WaitLog(d.ready, 10*time.Second); err != nil {
		t.Fatalf("%s did not get ready: %v\nconfig:\n%s\nlog:\n%s", d.name, err, text, proc.Log())
	}
	// knockd says "listening" just before it enters its pcap loop.
	time.Sleep(100 * time.Millisecond)
	return &scene{t: t, d: d, lab: lab, door: door, proc: proc, ev: ev, judge: judge{t: t, d: d}}
}

// dst is the door's address on the server in the family of src.
func (s *scene) dst(v6 bool) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(s.lab.Server.V6, doorPort)
	}
	return netip.AddrPortFrom(s.lab.Server.V4, doorPort)
}

// closed checks that a connect from src times out: the door is shut.
func (s *scene) closed(c *netlab.Host, src netip.Addr, dst netip.AddrPort) error {
	err := c.Connect(src, dst, filteredWithin)
	switch {
	case errors.Is(err, netlab.ErrFiltered):
		return nil
	case err == nil:
		return fmt.Errorf("connect %s → %s succeeded, want it to time out (door closed)", from(src), dst)
	default:
		s.t.Fatalf("connect %s → %s: %v (want a timeout: is the lab broken?)", from(src), dst, err)
		return nil
	}
}

// open waits up to within for a connect from src to go through.
func (s *scene) open(c *netlab.Host, src netip.Addr, dst netip.AddrPort, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := c.Connect(src, dst, 300*time.Millisecond)
		if err == nil {
			return nil
		}
		if !errors.Is(err, netlab.ErrFiltered) {
			s.t.Fatalf("connect %s → %s: %v (want success or a timeout: is the lab broken?)", from(src), dst, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connect %s → %s still times out %v after the knock: door not open", from(src), dst, within)
		}
	}
}

// waitClosed polls until a connect from src times out again and returns
// when that was; it gives up at limit.
func (s *scene) waitClosed(c *netlab.Host, src netip.Addr, dst netip.AddrPort, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		err := c.Connect(src, dst, 300*time.Millisecond)
		if errors.Is(err, netlab.ErrFiltered) {
			return time.Now(), nil
		}
		if err != nil {
			s.t.Fatalf("connect %s → %s: %v", from(src), dst, err)
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("connect %s → %s still succeeds %v later: door never closed", from(src), dst, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// from names a source address for messages.
func from(src netip.Addr) string {
	if !src.IsValid() {
		return "(default source)"
	}
	return src.String()
}

// opened returns the sources of every "OPEN SESAME" line so far.
func (s *scene) opened() []netip.Addr {
	var out []netip.Addr
	for _, l := range s.proc.Lines("OPEN SESAME") {
		if a, ok := s.d.openSrc(l); ok {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// waitOpened waits for an "OPEN SESAME" line for every source in want.
func (s *scene) waitOpened(want []netip.Addr, timeout time.Duration) error {
	missing := func() []netip.Addr {
		got := map[netip.Addr]bool{}
		for _, a := range s.opened() {
			got[a] = true
		}
		var m []netip.Addr
		for _, a := range want {
			if !got[a] {
				m = append(m, a)
			}
		}
		return m
	}
	err := s.proc.WaitLogFunc(func(string) bool { return len(missing()) == 0 }, timeout)
	if err != nil {
		m := missing()
		if len(m) > 5 {
			return fmt.Errorf("%s logged no OPEN SESAME for %d of %d sources (%v…): %v", s.d.name, len(m), len(want), m[:5], err)
		}
		return fmt.Errorf("%s logged no OPEN SESAME for %v: %v", s.d.name, m, err)
	}
	return nil
}

// knocker sends a knock sequence from a client namespace.
type knocker struct {
	name string
	// knock sends seq from c (from src, if valid) to dst.
	knock func(t *testing.T, c *netlab.Host, src, dst netip.Addr, seq []netlab.Knock) error
}

var (
	sesameKnocker = &knocker{name: "sesame", knock: func(t *testing.T, c *netlab.Host, src, dst netip.Addr, seq []netlab.Knock) error {
		args := []string{"-v"}
		if src.IsValid() {
			args = append(args, "--source", src.String())
		}
		if dst.Is6() {
			args = append(args, "-6")
		}
		args = append(args, dst.String())
		return runClient(t, c, bin(t, "sesame"), append(args, netlab.Args(seq)...))
	}}
	knockKnocker = &knocker{name: "knock", knock: func(t *testing.T, c *netlab.Host, src, dst netip.Addr, seq []netlab.Knock) error {
		if src.IsValid() {
			t.Fatalf("knock(1) cannot choose its source address")
		}
		args := []string{"-v"}
		if dst.Is6() {
			args = append(args, "-6")
		}
		args = append(args, dst.String())
		return runClient(t, c, bin(t, "knock"), append(args, netlab.Args(seq)...))
	}}
	// netlabKnocker is the reference: plain sockets from the test itself.
	netlabKnocker = &knocker{name: "netlab", knock: func(t *testing.T, c *netlab.Host, src, dst netip.Addr, seq []netlab.Knock) error {
		return c.KnockFrom([]netip.Addr{src}, dst, seq, 0)
	}}
)

func runClient(t *testing.T, c *netlab.Host, path string, args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.Run(ctx, path, args...) // the error carries the output
	// Show what the client said, except when hundreds of them run at once.
	if err == nil && testing.Verbose() && !strings.HasPrefix(t.Name(), "TestManySources") {
		t.Logf("%s %s:\n%s", filepath.Base(path), strings.Join(args, " "), strings.TrimRight(string(out), "\n"))
	}
	return err
}

func mustKnocks(t testing.TB, s string) []netlab.Knock {
	t.Helper()
	k, err := netlab.ParseKnocks(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// judge reports a broken expectation: an error for sesamed, and for a
// daemon that is known to fall short there (knockd) a finding.
type judge struct {
	t *testing.T
	d *daemon
}

func (j judge) fail(format string, args ...any) {
	j.t.Helper()
	msg := fmt.Sprintf(format, args...)
	top, _, _ := strings.Cut(j.t.Name(), "/")
	if why, ok := j.d.short[top]; ok {
		j.t.Logf("FINDING (%s, not a harness failure): %s", why, msg)
		addFinding(fmt.Sprintf("%s: %s: %s", j.t.Name(), why, msg))
		return
	}
	j.t.Error(msg)
}
