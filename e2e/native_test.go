//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// Native doors end to end: sesamed itself makes the firewall admit the
// knocker (Open = ...), and the kernel closes the door.

const nativePort = 2222

// startSesamed writes conf and runs sesamed on the lab's server interface
// until the test ends.
func startSesamed(t *testing.T, lab *netlab.Lab, conf string) *netlab.Proc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := lab.Server.Start(t, logPath(t, dir, "sesamed"), bin(t, "sesamed"), "-c", path, "-i", lab.Server.IfName, "-v")
	if _, err := p.WaitLog("msg=ready", 10*time.Second); err != nil {
		t.Fatalf("sesamed did not become ready: %v", err)
	}
	return p
}

// logPath keeps daemon logs under E2E_LOGDIR when set. The log starts
// empty: a ready line left by an earlier run must not pass for this one's.
func logPath(t *testing.T, dir, name string) string {
	if d := os.Getenv("E2E_LOGDIR"); d != "" {
		os.MkdirAll(d, 0o755)
		p := filepath.Join(d, strings.NewReplacer("/", "_").Replace(t.Name())+"."+name+".log")
		os.Remove(p)
		return p
	}
	return filepath.Join(dir, name+".log")
}

// knockWith runs the sesame client in a client namespace.
func knockWith(t *testing.T, h *netlab.Host, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := h.Run(ctx, bin(t, "sesame"), args...); err != nil {
		t.Fatalf("sesame %v: %v\n%s", args, err, out)
	}
}

func dst(a netip.Addr) netip.AddrPort { return netip.AddrPortFrom(a, nativePort) }

func mustFiltered(t *testing.T, h *netlab.Host, src netip.Addr, to netip.AddrPort, when string) {
	t.Helper()
	if err := h.Connect(src, to, 500*time.Millisecond); !errors.Is(err, netlab.ErrFiltered) {
		t.Fatalf("%s: connect %s → %s: %v, want it filtered", when, src, to, err)
	}
}

func mustConnect(t *testing.T, h *netlab.Host, src netip.Addr, to netip.AddrPort, when string) {
	t.Helper()
	if err := h.Connect(src, to, 2*time.Second); err != nil {
		t.Fatalf("%s: connect %s → %s: %v", when, src, to, err)
	}
}

func nftList(t *testing.T, h *netlab.Host, what ...string) string {
	t.Helper()
	out, err := h.Run(context.Background(), "nft", append([]string{"list"}, what...)...)
	if err != nil {
		t.Fatalf("nft list %v: %v\n%s", what, err, out)
	}
	return string(out)
}

const guardConf = `[ssh]
	Sequence     = 7000,8000:udp,9000
	Seq_Timeout  = 5
	TCPFlags     = syn
	Open         = tcp:2222
	Open_Timeout = %d
	%s
`

// adminSetMode is an administrator's own ruleset for nftables set mode:
// sesame's sets live in table inet filter and these rules reference them.
const adminSetMode = `table inet filter {
	set sesame_v4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }
	set sesame_v6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		ip saddr . meta l4proto . th dport @sesame_v4 accept
		ip6 saddr . meta l4proto . th dport @sesame_v6 accept
		tcp dport 2222 drop
	}
}
`

// TestNativeDoor proves each kind of door for real: shut before the knock,
// open for the knocker only (a second client stays locked out), shut again
// for new connections after Open_Timeout while an established connection
// keeps working.
func TestNativeDoor(t *testing.T) {
	for _, tc := range []struct {
		name, directive, admin string
	}{
		{"nftables-guard", "Firewall = nftables", ""},
		{"nftables-set", "Nft_Table = inet filter", adminSetMode},
		{"iptables", "Firewall = iptables", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := netlab.New(t, netlab.Config{Clients: 2})
			lab.Server.Echo(t, nativePort)
			if tc.admin != "" {
				if out, err := lab.Server.RunInput(context.Background(), tc.admin, "nft", "-f", "-"); err != nil {
					t.Fatalf("admin ruleset: %v\n%s", err, out)
				}
			}
			d := startSesamed(t, lab, fmt.Sprintf(guardConf, 3, tc.directive))
			knocker, other := lab.Client(0), lab.Client(1)
			to := dst(lab.Server.V4)

			mustFiltered(t, knocker, knocker.V4, to, "before the knock")
			knockWith(t, knocker, lab.Server.V4.String(), "7000", "8000:udp", "9000")
			if _, err := d.WaitLog(`msg="door open"`, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			opened := time.Now()
			mustConnect(t, knocker, knocker.V4, to, "after the knock")
			mustFiltered(t, other, other.V4, to, "from another client after the knock")

			// An established connection outlives the door.
			conn, err := knocker.DialFrom(&net.TCPAddr{IP: knocker.V4.AsSlice()}, "tcp", to.String(), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			time.Sleep(time.Until(opened.Add(3*time.Second + 500*time.Millisecond)))
			mustFiltered(t, knocker, knocker.V4, to, "after Open_Timeout")
			if err := echo(conn); err != nil {
				t.Fatalf("established connection broke when the door closed: %v", err)
			}
			if tc.admin != "" {
				if out := nftList(t, lab.Server, "tables"); strings.Contains(out, "sesame") {
					t.Fatalf("set mode created sesame's own table:\n%s", out)
				}
			}
		})
	}
}

func echo(c net.Conn) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	buf := make([]byte, 5)
	_, err := io.ReadFull(c, buf)
	return err
}

// TestNativeDoorOutlivesSIGKILL: the kernel closes the door on time even
// when the daemon is killed outright with the door open.
func TestNativeDoorOutlivesSIGKILL(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	lab.Server.Echo(t, nativePort)
	d := startSesamed(t, lab, fmt.Sprintf(guardConf, 4, ""))
	c := lab.Client(0)
	to := dst(lab.Server.V4)
	knockWith(t, c, lab.Server.V4.String(), "7000", "8000:udp", "9000")
	if _, err := d.WaitLog(`msg="door open"`, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	if err := d.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.Wait(5 * time.Second)
	mustConnect(t, c, c.V4, to, "with the daemon dead and the door open")
	time.Sleep(time.Until(opened.Add(4*time.Second + 500*time.Millisecond)))
	mustFiltered(t, c, c.V4, to, "after Open_Timeout with the daemon dead")
}

var elementRE = regexp.MustCompile(`(\d+\.\d+\.\d+\.\d+) \. tcp \. 2222 timeout (\S+) expires (\S+)`)

// TestNativeDoorRefreshes: knocking five times leaves exactly one element,
// and its timeout was refreshed by the last knock.
func TestNativeDoorRefreshes(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	lab.Server.Echo(t, nativePort)
	d := startSesamed(t, lab, fmt.Sprintf(guardConf, 10, ""))
	c := lab.Client(0)
	for i := 0; i < 5; i++ {
		if i > 0 {
			time.Sleep(time.Second)
		}
		knockWith(t, c, lab.Server.V4.String(), "7000", "8000:udp", "9000")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(d.Lines(`msg="door open"`)) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d doors opened, want 5", len(d.Lines(`msg="door open"`)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	set := nftList(t, lab.Server, "set", "inet", "sesame", "sesame_v4")
	els := elementRE.FindAllStringSubmatch(set, -1)
	if len(els) != 1 {
		t.Fatalf("%d elements after five knocks, want exactly one:\n%s", len(els), set)
	}
	left, err := time.ParseDuration(els[0][3])
	if err != nil {
		t.Fatalf("expires %q: %v", els[0][3], err)
	}
	// The first knock was 4 s ago: without a refresh about 6 s would be left.
	if left < 8*time.Second {
		t.Fatalf("element expires in %v, want the last knock's 10 s refreshed (>= 8 s):\n%s", left, set)
	}
	t.Logf("one element, expires in %v after five knocks over 4 s (Open_Timeout 10 s)", left)
}

// TestNativeDoorIPv6: an IPv6 knock opens an IPv6 door.
func TestNativeDoorIPv6(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 2})
	lab.Server.Echo(t, nativePort)
	d := startSesamed(t, lab, fmt.Sprintf(guardConf, 5, ""))
	c, other := lab.Client(0), lab.Client(1)
	to := dst(lab.Server.V6)
	mustFiltered(t, c, c.V6, to, "before the knock")
	knockWith(t, c, "-6", lab.Server.V6.String(), "7000", "8000:udp", "9000")
	if _, err := d.WaitLog(`msg="door open"`, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	mustConnect(t, c, c.V6, to, "after the IPv6 knock")
	mustFiltered(t, other, other.V6, to, "from another client")
	mustFiltered(t, c, c.V4, dst(lab.Server.V4), "over IPv4 (the door is the IPv6 address's)")
	if set := nftList(t, lab.Server, "set", "inet", "sesame", "sesame_v6"); !strings.Contains(set, c.V6.String()+" . tcp . 2222") {
		t.Fatalf("no IPv6 element:\n%s", set)
	}
}

// TestKnockToOpenLatency measures, for 200 knocks from 200 sources, the
// time from the last knock packet leaving the client to the protected port
// accepting a connection: sesamed with an nftables door, sesamed with a
// command door, and knockd with the same command door. It asserts that
// every knock gets in; the figures are logged, never asserted.
func TestKnockToOpenLatency(t *testing.T) {
	knocks := 200
	if testing.Short() {
		knocks = 20
	}
	cases := []struct {
		name, daemon, conf string
	}{
		{"sesamed-nftables", "sesamed", "[door]\n\tSequence = 7000,8000,9000\n\tSeq_Timeout = 5\n\tTCPFlags = syn\n\tOpen = tcp:2222\n\tOpen_Timeout = 60\n"},
		{"sesamed-command", "sesamed", "[door]\n\tSequence = 7000,8000,9000\n\tSeq_Timeout = 5\n\tTCPFlags = syn\n\tStart_Command = nft add element inet lab allow4 { %IP% }\n"},
		{"knockd-command", "knockd", "[options]\n\tInterface = srv0\n[door]\n\tSequence = 7000,8000,9000\n\tSeq_Timeout = 5\n\tTCPFlags = syn\n\tStart_Command = nft add element inet lab allow4 { %IP% }\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lab := netlab.New(t, netlab.Config{Clients: 1, ExtraClientAddrs: knocks})
			if strings.HasSuffix(tc.name, "command") {
				lab.Server.Protect(t, nativePort) // the lab's own listener behind its drop rule
			} else {
				lab.Server.Echo(t, nativePort)
			}
			dir := t.TempDir()
			conf := filepath.Join(dir, "knockd.conf")
			os.WriteFile(conf, []byte(tc.conf), 0o600)
			var p *netlab.Proc
			if tc.daemon == "sesamed" {
				p = lab.Server.Start(t, logPath(t, dir, "sesamed"), bin(t, "sesamed"), "-c", conf, "-i", lab.Server.IfName)
				_, err := p.WaitLog("msg=ready", 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				p = lab.Server.Start(t, logPath(t, dir, "knockd"), bin(t, "knockd"), "-c", conf, "-i", lab.Server.IfName, "-v")
				if _, err := p.WaitLog("listening on", 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			c := lab.Client(0)
			seq, err := netlab.ParseKnocks("7000,8000,9000")
			if err != nil {
				t.Fatal(err)
			}
			var lat []time.Duration
			missed := 0
			for i, src := range c.Extra4[:knocks] {
				ot, err := c.KnockThenProbe(src, lab.Server.V4, seq, dst(lab.Server.V4), 100*time.Microsecond, 2*time.Second)
				if err != nil {
					missed++
					continue
				}
				if (ot.Open > 5*time.Millisecond || ot.MaxGap > 250*time.Microsecond) && os.Getenv("E2E_LATENCY_DEBUG") != "" {
					t.Logf("knock %d from %s: opened within (%v, %v], largest probe gap %v", i, src, ot.After, ot.Open, ot.MaxGap)
				}
				lat = append(lat, ot.Open)
			}
			if missed > 0 {
				t.Errorf("%d of %d knocks never opened the door", missed, knocks)
			}
			if len(lat) == 0 {
				return
			}
			slices.Sort(lat)
			p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
			t.Logf("LATENCY %s: knocks=%d opened=%d p50=%v p99=%v max=%v", tc.name, knocks, len(lat),
				p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
		})
	}
}

// TestHangupKeepsTheDaemonAndItsStops: SIGHUP (what a knockd reload sends)
// must not kill sesamed; the pending stop command still runs at SIGTERM.
func TestHangupKeepsTheDaemonAndItsStops(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	dir := t.TempDir()
	start, stop := filepath.Join(dir, "started"), filepath.Join(dir, "stopped")
	d := startSesamed(t, lab, fmt.Sprintf("[door]\n\tSequence = 7000,8000,9000\n\tStart_Command = touch %s\n\tCmd_Timeout = 60\n\tStop_Command = touch %s\n", start, stop))
	c := lab.Client(0)
	knockWith(t, c, lab.Server.V4.String(), "7000", "8000", "9000")
	deadline := time.Now().Add(5 * time.Second)
	for _, err := os.Stat(start); err != nil; _, err = os.Stat(start) {
		if time.Now().After(deadline) {
			t.Fatal("start command did not run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitLog("SIGHUP", 5*time.Second); err != nil {
		t.Fatalf("no SIGHUP line: %v", err)
	}
	if d.Exited() {
		t.Fatal("sesamed died on SIGHUP")
	}
	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(10 * time.Second); err != nil {
		t.Fatalf("sesamed after SIGTERM: %v", err)
	}
	if _, err := os.Stat(stop); err != nil {
		t.Fatal("the pending stop command did not run at SIGTERM after a SIGHUP")
	}
}

// TestFollowsAddressChanges: an address added to the capture interface
// while sesamed runs is knockable at once (netlink events, no polling);
// knocks to an address that was removed no longer count.
func TestFollowsAddressChanges(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	dir := t.TempDir()
	marker := filepath.Join(dir, "opened")
	d := startSesamed(t, lab, fmt.Sprintf("[door]\n\tSequence = 7000,8000,9000\n\tStart_Command = echo %%IP%% >> %s\n", marker))
	c := lab.Client(0)
	newAddr := netip.MustParseAddr("198.18.0.5")
	ip := func(args ...string) {
		t.Helper()
		if out, err := lab.Server.Run(context.Background(), "ip", args...); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	ip("addr", "add", newAddr.String()+"/15", "dev", lab.Server.IfName)
	if _, err := d.WaitLog("addresses changed", 5*time.Second); err != nil {
		t.Fatalf("the new address was not picked up: %v", err)
	}
	knockWith(t, c, newAddr.String(), "7000", "8000", "9000")
	if _, err := d.WaitLog("OPEN SESAME", 5*time.Second); err != nil {
		t.Fatalf("a knock to the new address did not open: %v", err)
	}
	ip("addr", "del", newAddr.String()+"/15", "dev", lab.Server.IfName)
	deadline := time.Now().Add(5 * time.Second)
	for len(d.Lines("addresses changed")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the removed address was not noticed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The host no longer owns it: a knock sent there (the client's ARP
	// entry is still warm) must not count.
	knockWith(t, c, newAddr.String(), "7000", "8000", "9000")
	time.Sleep(500 * time.Millisecond)
	if n := len(d.Lines("OPEN SESAME")); n != 1 {
		t.Fatalf("%d opens, want 1: a knock to a removed address counted", n)
	}
}

// TestCleanupRemovesEverything: `sesamed --cleanup` leaves no trace of
// sesame in the firewall, for each backend the daemon set up.
func TestCleanupRemovesEverything(t *testing.T) {
	for _, fw := range []string{"nftables", "iptables"} {
		t.Run(fw, func(t *testing.T) {
			lab := netlab.New(t, netlab.Config{Clients: 1})
			conf := fmt.Sprintf(guardConf, 30, "Firewall = "+fw)
			d := startSesamed(t, lab, conf)
			knockWith(t, lab.Client(0), lab.Server.V4.String(), "7000", "8000:udp", "9000")
			if _, err := d.WaitLog(`msg="door open"`, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := d.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			d.Wait(10 * time.Second)
			path := filepath.Join(t.TempDir(), "knockd.conf")
			os.WriteFile(path, []byte(conf), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if out, err := lab.Server.Run(ctx, bin(t, "sesamed"), "--cleanup", "-c", path); err != nil {
				t.Fatalf("sesamed --cleanup: %v\n%s", err, out)
			}
			for _, check := range [][]string{{"nft", "list", "ruleset"}, {"iptables-save"}, {"ip6tables-save"}, {"ipset", "list", "-n"}} {
				out, err := lab.Server.Run(ctx, check[0], check[1:]...)
				if err != nil {
					t.Fatalf("%v: %v\n%s", check, err, out)
				}
				if strings.Contains(strings.ToLower(string(out)), "sesame") {
					t.Errorf("%v still shows sesame after --cleanup:\n%s", check, out)
				}
			}
		})
	}
}
