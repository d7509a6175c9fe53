package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
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
