package knock

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
)

// benchEvents returns n events of three TCP knocks each on distinct ports.
func benchEvents(n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		base := uint16(10000 + 3*i)
		evs[i] = Event{Sequence: tcpSeq(base, base+1, base+2), Timeout: 25 * time.Second}
	}
	return evs
}

// BenchmarkMatch feeds hits that walk the first event's sequence, from
// either one source or a rotating population of distinct sources.
func BenchmarkMatch(b *testing.B) {
	for _, events := range []int{1, 100} {
		for _, sources := range []int{1, 1_000_000} {
			b.Run(fmt.Sprintf("events=%d/sources=%d", events, sources), func(b *testing.B) {
				m := New(benchEvents(events), Options{ScanGuard: true})
				dst := netip.MustParseAddr("198.18.0.1")
				m.SetLocal([]netip.Addr{dst})
				hits := make([]packet.Hit, 3*1024)
				for i := range hits {
					hits[i] = packet.Hit{Dst: dst, Proto: packet.TCP, DstPort: 10000 + uint16(i%3), Flags: packet.SYN}
				}
				out := make([]Outcome, 0, 16)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					h := &hits[i%len(hits)]
					s := (i / 3) % sources
					h.Src = netip.AddrFrom4([4]byte{10, byte(s >> 16), byte(s >> 8), byte(s)})
					out = m.Hit(h, int64(i), out[:0])
				}
			})
		}
	}
}

// BenchmarkFlood is a flood of spoofed first knocks against a full table.
func BenchmarkFlood(b *testing.B) {
	m := New(benchEvents(1), Options{ScanGuard: true})
	dst := netip.MustParseAddr("198.18.0.1")
	h := packet.Hit{Dst: dst, Proto: packet.TCP, DstPort: 10000, Flags: packet.SYN}
	out := make([]Outcome, 0, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Src = netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		out = m.Hit(&h, int64(i), out[:0])
	}
}

// FuzzMatcher drives the matcher with arbitrary hit streams and clock
// jumps, checking its bookkeeping never goes wrong: no panic, the active
// count matches what is in the table, and the table stays in budget.
func FuzzMatcher(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 1, 0, 1, 2, 0, 2, 3, 1, 3, 0, 0})
	f.Add([]byte{5, 5, 5, 5, 5, 9, 9, 9, 1, 2, 3, 4, 255, 0, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		ports := []uint16{7000, 8000, 9000, 22, 61000, 61001, 61255, 60999}
		m := New([]Event{
			{Sequence: tcpSeq(7000, 8000, 9000), Timeout: 3 * time.Second, Lockout: time.Second},
			{Sequence: []config.Element{{Proto: packet.UDP, Port: 7000}, {Proto: packet.TCP, Port: 7000}}, Timeout: time.Second, Flags: config.FlagRule{Set: packet.SYN}},
			{Sequence: tcpSeq(9000), Timeout: time.Second},
			{Gather: Gather{Proto: packet.TCP, Base: 61000}, Timeout: 2 * time.Second, Lockout: 2 * time.Second},
			{Sequence: []config.Element{{Proto: packet.UDP, Port: 8000}, {Proto: packet.UDP, Port: 9000}}, Timeout: time.Second, Payload: []byte("k"), Lockout: 3 * time.Second},
		}, Options{ScanGuard: len(data)%2 == 0, MaxAttempts: 4})
		var now int64
		var out []Outcome
		open := map[int]int{}
		for i := 0; i+2 < len(data); i += 3 {
			op, a, c := data[i], data[i+1], data[i+2]
			if op&0x80 != 0 {
				now += int64(c) * int64(50*time.Millisecond)
				out = m.Expire(now, out[:0])
			} else {
				proto := packet.TCP
				if op&1 != 0 {
					proto = packet.UDP
				}
				h := packet.Hit{Src: netip.AddrFrom4([4]byte{10, 0, 0, a % 8}), Dst: netip.MustParseAddr("198.18.0.1"),
					Proto: proto, DstPort: ports[int(c)%len(ports)], Flags: packet.TCPFlags(op >> 1)}
				if proto == packet.UDP && op&0x40 != 0 {
					h.PayloadLen = 1
					h.SetHead([]byte("k"))
				}
				out = m.Hit(&h, now, out[:0])
			}
			for _, o := range out {
				if o.Kind == Open {
					open[o.Event]++
				}
			}
			inUse := 0
			for j := range m.slab {
				if m.slab[j].inUse {
					inUse++
					if int(m.slab[j].stage) < 1 || int(m.slab[j].stage) >= m.events[m.slab[j].event].steps() {
						t.Fatalf("attempt at impossible stage %d", m.slab[j].stage)
					}
				}
			}
			if inUse != m.Active() || inUse > 4 {
				t.Fatalf("in use %d, Active %d, budget 4", inUse, m.Active())
			}
		}
		_ = m.Expire(now+int64(time.Hour), out[:0])
		if m.Active() != 0 {
			t.Fatalf("%d attempts survive their timeout", m.Active())
		}
	})
}
