package knock

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
)

// step is either a hit or a jump of the clock (then Expire runs).
type step struct {
	src   string
	dst   string // default 198.18.0.1
	proto packet.Proto
	port  uint16
	flags packet.TCPFlags
	wait  time.Duration
	// payload is a UDP datagram's payload.
	payload string
}

func datagram(src string, port uint16, payload string) step {
	return step{src: src, proto: packet.UDP, port: port, payload: payload}
}

func syn(src string, port uint16) step {
	return step{src: src, proto: packet.TCP, port: port, flags: packet.SYN}
}
func ack(src string, port uint16) step {
	return step{src: src, proto: packet.TCP, port: port, flags: packet.ACK}
}
func udp(src string, port uint16) step { return step{src: src, proto: packet.UDP, port: port} }
func wait(d time.Duration) step        { return step{wait: d} }
func to(s step, dst string) step       { s.dst = dst; return s }
func flags(s step, f packet.TCPFlags) step {
	s.flags = f
	return s
}

func tcpSeq(ports ...uint16) []config.Element {
	var s []config.Element
	for _, p := range ports {
		s = append(s, config.Element{Proto: packet.TCP, Port: p})
	}
	return s
}

func ev(seq []config.Element) Event { return Event{Sequence: seq, Timeout: 5 * time.Second} }

// run feeds the steps and returns outcomes as "kind event src stage/of".
func run(t *testing.T, m *Matcher, steps []step) []string {
	t.Helper()
	var now int64 = 1e9
	var got []string
	var out []Outcome
	for _, s := range steps {
		out = out[:0]
		if s.wait != 0 {
			now += int64(s.wait)
			out = m.Expire(now, out)
		} else {
			dst := s.dst
			if dst == "" {
				dst = "198.18.0.1"
			}
			h := packet.Hit{Src: netip.MustParseAddr(s.src), Dst: netip.MustParseAddr(dst), Proto: s.proto, DstPort: s.port, Flags: s.flags}
			h.PayloadLen = uint16(len(s.payload))
			h.SetHead([]byte(s.payload))
			out = m.Hit(&h, now, out)
		}
		for _, o := range out {
			line := fmt.Sprintf("%s e%d %s %d/%d", o.Kind, o.Event, o.Src, o.Stage, o.Of)
			if o.Locked {
				line += " locked"
			}
			got = append(got, line)
		}
	}
	return got
}

func TestMatcherRules(t *testing.T) {
	const a, b = "198.18.0.2", "198.18.0.3"
	seq3 := []Event{ev(tcpSeq(7000, 8000, 9000))}
	tests := []struct {
		name   string
		events []Event
		guard  bool
		steps  []step
		want   []string
	}{
		{
			name:   "sequence in order opens",
			events: seq3,
			steps:  []step{syn(a, 7000), syn(a, 8000), syn(a, 9000)},
			want:   []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:   "each knock sent twice still opens",
			events: seq3,
			steps:  []step{syn(a, 7000), syn(a, 7000), syn(a, 8000), syn(a, 8000), syn(a, 9000), syn(a, 9000)},
			want:   []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:   "wrong sequence port fails",
			events: []Event{ev(tcpSeq(7000, 8000, 9000)), ev(tcpSeq(1111, 2222))},
			steps:  []step{syn(a, 7000), syn(a, 2222), syn(a, 8000), syn(a, 9000)},
			want:   []string{"progress e0 198.18.0.2 1/3", "fail e0 198.18.0.2 1/3"},
		},
		{
			name:   "first element restarts at step one",
			events: seq3,
			steps:  []step{syn(a, 7000), syn(a, 8000), syn(a, 7000), syn(a, 8000), syn(a, 9000)},
			want: []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "progress e0 198.18.0.2 1/3",
				"progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:   "repeated element in the sequence advances before it is ignored",
			events: []Event{ev(tcpSeq(7000, 7000, 8000))},
			steps:  []step{syn(a, 7000), syn(a, 7000), syn(a, 7000), syn(a, 8000)},
			want:   []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:   "flag rule: failing hits are invisible, not failures",
			events: []Event{{Sequence: tcpSeq(7000, 8000), Timeout: 5 * time.Second, Flags: config.FlagRule{Set: packet.SYN, Clear: packet.ACK}}},
			steps:  []step{syn(a, 7000), ack(a, 9999), ack(a, 7000), flags(syn(a, 8000), packet.SYN|packet.ACK), syn(a, 8000)},
			want:   []string{"progress e0 198.18.0.2 1/2", "open e0 198.18.0.2 2/2"},
		},
		{
			name:   "flag rule does not apply to udp",
			events: []Event{{Sequence: []config.Element{{Proto: packet.UDP, Port: 7000}, {Proto: packet.TCP, Port: 8000}}, Timeout: time.Second, Flags: config.FlagRule{Set: packet.SYN}}},
			steps:  []step{udp(a, 7000), syn(a, 8000)},
			want:   []string{"progress e0 198.18.0.2 1/2", "open e0 198.18.0.2 2/2"},
		},
		{
			name:   "protocol is part of the element",
			events: []Event{ev([]config.Element{{Proto: packet.UDP, Port: 7000}, {Proto: packet.TCP, Port: 8000}}), ev(tcpSeq(7000, 9000))},
			steps:  []step{udp(a, 7000), syn(a, 7000), syn(a, 8000)},
			want:   []string{"progress e0 198.18.0.2 1/2", "fail e0 198.18.0.2 1/2", "progress e1 198.18.0.2 1/2", "fail e1 198.18.0.2 1/2"},
		},
		{
			name:   "without scan guard ports outside every sequence are invisible",
			events: []Event{ev([]config.Element{{Proto: packet.UDP, Port: 7000}, {Proto: packet.TCP, Port: 8000}})},
			steps:  []step{udp(a, 7000), syn(a, 7000), udp(a, 8000), syn(a, 8000)},
			want:   []string{"progress e0 198.18.0.2 1/2", "open e0 198.18.0.2 2/2"},
		},
		{
			name: "exact frame flags (tportknockd) on one port",
			events: []Event{ev([]config.Element{
				{Proto: packet.TCP, Port: 110, Flags: config.FrameFlags{Exact: true, Value: packet.AllFlags}},
				{Proto: packet.TCP, Port: 110, Flags: config.FrameFlags{Exact: true, Value: packet.URG | packet.PSH}},
				{Proto: packet.TCP, Port: 110, Flags: config.FrameFlags{Exact: true, Value: packet.URG | packet.PSH}},
				{Proto: packet.TCP, Port: 110, Flags: config.FrameFlags{Exact: true}},
				{Proto: packet.TCP, Port: 110},
			})},
			steps: []step{flags(syn(a, 110), packet.AllFlags), flags(syn(a, 110), packet.URG|packet.PSH), flags(syn(a, 110), packet.URG|packet.PSH),
				flags(syn(a, 110), 0), ack(a, 110)},
			want: []string{"progress e0 198.18.0.2 1/5", "progress e0 198.18.0.2 2/5", "progress e0 198.18.0.2 3/5", "progress e0 198.18.0.2 4/5", "open e0 198.18.0.2 5/5"},
		},
		{
			name:   "timeout is enforced when it happens",
			events: seq3,
			steps:  []step{syn(a, 7000), wait(4 * time.Second), syn(a, 8000), wait(time.Second), syn(a, 9000)},
			want:   []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "timeout e0 198.18.0.2 2/3"},
		},
		{
			name:   "no timeout one nanosecond early",
			events: seq3,
			steps:  []step{syn(a, 7000), wait(5*time.Second - 1), syn(a, 8000), syn(a, 9000)},
			want:   []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:   "restart moves the deadline",
			events: seq3,
			steps:  []step{syn(a, 7000), wait(3 * time.Second), syn(a, 8000), syn(a, 7000), wait(3 * time.Second), syn(a, 8000), syn(a, 9000)},
			want: []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "progress e0 198.18.0.2 1/3",
				"progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:   "sources are independent",
			events: seq3,
			steps:  []step{syn(a, 7000), syn(b, 7000), syn(b, 9000), syn(a, 8000), syn(b, 8000), syn(a, 9000)},
			want:   []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.3 1/3", "fail e0 198.18.0.3 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:   "events are independent",
			events: []Event{ev(tcpSeq(7000, 8000, 9000)), ev(tcpSeq(7000, 8000, 6000))},
			steps:  []step{syn(a, 7000), syn(a, 8000), syn(a, 6000)},
			want: []string{"progress e0 198.18.0.2 1/3", "progress e1 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3",
				"progress e1 198.18.0.2 2/3", "fail e0 198.18.0.2 2/3", "open e1 198.18.0.2 3/3"},
		},
		{
			name:   "without scan guard a syn to an unrelated port is invisible",
			events: seq3,
			steps:  []step{syn(a, 7000), syn(a, 22), udp(a, 53), syn(a, 8000), syn(a, 9000)},
			want:   []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:   "scan guard: a new connection to another port fails the attempt",
			events: seq3,
			guard:  true,
			steps:  []step{syn(a, 7000), syn(a, 22)},
			want:   []string{"progress e0 198.18.0.2 1/3", "fail e0 198.18.0.2 1/3"},
		},
		{
			name:   "scan guard: udp to another port fails the attempt",
			events: seq3,
			guard:  true,
			steps:  []step{syn(a, 7000), udp(a, 53)},
			want:   []string{"progress e0 198.18.0.2 1/3", "fail e0 198.18.0.2 1/3"},
		},
		{
			name:   "scan guard: established traffic (ack) elsewhere is not a failure",
			events: seq3,
			guard:  true,
			steps:  []step{syn(a, 7000), ack(a, 22), syn(a, 8000), syn(a, 9000)},
			want:   []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:   "hits to other hosts do not count",
			events: seq3,
			steps:  []step{to(syn(a, 7000), "198.18.9.9"), syn(a, 8000)},
			want:   nil,
		},
		{
			name:   "target overrides the local addresses",
			events: []Event{{Sequence: tcpSeq(7000, 8000), Timeout: time.Second, Target: netip.MustParseAddr("203.0.113.7")}},
			steps:  []step{syn(a, 7000), to(syn(a, 7000), "203.0.113.7"), to(syn(a, 8000), "203.0.113.7")},
			want:   []string{"progress e0 198.18.0.2 1/2", "open e0 198.18.0.2 2/2"},
		},
		{
			name:   "single element sequence opens at once",
			events: []Event{ev(tcpSeq(7000))},
			steps:  []step{syn(a, 7000), syn(a, 7000)},
			want:   []string{"open e0 198.18.0.2 1/1", "open e0 198.18.0.2 1/1"},
		},
		{
			name:   "ipv6 sources",
			events: seq3,
			steps:  []step{to(syn("fd00:5e5a::2", 7000), "fd00:5e5a::1"), to(syn("fd00:5e5a::2", 8000), "fd00:5e5a::1"), to(syn("fd00:5e5a::2", 9000), "fd00:5e5a::1")},
			want:   []string{"progress e0 fd00:5e5a::2 1/3", "progress e0 fd00:5e5a::2 2/3", "open e0 fd00:5e5a::2 3/3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := New(tt.events, Options{ScanGuard: tt.guard, MaxAttempts: 64})
			m.SetLocal([]netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("fd00:5e5a::1")})
			got := run(t, m, tt.steps)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("outcomes (-want +got):\n-%s\n+%s", strings.Join(tt.want, "\n-"), strings.Join(got, "\n+"))
			}
			if m.Active() < 0 {
				t.Errorf("Active() = %d", m.Active())
			}
		})
	}
}

// With the scan guard, no kind of sequential scan — SYN, the FIN, NULL and
// Xmas stealth probes, or ACK — opens a door, even for an event with no
// flag rule (knockd's default: any flags count) and ascending ports.
func TestStealthScansNeverOpenWithTheGuard(t *testing.T) {
	scans := map[string]packet.TCPFlags{
		"syn": packet.SYN, "fin": packet.FIN, "null": 0, "xmas": packet.FIN | packet.PSH | packet.URG,
		"ack": packet.ACK, "fin-ack": packet.FIN | packet.ACK,
	}
	for name, fl := range scans {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := New([]Event{ev(tcpSeq(7000, 8000, 9000)), ev(tcpSeq(1000, 2000))}, Options{ScanGuard: true})
			var out []Outcome
			for p := 1; p <= 65535; p++ {
				h := packet.Hit{Src: netip.MustParseAddr("198.18.0.66"), Dst: netip.MustParseAddr("198.18.0.1"), Proto: packet.TCP, DstPort: uint16(p), Flags: fl}
				out = m.Hit(&h, int64(p)*1000, out[:0])
				for _, o := range out {
					if o.Kind == Open {
						t.Fatalf("a %s scan opened event %d at port %d", name, o.Event, p)
					}
				}
			}
		})
	}
}

// The guard's implicit "!ack" leaves knocks with other flags alone, and an
// explicit TCPFlags rule is kept as written.
func TestScanGuardFlagDefault(t *testing.T) {
	m := New([]Event{ev(tcpSeq(7000, 8000)), {Sequence: tcpSeq(1000, 2000), Timeout: time.Second, Flags: config.FlagRule{Set: packet.ACK}}}, Options{ScanGuard: true})
	got := run(t, m, []step{
		ack("198.18.0.2", 7000), flags(syn("198.18.0.2", 7000), packet.FIN), ack("198.18.0.2", 8000), flags(syn("198.18.0.2", 8000), packet.FIN),
		ack("198.18.0.3", 1000), ack("198.18.0.3", 2000),
	})
	want := "progress e0 198.18.0.2 1/2|open e0 198.18.0.2 2/2|progress e1 198.18.0.3 1/2|open e1 198.18.0.3 2/2"
	if strings.Join(got, "|") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

// A sequential scan of every port from one address never opens a door.
func TestSequentialScanNeverOpens(t *testing.T) {
	for _, guard := range []bool{false, true} {
		m := New([]Event{ev(tcpSeq(7000, 8000, 9000)), ev(tcpSeq(9000, 8000, 7000)), ev(tcpSeq(1000, 2000))}, Options{ScanGuard: guard})
		var out []Outcome
		opened := 0
		for p := 1; p <= 65535; p++ {
			h := packet.Hit{Src: netip.MustParseAddr("198.18.0.66"), Dst: netip.MustParseAddr("198.18.0.1"), Proto: packet.TCP, DstPort: uint16(p), Flags: packet.SYN}
			out = m.Hit(&h, int64(p)*1000, out[:0])
			for _, o := range out {
				if o.Kind == Open {
					opened++
				}
			}
		}
		// Without the guard, ports outside every sequence are invisible, so
		// the ascending sequences are walked; with it, every port in between
		// fails the attempt.
		want := 2
		if guard {
			want = 0
		}
		if opened != want {
			t.Errorf("scan guard %v: scan opened %d doors, want %d", guard, opened, want)
		}
	}
}

// Thousands of sources knocking interleaved all get in.
func TestManyConcurrentSources(t *testing.T) {
	const n = 5000
	m := New([]Event{ev(tcpSeq(7000, 8000, 9000))}, Options{ScanGuard: true, MaxAttempts: n})
	var out []Outcome
	opened := map[netip.Addr]bool{}
	for _, port := range []uint16{7000, 8000, 9000} {
		for i := 0; i < n; i++ {
			src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
			h := packet.Hit{Src: src, Dst: netip.MustParseAddr("198.18.0.1"), Proto: packet.TCP, DstPort: port, Flags: packet.SYN}
			out = m.Hit(&h, 1, out[:0])
			for _, o := range out {
				if o.Kind == Open {
					opened[o.Src] = true
				}
			}
		}
	}
	if len(opened) != n {
		t.Fatalf("%d of %d sources got in", len(opened), n)
	}
	if m.Active() != 0 {
		t.Fatalf("%d attempts left behind", m.Active())
	}
}

// Under a flood of spoofed first knocks that overflows the table, a knocker
// past the first step keeps its attempt: the flood only evicts first-step
// attempts, oldest first. (A first step itself survives as long as the
// table takes to fill: MaxAttempts divided by the flood's rate.)
func TestFairEvictionProtectsProgress(t *testing.T) {
	const budget = 1024
	m := New([]Event{ev(tcpSeq(7000, 8000, 9000))}, Options{MaxAttempts: budget})
	legit := netip.MustParseAddr("198.18.0.2")
	dst := netip.MustParseAddr("198.18.0.1")
	var out []Outcome
	hit := func(src netip.Addr, port uint16) []Outcome {
		h := packet.Hit{Src: src, Dst: dst, Proto: packet.TCP, DstPort: port, Flags: packet.SYN}
		out = m.Hit(&h, 1, out[:0])
		return out
	}
	hit(legit, 7000)
	hit(legit, 8000)
	evicted := 0
	for i := 0; i < 100*budget; i++ {
		for _, o := range hit(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 7000) {
			if o.Kind == Evicted {
				evicted++
				if o.Src == legit {
					t.Fatal("the legitimate knocker past step one was evicted")
				}
			}
		}
	}
	if evicted != 100*budget-(budget-1) {
		t.Errorf("evicted %d, want %d", evicted, 100*budget-(budget-1))
	}
	if m.Active() != budget {
		t.Errorf("Active() = %d, want the budget %d", m.Active(), budget)
	}
	got := hit(legit, 9000)
	if len(got) != 1 || got[0].Kind != Open {
		t.Fatalf("legitimate last knock: %v, want open", got)
	}
}

func TestExpireReportsEveryAttemptOnceAndFreesThem(t *testing.T) {
	m := New([]Event{ev(tcpSeq(7000, 8000)), {Sequence: tcpSeq(7000, 9000), Timeout: time.Second}}, Options{MaxAttempts: 8})
	dst := netip.MustParseAddr("198.18.0.1")
	var out []Outcome
	for i := 0; i < 8; i++ {
		h := packet.Hit{Src: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Dst: dst, Proto: packet.TCP, DstPort: 7000, Flags: packet.SYN}
		out = m.Hit(&h, 0, out)
	}
	if d, ok := m.NextDeadline(); !ok || d != int64(time.Second) {
		t.Fatalf("NextDeadline = %v %v, want 1s", d, ok)
	}
	out = m.Expire(int64(time.Second), out[:0])
	if len(out) != 4 {
		t.Fatalf("expired %d at 1s, want the 4 one-second attempts (budget 8 split over 2 events)", len(out))
	}
	out = m.Expire(int64(5*time.Second), out[:0])
	if len(out) != 4 || m.Active() != 0 {
		t.Fatalf("expired %d at 5s with %d left, want 4 and 0", len(out), m.Active())
	}
	if _, ok := m.NextDeadline(); ok {
		t.Fatal("NextDeadline reports a deadline with nothing in progress")
	}
}

func TestSetSequenceDropsAttemptsAndUsesTheNewSequence(t *testing.T) {
	m := New([]Event{ev(tcpSeq(7000, 8000))}, Options{})
	got := run(t, m, []step{syn("198.18.0.2", 7000)})
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
	m.SetSequence(0, tcpSeq(1000, 2000))
	if m.Active() != 0 {
		t.Fatalf("Active() = %d after SetSequence, want 0", m.Active())
	}
	got = run(t, m, []step{syn("198.18.0.2", 8000), syn("198.18.0.2", 1000), syn("198.18.0.2", 2000)})
	want := "progress e0 198.18.0.2 1/2,open e0 198.18.0.2 2/2"
	if strings.Join(got, ",") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	m.SetSequence(0, nil) // an exhausted one-time list: the event is inactive
	if got := run(t, m, []step{syn("198.18.0.2", 1000)}); len(got) != 0 {
		t.Fatalf("inactive event produced %v", got)
	}
}

func TestHitDoesNotAllocate(t *testing.T) {
	m := New([]Event{ev(tcpSeq(7000, 8000, 9000))}, Options{ScanGuard: true, MaxAttempts: 1 << 10})
	out := make([]Outcome, 0, 8)
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		i++
		h := packet.Hit{Src: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Dst: netip.MustParseAddr("198.18.0.1"),
			Proto: packet.TCP, DstPort: []uint16{7000, 8000, 9000, 22}[i%4], Flags: packet.SYN}
		out = m.Hit(&h, int64(i), out[:0])
		out = m.Expire(int64(i), out)
	})
	if allocs != 0 {
		t.Fatalf("Hit+Expire allocate %.1f times per hit, want 0", allocs)
	}
}

func TestNoLocalAddressFailsClosed(t *testing.T) {
	m := New([]Event{ev(tcpSeq(7000))}, Options{})
	if got := run(t, m, []step{syn("198.18.0.2", 7000)}); len(got) != 1 {
		t.Fatalf("before SetLocal every destination counts; got %v", got)
	}
	m.SetLocal(nil)
	if got := run(t, m, []step{syn("198.18.0.2", 7000)}); len(got) != 0 {
		t.Fatalf("with no local address nothing may count; got %v", got)
	}
	m.SetLocal([]netip.Addr{netip.MustParseAddr("198.18.0.1")})
	if got := run(t, m, []step{syn("198.18.0.2", 7000)}); len(got) != 1 {
		t.Fatalf("after the address appears knocks count again; got %v", got)
	}
}

// tportknockd's flag knocking: one port, told apart by exact flag sets,
// ACK-carrying ones included, with the scan guard on.
func TestFlagKnocks(t *testing.T) {
	t.Parallel()
	exact := func(f packet.TCPFlags) config.Element {
		return config.Element{Proto: packet.TCP, Port: 110, Flags: config.FrameFlags{Exact: true, Value: f}}
	}
	all := packet.FIN | packet.SYN | packet.RST | packet.PSH | packet.ACK | packet.URG
	up := packet.URG | packet.PSH
	seq := []config.Element{exact(all), exact(up), exact(up), exact(0), {Proto: packet.TCP, Port: 110}}
	const a = "198.18.0.2"
	knock := func(fs ...packet.TCPFlags) []step {
		var s []step
		for _, f := range fs {
			s = append(s, flags(step{src: a, proto: packet.TCP, port: 110}, f))
		}
		return s
	}
	for _, tt := range []struct {
		name  string
		steps []step
		want  string
	}{
		{"the seed's sequence", knock(all, up, up, 0, packet.ACK), "open e0 198.18.0.2 5/5"},
		{"ignore takes any flags", knock(all, up, up, 0, packet.SYN), "open e0 198.18.0.2 5/5"},
		{"one wrong flag", knock(all, up, up|packet.FIN, 0, packet.SYN), "fail e0 198.18.0.2 2/5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := New([]Event{{Sequence: seq, Timeout: 5 * time.Second}}, Options{ScanGuard: true})
			got := run(t, m, tt.steps)
			if len(got) == 0 || got[len(got)-1] != tt.want {
				t.Fatalf("outcomes:\n%s\nwant last %q", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

func udpSeq(ports ...uint16) []config.Element {
	var s []config.Element
	for _, p := range ports {
		s = append(s, config.Element{Proto: packet.UDP, Port: p})
	}
	return s
}

// port-knocking-doors: datagrams must carry "knock\n", and a wrong knock
// locks the source out for a while.
func TestPayloadAndLockout(t *testing.T) {
	const a, b = "198.18.0.2", "198.18.0.3"
	const knock = "knock\n"
	pkd := Event{Sequence: udpSeq(16001, 16002, 16003), Timeout: 30 * time.Second, Payload: []byte(knock), Lockout: 5 * time.Second}
	tests := []struct {
		name  string
		guard bool
		steps []step
		want  []string
	}{
		{
			name:  "right payload opens",
			steps: []step{datagram(a, 16001, knock), datagram(a, 16002, knock), datagram(a, 16003, knock)},
			want:  []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name: "wrong or missing payload on the first port starts nothing",
			steps: []step{datagram(a, 16001, "knock"), datagram(a, 16001, ""), datagram(a, 16001, "knock\nx"),
				datagram(a, 16001, "KNOCK\n"), datagram(a, 16002, knock)},
			want: nil,
		},
		{
			name: "a wrong datagram mid-way fails and locks out, a retry is ignored until the lockout ends",
			steps: []step{datagram(a, 16001, knock), datagram(a, 16002, "hello"),
				datagram(a, 16001, knock), datagram(a, 16002, knock), datagram(a, 16003, knock),
				wait(4 * time.Second), datagram(a, 16001, knock),
				wait(time.Second),
				datagram(a, 16001, knock), datagram(a, 16002, knock), datagram(a, 16003, knock)},
			want: []string{"progress e0 198.18.0.2 1/3", "fail e0 198.18.0.2 1/3 locked",
				"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name: "the lockout is per source",
			steps: []step{datagram(a, 16001, knock), datagram(a, 16003, knock),
				datagram(b, 16001, knock), datagram(b, 16002, knock), datagram(b, 16003, knock)},
			want: []string{"progress e0 198.18.0.2 1/3", "fail e0 198.18.0.2 1/3 locked",
				"progress e0 198.18.0.3 1/3", "progress e0 198.18.0.3 2/3", "open e0 198.18.0.3 3/3"},
		},
		{
			name:  "a retransmitted knock is no error",
			steps: []step{datagram(a, 16001, knock), datagram(a, 16001, knock), datagram(a, 16002, knock), datagram(a, 16002, knock), datagram(a, 16003, knock)},
			want:  []string{"progress e0 198.18.0.2 1/3", "progress e0 198.18.0.2 2/3", "open e0 198.18.0.2 3/3"},
		},
		{
			name:  "with the scan guard a probe elsewhere locks out too",
			guard: true,
			steps: []step{datagram(a, 16001, knock), syn(a, 22), datagram(a, 16001, knock), wait(5 * time.Second), datagram(a, 16001, knock)},
			want:  []string{"progress e0 198.18.0.2 1/3", "fail e0 198.18.0.2 1/3 locked", "progress e0 198.18.0.2 1/3"},
		},
		{
			name:  "a timeout is no failure: no lockout",
			steps: []step{datagram(a, 16001, knock), wait(30 * time.Second), datagram(a, 16001, knock)},
			want:  []string{"progress e0 198.18.0.2 1/3", "timeout e0 198.18.0.2 1/3", "progress e0 198.18.0.2 1/3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New([]Event{pkd}, Options{ScanGuard: tt.guard})
			got := run(t, m, tt.steps)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("outcomes:\n got %q\nwant %q", got, tt.want)
			}
			// Lockouts end by themselves: nothing is left behind.
			var out []Outcome
			out = m.Expire(1<<62, out)
			for _, o := range out {
				if o.Kind != Timeout {
					t.Errorf("Expire at the end: %v", o)
				}
			}
			if m.Active() != 0 {
				t.Errorf("%d attempts left after every deadline", m.Active())
			}
		})
	}
}

// A lockout is not lifted by a flood of spoofed first knocks (they evict
// one another), nor by the event's sequence moving on.
func TestLockoutSurvivesFloodAndSequenceChange(t *testing.T) {
	ev := Event{Sequence: udpSeq(1, 2, 3), Timeout: time.Minute, Lockout: time.Hour}
	m := New([]Event{ev}, Options{MaxAttempts: 4})
	now := int64(1e9)
	hit := func(src string, port uint16) []Outcome {
		h := packet.Hit{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("198.18.0.1"), Proto: packet.UDP, DstPort: port}
		return m.Hit(&h, now, nil)
	}
	hit("198.18.0.2", 1)
	if o := hit("198.18.0.2", 3); len(o) != 1 || !o[0].Locked {
		t.Fatalf("wrong knock: %v, want a locked failure", o)
	}
	for i := range 1000 {
		hit(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), 1)
	}
	m.SetSequence(0, udpSeq(1, 2, 3))
	for _, p := range []uint16{1, 2, 3} {
		if o := hit("198.18.0.2", p); len(o) != 0 {
			t.Fatalf("locked-out source knocks %d after a flood and a sequence change: %v, want nothing", p, o)
		}
	}
	now += int64(time.Hour)
	m.Expire(now, nil)
	for _, p := range []uint16{1, 2} {
		hit("198.18.0.2", p)
	}
	if o := hit("198.18.0.2", 3); len(o) != 1 || o[0].Kind != Open {
		t.Fatalf("after the lockout: %v, want open", o)
	}
}
