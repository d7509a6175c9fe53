package firewalld

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/sesame-knock/sesame/internal/firewall"
)

// fakeFirewalld is a recording stand-in for firewalld's D-Bus object: it
// answers the calls the backend makes, keeps rich rules per zone the way
// firewalld does (refusing duplicates with ALREADY_ENABLED, an absent rule
// with NOT_ENABLED, an unknown zone with INVALID_ZONE) and records every
// call with its arguments.
type fakeFirewalld struct {
	mu          sync.Mutex
	calls       []string
	state       string
	defaultZone string
	zones       map[string]*fakeZone
	services    map[string]map[string]dbus.Variant
	// vanish makes rules disappear right after getRichRules returned
	// them, as if firewalld had expired them in between.
	vanish bool
	// addErr, if set, is returned by every addRichRule.
	addErr *dbus.Error
}

type fakeZone struct {
	settings map[string]dbus.Variant
	rules    []string
}

type portPair = struct{ Port, Proto string }

func newFake() *fakeFirewalld {
	return &fakeFirewalld{
		state:       "RUNNING",
		defaultZone: "public",
		zones: map[string]*fakeZone{
			"public": {settings: map[string]dbus.Variant{
				"target":   dbus.MakeVariant("default"),
				"services": dbus.MakeVariant([]string{"ssh", "dhcpv6-client"}),
			}},
			"internal": {settings: map[string]dbus.Variant{
				"target": dbus.MakeVariant("default"),
			}},
		},
		services: map[string]map[string]dbus.Variant{
			"ssh":           {"ports": dbus.MakeVariant([]portPair{{"22", "tcp"}})},
			"dhcpv6-client": {"ports": dbus.MakeVariant([]portPair{{"546", "udp"}})},
			"mosh":          {"ports": dbus.MakeVariant([]portPair{{"60000-61000", "udp"}})},
			"ssh-and-more":  {"includes": dbus.MakeVariant([]string{"http", "ssh"})},
			"http":          {"ports": dbus.MakeVariant([]portPair{{"80", "tcp"}})},
		},
	}
}

func fwErr(format string, args ...any) *dbus.Error {
	return &dbus.Error{Name: errorName, Body: []any{fmt.Sprintf(format, args...)}}
}

func (f *fakeFirewalld) record(method string, args ...any) {
	s := method
	for _, a := range args {
		s += fmt.Sprintf(" %v", a)
	}
	f.calls = append(f.calls, s)
}

func (f *fakeFirewalld) zone(z string) (*fakeZone, *dbus.Error) {
	if zz, ok := f.zones[z]; ok {
		return zz, nil
	}
	return nil, fwErr("INVALID_ZONE: %s", z)
}

func (f *fakeFirewalld) export(t *testing.T, c *dbus.Conn) {
	t.Helper()
	main := map[string]any{
		"getDefaultZone": func() (string, *dbus.Error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.record("getDefaultZone")
			return f.defaultZone, nil
		},
		"getServiceSettings2": func(s string) (map[string]dbus.Variant, *dbus.Error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.record("getServiceSettings2", s)
			if v, ok := f.services[s]; ok {
				return v, nil
			}
			return nil, fwErr("INVALID_SERVICE: %s", s)
		},
	}
	zone := map[string]any{
		"addRichRule": func(z, rule string, timeout int32) (string, *dbus.Error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.record("addRichRule", z, rule, timeout)
			zz, err := f.zone(z)
			if err != nil {
				return "", err
			}
			if f.addErr != nil {
				return "", f.addErr
			}
			if slices.Contains(zz.rules, rule) {
				return "", fwErr("ALREADY_ENABLED: '%s' already in '%s'", rule, z)
			}
			zz.rules = append(zz.rules, rule)
			return z, nil
		},
		"removeRichRule": func(z, rule string) (string, *dbus.Error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.record("removeRichRule", z, rule)
			zz, err := f.zone(z)
			if err != nil {
				return "", err
			}
			i := slices.Index(zz.rules, rule)
			if i < 0 {
				return "", fwErr("NOT_ENABLED: '%s' not in '%s'", rule, z)
			}
			zz.rules = slices.Delete(zz.rules, i, i+1)
			return z, nil
		},
		"getRichRules": func(z string) ([]string, *dbus.Error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.record("getRichRules", z)
			zz, err := f.zone(z)
			if err != nil {
				return nil, err
			}
			out := slices.Clone(zz.rules)
			if f.vanish {
				zz.rules = nil
			}
			return append([]string{}, out...), nil
		},
		"getZoneSettings2": func(z string) (map[string]dbus.Variant, *dbus.Error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.record("getZoneSettings2", z)
			zz, err := f.zone(z)
			if err != nil {
				return nil, err
			}
			s := map[string]dbus.Variant{}
			for k, v := range zz.settings {
				s[k] = v
			}
			if len(zz.rules) > 0 {
				s["rules_str"] = dbus.MakeVariant(slices.Clone(zz.rules))
			}
			return s, nil
		},
	}
	props := map[string]any{
		"Get": func(iface, prop string) (dbus.Variant, *dbus.Error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.record("Get", iface, prop)
			if iface == ifaceMain && prop == "state" {
				return dbus.MakeVariant(f.state), nil
			}
			return dbus.Variant{}, &dbus.Error{Name: "org.freedesktop.DBus.Error.InvalidArgs", Body: []any{"no such property"}}
		},
	}
	for iface, m := range map[string]map[string]any{ifaceMain: main, ifaceZone: zone, "org.freedesktop.DBus.Properties": props} {
		if err := c.ExportMethodTable(m, objectPath, iface); err != nil {
			t.Fatal(err)
		}
	}
	reply, err := c.RequestName(busName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("fake firewalld: failed to own %s: %v %v", busName, reply, err)
	}
}

// with changes the fake's state under its lock (handlers run on godbus's
// goroutines).
func (f *fakeFirewalld) with(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// takeCalls returns the calls recorded since the last takeCalls.
func (f *fakeFirewalld) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakeFirewalld) rules(z string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.zones[z].rules)
}

// fakeClock is the backend's injected clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSetup starts a private bus with the fake on it (unless noFake) and a
// backend on its own connection.
func fakeSetup(t *testing.T, cfg Config, noFake bool) (*fakeFirewalld, *Backend, *fakeClock) {
	t.Helper()
	addr := startBus(t)
	f := newFake()
	if !noFake {
		f.export(t, connect(t, addr))
	}
	cfg.Conn = connect(t, addr)
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b.now = clk.now
	return f, b, clk
}

const (
	r4tcp22   = `rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept`
	r4udp7000 = `rule family="ipv4" source address="198.18.0.2" port port="7000" protocol="udp" accept`
	r6tcp22   = `rule family="ipv6" source address="fd00:5e5a::2" port port="22" protocol="tcp" accept`
	rAdmin    = `rule family="ipv4" source address="198.18.0.0/24" service name="ssh" accept`
	rAdmin2   = `rule family="ipv4" source address="198.18.0.9" port port="22" protocol="tcp" drop`
)

var (
	src4 = netip.MustParseAddr("198.18.0.2")
	src6 = netip.MustParseAddr("fd00:5e5a::2")
)

func TestFakeOpenAndRefresh(t *testing.T) {
	t.Parallel()
	f, b, clk := fakeSetup(t, Config{}, false)
	ctx := context.Background()

	// A new door: the default zone is resolved once, then per (src, port)
	// a removal (NOT_ENABLED: nothing to refresh) and an add with the
	// timeout in seconds, rounded up. The same door twice in one call
	// is one rule with the longer timeout.
	err := b.Open(ctx, []firewall.Door{
		{Src: src4, Ports: []firewall.Port{tcp(22), udp(7000)}, Timeout: 29500 * time.Millisecond},
		{Src: src6, Ports: []firewall.Port{tcp(22)}, Timeout: 10 * time.Second},
		{Src: src4, Ports: []firewall.Port{tcp(22)}, Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := []string{
		"getDefaultZone",
		"removeRichRule public " + r4tcp22,
		"addRichRule public " + r4tcp22 + " 30",
		"removeRichRule public " + r4udp7000,
		"addRichRule public " + r4udp7000 + " 30",
		"removeRichRule public " + r6tcp22,
		"addRichRule public " + r6tcp22 + " 10",
	}
	if diff := cmp.Diff(want, f.takeCalls()); diff != "" {
		t.Fatalf("Open calls (-want +got):\n%s", diff)
	}

	// Five knocks more: each one removes the rule and adds it again with
	// the new timeout; never a duplicate.
	for i := range 5 {
		clk.advance(time.Second)
		if err := b.Open(ctx, []firewall.Door{{Src: src4, Ports: []firewall.Port{tcp(22)}, Timeout: 60 * time.Second}}); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		want := []string{
			"removeRichRule public " + r4tcp22,
			"addRichRule public " + r4tcp22 + " 60",
		}
		if diff := cmp.Diff(want, f.takeCalls()); diff != "" {
			t.Fatalf("refresh %d calls (-want +got):\n%s", i, diff)
		}
	}
	got := f.rules("public")
	slices.Sort(got)
	wantRules := []string{r4tcp22, r4udp7000, r6tcp22}
	slices.Sort(wantRules)
	if diff := cmp.Diff(wantRules, got); diff != "" {
		t.Fatalf("rules in zone (-want +got):\n%s", diff)
	}

	// List knows the deadlines it set; time is the injected clock's.
	clk.advance(10 * time.Second)
	entries, err := b.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	gotE := map[string]time.Duration{}
	for _, e := range entries {
		gotE[e.Src.String()+" "+e.Port.String()] = e.Expires
	}
	wantE := map[string]time.Duration{
		"198.18.0.2 tcp:22":   50 * time.Second, // 60 s set at +5 s, now +15 s
		"198.18.0.2 udp:7000": 15 * time.Second, // 30 s set at 0
		"fd00:5e5a::2 tcp:22": 0,                // 10 s set at 0: past its deadline, firewalld has not said it is gone
	}
	if diff := cmp.Diff(wantE, gotE); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"getRichRules public"}, f.takeCalls()); diff != "" {
		t.Errorf("List calls (-want +got):\n%s", diff)
	}
}

func TestFakeOpenAlreadyEnabledAfterRemove(t *testing.T) {
	t.Parallel()
	// Someone adds the rule between our remove and add: ALREADY_ENABLED
	// means it is open, not an error.
	f, b, _ := fakeSetup(t, Config{Zone: "internal"}, false)
	f.with(func() { f.addErr = fwErr("ALREADY_ENABLED: '%s' already in 'internal'", r4tcp22) })
	if err := b.Open(context.Background(), []firewall.Door{{Src: src4, Ports: []firewall.Port{tcp(22)}, Timeout: time.Second}}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := []string{
		"removeRichRule internal " + r4tcp22,
		"addRichRule internal " + r4tcp22 + " 1",
	}
	if diff := cmp.Diff(want, f.takeCalls()); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
}

func TestFakeOpenErrors(t *testing.T) {
	t.Parallel()
	f, b, _ := fakeSetup(t, Config{Zone: "public"}, false)
	ctx := context.Background()
	bad := []struct {
		name string
		door firewall.Door
	}{
		{"zone-in-address", firewall.Door{Src: netip.MustParseAddr(`fe80::1%x" accept rule`), Ports: []firewall.Port{tcp(22)}, Timeout: time.Second}},
		{"no-address", firewall.Door{Ports: []firewall.Port{tcp(22)}, Timeout: time.Second}},
		{"no-timeout", firewall.Door{Src: src4, Ports: []firewall.Port{tcp(22)}}},
		{"port-zero", firewall.Door{Src: src4, Ports: []firewall.Port{tcp(0)}, Timeout: time.Second}},
		{"sctp", firewall.Door{Src: src4, Ports: []firewall.Port{{Proto: 132, Port: 22}}, Timeout: time.Second}},
	}
	for _, tt := range bad {
		// A good door first: nothing at all may be changed.
		err := b.Open(ctx, []firewall.Door{{Src: src4, Ports: []firewall.Port{tcp(22)}, Timeout: time.Second}, tt.door})
		var fe *firewall.Error
		if !errors.As(err, &fe) || fe.Op != "open" || fe.Backend != "firewalld" {
			t.Errorf("%s: Open = %v, want a firewall.Error for open", tt.name, err)
		}
		if calls := f.takeCalls(); len(calls) != 0 {
			t.Errorf("%s: Open made calls for an invalid door: %q", tt.name, calls)
		}
	}

	f.with(func() { f.addErr = fwErr("INVALID_RULE: nope") })
	err := b.Open(ctx, []firewall.Door{{Src: src4, Ports: []firewall.Port{tcp(22)}, Timeout: time.Second}})
	var fe *firewall.Error
	if !errors.As(err, &fe) || fe.Op != "open" || errorCode(err) != "INVALID_RULE" {
		t.Fatalf("Open = %v, want an open error wrapping INVALID_RULE", err)
	}
}

func TestFakeListAndCleanup(t *testing.T) {
	t.Parallel()
	f, b, _ := fakeSetup(t, Config{}, false)
	f.with(func() { f.zones["public"].rules = []string{rAdmin, r4tcp22, rAdmin2, r6tcp22} })
	ctx := context.Background()

	entries, err := b.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []firewall.Entry{
		{Src: src4, Port: tcp(22)}, // found, not added by this backend: Expires 0
		{Src: src6, Port: tcp(22)},
	}
	if diff := cmp.Diff(want, entries, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"getDefaultZone", "getRichRules public"}, f.takeCalls()); diff != "" {
		t.Errorf("List calls (-want +got):\n%s", diff)
	}

	if err := b.Cleanup(ctx); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	wantCalls := []string{
		"getRichRules public",
		"removeRichRule public " + r4tcp22,
		"removeRichRule public " + r6tcp22,
	}
	if diff := cmp.Diff(wantCalls, f.takeCalls()); diff != "" {
		t.Errorf("Cleanup calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{rAdmin, rAdmin2}, f.rules("public")); diff != "" {
		t.Errorf("rules left (-want +got):\n%s", diff)
	}

	// Rules that expire between getRichRules and their removal are fine.
	f.with(func() {
		f.zones["public"].rules = []string{r4tcp22, rAdmin}
		f.vanish = true
	})
	if err := b.Cleanup(ctx); err != nil {
		t.Fatalf("Cleanup with expiring rules: %v", err)
	}
}

func TestFakeReconcile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		zone    string
		guarded []firewall.Port
		setup   func(f *fakeFirewalld)
		noFake  bool
		op      string // "" for no error
		errHas  string
		hint    string
	}{
		{name: "ok-default-zone", guarded: []firewall.Port{tcp(2222), udp(22)}},
		{name: "ok-named-zone", zone: "internal", guarded: []firewall.Port{tcp(22)}},
		{name: "ok-nothing-guarded", guarded: nil},
		{name: "not-running", noFake: true, op: "connect", errHas: "not on the bus", hint: startHint},
		{name: "starting", setup: func(f *fakeFirewalld) { f.state = "INIT" }, op: "connect", errHas: "state INIT", hint: startHint},
		{name: "unknown-zone", zone: "nope", guarded: []firewall.Port{tcp(22)}, op: "reconcile", errHas: "INVALID_ZONE", hint: "firewall-cmd --get-zones"},
		{name: "service-opens-port", guarded: []firewall.Port{tcp(2222), tcp(22)}, op: "reconcile", errHas: "service ssh", hint: "must not open"},
		{name: "included-service", zone: "internal", guarded: []firewall.Port{tcp(22)},
			setup: func(f *fakeFirewalld) {
				f.zones["internal"].settings["services"] = dbus.MakeVariant([]string{"ssh-and-more"})
			}, op: "reconcile", errHas: "service ssh-and-more (port 22/tcp)"},
		{name: "port-range", zone: "internal", guarded: []firewall.Port{tcp(2222)},
			setup: func(f *fakeFirewalld) {
				f.zones["internal"].settings["ports"] = dbus.MakeVariant([]portPair{{"80", "tcp"}, {"2000-3000", "tcp"}})
			}, op: "reconcile", errHas: "2000-3000/tcp", hint: "must not open"},
		{name: "port-other-proto", zone: "internal", guarded: []firewall.Port{tcp(2222)},
			setup: func(f *fakeFirewalld) {
				f.zones["internal"].settings["ports"] = dbus.MakeVariant([]portPair{{"2222", "udp"}})
			}},
		{name: "protocol", zone: "internal", guarded: []firewall.Port{udp(7000)},
			setup: func(f *fakeFirewalld) {
				f.zones["internal"].settings["protocols"] = dbus.MakeVariant([]string{"udp"})
			}, op: "reconcile", errHas: "protocol udp"},
		{name: "target-accept", zone: "internal", guarded: []firewall.Port{tcp(22)},
			setup: func(f *fakeFirewalld) {
				f.zones["internal"].settings["target"] = dbus.MakeVariant("ACCEPT")
			}, op: "reconcile", errHas: "target is ACCEPT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, b, _ := fakeSetup(t, Config{Zone: tt.zone}, tt.noFake)
			f.with(func() {
				if tt.setup != nil {
					tt.setup(f)
				}
				f.zones["public"].rules = []string{r4tcp22, rAdmin}
			})
			err := b.Reconcile(context.Background(), tt.guarded)
			if tt.op == "" {
				if err != nil {
					t.Fatalf("Reconcile: %v", err)
				}
			} else {
				var fe *firewall.Error
				if !errors.As(err, &fe) {
					t.Fatalf("Reconcile = %v, want a *firewall.Error", err)
				}
				if fe.Backend != "firewalld" || fe.Op != tt.op || !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(fe.Hint, tt.hint) {
					t.Fatalf("Reconcile = %q (op %q, hint %q), want op %q, error with %q, hint with %q", err, fe.Op, fe.Hint, tt.op, tt.errHas, tt.hint)
				}
			}
			// Whatever happened, the doors already open are kept.
			if diff := cmp.Diff([]string{r4tcp22, rAdmin}, f.rules("public")); diff != "" {
				t.Errorf("rules after Reconcile (-want +got):\n%s", diff)
			}
			for _, c := range f.takeCalls() {
				if strings.HasPrefix(c, "removeRichRule") || strings.HasPrefix(c, "addRichRule") {
					t.Errorf("Reconcile changed a rule: %s", c)
				}
			}
		})
	}
}

func TestFakeReconcileCalls(t *testing.T) {
	t.Parallel()
	f, b, _ := fakeSetup(t, Config{}, false)
	if err := b.Reconcile(context.Background(), []firewall.Port{tcp(2222)}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	want := []string{
		"Get " + ifaceMain + " state",
		"getDefaultZone",
		"getZoneSettings2 public",
		"getServiceSettings2 ssh",
		"getServiceSettings2 dhcpv6-client",
	}
	if diff := cmp.Diff(want, f.takeCalls()); diff != "" {
		t.Errorf("Reconcile calls (-want +got):\n%s", diff)
	}
}
