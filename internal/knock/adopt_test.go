package knock

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// adoptRig drives two matchers on one clock.
type adoptRig struct {
	t   *testing.T
	now int64
	out []Outcome
}

func (r *adoptRig) syn(m *Matcher, src string, port uint16) []Outcome {
	h := packet.Hit{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("198.18.0.1"), Proto: packet.TCP, DstPort: port, Flags: packet.SYN}
	r.out = m.Hit(&h, r.now, r.out[:0])
	return r.out
}

func kinds(out []Outcome) []Kind {
	var k []Kind
	for _, o := range out {
		k = append(k, o.Kind)
	}
	return k
}

func same(e int) (int, bool) { return e, true }

func TestAdoptCarriesAttemptsOfUnchangedEvents(t *testing.T) {
	r := &adoptRig{t: t, now: 1}
	kept := ev(tcpSeq(7000, 8000, 9000))
	changed := ev(tcpSeq(1000, 2000, 3000))
	old := New([]Event{kept, changed}, Options{})
	r.syn(old, "198.18.0.2", 7000)
	r.syn(old, "198.18.0.2", 8000) // stage 2 of 3
	r.syn(old, "198.18.0.3", 1000)
	r.syn(old, "198.18.0.3", 2000)
	r.now += int64(time.Second)

	// The reloaded configuration: a new event first, the kept one moved
	// to index 2, the changed one now a different knock.
	m := New([]Event{ev(tcpSeq(4000, 5000)), ev(tcpSeq(1000, 2500, 3000)), kept}, Options{})
	carried, dropped := m.Adopt(old, func(e int) (int, bool) {
		if e == 0 {
			return 2, true
		}
		return 0, false
	})
	if carried != 1 || dropped != 0 || m.Active() != 1 {
		t.Fatalf("carried %d dropped %d active %d, want 1 0 1", carried, dropped, m.Active())
	}
	if got := r.syn(m, "198.18.0.2", 9000); len(got) != 1 || got[0].Kind != Open || got[0].Event != 2 {
		t.Fatalf("last knock after the reload: %+v, want open of event 2", got)
	}
	if got := r.syn(m, "198.18.0.3", 3000); len(got) != 0 {
		t.Fatalf("an attempt of a changed event was carried: %+v", got)
	}
}

func TestAdoptKeepsDeadlinesAndLockouts(t *testing.T) {
	r := &adoptRig{t: t, now: 1}
	e := ev(tcpSeq(7000, 8000, 9000))
	e.Lockout = 3 * time.Second
	old := New([]Event{e}, Options{})
	r.syn(old, "198.18.0.2", 7000)
	r.syn(old, "198.18.0.2", 8000)
	r.syn(old, "198.18.0.4", 7000)
	r.syn(old, "198.18.0.4", 9000) // wrong: locked out for 3 s
	start := r.now
	m := New([]Event{e}, Options{})
	if carried, _ := m.Adopt(old, same); carried != 2 {
		t.Fatalf("carried %d, want the attempt and the lockout", carried)
	}
	if d, ok := m.NextDeadline(); !ok || d != start+int64(3*time.Second) {
		t.Fatalf("NextDeadline %d %v, want the lockout's end %d", d, ok, start+int64(3*time.Second))
	}
	// Still locked: its full knock is ignored.
	for _, p := range []uint16{7000, 8000, 9000} {
		if got := r.syn(m, "198.18.0.4", p); len(got) != 0 {
			t.Fatalf("a locked-out source got %v after the reload", kinds(got))
		}
	}
	r.now = start + int64(5*time.Second)
	r.out = m.Expire(r.now, r.out[:0])
	if len(r.out) != 1 || r.out[0].Kind != Timeout || r.out[0].Src != netip.MustParseAddr("198.18.0.2") {
		t.Fatalf("expiry at 5 s: %+v, want the carried attempt's timeout (the lockout ends silently)", r.out)
	}
	if m.Active() != 0 {
		t.Fatalf("%d attempts left", m.Active())
	}
}

func TestAdoptWithASmallerBudgetKeepsProgressFirst(t *testing.T) {
	r := &adoptRig{t: t, now: 1}
	e := ev(tcpSeq(7000, 8000, 9000))
	old := New([]Event{e}, Options{MaxAttempts: 64})
	r.syn(old, "198.18.0.2", 7000)
	r.syn(old, "198.18.0.2", 8000) // protected
	for i := 0; i < 40; i++ {
		r.now++
		r.syn(old, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}).String(), 7000)
	}
	m := New([]Event{e}, Options{MaxAttempts: 8})
	carried, dropped := m.Adopt(old, same)
	if carried != 8 || dropped != 33 {
		t.Fatalf("carried %d dropped %d, want 8 and 33", carried, dropped)
	}
	if got := r.syn(m, "198.18.0.2", 9000); len(got) != 1 || got[0].Kind != Open {
		t.Fatalf("the knocker past step one lost its place: %v", kinds(got))
	}
	// The newest first steps were kept: 10.0.0.39 is still in progress,
	// 10.0.0.0 is not.
	if got := r.syn(m, "10.0.0.39", 8000); len(got) != 1 || got[0].Kind != Progress || got[0].Stage != 2 {
		t.Fatalf("newest first step: %v, want progress to stage 2", got)
	}
	if got := r.syn(m, "10.0.0.0", 8000); len(got) != 0 {
		t.Fatalf("oldest first step was kept: %v", kinds(got))
	}
	// Eviction order survives: the next flood evicts probation, oldest first.
	// (The open freed one slot.)
	if got := r.syn(m, "10.9.9.9", 7000); len(got) != 1 || got[0].Kind != Progress {
		t.Fatalf("a new first knock into the free slot: %v", kinds(got))
	}
	got := r.syn(m, "10.9.9.8", 7000)
	if len(got) != 2 || got[0].Kind != Evicted || got[0].Src != netip.MustParseAddr("10.0.0.33") {
		t.Fatalf("first eviction after the reload: %+v, want 10.0.0.33 (oldest first step kept)", got)
	}
}

func TestAdoptRefusesDifferentDurations(t *testing.T) {
	r := &adoptRig{t: t, now: 1}
	old := New([]Event{ev(tcpSeq(7000, 8000, 9000))}, Options{})
	r.syn(old, "198.18.0.2", 7000)
	longer := ev(tcpSeq(7000, 8000, 9000))
	longer.Timeout = time.Minute
	m := New([]Event{longer}, Options{})
	if carried, _ := m.Adopt(old, same); carried != 0 {
		t.Fatalf("carried %d attempts into an event with another timeout", carried)
	}
}

func TestAdoptNeverMergesTwoEvents(t *testing.T) {
	r := &adoptRig{t: t, now: 1}
	e := ev(tcpSeq(7000, 8000, 9000))
	old := New([]Event{e, e}, Options{})
	r.syn(old, "198.18.0.2", 7000) // starts both events
	m := New([]Event{e}, Options{})
	carried, _ := m.Adopt(old, func(int) (int, bool) { return 0, true })
	if carried != 1 || m.Active() != 1 {
		t.Fatalf("carried %d, active %d: two events' attempts merged into one", carried, m.Active())
	}
}
