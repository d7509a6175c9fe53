package door

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

func nativeEvent(name string, ports ...uint16) *config.Event {
	ev := &config.Event{Name: name, OpenTimeout: 30 * time.Second}
	for _, p := range ports {
		ev.Open = append(ev.Open, config.Port{Proto: packet.TCP, Port: p})
	}
	return ev
}

func TestNativeOpensTheEventsPortsForItsSource(t *testing.T) {
	fw := &firewall.Fake{}
	var logs syncBuffer
	n := NewNative(slog.New(slog.NewTextHandler(&logs, nil)), func(*config.Event) firewall.Backend { return fw })
	ev := nativeEvent("ssh", 22, 2222)
	n.Open(ev, netip.MustParseAddr("::ffff:198.18.0.2"))
	n.Close()
	entries, _ := fw.List(t.Context())
	var got []string
	for _, e := range entries {
		got = append(got, e.Src.String()+" "+e.Port.String())
	}
	if want := "198.18.0.2 tcp:22,198.18.0.2 tcp:2222"; strings.Join(got, ",") != want {
		t.Fatalf("open doors %v, want %s (v4-mapped source unmapped)", got, want)
	}
	if !strings.Contains(logs.String(), `msg="door open" event=ssh src=198.18.0.2 stage=open firewall=fake ports=tcp:22,tcp:2222 timeout=30s`) {
		t.Fatalf("log:\n%s", logs.String())
	}
}

func TestNativeBatchesQueuedOpensPerBackend(t *testing.T) {
	a, b := &firewall.Fake{}, &firewall.Fake{}
	evA, evB := nativeEvent("a", 22), nativeEvent("b", 443)
	block := make(chan struct{})
	pick := func(ev *config.Event) firewall.Backend {
		if ev == evA {
			return a
		}
		return b
	}
	n := NewNative(slog.New(slog.NewTextHandler(&syncBuffer{}, nil)), pick)
	// Hold the firewall goroutine on a first open so the rest queue up.
	a.Now = func() time.Time { <-block; return time.Now() }
	n.Open(evA, netip.MustParseAddr("198.18.0.1"))
	for i := 2; i < 102; i++ {
		ev := evA
		if i%2 == 0 {
			ev = evB
		}
		n.Open(ev, netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}))
	}
	close(block)
	n.Close()
	opensA, opensB := a.Opens(), b.Opens()
	doors := 0
	for _, o := range append(opensA, opensB...) {
		doors += len(o)
	}
	if doors != 101 {
		t.Fatalf("%d doors opened, want 101", doors)
	}
	if len(opensA)+len(opensB) > 4 {
		t.Fatalf("%d firewall changes for 101 queued doors, want them batched (at most 4)", len(opensA)+len(opensB))
	}
}

func TestNativeLogsFirewallErrorsWithTheSource(t *testing.T) {
	fw := &firewall.Fake{FailOpen: errors.New("netlink: permission denied")}
	var logs syncBuffer
	n := NewNative(slog.New(slog.NewTextHandler(&logs, nil)), func(*config.Event) firewall.Backend { return fw })
	n.Open(nativeEvent("ssh", 22), netip.MustParseAddr("198.18.0.2"))
	n.Close()
	if !strings.Contains(logs.String(), `level=ERROR msg="failed to open door" event=ssh src=198.18.0.2 stage=open firewall=fake err="fake: failed to open: netlink: permission denied"`) {
		t.Fatalf("log:\n%s", logs.String())
	}
}

func TestNativeAfterCloseRefuses(t *testing.T) {
	fw := &firewall.Fake{}
	var logs syncBuffer
	n := NewNative(slog.New(slog.NewTextHandler(&logs, nil)), func(*config.Event) firewall.Backend { return fw })
	n.Close()
	n.Close() // idempotent
	n.Open(nativeEvent("ssh", 22), netip.MustParseAddr("198.18.0.2"))
	if len(fw.Opens()) != 0 || !strings.Contains(logs.String(), "door not opened: shutting down") {
		t.Fatalf("opens %v, log:\n%s", fw.Opens(), logs.String())
	}
}
