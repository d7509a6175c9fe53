package daemon

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/door"
	"github.com/sesame-knock/sesame/internal/firewall"
)

// fakeFirewalls makes openFirewalls build recording fakes, one per key.
func fakeFirewalls(t *testing.T, def string) map[backendKey]*firewall.Fake {
	t.Helper()
	made := map[backendKey]*firewall.Fake{}
	oldNew, oldDef := newBackend, defaultFirewall
	newBackend = func(k backendKey) (firewall.Backend, error) {
		f := &firewall.Fake{}
		made[k] = f
		return f, nil
	}
	defaultFirewall = func() string { return def }
	t.Cleanup(func() { newBackend, defaultFirewall = oldNew, oldDef })
	return made
}

const doorsConf = `[ssh]
	Sequence = 7000,8000
	Open = tcp:22
	Open_Timeout = 20
[vpn]
	Sequence = 9000
	Open = udp:1194,tcp:22
	Start_Command = true
[web]
	Sequence = 6000
	Open = tcp:443
	Firewall = iptables
[admin]
	Sequence = 5000
	Open = tcp:8443
	Nft_Table = inet filter
[cmd]
	Sequence = 4000
	Start_Command = true
`

// reconciled parses conf and sets up its firewalls as the daemon does.
func reconciled(t *testing.T, conf string) (*config.Config, *firewalls, error) {
	t.Helper()
	cfg, err := config.ParseKnockd("k.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	fws, err := openFirewalls(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, fws, fws.reconcile(t.Context())
}

func TestFirewallsOneBackendPerKindAndTable(t *testing.T) {
	made := fakeFirewalls(t, config.FirewallNftables)
	cfg, fws, err := reconciled(t, doorsConf)
	if err != nil {
		t.Fatal(err)
	}
	guard := made[backendKey{kind: "nftables"}]
	set := made[backendKey{kind: "nftables", nftTable: "inet filter"}]
	ipt := made[backendKey{kind: "iptables"}]
	if len(made) != 3 || guard == nil || set == nil || ipt == nil {
		t.Fatalf("backends %v, want nftables guard, nftables set mode and iptables", made)
	}
	if got := config.FormatPorts(guard.Guarded()); got != "tcp:22,udp:1194" {
		t.Errorf("guard mode protects %s, want the union of its events' ports tcp:22,udp:1194", got)
	}
	if got := config.FormatPorts(ipt.Guarded()); got != "tcp:443" {
		t.Errorf("iptables protects %s, want tcp:443", got)
	}
	if fws.pick(&cfg.Events[4]) != nil {
		t.Error("an event without Open has a backend")
	}
	if err := fws.cleanup(t.Context()); err != nil {
		t.Fatal(err)
	}
	for k, f := range made {
		if !slices.Contains(f.Calls(), "cleanup") {
			t.Errorf("%v not cleaned up", k)
		}
	}
}

// The whole native-door road in memory: hits in, a door in the firewall.
func TestEngineOpensNativeDoor(t *testing.T) {
	made := fakeFirewalls(t, config.FirewallNftables)
	cfg, fws, err := reconciled(t, doorsConf)
	if err != nil {
		t.Fatal(err)
	}
	e, _, _, _ := newTestEngine(t, false, cfg.Events, nil)
	native := door.NewNative(e.log, fws.pick)
	e.door = doors{native: native, fws: fws}
	e.Hit(knockHit("198.18.0.2", 7000))
	e.Hit(knockHit("198.18.0.2", 8000))
	native.Close()
	entries, _ := made[backendKey{kind: "nftables"}].List(t.Context())
	if len(entries) != 1 || entries[0].Src != netip.MustParseAddr("198.18.0.2") || entries[0].Port.String() != "tcp:22" ||
		entries[0].Expires > 20*time.Second || entries[0].Expires < 19*time.Second {
		t.Fatalf("open doors %v, want 198.18.0.2 tcp:22 for 20s", entries)
	}
}

func TestFirewallRefusalStopsStartup(t *testing.T) {
	made := map[backendKey]*firewall.Fake{}
	oldNew := newBackend
	newBackend = func(k backendKey) (firewall.Backend, error) {
		f := &firewall.Fake{FailSetup: errors.New("operation not permitted")}
		made[k] = f
		return f, nil
	}
	t.Cleanup(func() { newBackend = oldNew })
	if _, _, err := reconciled(t, "[ssh]\n\tSequence = 7000\n\tOpen = tcp:22\n\tFirewall = iptables\n"); err == nil {
		t.Fatal("reconcile succeeded on a refusing firewall")
	}
}

// One event may run its command and open its native door.
func TestCommandAndNativeDoorOnOneEvent(t *testing.T) {
	made := fakeFirewalls(t, config.FirewallNftables)
	marker := filepath.Join(t.TempDir(), "started")
	cfg, fws, err := reconciled(t, "[both]\n\tSequence = 7000\n\tOpen = tcp:22\n\tStart_Command = echo %IP% > "+marker+"\n")
	if err != nil {
		t.Fatal(err)
	}
	e, _, clk, _ := newTestEngine(t, false, cfg.Events, nil)
	runner := door.NewRunner(door.Options{Clock: clk, Logger: e.log})
	native := door.NewNative(e.log, fws.pick)
	e.door = doors{cmds: runner, native: native, fws: fws}
	e.Hit(knockHit("198.18.0.2", 7000))
	native.Close()
	if err := runner.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(marker); err != nil || strings.TrimSpace(string(b)) != "198.18.0.2" {
		t.Fatalf("start command output %q, %v; want the knocker's address", b, err)
	}
	if entries, _ := made[backendKey{kind: "nftables"}].List(t.Context()); len(entries) != 1 || entries[0].Port.String() != "tcp:22" {
		t.Fatalf("native doors %v, want one for tcp:22", entries)
	}
}
