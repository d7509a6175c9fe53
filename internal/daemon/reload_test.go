package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/firewall"
)

// A reload carries attempts of unchanged events (by name and knock) into
// the new matcher, drops those of changed events, keeps the local
// addresses, and arms the timer for the carried deadlines.
func TestEngineReconfigureCarriesUnchangedAttempts(t *testing.T) {
	kept := config.Event{Name: "kept", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 5 * time.Second}
	changed := config.Event{Name: "changed", Sequence: seqOf(1000, 2000, 3000), SeqTimeout: 5 * time.Second}
	e, d, clk, buf := newTestEngine(t, false, []config.Event{kept, changed}, nil)
	e.Hit(knockHit("198.18.0.2", 7000))
	e.Hit(knockHit("198.18.0.2", 8000))
	e.Hit(knockHit("198.18.0.3", 1000))
	e.Hit(knockHit("198.18.0.3", 2000))
	clk.Advance(time.Second)

	changed.Sequence = seqOf(1000, 2500, 3000)
	added := config.Event{Name: "added", Sequence: seqOf(4000, 5000), SeqTimeout: 5 * time.Second}
	cfg := engineConfig{Events: []config.Event{added, changed, kept}, Door: d, Log: e.log, Clock: clk, ScanGuard: true, Budget: 128}
	carried, dropped := e.reconfigure(cfg, true, []netip.Addr{netip.MustParseAddr("198.18.0.1")})
	if carried != 1 || dropped != 1 {
		t.Fatalf("carried %d, dropped %d; want 1 and 1", carried, dropped)
	}
	e.Hit(knockHit("198.18.0.3", 3000))
	e.Hit(knockHit("198.18.0.2", 9000))
	if len(d.opened) != 1 || d.opened[0] != "kept 198.18.0.2" {
		t.Fatalf("doors opened after the reload: %v, want the carried attempt's only", d.opened)
	}
	// New events work, and hits to other destinations still do not count.
	e.Hit(knockHit("198.18.0.4", 4000))
	e.Hit(knockHit("198.18.0.4", 5000))
	other := knockHit("198.18.0.5", 4000)
	other.Dst = netip.MustParseAddr("198.18.9.9")
	e.Hit(other)
	other.DstPort = 5000
	e.Hit(other)
	if len(d.opened) != 2 || d.opened[1] != "added 198.18.0.4" {
		t.Fatalf("doors opened: %v, want the new event's too, and nothing for a foreign destination", d.opened)
	}
	// A carried attempt still times out on its old deadline, by the
	// engine's timer (no packet needed).
	e.Hit(knockHit("198.18.0.6", 7000))
	e.Hit(knockHit("198.18.0.6", 8000))
	e.reconfigure(cfg, true, []netip.Addr{netip.MustParseAddr("198.18.0.1")})
	clk.Advance(5*time.Second - time.Nanosecond)
	if strings.Contains(buf.String(), "msg=timeout") {
		t.Fatalf("timed out early:\n%s", buf.String())
	}
	clk.Advance(time.Nanosecond)
	if !strings.Contains(buf.String(), `msg=timeout src=198.18.0.6 event=kept stage=2/3`) {
		t.Fatalf("the carried attempt did not time out:\n%s", buf.String())
	}
}

// Two sections with one name (knockd allows it) keep their own attempts
// across a reload: each carries into its own occurrence.
func TestEngineReconfigureRepeatedNames(t *testing.T) {
	a := config.Event{Name: "dup", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 5 * time.Second, StartCommand: "a"}
	b := config.Event{Name: "dup", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 5 * time.Second, StartCommand: "b"}
	e, d, clk, _ := newTestEngine(t, false, []config.Event{a, b}, nil)
	e.Hit(knockHit("198.18.0.2", 7000))
	e.Hit(knockHit("198.18.0.2", 8000))
	cfg := engineConfig{Events: []config.Event{a, b}, Door: d, Log: e.log, Clock: clk, ScanGuard: true, Budget: 128}
	if carried, _ := e.reconfigure(cfg, true, []netip.Addr{netip.MustParseAddr("198.18.0.1")}); carried != 2 {
		t.Fatalf("carried %d, want both attempts", carried)
	}
	e.Hit(knockHit("198.18.0.2", 9000))
	if len(d.events) != 2 || d.events[0].StartCommand != "a" || d.events[1].StartCommand != "b" {
		var cmds []string
		for _, ev := range d.events {
			cmds = append(cmds, ev.StartCommand)
		}
		t.Fatalf("the knock opened sections with commands %v, want [a b]", cmds)
	}
}

// Events that share a first port: the knock of one fails the other's
// lone first step on the same hit. That failure is no knocker's mistake
// and must not reach fail2ban (INFO); a real wrong port still does.
func TestSharedFirstPortFailureIsNotLoggedAsAFailure(t *testing.T) {
	a := config.Event{Name: "a", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 5 * time.Second}
	b := config.Event{Name: "b", Sequence: seqOf(7000, 8500), SeqTimeout: 5 * time.Second}
	e, d, _, buf := newTestEngine(t, false, []config.Event{a, b}, nil)
	for _, p := range []uint16{7000, 8000, 9000} {
		e.Hit(knockHit("198.18.0.2", p))
	}
	if len(d.opened) != 1 {
		t.Fatalf("opened %v", d.opened)
	}
	if strings.Contains(buf.String(), "failed") {
		t.Fatalf("a good knock of a logged a failure at INFO:\n%s", buf.String())
	}
	for _, p := range []uint16{7000, 8000, 1234} {
		e.Hit(knockHit("198.18.0.3", p))
	}
	if !strings.Contains(buf.String(), `msg="failed: wrong port" src=198.18.0.3 event=a stage=2/3`) {
		t.Fatalf("a real wrong port was not logged:\n%s", buf.String())
	}
}

// TestReloadRollsBack runs the whole daemon (on a capture file, so
// unprivileged) with native doors in fake firewalls, and reloads it:
// a reload that fails at its capture, or at its firewall, leaves the
// firewall guarding what the running configuration needs; a good one
// moves the guard.
func TestReloadRollsBack(t *testing.T) {
	var mu sync.Mutex
	made := map[string]*firewall.Fake{}
	failing := map[string]bool{config.FirewallIptables: true}
	oldNew, oldDef := newBackend, defaultFirewall
	newBackend = func(k backendKey) (firewall.Backend, error) {
		mu.Lock()
		defer mu.Unlock()
		f := &firewall.Fake{}
		if failing[k.kind] {
			f.FailSetup = errors.New("refused by the test")
		}
		made[k.kind] = f
		return f, nil
	}
	defaultFirewall = func() string { return config.FirewallNftables }
	t.Cleanup(func() { newBackend, defaultFirewall = oldNew, oldDef })
	guarded := func(kind string) string {
		mu.Lock()
		defer mu.Unlock()
		if made[kind] == nil {
			return "none"
		}
		return config.FormatPorts(made[kind].Guarded())
	}

	dir := t.TempDir()
	capFile := filepath.Join(dir, "empty.pcap")
	writePcap(t, capFile, nil)
	conf := func(capture, port, firewall string) *config.Config {
		t.Helper()
		text := fmt.Sprintf("[options]\n\tCapture = pcap:%s\n[ssh]\n\tSequence = 7000,8000\n\tOpen = tcp:%s\n\tFirewall = %s\n", capture, port, firewall)
		cfg, err := config.ParseKnockd("reload.conf", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	next := make(chan *config.Config, 1)
	hup := make(chan os.Signal, 1)
	var log lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, conf(capFile, "2224", "nftables"), Options{
			Stderr: &log, Hangup: hup, Reload: func() (*config.Config, error) { return <-next, nil },
			ControlSocket: NoControlSocket, KeepPrivileges: true,
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitLog := func(substr string, n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(log.String(), substr) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d lines with %q, want %d:\n%s", strings.Count(log.String(), substr), substr, n, log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLog("msg=ready", 1)
	if g := guarded("nftables"); g != "tcp:2224" {
		t.Fatalf("guarded %s at start, want tcp:2224", g)
	}
	reload := func(cfg *config.Config, want string, n int) {
		t.Helper()
		next <- cfg
		hup <- syscall.SIGHUP
		waitLog(want, n)
	}
	// The capture cannot be opened: nothing changed.
	reload(conf(filepath.Join(dir, "missing.pcap"), "2225", "nftables"), "still running with the previous configuration", 1)
	if g := guarded("nftables"); g != "tcp:2224" {
		t.Fatalf("after a reload that failed at its capture the firewall guards %s, want tcp:2224", g)
	}
	// A good reload moves the guard.
	reload(conf(capFile, "2225", "nftables"), "msg=reloaded", 1)
	if g := guarded("nftables"); g != "tcp:2225" {
		t.Fatalf("after a good reload the firewall guards %s, want tcp:2225", g)
	}
	// The new firewall refuses: the running one keeps its guard.
	reload(conf(capFile, "2226", "iptables"), "still running with the previous configuration", 2)
	if g := guarded("nftables"); g != "tcp:2225" {
		t.Fatalf("after a reload refused by the new firewall, the running one guards %s, want tcp:2225", g)
	}
	if g := guarded("iptables"); g != "" && g != "none" {
		t.Fatalf("the refusing firewall was left guarding %s", g)
	}
	if c := strings.Count(log.String(), "reload failed: "); c < 4 {
		t.Errorf("%d reload failure lines, want each error and its outcome:\n%s", c, log.String())
	}
}

// Hits and reloads at once (run under -race in CI): a reload takes over
// between two hits, never in the middle of one.
func TestEngineReconfigureWhileHit(t *testing.T) {
	ev := config.Event{Name: "e", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 5 * time.Second}
	e, d, clk, _ := newTestEngine(t, false, []config.Event{ev}, nil)
	stop := make(chan struct{})
	hitting := make(chan struct{})
	go func() {
		defer close(hitting)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e.Hit(knockHit(fmt.Sprintf("10.0.%d.%d", i>>8&255, i&255), uint16(7000+1000*(i%3))))
		}
	}()
	cfg := engineConfig{Events: []config.Event{ev}, Door: d, Log: e.log, Clock: clk, ScanGuard: true, Budget: 128}
	for range 50 {
		e.reconfigure(cfg, true, []netip.Addr{netip.MustParseAddr("198.18.0.1")})
	}
	close(stop)
	<-hitting
	if a := e.active(); a > 128 {
		t.Fatalf("%d attempts in a table of 128", a)
	}
}
