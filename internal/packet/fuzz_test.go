package packet_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sesame-knock/sesame/internal/packet"
)

// fuzzLink maps the fuzzer's link selector onto the link types Decode
// supports, so that no input is spent on ErrLink.
func fuzzLink(sel uint8) packet.LinkType {
	return allLinks[int(sel)%len(allLinks)]
}

func linkSel(l packet.LinkType) uint8 {
	for i, x := range allLinks {
		if x == l {
			return uint8(i)
		}
	}
	return 0
}

var gopacketLink = map[packet.LinkType]gopacket.Decoder{
	packet.LinkEthernet: layers.LinkTypeEthernet,
	packet.LinkRaw:      layers.LinkTypeRaw,
	packet.LinkSLL:      layers.LinkTypeLinuxSLL,
	packet.LinkSLL2:     layers.LinkTypeLinuxSLL2,
}

var sentinels = []error{packet.ErrLink, packet.ErrTruncated, packet.ErrMalformed, packet.ErrNotIP, packet.ErrNotTransport, packet.ErrFragment}

// FuzzDecode feeds Decode arbitrary frames under every link type. Decode
// must never panic and must only return its sentinel errors; a hit it
// returns must be self-consistent and, where gopacket decodes the same
// bytes to a TCP or UDP layer, agree with gopacket on protocol, ports,
// flags and addresses.
func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases() {
		f.Add(linkSel(tc.link), tc.frame)
		// The same frame read under the other link types: mostly garbage,
		// which is the point.
		for _, l := range allLinks {
			if l != tc.link {
				f.Add(linkSel(l), tc.frame)
			}
		}
	}
	f.Fuzz(func(t *testing.T, sel uint8, frame []byte) {
		link := fuzzLink(sel)
		var h packet.Hit
		err := packet.Decode(link, frame, &h)
		if err != nil {
			known := false
			for _, s := range sentinels {
				known = known || err == s
			}
			if !known {
				t.Fatalf("Decode returned a non-sentinel error %v", err)
			}
			if h != (packet.Hit{}) {
				t.Fatalf("Decode failed with %v but left hit %v", err, h)
			}
			return
		}
		checkHit(t, h)
		compareWithGopacket(t, link, frame, h)
	})
}

// TestDecodeMatchesGopacket runs the differential check of FuzzDecode on
// the table and makes sure it is not vacuous: gopacket must decode every
// packet Decode accepts, except those where gopacket is known to stop
// early.
func TestDecodeMatchesGopacket(t *testing.T) {
	t.Parallel()
	gopacketStops := map[string]string{
		"tcp-data-offset-below-5":                 "rejects a TCP data offset below 5",
		"ipv6-payload-length-zero":                "wants a jumbo option for payload length 0",
		"ipv4-total-length-covers-tcp-flags-only": "needs 20 bytes of TCP header",
		"snaplen-ipv4-tcp-14-bytes":               "needs 20 bytes of TCP header",
		"ipv6-shim6-udp":                          "does not know shim6",
		"ipv6-hip-udp":                            "does not know HIP",
		"ipv6-mobility-tcp":                       "does not know the mobility header",
		"ipv6-hbh-dest-routing-fragment-dest-tcp": "leaves fragments to reassembly",
		"ipv6-atomic-fragment-udp":                "leaves fragments to reassembly",
		"ipv6-first-fragment-tcp":                 "leaves fragments to reassembly",
		"ipv4-first-fragment-udp":                 "leaves fragments to reassembly",
		"ipv4-first-fragment-tcp":                 "leaves fragments to reassembly",
		"vlan-4-tags":                             "does not know the 0x9100 tag",
		"qinq-9100-ipv6":                          "does not know the 0x9100 tag",
	}
	for _, tc := range decodeCases() {
		if tc.err != nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var h packet.Hit
			if err := packet.Decode(tc.link, tc.frame, &h); err != nil {
				t.Fatal(err)
			}
			compared := compareWithGopacket(t, tc.link, tc.frame, h)
			if why, ok := gopacketStops[tc.name]; ok && compared {
				t.Errorf("gopacket now decodes this packet (it did not: %s); remove it from the list", why)
			}
			if _, ok := gopacketStops[tc.name]; !ok && !compared {
				t.Errorf("gopacket found no TCP/UDP layer to compare with")
			}
		})
	}
}

// checkHit checks what must hold of any hit, whatever the frame.
func checkHit(t *testing.T, h packet.Hit) {
	t.Helper()
	if h.Proto != packet.TCP && h.Proto != packet.UDP {
		t.Fatalf("hit %v has protocol %v", h, h.Proto)
	}
	if h.Flags&^packet.AllFlags != 0 {
		t.Fatalf("hit %v has flags beyond the six modelled: %#x", h, uint8(h.Flags))
	}
	if h.Proto == packet.UDP && h.Flags != 0 {
		t.Fatalf("UDP hit %v has TCP flags", h)
	}
	if !h.Src.IsValid() || !h.Dst.IsValid() || h.Src.BitLen() != h.Dst.BitLen() {
		t.Fatalf("hit %v has addresses of different families", h)
	}
}

// compareWithGopacket decodes frame with gopacket and, where gopacket
// found a well-formed TCP or UDP header, checks that Decode saw the same
// packet. Where gopacket stops (an extension header it does not know, a
// 0x9100 tag, a first fragment it leaves to reassembly, an option it
// rejects) there is nothing to compare: Decode is allowed to be more
// lenient than gopacket, but never to disagree about a packet both accept.
//
// It reports whether there was anything to compare.
func compareWithGopacket(t *testing.T, link packet.LinkType, frame []byte, h packet.Hit) bool {
	t.Helper()
	p := gopacket.NewPacket(frame, gopacketLink[link], gopacket.DecodeOptions{NoCopy: true})
	var (
		proto            packet.Proto
		sport, dport     uint16
		flags            packet.TCPFlags
		tcpPayload       int
		wholeTCPDecoded  bool
		transportPresent bool
	)
	switch tl := p.TransportLayer().(type) {
	case *layers.TCP:
		if len(tl.Contents) == 0 {
			return false // gopacket rejected the header before reading it
		}
		transportPresent = true
		proto, sport, dport = packet.TCP, uint16(tl.SrcPort), uint16(tl.DstPort)
		for i, set := range []bool{tl.FIN, tl.SYN, tl.RST, tl.PSH, tl.ACK, tl.URG} {
			if set {
				flags |= 1 << i
			}
		}
		tcpPayload = len(tl.Payload)
		wholeTCPDecoded = tl.DataOffset >= 5 && int(tl.DataOffset)*4 == len(tl.Contents)
	case *layers.UDP:
		if len(tl.Contents) == 0 {
			return false
		}
		transportPresent = true
		proto, sport, dport = packet.UDP, uint16(tl.SrcPort), uint16(tl.DstPort)
	}
	if !transportPresent {
		return false
	}
	var src, dst netip.Addr
	lengthFieldZero := false
	switch nl := p.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(nl.SrcIP)
		dst, _ = netip.AddrFromSlice(nl.DstIP)
		lengthFieldZero = len(nl.Contents) >= 4 && binary.BigEndian.Uint16(nl.Contents[2:4]) == 0
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(nl.SrcIP)
		dst, _ = netip.AddrFromSlice(nl.DstIP)
		lengthFieldZero = nl.Length == 0
	default:
		t.Fatalf("gopacket found %v with network layer %T", p.TransportLayer().LayerType(), nl)
	}

	if h.Proto != proto || h.SrcPort != sport || h.DstPort != dport {
		t.Fatalf("Decode: %v %d -> %d; gopacket: %v %d -> %d\n%s", h.Proto, h.SrcPort, h.DstPort, proto, sport, dport, p.Dump())
	}
	if h.Flags != flags {
		t.Fatalf("Decode flags %v, gopacket %v\n%s", h.Flags, flags, p.Dump())
	}
	if h.Src != src || h.Dst != dst {
		t.Fatalf("Decode addresses %v -> %v, gopacket %v -> %v\n%s", h.Src, h.Dst, src, dst, p.Dump())
	}
	// The payload length agrees when gopacket saw the whole segment: no
	// truncation, a sane data offset, and a real length in the IP header.
	if proto == packet.TCP && wholeTCPDecoded && !p.Metadata().Truncated && !lengthFieldZero {
		if int(h.PayloadLen) != tcpPayload {
			t.Fatalf("Decode PayloadLen %d, gopacket TCP payload %d bytes\n%s", h.PayloadLen, tcpPayload, p.Dump())
		}
	}
	return true
}
