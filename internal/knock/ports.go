package knock

import "github.com/sesame-knock/sesame/internal/packet"

// bitset65k has one bit per port.
type bitset65k [1024]uint64

func (b *bitset65k) has(p uint16) bool { return b[p>>6]&(1<<(p&63)) != 0 }
func (b *bitset65k) set(p uint16)      { b[p>>6] |= 1 << (p & 63) }

// portIndex answers, per protocol, "is this port in any sequence?" (such a
// hit is seen by every event, as in knockd) and "which events start here?"
// in O(1).
type portIndex struct {
	knock [2]bitset65k
	start [2]bitset65k
	// starts maps proto<<16|port to the events whose first step it is.
	starts map[uint32][]int
}

func protoIndex(p packet.Proto) (int, bool) {
	switch p {
	case packet.TCP:
		return 0, true
	case packet.UDP:
		return 1, true
	}
	return 0, false
}

func (x *portIndex) build(events []eventState) {
	*x = portIndex{starts: map[uint32][]int{}}
	for e, ev := range events {
		if g := ev.Gather; !g.IsZero() {
			if pi, ok := protoIndex(g.Proto); ok {
				for p := int(g.Base); p <= int(g.Base)+255; p++ {
					x.knock[pi].set(uint16(p))
					x.start[pi].set(uint16(p))
					k := uint32(pi)<<16 | uint32(p)
					x.starts[k] = append(x.starts[k], e)
				}
			}
			continue
		}
		for i, el := range ev.Sequence {
			pi, ok := protoIndex(el.Proto)
			if !ok {
				continue
			}
			x.knock[pi].set(el.Port)
			if i == 0 {
				x.start[pi].set(el.Port)
				k := uint32(pi)<<16 | uint32(el.Port)
				x.starts[k] = append(x.starts[k], e)
			}
		}
	}
}

func (x *portIndex) starters(pi int, port uint16) []int {
	return x.starts[uint32(pi)<<16|uint32(port)]
}
