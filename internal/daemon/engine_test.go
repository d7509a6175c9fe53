package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/clock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
)

// recordingDoor remembers every door it was asked to open.
type recordingDoor struct {
	mu     sync.Mutex
	opened []string
	events []*config.Event
}

func (d *recordingDoor) Open(ev *config.Event, src netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opened = append(d.opened, ev.Name+" "+src.String())
	d.events = append(d.events, ev)
}

// fakeOneTime is a list of sequences used in order.
type fakeOneTime struct {
	seqs [][]config.Element
	used int
}

func (f *fakeOneTime) Current() ([]config.Element, bool) {
	if len(f.seqs) == 0 {
		return nil, false
	}
	return f.seqs[0], true
}
func (f *fakeOneTime) MarkUsed() error         { f.seqs = f.seqs[1:]; f.used++; return nil }
func (f *fakeOneTime) All() [][]config.Element { return f.seqs }
func seqOf(ports ...uint16) (s []config.Element) {
	for _, p := range ports {
		s = append(s, config.Element{Proto: packet.TCP, Port: p})
	}
	return s
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newTestEngine(t *testing.T, verbose bool, events []config.Event, ot []Sequencer) (*engine, *recordingDoor, *clock.Fake, *lockedBuffer) {
	t.Helper()
	var buf lockedBuffer
	log, _, err := newLogger(LogOptions{Stderr: &buf, Verbose: verbose})
	if err != nil {
		t.Fatal(err)
	}
	d := &recordingDoor{}
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := mustEngine(t, engineConfig{Events: events, OneTime: ot, Door: d, Log: log, Clock: clk, ScanGuard: true, Budget: 128})
	e.setLocal([]netip.Addr{netip.MustParseAddr("198.18.0.1")})
	return e, d, clk, &buf
}

func knockHit(src string, port uint16) *packet.Hit {
	return &packet.Hit{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("198.18.0.1"), Proto: packet.TCP, DstPort: port, Flags: packet.SYN}
}

func TestEngineOpensDoorAndLogsEachStage(t *testing.T) {
	events := []config.Event{{Name: "openSSH", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 5 * time.Second}}
	e, d, _, buf := newTestEngine(t, true, events, nil)
	for _, p := range []uint16{7000, 8000, 9000} {
		e.Hit(knockHit("198.18.0.2", p))
	}
	if len(d.opened) != 1 || d.opened[0] != "openSSH 198.18.0.2" {
		t.Fatalf("doors opened: %v", d.opened)
	}
	for _, want := range []string{`msg="stage 1/3" src=198.18.0.2 event=openSSH`, `msg="stage 2/3"`, `msg="OPEN SESAME" src=198.18.0.2 event=openSSH stage=3/3`, "level=VERBOSE"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestEngineTimeoutFiresWithoutFurtherPackets(t *testing.T) {
	events := []config.Event{{Name: "e", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 5 * time.Second}}
	e, d, clk, buf := newTestEngine(t, false, events, nil)
	e.Hit(knockHit("198.18.0.2", 7000))
	e.Hit(knockHit("198.18.0.2", 8000))
	clk.Advance(5*time.Second - time.Nanosecond)
	if strings.Contains(buf.String(), "timeout") {
		t.Fatal("timed out early")
	}
	clk.Advance(time.Nanosecond)
	if !strings.Contains(buf.String(), `msg=timeout src=198.18.0.2 event=e stage=2/3`) {
		t.Fatalf("no timeout line at the deadline:\n%s", buf.String())
	}
	e.Hit(knockHit("198.18.0.2", 9000))
	if len(d.opened) != 0 {
		t.Fatal("a timed-out attempt opened the door")
	}
	if clk.Pending() > 1 {
		t.Fatalf("%d timers pending; the engine should keep one", clk.Pending())
	}
}

func TestEngineLogsFailureWithSourceAndHit(t *testing.T) {
	events := []config.Event{{Name: "e", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 5 * time.Second}}
	e, _, _, buf := newTestEngine(t, false, events, nil)
	e.Hit(knockHit("198.18.0.2", 7000))
	e.Hit(knockHit("198.18.0.2", 8000))
	e.Hit(knockHit("198.18.0.2", 22)) // scan guard: a new connection elsewhere
	if !strings.Contains(buf.String(), `msg="failed: wrong port" src=198.18.0.2 event=e stage=2/3 hit=tcp:22`) {
		t.Fatalf("failure line missing:\n%s", buf.String())
	}
	// Past only the first knock, a failure is no more than a lone first
	// knock (a scan crossing the port, a spoofed flood): not at INFO.
	e.Hit(knockHit("198.18.0.3", 7000))
	e.Hit(knockHit("198.18.0.3", 22))
	if strings.Contains(buf.String(), "src=198.18.0.3") {
		t.Fatalf("a failure after the first knock only was logged at INFO:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "stage 1/3") {
		t.Fatal("stage lines logged without -v")
	}
}

func TestEngineOneTimeSequenceMovesOn(t *testing.T) {
	ot := &fakeOneTime{seqs: [][]config.Element{seqOf(1000, 2000), seqOf(3000, 4000)}}
	events := []config.Event{{Name: "ot", OneTimeFile: "x", SeqTimeout: 5 * time.Second}}
	e, d, _, buf := newTestEngine(t, false, events, []Sequencer{ot})
	for _, p := range []uint16{1000, 2000, 1000, 2000, 3000, 4000, 3000, 4000} {
		e.Hit(knockHit("198.18.0.2", p))
	}
	if len(d.opened) != 2 || ot.used != 2 {
		t.Fatalf("opened %v, used %d; want two opens, each sequence once", d.opened, ot.used)
	}
	if !strings.Contains(buf.String(), "one-time sequences exhausted") {
		t.Fatalf("exhaustion not logged:\n%s", buf.String())
	}
}

func TestEngineIPv4OnlyIgnoresIPv6(t *testing.T) {
	events := []config.Event{{Name: "e", Sequence: seqOf(7000), SeqTimeout: time.Second}}
	e, d, _, _ := newTestEngine(t, false, events, nil)
	e.ipv4Only = true
	e.setLocal(nil)
	e.Hit(&packet.Hit{Src: netip.MustParseAddr("fd00::2"), Dst: netip.MustParseAddr("fd00::1"), Proto: packet.TCP, DstPort: 7000, Flags: packet.SYN})
	if len(d.opened) != 0 {
		t.Fatal("IPv6 knock opened with -4")
	}
}

func TestEngineHitDoesNotAllocate(t *testing.T) {
	events := []config.Event{{Name: "e", Sequence: seqOf(7000, 8000, 9000), SeqTimeout: 5 * time.Second}}
	e, _, _, _ := newTestEngine(t, false, events, nil)
	e.log = slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	hits := []*packet.Hit{knockHit("198.18.0.2", 7000), knockHit("198.18.0.2", 8000), knockHit("198.18.0.3", 7000)}
	i := 0
	if n := testing.AllocsPerRun(1000, func() { e.Hit(hits[i%3]); i++ }); n != 0 {
		t.Fatalf("engine.Hit allocates %.1f times per hit, want 0", n)
	}
}

// With -l, a reverse lookup that hangs must not hold up the capture path:
// hits keep flowing and doors keep opening; the line is logged, with the
// name, when the lookup returns.
func TestEngineLookupNeverBlocksTheCapturePath(t *testing.T) {
	events := []config.Event{{Name: "e", Sequence: seqOf(7000), SeqTimeout: time.Second}}
	e, d, _, buf := newTestEngine(t, false, events, nil)
	e.lookup = true
	release := make(chan struct{})
	e.lookupAddr = func(ctx context.Context, addr string) ([]string, error) {
		<-release
		return []string{"knocker.example."}, nil
	}
	done := make(chan struct{})
	go func() {
		for i := 0; i < 20; i++ { // more than the lookups allowed in flight
			e.Hit(knockHit("198.18.0.2", 7000))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Hit blocked on a hanging reverse lookup")
	}
	if len(d.opened) != 20 {
		t.Fatalf("%d doors opened, want 20", len(d.opened))
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "host=knocker.example.") {
		if time.Now().After(deadline) {
			t.Fatalf("no line with the looked-up name:\n%s", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustEngine(tb testing.TB, c engineConfig) *engine {
	tb.Helper()
	e, err := newEngine(c)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// port-knocking-doors' rules through the engine: datagrams must carry the
// payload, and a wrong one locks the source out (logged, with the
// lockout, for fail2ban) until the lockout ends on the clock.
func TestEnginePayloadAndLockout(t *testing.T) {
	var seq []config.Element
	for _, p := range []uint16{16001, 16002, 16003, 16004, 16005} {
		seq = append(seq, config.Element{Proto: packet.UDP, Port: p})
	}
	events := []config.Event{{Name: "pkd", Sequence: seq, SeqTimeout: 30 * time.Second, Payload: "knock\n", Lockout: 5 * time.Second}}
	e, d, clk, buf := newTestEngine(t, false, events, nil)
	send := func(port uint16, payload string) {
		h := &packet.Hit{Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.18.0.1"), Proto: packet.UDP, DstPort: port, PayloadLen: uint16(len(payload))}
		h.SetHead([]byte(payload))
		e.Hit(h)
	}
	knockAll := func() {
		for _, p := range []uint16{16001, 16002, 16003, 16004, 16005} {
			send(p, "knock\n")
		}
	}
	send(16001, "knock\n")
	send(16002, "nope\n")
	if !strings.Contains(buf.String(), `msg="failed: wrong port or payload" src=198.18.0.2 event=pkd stage=1/5 hit=udp:16002 lockout=5s`) {
		t.Fatalf("no failure line with the lockout:\n%s", buf.String())
	}
	knockAll()
	if len(d.opened) != 0 {
		t.Fatalf("a locked-out source opened: %v", d.opened)
	}
	clk.Advance(5 * time.Second)
	knockAll()
	if len(d.opened) != 1 {
		t.Fatalf("after the lockout: opened %v, want one door", d.opened)
	}
}
