package firewalld

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/netlab"
)

// firewalldConf is the test firewalld's configuration (its system-config
// directory is a temporary one; zones and services come from the package's
// defaults in /usr/lib/firewalld).
const firewalldConf = `DefaultZone=public
CleanupOnExit=yes
CleanupModulesOnExit=no
Lockdown=no
IPv6_rpfilter=no
IndividualCalls=no
LogDenied=off
FirewallBackend=nftables
FlushAllOnReload=yes
`

// realFirewalld runs a real firewalld in the lab's server namespace, on a
// private bus, and returns a connection to that bus. Everything it touches
// is the test's: its network namespace (nftables acts only there), its
// own mount namespace ("ip netns exec" makes one) with a tmpfs over /run,
// a temporary config directory, and the private bus. t.Cleanup stops it
// (by its process group, which netlab started) and removes the rest.
func realFirewalld(t *testing.T) (*netlab.Lab, *dbus.Conn, *netlab.Proc) {
	t.Helper()
	netlab.RequireRoot(t)
	var missing []string
	for bin, pkg := range map[string]string{"firewalld": "firewalld", "dbus-daemon": "dbus-daemon", "nft": "nftables", "ip": "iproute2"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, fmt.Sprintf("%s (package %s)", bin, pkg))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		netlab.SkipOrFail(t, "a real firewalld test needs %s: apt-get install firewalld dbus-daemon nftables iproute2",
			strings.Join(missing, ", "))
	}
	lab := netlab.New(t, netlab.Config{Clients: 1})
	addr := startBus(t)
	etc := t.TempDir()
	if err := os.WriteFile(filepath.Join(etc, "firewalld.conf"), []byte(firewalldConf), 0o644); err != nil {
		t.Fatal(err)
	}
	fw := lab.Server.Start(t, "", "env", "DBUS_SYSTEM_BUS_ADDRESS="+addr, "sh", "-c",
		`mount -t tmpfs sesame-firewalld-test /run && exec firewalld --nofork --nopid --log-target console --system-config "$0"`, etc)
	conn := connect(t, addr)

	// Wait until firewalld owns its name and says RUNNING.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var has bool
		var state string
		err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, busName).Store(&has)
		if err == nil && has {
			err = conn.Object(busName, objectPath).Call("org.freedesktop.DBus.Properties.Get", dbus.FlagNoAutoStart, ifaceMain, "state").Store(&state)
			if err == nil && state == "RUNNING" {
				return lab, conn, fw
			}
		}
		if fw.Exited() {
			t.Fatalf("firewalld exited while starting:\n%s", fw.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("firewalld is not RUNNING after 60 s (state %q, err %v):\n%s", state, err, fw.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// echo serves the echo protocol netlab's Connect expects on ln.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

func TestRealFirewalld(t *testing.T) {
	lab, conn, fw := realFirewalld(t)
	srv, cli := lab.Server, lab.Client(0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	b, err := New(Config{Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// The public zone opens ssh: guarding 22 there is refused.
	err = b.Reconcile(ctx, []firewall.Port{tcp(2222), tcp(22)})
	var fe *firewall.Error
	if !errors.As(err, &fe) || fe.Op != "reconcile" || !strings.Contains(err.Error(), "service ssh") {
		t.Fatalf("Reconcile guarding 22 in zone public = %v, want an error naming service ssh", err)
	}
	t.Logf("as expected: %v", err)
	if err := b.Reconcile(ctx, []firewall.Port{tcp(2222)}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}

	ln, err := srv.Listen("tcp", ":2222")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go echo(ln)
	dst4 := netip.AddrPortFrom(srv.V4, 2222)
	dst6 := netip.AddrPortFrom(srv.V6, 2222)
	closed := func(when string) {
		t.Helper()
		if err := cli.Connect(cli.V4, dst4, 2*time.Second); err == nil {
			t.Fatalf("%s: %s reached %s: the door is open", when, cli.V4, dst4)
		}
		if err := cli.Connect(cli.V6, dst6, 2*time.Second); err == nil {
			t.Fatalf("%s: %s reached %s: the door is open", when, cli.V6, dst6)
		}
	}
	open := func(when string) {
		t.Helper()
		if err := cli.Connect(cli.V4, dst4, 2*time.Second); err != nil {
			t.Fatalf("%s: %s cannot reach %s: %v", when, cli.V4, dst4, err)
		}
		if err := cli.Connect(cli.V6, dst6, 2*time.Second); err != nil {
			t.Fatalf("%s: %s cannot reach %s: %v", when, cli.V6, dst6, err)
		}
	}
	zoneRules := func() []string {
		t.Helper()
		var rules []string
		if err := conn.Object(busName, objectPath).Call(ifaceZone+".getRichRules", 0, "public").Store(&rules); err != nil {
			t.Fatalf("getRichRules: %v", err)
		}
		slices.Sort(rules)
		return rules
	}
	ruleset := func() string {
		t.Helper()
		out, err := srv.Run(ctx, "nft", "list", "ruleset")
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	nftLines := func(rs string) (v4, v6 int) {
		return strings.Count(rs, "ip saddr "+cli.V4.String()+" tcp dport 2222 accept"),
			strings.Count(rs, "ip6 saddr "+cli.V6.String()+" tcp dport 2222 accept")
	}
	rule4, _ := formatRule(cli.V4, tcp(2222))
	rule6, _ := formatRule(cli.V6, tcp(2222))
	want := []string{rule4, rule6}
	slices.Sort(want)

	closed("before any door")

	doors := func(timeout time.Duration) []firewall.Door {
		return []firewall.Door{
			{Src: cli.V4, Ports: []firewall.Port{tcp(2222)}, Timeout: timeout},
			{Src: cli.V6, Ports: []firewall.Port{tcp(2222)}, Timeout: timeout},
		}
	}
	if err := b.Open(ctx, doors(30*time.Second)); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := zoneRules(); !slices.Equal(got, want) {
		t.Fatalf("rich rules after Open:\n got %q\nwant %q", got, want)
	}
	if v4, v6 := nftLines(ruleset()); v4 != 1 || v6 != 1 {
		t.Fatalf("nft ruleset after Open has %d/%d door rules, want 1/1:\n%s", v4, v6, ruleset())
	}
	open("door open")

	// Five more knocks: still one rule each, in firewalld and in nftables.
	for i := range 5 {
		if err := b.Open(ctx, doors(3*time.Second)); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	if got := zoneRules(); !slices.Equal(got, want) {
		t.Fatalf("rich rules after 5 refreshes:\n got %q\nwant %q", got, want)
	}
	rs := ruleset()
	if v4, v6 := nftLines(rs); v4 != 1 || v6 != 1 {
		t.Fatalf("nft ruleset after 5 refreshes has %d/%d door rules, want 1/1:\n%s", v4, v6, rs)
	}
	entries, err := b.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(entries) != 2 {
		t.Fatalf("List = %v, want 2 entries", entries)
	}
	for _, e := range entries {
		if e.Expires <= 0 || e.Expires > 3*time.Second || e.Port != tcp(2222) || (e.Src != cli.V4 && e.Src != cli.V6) {
			t.Errorf("List entry %v, want %s or %s tcp:2222 with up to 3s left", e, cli.V4, cli.V6)
		}
	}

	// A connection made while the door is open outlives the door.
	est, err := cli.DialFrom(&net.TCPAddr{IP: cli.V4.AsSlice()}, "tcp", dst4.String(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial through the open door: %v", err)
	}
	defer est.Close()

	// firewalld closes the door itself (3 s timeout; bounded wait).
	start := time.Now()
	for len(zoneRules()) != 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("rules still there %v after a 3 s timeout: %q", time.Since(start), zoneRules())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("firewalld expired the doors %v after the last refresh", time.Since(start).Round(10*time.Millisecond))
	if v4, v6 := nftLines(ruleset()); v4 != 0 || v6 != 0 {
		t.Fatalf("nft ruleset still has %d/%d door rules after expiry:\n%s", v4, v6, ruleset())
	}
	closed("after the timeout")
	_ = est.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(est, "still here\n"); err != nil {
		t.Fatalf("established connection broken by the door closing: %v", err)
	}
	buf := make([]byte, len("still here\n"))
	if _, err := io.ReadFull(est, buf); err != nil || string(buf) != "still here\n" {
		t.Fatalf("established connection after the door closed: %q, %v", buf, err)
	}

	// Cleanup removes sesame's rules and nothing else.
	const admin = `rule family="ipv4" source address="198.18.0.0/24" port port="2223" protocol="tcp" accept`
	if err := conn.Object(busName, objectPath).Call(ifaceZone+".addRichRule", 0, "public", admin, int32(0)).Err; err != nil {
		t.Fatalf("adding the administrator's rule: %v", err)
	}
	if err := b.Open(ctx, doors(5*time.Minute)); err != nil {
		t.Fatalf("Open: %v", err)
	}
	open("door open again")
	// A new backend (a restarted sesamed) finds the doors and keeps them.
	b2, err := New(Config{Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Reconcile(ctx, []firewall.Port{tcp(2222)}); err != nil {
		t.Fatalf("Reconcile after restart: %v", err)
	}
	entries, err = b2.List(ctx)
	if err != nil || len(entries) != 2 || entries[0].Expires != 0 || entries[1].Expires != 0 {
		t.Fatalf("List after restart = %v, %v; want the 2 doors, time left unknown (0)", entries, err)
	}
	if err := b2.Cleanup(ctx); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := zoneRules(); !slices.Equal(got, []string{admin}) {
		t.Fatalf("rich rules after Cleanup: %q, want only the administrator's", got)
	}
	if v4, v6 := nftLines(ruleset()); v4 != 0 || v6 != 0 {
		t.Fatalf("nft ruleset still has door rules after Cleanup:\n%s", ruleset())
	}
	closed("after Cleanup")

	if strings.Contains(fw.Log(), "Traceback") {
		t.Errorf("firewalld logged a traceback:\n%s", fw.Log())
	}
}

// TestRealFirewalldStopped: with firewalld gone from the bus, Reconcile
// fails with one clear error.
func TestRealFirewalldStopped(t *testing.T) {
	_, conn, fw := realFirewalld(t)
	fw.Kill()
	b, err := New(Config{Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Reconcile(context.Background(), []firewall.Port{tcp(2222)})
	var fe *firewall.Error
	if !errors.As(err, &fe) || fe.Op != "connect" || fe.Hint != startHint {
		t.Fatalf("Reconcile with firewalld stopped = %v, want a connect error with hint %q", err, startHint)
	}
	t.Logf("as expected: %v", err)
}
