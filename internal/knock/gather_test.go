package knock

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
)

// A cipher block as a client would knock it: no two equal adjacent bytes.
var testBlock = [GatherLen]byte{0x00, 0xff, 0x10, 0x11, 0x10, 0x7f, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xfe, 0x00}

const gatherBase = 61000

func gatherEvent(proto packet.Proto) Event {
	return Event{Gather: Gather{Proto: proto, Base: gatherBase}, Timeout: 5 * time.Second}
}

// blockSteps knocks block b from src, as SYNs (or UDP datagrams).
func blockSteps(src string, proto packet.Proto, b []byte) []step {
	var s []step
	for _, x := range b {
		if proto == packet.UDP {
			s = append(s, udp(src, gatherBase+uint16(x)))
		} else {
			s = append(s, syn(src, gatherBase+uint16(x)))
		}
	}
	return s
}

func TestGather(t *testing.T) {
	t.Parallel()
	const a, b = "198.18.0.2", "198.18.0.3"
	withRetransmits := func() []step {
		var s []step
		for _, st := range blockSteps(a, packet.TCP, testBlock[:]) {
			s = append(s, st, st) // every knock sent twice
		}
		// (The last one's twin, after the open, would start a new attempt.)
		return s[:len(s)-1]
	}
	tests := []struct {
		name  string
		proto packet.Proto
		guard bool
		steps []step
		want  []string // the last outcome
	}{
		{"whole block opens", packet.TCP, true, blockSteps(a, packet.TCP, testBlock[:]), []string{"open e0 198.18.0.2 16/16"}},
		{"udp window", packet.UDP, true, blockSteps(a, packet.UDP, testBlock[:]), []string{"open e0 198.18.0.2 16/16"}},
		{"every knock twice", packet.TCP, true, withRetransmits(), []string{"open e0 198.18.0.2 16/16"}},
		{"a probe outside the window fails", packet.TCP, true,
			append(blockSteps(a, packet.TCP, testBlock[:5]), syn(a, 22)), []string{"fail e0 198.18.0.2 5/16"}},
		{"no guard: a probe elsewhere is unseen", packet.TCP, false,
			append(append(blockSteps(a, packet.TCP, testBlock[:5]), syn(a, 22)), blockSteps(a, packet.TCP, testBlock[5:])...), []string{"open e0 198.18.0.2 16/16"}},
		{"the other protocol does not count", packet.UDP, false,
			append(blockSteps(a, packet.UDP, testBlock[:15]), syn(a, gatherBase+5)), []string{"progress e0 198.18.0.2 15/16"}},
		{"sources gather apart", packet.TCP, true,
			interleave(blockSteps(a, packet.TCP, testBlock[:]), blockSteps(b, packet.TCP, testBlock[:])), []string{"open e0 198.18.0.3 16/16"}},
		{"an attempt times out", packet.TCP, true,
			append(blockSteps(a, packet.TCP, testBlock[:15]), wait(6*time.Second)), []string{"timeout e0 198.18.0.2 15/16"}},
		{"ACK segments are not knocks under the guard", packet.TCP, true,
			append(blockSteps(a, packet.TCP, testBlock[:15]), ack(a, gatherBase+9)), []string{"progress e0 198.18.0.2 15/16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := New([]Event{gatherEvent(tt.proto)}, Options{ScanGuard: tt.guard})
			got := run(t, m, tt.steps)
			if len(got) == 0 {
				t.Fatalf("no outcome")
			}
			if last := got[len(got)-1]; last != tt.want[0] {
				t.Errorf("last outcome %q, want %q\nall:\n%s", last, tt.want[0], strings.Join(got, "\n"))
			}
		})
	}
}

func interleave(x, y []step) []step {
	var s []step
	for i := range x {
		s = append(s, x[i], y[i])
	}
	return s
}

func TestGatherHandsOverTheBlock(t *testing.T) {
	t.Parallel()
	m := New([]Event{ev(tcpSeq(7000, 8000)), gatherEvent(packet.TCP)}, Options{ScanGuard: true})
	var out []Outcome
	src := netip.MustParseAddr("2001:db8::5")
	for i, x := range testBlock {
		h := packet.Hit{Src: src, Dst: netip.MustParseAddr("2001:db8::1"), Proto: packet.TCP, Flags: packet.SYN, DstPort: gatherBase + uint16(x)}
		out = m.Hit(&h, int64(i+1)*1e6, out[:0])
	}
	if len(out) != 1 || out[0].Kind != Open || out[0].Event != 1 {
		t.Fatalf("outcomes %+v, want one open of event 1", out)
	}
	if out[0].Block != testBlock {
		t.Errorf("block %x, want %x", out[0].Block, testBlock)
	}
	if m.Active() != 0 {
		t.Errorf("%d attempts left after the open", m.Active())
	}
}

func TestGatherAllocatesNothing(t *testing.T) {
	m := New([]Event{gatherEvent(packet.TCP)}, Options{ScanGuard: true})
	hits := make([]packet.Hit, GatherLen)
	for i, x := range testBlock {
		hits[i] = packet.Hit{Src: netip.MustParseAddr("198.18.0.9"), Dst: netip.MustParseAddr("198.18.0.1"), Proto: packet.TCP, Flags: packet.SYN, DstPort: gatherBase + uint16(x)}
	}
	out := make([]Outcome, 0, 8)
	var now int64
	allocs := testing.AllocsPerRun(100, func() {
		for i := range hits {
			now++
			out = m.Hit(&hits[i], now, out[:0])
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per block, want 0", allocs)
	}
}

// BenchmarkGather knocks whole cipher blocks from rotating sources.
func BenchmarkGather(b *testing.B) {
	m := New([]Event{gatherEvent(packet.TCP)}, Options{ScanGuard: true})
	dst := netip.MustParseAddr("198.18.0.1")
	m.SetLocal([]netip.Addr{dst})
	h := packet.Hit{Dst: dst, Proto: packet.TCP, Flags: packet.SYN}
	out := make([]Outcome, 0, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := i / GatherLen
		h.Src = netip.AddrFrom4([4]byte{10, byte(s >> 16), byte(s >> 8), byte(s)})
		h.DstPort = gatherBase + uint16(testBlock[i%GatherLen])
		out = m.Hit(&h, int64(i), out[:0])
	}
}

// BenchmarkTOTPLanes is a TOTP event's lanes: clients × 3 steps of four
// random ports in 40000-49999, walked by rotating sources; the cost per hit
// must not grow with the number of clients.
func BenchmarkTOTPLanes(b *testing.B) {
	for _, clients := range []int{1, 1000, 20000} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			evs := make([]Event, 3*clients)
			for i := range evs {
				seq := make([]config.Element, 4)
				for j := range seq {
					seq[j] = config.Element{Proto: packet.TCP, Port: uint16(40000 + rng.IntN(10000))}
				}
				evs[i] = Event{Sequence: seq, Timeout: 25 * time.Second}
			}
			m := New(evs, Options{ScanGuard: true})
			dst := netip.MustParseAddr("198.18.0.1")
			m.SetLocal([]netip.Addr{dst})
			h := packet.Hit{Dst: dst, Proto: packet.TCP, Flags: packet.SYN}
			out := make([]Outcome, 0, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := i / 4
				lane := &evs[s%len(evs)]
				h.Src = netip.AddrFrom4([4]byte{10, byte(s >> 16), byte(s >> 8), byte(s)})
				h.DstPort = lane.Sequence[i%4].Port
				out = m.Hit(&h, int64(i), out[:0])
			}
		})
	}
}

// A knock that lost a packet (or caught a stray one) does not spoil the
// next try: the next block slides into the window and opens.
func TestGatherSlidesToTheNextBlock(t *testing.T) {
	t.Parallel()
	next := [GatherLen]byte{0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f}
	valid := map[[GatherLen]byte]bool{testBlock: true, next: true}
	checked := 0
	ev := gatherEvent(packet.UDP)
	ev.Gather.Check = func(b *[GatherLen]byte) bool { checked++; return valid[*b] }
	for _, tt := range []struct {
		name  string
		first []byte // what arrived of the first try
	}{
		{"a lost knock", append(append([]byte{}, testBlock[:7]...), testBlock[8:]...)},
		{"a stray hit in the window", append(append(append([]byte{}, testBlock[:7]...), 0x99), testBlock[7:]...)},
		{"three knocks only", testBlock[:3]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := New([]Event{ev}, Options{ScanGuard: true})
			steps := append(blockSteps("198.18.0.2", packet.UDP, tt.first), blockSteps("198.18.0.2", packet.UDP, next[:])...)
			got := run(t, m, steps)
			opens := 0
			for _, g := range got {
				if strings.HasPrefix(g, "open") {
					opens++
				}
			}
			if opens != 1 || got[len(got)-1] != "open e0 198.18.0.2 16/16" {
				t.Fatalf("outcomes:\n%s", strings.Join(got, "\n"))
			}
		})
	}
	if checked == 0 {
		t.Fatal("Check never called")
	}
}

// The block handed over is the one Check accepted, in knock order.
func TestGatherHandsOverTheCheckedBlock(t *testing.T) {
	t.Parallel()
	ev := gatherEvent(packet.TCP)
	ev.Gather.Check = func(b *[GatherLen]byte) bool { return *b == testBlock }
	m := New([]Event{ev}, Options{ScanGuard: true})
	src := netip.MustParseAddr("198.18.0.2")
	var out []Outcome
	for i, x := range append([]byte{0x42, 0x43, 0x44}, testBlock[:]...) {
		h := packet.Hit{Src: src, Dst: netip.MustParseAddr("198.18.0.1"), Proto: packet.TCP, Flags: packet.SYN, DstPort: gatherBase + uint16(x)}
		out = m.Hit(&h, int64(i+1), out[:0])
	}
	if len(out) != 1 || out[0].Kind != Open || out[0].Block != testBlock {
		t.Fatalf("last outcomes %+v, want an open with the block", out)
	}
}
