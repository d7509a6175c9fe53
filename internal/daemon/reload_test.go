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
