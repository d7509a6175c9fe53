package iptables

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/firewall"
)

var guardedPorts = []firewall.Port{tcp(22), tcp(2222), udp(5353)}

// newBackend opens a backend for variant v in ns, closed at cleanup.
func newBackend(t *testing.T, ns *netNS, v variant) *Backend {
	t.Helper()
	b, err := New(Config{IPv6: true, Path4: v.path4, Path6: v.path6, NetNSFd: ns.fd})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// forVariants runs fn once per iptables variant, each in a fresh namespace.
func forVariants(t *testing.T, fn func(t *testing.T, ns *netNS, v variant, b *Backend)) {
	requireRoot(t)
	hasIpsetCLI(t)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			ns := newNS(t)
			fn(t, ns, v, newBackend(t, ns, v))
		})
	}
}

func door(src string, timeout time.Duration, ports ...firewall.Port) firewall.Door {
	return firewall.Door{Src: netip.MustParseAddr(src), Ports: ports, Timeout: timeout}
}

// TestReconcileGolden checks the rules and sets Reconcile and Open make,
// as iptables-save, ip6tables-save and ipset print them.
func TestReconcileGolden(t *testing.T) {
	forVariants(t, func(t *testing.T, ns *netNS, v variant, b *Backend) {
		ctx := context.Background()
		if err := b.Reconcile(ctx, guardedPorts); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		err := b.Open(ctx, []firewall.Door{
			door("198.18.0.2", time.Minute, tcp(22), udp(5353)),
			door("fd00:5e5a::2", time.Minute, tcp(2222)),
		})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		golden(t, "reconcile.iptables-save.golden", ns.save(t, v.save4))
		golden(t, "reconcile.ip6tables-save.golden", ns.save(t, v.save6))
		golden(t, "reconcile.ipset.golden", ns.ipsetList(t))
	})
}

// TestOpenRefreshes opens the same door five times: one entry per port,
// whose timeout each Open sets anew.
func TestOpenRefreshes(t *testing.T) {
	forVariants(t, func(t *testing.T, ns *netNS, v variant, b *Backend) {
		ctx := context.Background()
		if err := b.Reconcile(ctx, guardedPorts); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		d := door("198.18.0.2", 60*time.Second, tcp(22))
		d6 := door("fd00:5e5a::2", 60*time.Second, tcp(22))
		for range 5 {
			if err := b.Open(ctx, []firewall.Door{d, d6}); err != nil {
				t.Fatalf("Open: %v", err)
			}
		}
		entries := list(t, b)
		if len(entries) != 2 {
			t.Fatalf("after five Opens: %v, want one entry per source", entries)
		}
		if n := strings.Count(ns.run(t, "ipset", "list", Set4), "198.18.0.2,tcp:22"); n != 1 {
			t.Errorf("ipset list %s shows the entry %d times, want 1", Set4, n)
		}
		// Let the timeout run down by whole seconds, then refresh.
		time.Sleep(2100 * time.Millisecond)
		before := list(t, b)
		for _, e := range before {
			if e.Expires > 58*time.Second {
				t.Fatalf("after 2.1 s: %v, want at most 58 s left", e)
			}
		}
		if err := b.Open(ctx, []firewall.Door{d, d6}); err != nil {
			t.Fatalf("Open: %v", err)
		}
		after := list(t, b)
		if len(after) != 2 {
			t.Fatalf("after refresh: %v, want 2 entries", after)
		}
		for i, e := range after {
			if e.Expires < 59*time.Second || e.Expires <= before[i].Expires {
				t.Errorf("after refresh: %v (was %v), want the full 60 s again", e, before[i])
			}
		}
		// A longer knock replaces the timeout too (no "keep the larger").
		if err := b.Open(ctx, []firewall.Door{door("198.18.0.2", 10*time.Second, tcp(22))}); err != nil {
			t.Fatalf("Open: %v", err)
		}
		if e := list(t, b)[0]; e.Expires > 10*time.Second {
			t.Errorf("after Open with 10 s: %v, want at most 10 s", e)
		}
	})
}

// TestDoorExpires opens a door for 2 s and waits (bounded) for the kernel
// to close it.
func TestDoorExpires(t *testing.T) {
	forVariants(t, func(t *testing.T, ns *netNS, v variant, b *Backend) {
		ctx := context.Background()
		if err := b.Reconcile(ctx, guardedPorts); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		start := time.Now()
		if err := b.Open(ctx, []firewall.Door{door("198.18.0.2", 2*time.Second, tcp(22)), door("fd00:5e5a::2", 2*time.Second, udp(5353))}); err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got := list(t, b); len(got) != 2 {
			t.Fatalf("List = %v, want 2 entries", got)
		}
		b.Close() // the kernel, not the backend, closes the door
		b2 := newBackend(t, ns, v)
		deadline := start.Add(6 * time.Second)
		for len(list(t, b2)) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("door still open after %v: %v", time.Since(start), list(t, b2))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if el := time.Since(start); el < 1500*time.Millisecond {
			t.Errorf("door closed after %v, want about 2 s", el)
		}
		if out := ns.run(t, "ipset", "list", Set4); strings.Contains(out, "198.18.0.2") {
			t.Errorf("ipset still lists the door:\n%s", out)
		}
	})
}

// TestReconcileIdempotent reconciles again and again, over leftovers of a
// crash and a host that added rules of its own: one jump, first in INPUT;
// one copy of the rules; doors kept; the host's rules untouched.
func TestReconcileIdempotent(t *testing.T) {
	forVariants(t, func(t *testing.T, ns *netNS, v variant, b *Backend) {
		ctx := context.Background()
		ipt := strings.TrimSuffix(v.save4, "-save")
		if v.name == "default" {
			ipt = "iptables"
		}
		// The host's own rules, before sesame ever ran.
		ns.run(t, ipt, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
		ns.run(t, ipt, "-N", "HOST")
		ns.run(t, ipt, "-A", "HOST", "-p", "tcp", "--dport", "80", "-j", "ACCEPT")
		ns.run(t, ipt, "-A", "INPUT", "-j", "HOST")
		if err := b.Reconcile(ctx, guardedPorts); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		if err := b.Open(ctx, []firewall.Door{door("198.18.0.2", time.Minute, tcp(22)), door("fd00:5e5a::2", time.Minute, tcp(22))}); err != nil {
			t.Fatalf("Open: %v", err)
		}
		want4, want6 := ns.save(t, v.save4), ns.save(t, v.save6)
		golden(t, "host.iptables-save.golden", want4)

		check := func(step string) {
			t.Helper()
			if got := ns.save(t, v.save4); got != want4 {
				t.Errorf("%s: iptables-save changed:\n%s\nwant:\n%s", step, got, want4)
			}
			if got := ns.save(t, v.save6); got != want6 {
				t.Errorf("%s: ip6tables-save changed:\n%s\nwant:\n%s", step, got, want6)
			}
			if got := list(t, b); len(got) != 2 {
				t.Errorf("%s: List = %v, want the 2 doors kept", step, got)
			}
		}
		for i := range 2 {
			if err := b.Reconcile(ctx, guardedPorts); err != nil {
				t.Fatalf("Reconcile %d: %v", i+2, err)
			}
			check("Reconcile again")
		}
		// A daemon restarted: a new backend, the same configuration.
		if err := newBackend(t, ns, v).Reconcile(ctx, guardedPorts); err != nil {
			t.Fatalf("Reconcile after restart: %v", err)
		}
		check("restart")

		// A swap cut short before the jump moved: a stray staging chain.
		ns.run(t, ipt, "-N", stageChain)
		ns.run(t, ipt, "-A", stageChain, "-j", "DROP")
		// Someone inserted a rule above ours and duplicated the jump.
		ns.run(t, ipt, "-I", "INPUT", "1", "-s", "192.0.2.1", "-j", "DROP")
		ns.run(t, ipt, "-A", "INPUT", "-j", Chain)
		if err := b.Reconcile(ctx, guardedPorts); err != nil {
			t.Fatalf("Reconcile over leftovers: %v", err)
		}
		got := ns.save(t, v.save4)
		wantMoved := strings.Replace(want4, "-A INPUT -j SESAME\n", "-A INPUT -j SESAME\n-A INPUT -s 192.0.2.1/32 -j DROP\n", 1)
		if got != wantMoved {
			t.Errorf("over leftovers: iptables-save:\n%s\nwant:\n%s", got, wantMoved)
		}
		ns.run(t, ipt, "-D", "INPUT", "-s", "192.0.2.1", "-j", "DROP")

		// A swap cut short after the jump moved and the old chain went.
		ns.run(t, ipt, "-E", Chain, stageChain)
		if err := b.Reconcile(ctx, guardedPorts); err != nil {
			t.Fatalf("Reconcile after interrupted rename: %v", err)
		}
		check("interrupted rename")

		// A swap cut short after the jump moved, before the old chain went.
		ns.run(t, ipt, "-E", Chain, stageChain)
		ns.run(t, ipt, "-N", Chain)
		ns.run(t, ipt, "-A", Chain, "-j", "DROP")
		if err := b.Reconcile(ctx, guardedPorts); err != nil {
			t.Fatalf("Reconcile after interrupted delete: %v", err)
		}
		check("interrupted delete")

		// Other ports: the rules follow, the doors stay.
		if err := b.Reconcile(ctx, []firewall.Port{tcp(22)}); err != nil {
			t.Fatalf("Reconcile with other ports: %v", err)
		}
		if got := ns.save(t, v.save4); strings.Contains(got, "5353") || strings.Count(got, "-j SESAME") != 1 {
			t.Errorf("after Reconcile with tcp:22 only:\n%s", got)
		}
		if got := list(t, b); len(got) != 2 {
			t.Errorf("List = %v, want the 2 doors kept", got)
		}
	})
}

// TestCleanup removes everything: the jumps, the chains, the sets; the
// host's rules stay.
func TestCleanup(t *testing.T) {
	forVariants(t, func(t *testing.T, ns *netNS, v variant, b *Backend) {
		ctx := context.Background()
		empty4, empty6 := ns.save(t, v.save4), ns.save(t, v.save6)
		if err := b.Reconcile(ctx, guardedPorts); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		if err := b.Open(ctx, []firewall.Door{door("198.18.0.2", time.Minute, tcp(22)), door("fd00:5e5a::2", time.Minute, tcp(22))}); err != nil {
			t.Fatalf("Open: %v", err)
		}
		for i := range 2 { // twice: cleaning a clean firewall is fine
			if err := b.Cleanup(ctx); err != nil {
				t.Fatalf("Cleanup %d: %v", i+1, err)
			}
			if got := ns.save(t, v.save4); got != empty4 {
				t.Errorf("iptables-save after Cleanup:\n%s\nwant:\n%s", got, empty4)
			}
			if got := ns.save(t, v.save6); got != empty6 {
				t.Errorf("ip6tables-save after Cleanup:\n%s\nwant:\n%s", got, empty6)
			}
			if got := ns.run(t, "ipset", "list", "-n"); got != "" {
				t.Errorf("ipset list -n after Cleanup: %q, want none", got)
			}
			if got := list(t, b); len(got) != 0 {
				t.Errorf("List after Cleanup = %v", got)
			}
		}
		// Open on a cleaned firewall says what to do.
		err := b.Open(ctx, []firewall.Door{door("198.18.0.2", time.Minute, tcp(22))})
		var fe *firewall.Error
		if !errors.As(err, &fe) || fe.Op != "open" || fe.Hint == "" {
			t.Errorf("Open after Cleanup: %v, want a firewall.Error with a hint", err)
		}
	})
}

// TestIPv4Only leaves ip6tables and the IPv6 set alone.
func TestIPv4Only(t *testing.T) {
	requireRoot(t)
	hasIpsetCLI(t)
	t.Parallel()
	ns := newNS(t)
	b, err := New(Config{NetNSFd: ns.fd})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	empty6 := ns.save(t, "ip6tables-save")
	if err := b.Reconcile(ctx, guardedPorts); err != nil {
		t.Fatal(err)
	}
	if got := ns.save(t, "ip6tables-save"); got != empty6 {
		t.Errorf("ip6tables-save changed without IPv6:\n%s", got)
	}
	if got := ns.run(t, "ipset", "list", "-n"); got != Set4+"\n" {
		t.Errorf("ipset list -n = %q, want only %s", got, Set4)
	}
	err = b.Open(ctx, []firewall.Door{door("fd00:5e5a::2", time.Minute, tcp(22))})
	var fe *firewall.Error
	if !errors.As(err, &fe) || fe.Op != "open" {
		t.Errorf("Open of an IPv6 door without IPv6: %v, want a firewall.Error", err)
	}
	if err := b.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRejects checks doors before writing any.
func TestOpenRejects(t *testing.T) {
	forVariants(t, func(t *testing.T, ns *netNS, v variant, b *Backend) {
		ctx := context.Background()
		if err := b.Reconcile(ctx, guardedPorts); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []firewall.Door{
			door("198.18.0.2", 0, tcp(22)),
			door("198.18.0.2", time.Minute, firewall.Port{Proto: 1, Port: 22}),
			{Ports: []firewall.Port{tcp(22)}, Timeout: time.Minute},
		} {
			good := door("198.18.0.3", time.Minute, tcp(22))
			err := b.Open(ctx, []firewall.Door{good, bad})
			var fe *firewall.Error
			if !errors.As(err, &fe) || fe.Op != "open" {
				t.Errorf("Open(%v) = %v, want a firewall.Error", bad, err)
			}
		}
		if got := list(t, b); len(got) != 0 {
			t.Errorf("List = %v, want nothing written", got)
		}
	})
}

// TestNewErrors: a missing binary is a clear start-up error.
func TestNewErrors(t *testing.T) {
	ns := newNS(t)
	t.Parallel()
	for _, cfg := range []Config{
		{Path4: "/nonexistent/iptables", NetNSFd: ns.fd},
		{IPv6: true, Path6: "/nonexistent/ip6tables", NetNSFd: ns.fd},
	} {
		b, err := New(cfg)
		if err == nil {
			b.Close()
			t.Fatalf("New(%+v) = nil error", cfg)
		}
		var fe *firewall.Error
		if !errors.As(err, &fe) || fe.Backend != "iptables" || fe.Op != "connect" || !strings.Contains(fe.Hint, "install iptables") {
			t.Errorf("New(%+v) = %v, want a connect error with an install hint", cfg, err)
		}
	}
}

// TestPermissionDenied runs New without CAP_NET_ADMIN (a child of this
// test binary, in the test's namespace, with the capability dropped by
// setpriv): the error names the cause and the remedy.
func TestPermissionDenied(t *testing.T) {
	if os.Getenv("SESAME_IPT_EPERM_CHILD") == "1" {
		_, err := New(Config{IPv6: true})
		var fe *firewall.Error
		if !errors.As(err, &fe) || fe.Op != "connect" || !strings.Contains(fe.Hint, "CAP_NET_ADMIN") {
			t.Fatalf("New without CAP_NET_ADMIN = %v, want a connect error with a CAP_NET_ADMIN hint", err)
		}
		t.Logf("error: %v", err)
		return
	}
	ns := newNS(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	t.Parallel()
	cmd := exec.Command("ip", "netns", "exec", ns.name,
		"setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--",
		os.Args[0], "-test.run=^TestPermissionDenied$", "-test.v")
	cmd.Env = append(os.Environ(), "SESAME_IPT_EPERM_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CAP_NET_ADMIN") {
		t.Errorf("child output:\n%s", out)
	}
}

func list(t *testing.T, b *Backend) []firewall.Entry {
	t.Helper()
	got, err := b.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

// TestClosed: a closed backend says so instead of panicking.
func TestClosed(t *testing.T) {
	ns := newNS(t)
	t.Parallel()
	b, err := New(Config{NetNSFd: ns.fd})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	b.Close()
	ctx := context.Background()
	for name, err := range map[string]error{
		"Reconcile": b.Reconcile(ctx, guardedPorts),
		"Open":      b.Open(ctx, []firewall.Door{door("198.18.0.2", time.Minute, tcp(22))}),
		"Cleanup":   b.Cleanup(ctx),
	} {
		if !errors.Is(err, errClosed) {
			t.Errorf("%s after Close = %v, want errClosed", name, err)
		}
	}
	if _, err := b.List(ctx); !errors.Is(err, errClosed) {
		t.Errorf("List after Close = %v, want errClosed", err)
	}
}
