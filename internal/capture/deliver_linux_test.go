package capture

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/sesame-knock/sesame/internal/packet"
)

type countSink struct{ n int }

func (s *countSink) Hit(h *packet.Hit) { s.n++ }

// The decode+sink path of Run (deliver) must not allocate.
func TestDeliverNoAlloc(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"tcp", pkt{proto: layers.IPProtocolTCP, dport: 7000, syn: true}.frame(t, packet.LinkEthernet)},
		{"ipv6 udp", pkt{v6: true, proto: layers.IPProtocolUDP, dport: 7500}.frame(t, packet.LinkEthernet)},
		{"not ip", pkt{arp: true}.frame(t, packet.LinkEthernet)},
	} {
		var sink countSink
		var h packet.Hit
		s := &AFPacket{link: packet.LinkEthernet}
		if n := testing.AllocsPerRun(1000, func() { s.deliver(tc.frame, &h, &sink) }); n != 0 {
			t.Errorf("%s: %.1f allocations per packet", tc.name, n)
		}
	}
}

func BenchmarkDeliver(b *testing.B) {
	frame := pkt{proto: layers.IPProtocolTCP, dport: 7000, syn: true}.frame(b, packet.LinkEthernet)
	var sink countSink
	var h packet.Hit
	s := &AFPacket{link: packet.LinkEthernet}
	b.ReportAllocs()
	for b.Loop() {
		s.deliver(frame, &h, &sink)
	}
}
