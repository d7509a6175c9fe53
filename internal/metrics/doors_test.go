package metrics

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

var (
	alice = netip.MustParseAddr("192.0.2.1")
	bob   = netip.MustParseAddr("2001:db8::2")
	carol = netip.MustParseAddr("198.51.100.3")
)

// TestOpenDoors follows doors through opens, refreshes and expiry, by
// injected times.
func TestOpenDoors(t *testing.T) {
	t.Parallel()
	type step struct {
		open  bool
		event string
		src   netip.Addr
		now   int // s after t0
		until int
		want  int // Count(now) after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"empty", []step{{now: 0, want: 0}}},
		{"one door open then shut", []step{
			{open: true, event: "ssh", src: alice, now: 0, until: 30, want: 1},
			{now: 29, want: 1},
			{now: 30, want: 0}, // the deadline itself is shut
		}},
		{"re-open refreshes, counts once", []step{
			{open: true, event: "ssh", src: alice, now: 0, until: 30, want: 1},
			{open: true, event: "ssh", src: alice, now: 20, until: 50, want: 1},
			{now: 40, want: 1},
			{now: 50, want: 0},
		}},
		{"re-open with an earlier deadline keeps the later", []step{
			{open: true, event: "ssh", src: alice, now: 0, until: 30, want: 1},
			{open: true, event: "ssh", src: alice, now: 1, until: 10, want: 1},
			{now: 20, want: 1},
			{now: 30, want: 0},
		}},
		{"one source, two events: two doors", []step{
			{open: true, event: "ssh", src: alice, now: 0, until: 30, want: 1},
			{open: true, event: "web", src: alice, now: 0, until: 60, want: 2},
			{now: 30, want: 1},
			{now: 60, want: 0},
		}},
		{"IPv4-mapped is the IPv4 source", []step{
			{open: true, event: "ssh", src: alice, now: 0, until: 30, want: 1},
			{open: true, event: "ssh", src: netip.AddrFrom16(alice.As16()), now: 1, until: 31, want: 1},
		}},
		{"events with different timeouts", []step{
			{open: true, event: "long", src: alice, now: 0, until: 100, want: 1},
			{open: true, event: "short", src: bob, now: 1, until: 6, want: 2},
			{open: true, event: "short", src: carol, now: 2, until: 7, want: 3},
			{now: 6, want: 2},
			{now: 7, want: 1},
			{now: 100, want: 0},
		}},
		{"expired door re-opened is new", []step{
			{open: true, event: "ssh", src: alice, now: 0, until: 10, want: 1},
			{open: true, event: "ssh", src: alice, now: 20, until: 30, want: 1},
			{now: 29, want: 1},
			{now: 30, want: 0},
		}},
		{"a door already shut is not counted", []step{
			{open: true, event: "ssh", src: alice, now: 10, until: 10, want: 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := NewOpenDoors(0)
			for i, s := range tc.steps {
				if s.open {
					d.Open(s.event, s.src, at(s.now), at(s.until))
				}
				if got := d.Count(at(s.now)); got != s.want {
					t.Fatalf("step %d: Count(t0+%ds) = %d, want %d", i, s.now, got, s.want)
				}
			}
		})
	}
}

// TestOpenDoorsSaturates: past the limit, new doors are not tracked and
// Count reports the limit until every one of them may have shut.
func TestOpenDoorsSaturates(t *testing.T) {
	t.Parallel()
	d := NewOpenDoors(3)
	for i := range 3 {
		d.Open("ssh", addr(i), at(0), at(10))
	}
	if got := d.Count(at(0)); got != 3 {
		t.Fatalf("Count = %d, want 3", got)
	}
	d.Open("ssh", addr(3), at(1), at(20)) // does not fit
	d.Open("ssh", addr(0), at(1), at(12)) // tracked: a refresh needs no room
	if got := d.Count(at(5)); got != 3 {
		t.Errorf("saturated Count = %d, want the limit 3", got)
	}
	if got := d.Count(at(15)); got != 3 {
		t.Errorf("Count after the tracked doors shut, an untracked one still open = %d, want 3", got)
	}
	if got := d.Count(at(20)); got != 0 {
		t.Errorf("Count after every door shut = %d, want 0", got)
	}
	// Expired doors make room at the next Open.
	for i := range 3 {
		d.Open("web", addr(i), at(30), at(40))
	}
	d.Open("ssh", addr(9), at(41), at(50))
	if got := d.Count(at(41)); got != 1 {
		t.Errorf("Count = %d, want 1 (the expired doors made room)", got)
	}
}

// TestOpenDoorsBounded: a long run of doors, far past the limit in all,
// keeps the table at its limit and reuses its nodes.
func TestOpenDoorsBounded(t *testing.T) {
	t.Parallel()
	const limit = 64
	d := NewOpenDoors(limit)
	for i := range 100 * limit {
		now := at(i)
		d.Open("ssh", addr(i), now, now.Add(10*time.Second))
		if got := d.Count(now); got != min(i+1, 10) {
			t.Fatalf("after %d opens a second apart: Count = %d, want %d", i+1, got, min(i+1, 10))
		}
	}
	if len(d.nodes) > 11 {
		t.Errorf("%d nodes allocated for at most 10 doors open at once", len(d.nodes))
	}
}

// TestOpenDoorsAllocate: once the table has grown, re-opens and new doors
// that replace expired ones allocate nothing.
func TestOpenDoorsAllocate(t *testing.T) {
	d := NewOpenDoors(0)
	for i := range 100 {
		d.Open("ssh", addr(i), at(0), at(1))
	}
	d.Count(at(2))
	now := 2
	allocs := testing.AllocsPerRun(100, func() {
		now++
		d.Open("ssh", addr(now%100), at(now), at(now+1))
		d.Open("ssh", addr(now%100), at(now), at(now+1))
		d.Count(at(now))
	})
	if allocs != 0 {
		t.Errorf("Open allocates %v times per run in steady state, want 0", allocs)
	}
}

func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func BenchmarkOpenDoors(b *testing.B) {
	d := NewOpenDoors(0)
	b.ReportAllocs()
	for i := range b.N {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		d.Open("ssh", addr(i%50000), now, now.Add(30*time.Second))
	}
}
