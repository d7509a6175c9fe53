package packet_test

// Packet builders for the tests, the fuzz seeds and the benchmarks. Every
// header gopacket can serialize is built with gopacket/layers; the few it
// cannot (Linux cooked headers, AH, ESP, mobility) are written by hand from
// their RFC layouts and passed as gopacket.Payload.

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sesame-knock/sesame/internal/packet"
)

var (
	src4 = netip.MustParseAddr("198.18.0.2")
	dst4 = netip.MustParseAddr("198.18.0.1")
	src6 = netip.MustParseAddr("2001:db8::2")
	dst6 = netip.MustParseAddr("2001:db8::1")

	srcMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	dstMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
)

const (
	srcPort = 40000
	dstPort = 7000
)

// serialize builds a packet from layers, outermost first, with lengths
// filled in and checksums left at zero (Decode must not care).
func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		panic("building test packet: " + err.Error())
	}
	return slices.Clone(buf.Bytes())
}

func ether(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: et}
}

// loopbackEther is the header the Linux loopback device presents: an
// Ethernet header whose addresses are all zero.
func loopbackEther(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: et}
}

func dot1q(vid uint16, inner layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: vid, Type: inner}
}

func ipv4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{
		Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: proto,
		SrcIP: src4.AsSlice(), DstIP: dst4.AsSlice(),
	}
}

func ipv6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{
		Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: src6.AsSlice(), DstIP: dst6.AsSlice(),
	}
}

// tcp returns a TCP header with the given flags ("S", "SA", "PA", ...
// in tcpdump's letters, plus E and C for ECE and CWR and N for NS).
func tcp(flags string) *layers.TCP {
	t := &layers.TCP{SrcPort: srcPort, DstPort: dstPort, Seq: 1000, Window: 64240}
	for _, c := range flags {
		switch c {
		case 'F':
			t.FIN = true
		case 'S':
			t.SYN = true
		case 'R':
			t.RST = true
		case 'P':
			t.PSH = true
		case 'A':
			t.ACK = true
			t.Ack = 2000
		case 'U':
			t.URG = true
		case 'E':
			t.ECE = true
		case 'C':
			t.CWR = true
		case 'N':
			t.NS = true
		default:
			panic("unknown TCP flag letter " + string(c))
		}
	}
	return t
}

// tcpWithOptions is a SYN as Linux sends it: MSS, SACK permitted,
// timestamps, NOP, window scale (data offset 10).
func tcpWithOptions() *layers.TCP {
	t := tcp("S")
	t.Options = []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
	return t
}

func udp() *layers.UDP {
	return &layers.UDP{SrcPort: srcPort, DstPort: dstPort}
}

func payload(n int) gopacket.Payload {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

// IPv6 extension headers.

// hopByHop carries a router alert option and PadN to fill its 8 bytes.
func hopByHop(next layers.IPProtocol) *layers.IPv6HopByHop {
	h := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{
		{OptionType: 5, OptionData: []byte{0, 0}}, // router alert (MLD)
		{OptionType: 1}, // PadN, no data
	}}
	h.NextHeader = next
	return h
}

// destOpts is a destination options header of 8 bytes (one PadN).
func destOpts(next layers.IPProtocol) *layers.IPv6Destination {
	d := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{
		{OptionType: 1, OptionData: []byte{0, 0, 0, 0}},
	}}
	d.NextHeader = next
	return d
}

// routing is a type 2 routing header (24 bytes) with no segments left.
func routing(next layers.IPProtocol) *layers.IPv6Routing {
	r := &layers.IPv6Routing{RoutingType: 2, Reserved: make([]byte, 4), SourceRoutingIPs: []net.IP{dst6.AsSlice()}}
	r.NextHeader = next
	return r
}

func fragment6(next layers.IPProtocol, offset uint16, more bool) *layers.IPv6Fragment {
	return &layers.IPv6Fragment{NextHeader: next, FragmentOffset: offset, MoreFragments: more, Identification: 0xabcdef}
}

// ah is an IPsec authentication header (RFC 4302) with a 12-byte ICV:
// 24 bytes, length field (24/4)-2 = 4.
func ah(next layers.IPProtocol) gopacket.Payload {
	b := make([]byte, 24)
	b[0] = byte(next)
	b[1] = 4
	binary.BigEndian.PutUint32(b[4:], 0x1000) // SPI
	binary.BigEndian.PutUint32(b[8:], 1)      // sequence
	for i := 12; i < 24; i++ {
		b[i] = 0xa5 // ICV
	}
	return b
}

// esp is an IPsec ESP packet (RFC 4303): SPI, sequence, then ciphertext
// that only the receiver can read.
func esp() gopacket.Payload {
	b := make([]byte, 8+32)
	binary.BigEndian.PutUint32(b[0:], 0x2000)
	binary.BigEndian.PutUint32(b[4:], 7)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i * 37)
	}
	return b
}

// genericExt is an extension header in the RFC 6564 uniform format
// (mobility, HIP, shim6): next header, length in 8-octet units not counting
// the first, then opaque data.
func genericExt(next layers.IPProtocol, units int) gopacket.Payload {
	b := make([]byte, (units+1)*8)
	b[0] = byte(next)
	b[1] = byte(units)
	for i := 2; i < len(b); i++ {
		b[i] = 0x5a
	}
	return b
}

// Link wrappers for headers gopacket cannot serialize.

// sll prefixes ip with a Linux cooked v1 header (16 bytes): packet type,
// ARPHRD type, address length, 8 address bytes, protocol.
func sll(proto layers.EthernetType, ip []byte) []byte {
	h := make([]byte, 16, 16+len(ip))
	binary.BigEndian.PutUint16(h[0:], 0) // PACKET_HOST
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], srcMAC)
	binary.BigEndian.PutUint16(h[14:], uint16(proto))
	return append(h, ip...)
}

// sll2 prefixes ip with a Linux cooked v2 header (20 bytes): protocol,
// reserved, interface index, ARPHRD type, packet type, address length,
// 8 address bytes.
func sll2(proto layers.EthernetType, ip []byte) []byte {
	h := make([]byte, 20, 20+len(ip))
	binary.BigEndian.PutUint16(h[0:], uint16(proto))
	binary.BigEndian.PutUint32(h[4:], 2) // ifindex
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10] = 0                            // PACKET_HOST
	h[11] = 6
	copy(h[12:], srcMAC)
	return append(h, ip...)
}

// wrap puts an IP packet (IPv4 or IPv6, told by its version nibble) in the
// given link layer.
func wrap(link packet.LinkType, ip []byte) []byte {
	et := layers.EthernetTypeIPv4
	if len(ip) > 0 && ip[0]>>4 == 6 {
		et = layers.EthernetTypeIPv6
	}
	switch link {
	case packet.LinkEthernet:
		return serialize(ether(et), gopacket.Payload(ip))
	case packet.LinkRaw:
		return slices.Clone(ip)
	case packet.LinkSLL:
		return sll(et, ip)
	case packet.LinkSLL2:
		return sll2(et, ip)
	}
	panic("wrap: unknown link type")
}

var allLinks = []packet.LinkType{packet.LinkEthernet, packet.LinkRaw, packet.LinkSLL, packet.LinkSLL2}

func linkName(l packet.LinkType) string {
	switch l {
	case packet.LinkEthernet:
		return "ether"
	case packet.LinkRaw:
		return "raw"
	case packet.LinkSLL:
		return "sll"
	case packet.LinkSLL2:
		return "sll2"
	}
	return "link?"
}

// Expected hits.

func hit4(p packet.Proto, f packet.TCPFlags, n uint16) packet.Hit {
	return packet.Hit{Src: src4, Dst: dst4, Proto: p, SrcPort: srcPort, DstPort: dstPort, Flags: f, PayloadLen: n}
}

func hit6(p packet.Proto, f packet.TCPFlags, n uint16) packet.Hit {
	return packet.Hit{Src: src6, Dst: dst6, Proto: p, SrcPort: srcPort, DstPort: dstPort, Flags: f, PayloadLen: n}
}

// patch returns a copy of b with f applied, for headers that gopacket will
// not build wrong.
func patch(b []byte, f func(b []byte)) []byte {
	b = slices.Clone(b)
	f(b)
	return b
}
