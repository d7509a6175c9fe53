//go:build linux

package nftables

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

// These tests need root; each runs in a fresh network namespace and
// compares `nft list ruleset` (element expiry masked) with testdata/*.nft.

func newRoot(t testing.TB, ns *netns, cfg Config) *Backend {
	t.Helper()
	cfg.NetNSFd = ns.fd()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func wantRuleset(t *testing.T, ns *netns, name string) {
	t.Helper()
	got := ns.ruleset(t)
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", name), []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if string(want) != got {
		t.Errorf("nft list ruleset differs from testdata/%s:\n%s", name, lineDiff(string(want), got))
	}
}

var (
	ctx     = context.Background()
	client4 = netip.MustParseAddr("192.0.2.7")
	client6 = netip.MustParseAddr("2001:db8::7")
	ssh     = firewall.Port{Proto: packet.TCP, Port: 22}
	dns     = firewall.Port{Proto: packet.UDP, Port: 53}
)

func mustOpen(t testing.TB, b *Backend, doors ...firewall.Door) {
	t.Helper()
	if err := b.Open(ctx, doors); err != nil {
		t.Fatal(err)
	}
}

func mustList(t testing.TB, b *Backend) []firewall.Entry {
	t.Helper()
	l, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRootGuardRuleset(t *testing.T) {
	ns := newNetns(t)
	b := newRoot(t, ns, Config{})
	if err := b.Reconcile(ctx, guardedPorts); err != nil {
		t.Fatal(err)
	}
	wantRuleset(t, ns, "guard.nft")
	mustOpen(t, b,
		firewall.Door{Src: client4, Ports: []firewall.Port{ssh, dns}, Timeout: time.Minute},
		firewall.Door{Src: client6, Ports: []firewall.Port{ssh}, Timeout: time.Minute})
	wantRuleset(t, ns, "guard_open.nft")
	l := mustList(t, b)
	want := []string{"192.0.2.7 tcp:22", "192.0.2.7 udp:53", "2001:db8::7 tcp:22"}
	if len(l) != len(want) {
		t.Fatalf("List = %v, want %v", l, want)
	}
	for i, e := range l {
		if got := e.Src.String() + " " + e.Port.String(); got != want[i] {
			t.Errorf("List[%d] = %s, want %s", i, got, want[i])
		}
		if e.Expires <= 0 || e.Expires > time.Hour {
			t.Errorf("List[%d] expires %v", i, e.Expires)
		}
	}
	if err := b.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ns.ruleset(t); got != "" {
		t.Errorf("after Cleanup, ruleset:\n%s", got)
	}
	// Cleanup of nothing is not an error.
	if err := b.Cleanup(ctx); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

// A repeated knock refreshes the timeout and never duplicates the element.
func TestRootOpenRefreshes(t *testing.T) {
	ns := newNetns(t)
	b := newRoot(t, ns, Config{})
	if err := b.Reconcile(ctx, guardedPorts); err != nil {
		t.Fatal(err)
	}
	door := firewall.Door{Src: client4, Ports: []firewall.Port{ssh}, Timeout: 10 * time.Second}
	mustOpen(t, b, door)
	time.Sleep(1500 * time.Millisecond)
	before := mustList(t, b)
	if len(before) != 1 || before[0].Expires > 9*time.Second {
		t.Fatalf("after 1.5 s: %v, want one element expiring in under 9 s", before)
	}
	for range 5 {
		mustOpen(t, b, door)
	}
	after := mustList(t, b)
	if len(after) != 1 {
		t.Fatalf("after five Opens: %v, want exactly one element", after)
	}
	if after[0].Expires <= before[0].Expires || after[0].Expires < 9500*time.Millisecond {
		t.Errorf("expiry went from %v to %v: not refreshed", before[0].Expires, after[0].Expires)
	}
	if n := strings.Count(ns.run(t, "nft", "list", "set", "inet", "sesame", SetV4), "192.0.2.7"); n != 1 {
		t.Errorf("nft shows the element %d times", n)
	}
}

// The kernel closes the door by itself.
func TestRootExpires(t *testing.T) {
	ns := newNetns(t)
	b := newRoot(t, ns, Config{})
	if err := b.Reconcile(ctx, guardedPorts); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, b, firewall.Door{Src: client4, Ports: []firewall.Port{ssh}, Timeout: 2 * time.Second},
		firewall.Door{Src: client6, Ports: []firewall.Port{dns}, Timeout: 2 * time.Second})
	if l := mustList(t, b); len(l) != 2 {
		t.Fatalf("List = %v, want two doors", l)
	}
	b.Close() // the daemon is gone: the kernel must still close the doors
	start := time.Now()
	for {
		out := ns.run(t, "nft", "list", "table", "inet", "sesame")
		if !strings.Contains(out, "192.0.2.7") && !strings.Contains(out, "2001:db8::7") {
			break
		}
		if time.Since(start) > 6*time.Second {
			t.Fatalf("doors still open %v after a 2 s timeout:\n%s", time.Since(start), out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("doors closed after %v, before their timeout", el)
	}
}

// Reconciling again (a restart) keeps open doors, not duplicated, with
// their expiry untouched; a change of guarded ports replaces the rules.
func TestRootReconcileKeepsDoors(t *testing.T) {
	ns := newNetns(t)
	b := newRoot(t, ns, Config{})
	if err := b.Reconcile(ctx, guardedPorts); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, b, firewall.Door{Src: client4, Ports: []firewall.Port{ssh, dns}, Timeout: time.Minute},
		firewall.Door{Src: client6, Ports: []firewall.Port{ssh}, Timeout: time.Minute})
	b.Close()

	b2 := newRoot(t, ns, Config{})
	if err := b2.Reconcile(ctx, guardedPorts); err != nil {
		t.Fatal(err)
	}
	if err := b2.Reconcile(ctx, guardedPorts); err != nil {
		t.Fatal(err)
	}
	wantRuleset(t, ns, "guard_open.nft")
	if n := b2.Notes(); n != nil {
		t.Errorf("Notes = %q, want none", n)
	}

	// Other guarded ports: new guarded set, same doors.
	if err := b2.Reconcile(ctx, []firewall.Port{{Proto: packet.TCP, Port: 2222}, dns}); err != nil {
		t.Fatal(err)
	}
	wantRuleset(t, ns, "guard_changed.nft")
	if l := mustList(t, b2); len(l) != 3 {
		t.Errorf("List = %v, want the three doors", l)
	}
}

// An older layout (a door set of another type, a chain at another
// priority) is replaced, and Notes says so.
func TestRootReconcileOldLayout(t *testing.T) {
	ns := newNetns(t)
	ns.nftLoad(t, `table inet sesame {
	set sesame_v4 { type ipv4_addr . inet_service; flags timeout; elements = { 192.0.2.9 . 22 timeout 1h } }
	set guarded { type inet_service; elements = { 22 } }
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport @guarded ip saddr . tcp dport @sesame_v4 accept
		tcp dport @guarded drop
	}
}
`)
	b := newRoot(t, ns, Config{})
	if err := b.Reconcile(ctx, guardedPorts); err != nil {
		t.Fatal(err)
	}
	wantRuleset(t, ns, "guard.nft")
	notes := strings.Join(b.Notes(), "\n")
	if !strings.Contains(notes, "recreated set inet sesame sesame_v4") || !strings.Contains(notes, "replaced chain") {
		t.Errorf("Notes = %q", notes)
	}
}

const adminTable = `table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
	}
}
`

func TestRootSetMode(t *testing.T) {
	ns := newNetns(t)
	cfg := Config{Mode: SetOnly, Family: "inet", Table: "filter"}

	// The table must exist first.
	b := newRoot(t, ns, cfg)
	err := b.Reconcile(ctx, guardedPorts)
	var fe *firewall.Error
	if !errors.As(err, &fe) || !strings.Contains(fe.Hint, "nft add table inet filter") {
		t.Fatalf("Reconcile without the table = %v, want an error with a hint", err)
	}

	ns.nftLoad(t, adminTable)
	if err := b.Reconcile(ctx, guardedPorts); err != nil {
		t.Fatal(err)
	}
	// The administrator's own rules use the sets.
	ns.run(t, "nft", "add", "rule", "inet", "filter", "input", "ip", "saddr", ".", "meta", "l4proto", ".", "th", "dport", "@"+SetV4, "accept")
	ns.run(t, "nft", "add", "rule", "inet", "filter", "input", "tcp", "dport", "22", "drop")
	mustOpen(t, b, firewall.Door{Src: client4, Ports: []firewall.Port{ssh}, Timeout: time.Minute},
		firewall.Door{Src: client6, Ports: []firewall.Port{ssh}, Timeout: time.Minute})
	if err := b.Reconcile(ctx, guardedPorts); err != nil { // restart
		t.Fatal(err)
	}
	wantRuleset(t, ns, "set_mode.nft")

	// The kernel refuses to delete a set that a rule uses.
	err = b.Cleanup(ctx)
	if !errors.As(err, &fe) || !strings.Contains(fe.Hint, "delete those rules first") {
		t.Fatalf("Cleanup with the admin's rule = %v, want an error with a hint", err)
	}
	ns.run(t, "nft", "flush", "chain", "inet", "filter", "input")
	if err := b.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ns.ruleset(t); strings.Contains(got, "sesame") {
		t.Errorf("after Cleanup:\n%s", got)
	}
}

func TestRootSetModeIP(t *testing.T) {
	ns := newNetns(t)
	ns.nftLoad(t, "table ip fw { }\n")
	b := newRoot(t, ns, Config{Mode: SetOnly, Family: "ip", Table: "fw"})
	if err := b.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, b, firewall.Door{Src: client4, Ports: []firewall.Port{dns}, Timeout: time.Minute})
	if l := mustList(t, b); len(l) != 1 || l[0].Src != client4 || l[0].Port != dns {
		t.Errorf("List = %v", l)
	}
	if out := ns.run(t, "nft", "list", "set", "ip", "fw", SetV4); !strings.Contains(out, "192.0.2.7 . udp . 53 timeout 1m") {
		t.Errorf("nft list set:\n%s", out)
	}
}

func BenchmarkOpen(b *testing.B) {
	ns := newNetns(b)
	be := newRoot(b, ns, Config{})
	if err := be.Reconcile(ctx, guardedPorts); err != nil {
		b.Fatal(err)
	}
	doors := []firewall.Door{{Src: client4, Ports: []firewall.Port{ssh}, Timeout: time.Minute}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := be.Open(ctx, doors); err != nil {
			b.Fatal(err)
		}
	}
}
