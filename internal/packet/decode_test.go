package packet_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sesame-knock/sesame/internal/packet"
)

type decodeCase struct {
	name  string
	link  packet.LinkType
	frame []byte
	want  packet.Hit // the zero Hit when err is set
	err   error
	// capLen marks packets whose IP length field is zero, so that their
	// PayloadLen comes from the captured length rather than the header.
	capLen bool
}

// Offsets into an untagged Ethernet frame.
const (
	ethIP   = 14      // start of the IP header
	ethTCP4 = 14 + 20 // start of TCP after an option-less IPv4 header
	ethTCP6 = 14 + 40 // start of TCP after an IPv6 header
)

// decodeCases is the table shared by the tests, the fuzz seeds and the
// allocation check. Each packet is built fresh, so callers may keep it.
func decodeCases() []decodeCase {
	var cs []decodeCase
	add := func(name string, link packet.LinkType, frame []byte, want packet.Hit) {
		cs = append(cs, decodeCase{name: name, link: link, frame: frame, want: want})
	}
	fail := func(name string, link packet.LinkType, frame []byte, err error) {
		cs = append(cs, decodeCase{name: name, link: link, frame: frame, err: err})
	}
	E := packet.LinkEthernet
	raw := packet.LinkRaw

	// The everyday packets, under every link type.
	core := []struct {
		name string
		ip   []byte
		want packet.Hit
	}{
		{"ipv4-tcp-syn", serialize(ipv4(layers.IPProtocolTCP), tcp("S")), hit4(packet.TCP, packet.SYN, 0)},
		{"ipv4-tcp-synack", serialize(ipv4(layers.IPProtocolTCP), tcp("SA")), hit4(packet.TCP, packet.SYN|packet.ACK, 0)},
		{"ipv4-tcp-pshack-data", serialize(ipv4(layers.IPProtocolTCP), tcp("PA"), payload(100)), hit4(packet.TCP, packet.PSH|packet.ACK, 100)},
		{"ipv4-udp", serialize(ipv4(layers.IPProtocolUDP), udp(), gopacket.Payload("knock\n")), hit4(packet.UDP, 0, 6)},
		{"ipv6-tcp-syn", serialize(ipv6(layers.IPProtocolTCP), tcp("S")), hit6(packet.TCP, packet.SYN, 0)},
		{"ipv6-tcp-synack", serialize(ipv6(layers.IPProtocolTCP), tcp("SA")), hit6(packet.TCP, packet.SYN|packet.ACK, 0)},
		{"ipv6-tcp-syn-options", serialize(ipv6(layers.IPProtocolTCP), tcpWithOptions()), hit6(packet.TCP, packet.SYN, 0)},
		{"ipv6-udp", serialize(ipv6(layers.IPProtocolUDP), udp(), gopacket.Payload("knock\n")), hit6(packet.UDP, 0, 6)},
		{"ipv6-exthdr-udp", serialize(ipv6(layers.IPProtocolIPv6HopByHop),
			hopByHop(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolIPv6Routing),
			routing(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolUDP),
			udp(), payload(10)), hit6(packet.UDP, 0, 10)},
	}
	for _, c := range core {
		for _, l := range allLinks {
			add(c.name+"/"+linkName(l), l, wrap(l, c.ip), c.want)
		}
	}

	// TCP flags: the six classic ones are kept, ECE/CWR/NS are not.
	add("ipv4-tcp-ecn-bits-ignored", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("SECN")), hit4(packet.TCP, packet.SYN, 0))
	add("ipv4-tcp-all-six-flags", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("FSRPAU")), hit4(packet.TCP, packet.AllFlags, 0))
	add("ipv4-tcp-no-flags", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("")), hit4(packet.TCP, 0, 0))
	add("ipv4-tcp-fin-ack", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("FA")), hit4(packet.TCP, packet.FIN|packet.ACK, 0))
	add("ipv4-tcp-rst", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("R")), hit4(packet.TCP, packet.RST, 0))
	add("ipv4-tcp-options-data", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcpWithOptions(), payload(5)), hit4(packet.TCP, packet.SYN, 5))
	add("ipv4-tcp-garbage-checksums", E, patch(serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("S")), func(b []byte) {
		b[ethIP+10], b[ethIP+11] = 0xde, 0xad     // IPv4 header checksum
		b[ethTCP4+16], b[ethTCP4+17] = 0xbe, 0xef // TCP checksum
	}), hit4(packet.TCP, packet.SYN, 0))
	add("ipv4-udp-empty", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp()), hit4(packet.UDP, 0, 0))

	// The loopback device: an Ethernet header of zeros.
	add("loopback-ipv4-tcp-syn", E, serialize(loopbackEther(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("S")), hit4(packet.TCP, packet.SYN, 0))
	add("loopback-ipv6-udp", E, serialize(loopbackEther(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolUDP), udp(), payload(3)), hit6(packet.UDP, 0, 3))

	// VLAN tags.
	add("vlan-ipv4", E, serialize(ether(layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("S")), hit4(packet.TCP, packet.SYN, 0))
	add("vlan-ipv6-udp", E, serialize(ether(layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv6), ipv6(layers.IPProtocolUDP), udp()), hit6(packet.UDP, 0, 0))
	add("qinq-88a8-ipv4", E, serialize(ether(layers.EthernetTypeQinQ), dot1q(10, layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("S")), hit4(packet.TCP, packet.SYN, 0))
	add("qinq-9100-ipv6", E, serialize(ether(0x9100), dot1q(10, layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv6), ipv6(layers.IPProtocolTCP), tcp("S")), hit6(packet.TCP, packet.SYN, 0))
	add("vlan-4-tags", E, serialize(ether(layers.EthernetTypeQinQ), dot1q(1, layers.EthernetTypeQinQ), dot1q(2, 0x9100), dot1q(3, layers.EthernetTypeDot1Q), dot1q(4, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp()), hit4(packet.UDP, 0, 0))
	fail("vlan-5-tags", E, serialize(ether(layers.EthernetTypeDot1Q), dot1q(1, layers.EthernetTypeDot1Q), dot1q(2, layers.EthernetTypeDot1Q), dot1q(3, layers.EthernetTypeDot1Q), dot1q(4, layers.EthernetTypeDot1Q), dot1q(5, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp()), packet.ErrMalformed)
	fail("vlan-tag-cut", E, serialize(ether(layers.EthernetTypeDot1Q), gopacket.Payload{0x00, 0x64})[:ethIP+2], packet.ErrTruncated)
	fail("vlan-inner-arp", E, serialize(ether(layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeARP), payload(28)), packet.ErrNotIP)
	add("sll-vlan-ipv4", packet.LinkSLL, sll(layers.EthernetTypeDot1Q, serialize(dot1q(100, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("S"))), hit4(packet.TCP, packet.SYN, 0))

	// IPv4 options.
	add("ipv4-options-router-alert", E, serialize(ether(layers.EthernetTypeIPv4), withOptions(ipv4(layers.IPProtocolTCP),
		layers.IPv4Option{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}), tcp("S"), payload(7)), hit4(packet.TCP, packet.SYN, 7))
	add("ipv4-options-ihl-15", E, serialize(ether(layers.EthernetTypeIPv4), withOptions(ipv4(layers.IPProtocolUDP),
		layers.IPv4Option{OptionType: 7, OptionLength: 39, OptionData: append([]byte{4}, make([]byte, 36)...)}, // record route
		layers.IPv4Option{OptionType: 0}), udp(), payload(2)), hit4(packet.UDP, 0, 2))

	// IPv4 fragments: the first is decoded, later ones cannot be.
	add("ipv4-first-fragment-tcp", E, serialize(ether(layers.EthernetTypeIPv4), fragment4(layers.IPProtocolTCP, 0, true), tcp("S"), payload(100)), hit4(packet.TCP, packet.SYN, 100))
	add("ipv4-first-fragment-udp", E, serialize(ether(layers.EthernetTypeIPv4), fragment4(layers.IPProtocolUDP, 0, true), udp(), payload(64)), hit4(packet.UDP, 0, 64))
	fail("ipv4-middle-fragment", E, serialize(ether(layers.EthernetTypeIPv4), fragment4(layers.IPProtocolTCP, 185, true), tcp("S"), payload(40)), packet.ErrFragment)
	fail("ipv4-last-fragment", E, serialize(ether(layers.EthernetTypeIPv4), fragment4(layers.IPProtocolUDP, 1, false), udp(), payload(40)), packet.ErrFragment)
	fail("ipv4-first-fragment-transport-cut-off", E, serialize(ether(layers.EthernetTypeIPv4), fragment4(layers.IPProtocolTCP, 0, true), payload(8)), packet.ErrMalformed)

	// IPv6 fragments.
	add("ipv6-first-fragment-tcp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Fragment), fragment6(layers.IPProtocolTCP, 0, true), tcp("S"), payload(50)), hit6(packet.TCP, packet.SYN, 50))
	add("ipv6-atomic-fragment-udp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Fragment), fragment6(layers.IPProtocolUDP, 0, false), udp(), payload(1)), hit6(packet.UDP, 0, 1))
	fail("ipv6-middle-fragment", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Fragment), fragment6(layers.IPProtocolTCP, 100, true), tcp("S"), payload(40)), packet.ErrFragment)
	fail("ipv6-last-fragment", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Fragment), fragment6(layers.IPProtocolUDP, 1, false), udp(), payload(40)), packet.ErrFragment)
	fail("ipv6-fragment-after-hbh", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop), hopByHop(layers.IPProtocolIPv6Fragment), fragment6(layers.IPProtocolUDP, 8, false), payload(40)), packet.ErrFragment)

	// IPv6 extension header chains.
	add("ipv6-hbh-tcp-syn", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop), hopByHop(layers.IPProtocolTCP), tcp("S")), hit6(packet.TCP, packet.SYN, 0))
	add("ipv6-dest-tcp-data", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolTCP), tcp("PA"), payload(9)), hit6(packet.TCP, packet.PSH|packet.ACK, 9))
	add("ipv6-routing-tcp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Routing), routing(layers.IPProtocolTCP), tcp("S")), hit6(packet.TCP, packet.SYN, 0))
	add("ipv6-hbh-dest-routing-fragment-dest-tcp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop),
		hopByHop(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolIPv6Routing), routing(layers.IPProtocolIPv6Fragment),
		fragment6(layers.IPProtocolIPv6Destination, 0, true), destOpts(layers.IPProtocolTCP), tcp("S"), payload(3)), hit6(packet.TCP, packet.SYN, 3))
	add("ipv6-ah-tcp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolAH), ah(layers.IPProtocolTCP), tcp("S")), hit6(packet.TCP, packet.SYN, 0))
	add("ipv6-hbh-ah-dest-udp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop), hopByHop(layers.IPProtocolAH),
		ah(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolUDP), udp(), payload(4)), hit6(packet.UDP, 0, 4))
	add("ipv4-ah-tcp", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolAH), ah(layers.IPProtocolTCP), tcp("S"), payload(2)), hit4(packet.TCP, packet.SYN, 2))
	add("ipv6-mobility-tcp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(135), genericExt(layers.IPProtocolTCP, 1), tcp("S")), hit6(packet.TCP, packet.SYN, 0))
	add("ipv6-hip-udp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(139), genericExt(layers.IPProtocolUDP, 2), udp()), hit6(packet.UDP, 0, 0))
	add("ipv6-shim6-udp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(140), genericExt(layers.IPProtocolUDP, 0), udp(), payload(1)), hit6(packet.UDP, 0, 1))
	add("ipv6-16-ext-headers", E, serialize(destChain(16, ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Destination), udp())...), hit6(packet.UDP, 0, 0))
	fail("ipv6-17-ext-headers", E, serialize(destChain(17, ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Destination), udp())...), packet.ErrMalformed)
	fail("ipv6-esp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolESP), esp()), packet.ErrNotTransport)
	fail("ipv6-hbh-esp", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop), hopByHop(layers.IPProtocolESP), esp()), packet.ErrNotTransport)
	fail("ipv4-esp", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolESP), esp()), packet.ErrNotTransport)
	fail("ipv6-no-next-header", raw, serialize(ipv6(layers.IPProtocolNoNextHeader)), packet.ErrNotTransport)
	fail("ipv6-dest-no-next-header", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolNoNextHeader)), packet.ErrNotTransport)
	fail("ipv6-ah-too-short", E, patch(serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolAH), ah(layers.IPProtocolTCP), tcp("S")), func(b []byte) {
		b[ethTCP6+1] = 0 // AH length (0+2)*4 = 8 < the 12-byte fixed part
	}), packet.ErrMalformed)
	fail("ipv6-ext-header-overruns-packet", raw, patch(serialize(ipv6(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolUDP), udp()), func(b []byte) {
		b[40+1] = 10 // 88 bytes declared, 16 in the packet
	}), packet.ErrMalformed)
	fail("ipv6-ext-header-cut-by-capture", raw, serialize(ipv6(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolUDP), udp())[:40+6], packet.ErrTruncated)
	fail("ipv4-proto-hop-by-hop", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolIPv6HopByHop), hopByHop(layers.IPProtocolTCP), tcp("S")), packet.ErrNotTransport)
	fail("ipv4-icmp-echo", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}), packet.ErrNotTransport)
	fail("ipv6-icmpv6-echo", E, serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolICMPv6), gopacket.Payload{128, 0, 0, 0, 0, 1, 0, 1}), packet.ErrNotTransport)
	fail("ipv4-in-ipv4", E, serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolIPv4), ipv4(layers.IPProtocolTCP), tcp("S")), packet.ErrNotTransport)

	// Ethernet padding and trailers are not payload.
	add("ipv4-tcp-syn-padded", E, padded(serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("S")), 60, 0), hit4(packet.TCP, packet.SYN, 0))
	add("ipv4-udp-1-byte-junk-padding", E, padded(serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp(), payload(1)), 60, 0xff), hit4(packet.UDP, 0, 1))
	add("ipv6-udp-fcs-trailer", E, padded(serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolUDP), udp(), payload(2)), 14+40+8+2+4, 0xee), hit6(packet.UDP, 0, 2))
	add("ipv6-exthdr-tcp-padded", E, padded(serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolTCP), tcp("S")), 120, 0x33), hit6(packet.TCP, packet.SYN, 0))

	// Captures cut short by the snap length: ports and flags survive, the
	// payload length is still the declared one.
	pshack4 := serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("PA"), payload(100))
	add("snaplen-ipv4-tcp-14-bytes", E, pshack4[:ethTCP4+14], hit4(packet.TCP, packet.PSH|packet.ACK, 100))
	fail("snaplen-ipv4-tcp-13-bytes", E, pshack4[:ethTCP4+13], packet.ErrTruncated)
	pshack6 := serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolTCP), tcpWithOptions(), payload(1000))
	add("snaplen-ipv6-tcp-options-cut", E, pshack6[:ethTCP6+24], hit6(packet.TCP, packet.SYN, 1000))
	udp4 := serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp(), payload(500))
	add("snaplen-ipv4-udp-8-bytes", E, udp4[:ethTCP4+8], hit4(packet.UDP, 0, 500))
	fail("snaplen-ipv4-udp-7-bytes", E, udp4[:ethTCP4+7], packet.ErrTruncated)
	fail("snaplen-ipv4-header-cut", E, pshack4[:ethIP+19], packet.ErrTruncated)
	fail("snaplen-ipv6-header-cut", E, pshack6[:ethIP+39], packet.ErrTruncated)

	// Bad IPv4 header lengths.
	syn4 := serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("S"))
	fail("ipv4-ihl-4", E, patch(syn4, func(b []byte) { b[ethIP] = 0x44 }), packet.ErrMalformed)
	fail("ipv4-ihl-0", E, patch(syn4, func(b []byte) { b[ethIP] = 0x40 }), packet.ErrMalformed)
	fail("ipv4-ihl-beyond-total-length", E, patch(syn4, func(b []byte) { b[ethIP] = 0x4f }), packet.ErrMalformed)
	opts4 := serialize(ether(layers.EthernetTypeIPv4), withOptions(ipv4(layers.IPProtocolTCP),
		layers.IPv4Option{OptionType: 7, OptionLength: 39, OptionData: append([]byte{4}, make([]byte, 36)...)},
		layers.IPv4Option{OptionType: 0}), tcp("S"))
	fail("ipv4-ihl-beyond-capture", E, opts4[:ethIP+30], packet.ErrTruncated)
	fail("ipv4-total-length-below-ihl", E, patch(syn4, func(b []byte) { b[ethIP+2], b[ethIP+3] = 0, 19 }), packet.ErrMalformed)
	fail("ipv4-total-length-cuts-tcp-header", E, patch(syn4, func(b []byte) { b[ethIP+2], b[ethIP+3] = 0, 20+10 }), packet.ErrMalformed)
	fail("ipv4-total-length-no-transport", E, patch(syn4, func(b []byte) { b[ethIP+2], b[ethIP+3] = 0, 20 }), packet.ErrMalformed)
	add("ipv4-total-length-covers-tcp-flags-only", E, patch(syn4, func(b []byte) { b[ethIP+2], b[ethIP+3] = 0, 20+14 }), hit4(packet.TCP, packet.SYN, 0))
	cs = append(cs, decodeCase{name: "ipv4-total-length-zero-tso", link: E, capLen: true,
		// (long enough not to be padded: with no length field, padding
		// would count as payload)
		frame: patch(serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("PA"), payload(50)), func(b []byte) { b[ethIP+2], b[ethIP+3] = 0, 0 }),
		want:  hit4(packet.TCP, packet.PSH|packet.ACK, 50)})
	cs = append(cs, decodeCase{name: "ipv6-payload-length-zero", link: E, capLen: true,
		frame: patch(serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolTCP), tcp("PA"), payload(5)), func(b []byte) { b[ethIP+4], b[ethIP+5] = 0, 0 }),
		want:  hit6(packet.TCP, packet.PSH|packet.ACK, 5)})

	// TCP data offset.
	add("tcp-data-offset-below-5", E, patch(pshack4, func(b []byte) { b[ethTCP4+12] = 0x20 }), hit4(packet.TCP, packet.PSH|packet.ACK, 100))
	add("tcp-data-offset-beyond-packet", E, patch(syn4, func(b []byte) { b[ethTCP4+12] = 0xf0 }), hit4(packet.TCP, packet.SYN, 0))
	add("tcp-data-offset-into-payload", E, patch(pshack4, func(b []byte) { b[ethTCP4+12] = 0x80 }), hit4(packet.TCP, packet.PSH|packet.ACK, 100-12))

	// Bad IP versions.
	fail("ether-ipv4-type-version-6", E, patch(syn4, func(b []byte) { b[ethIP] = 0x65 }), packet.ErrMalformed)
	syn6 := serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolTCP), tcp("S"))
	fail("ether-ipv6-type-version-4", E, patch(syn6, func(b []byte) { b[ethIP] = 0x45 }), packet.ErrMalformed)
	fail("raw-version-5", raw, patch(syn4[ethIP:], func(b []byte) { b[0] = 0x55 }), packet.ErrNotIP)
	fail("raw-version-0", raw, make([]byte, 60), packet.ErrNotIP)
	fail("sll-ipv6-type-version-4", packet.LinkSLL, sll(layers.EthernetTypeIPv6, syn4[ethIP:]), packet.ErrMalformed)

	// Not IP at all.
	fail("ether-arp", E, serialize(ether(layers.EthernetTypeARP), payload(28)), packet.ErrNotIP)
	fail("ether-8023-length", E, serialize(ether(0x002e), payload(46)), packet.ErrNotIP)
	fail("ether-lldp", E, serialize(ether(layers.EthernetTypeLinkLayerDiscovery), payload(46)), packet.ErrNotIP)
	fail("sll-arp", packet.LinkSLL, sll(layers.EthernetTypeARP, payload(28)), packet.ErrNotIP)
	fail("sll2-llc", packet.LinkSLL2, sll2(0x0004, payload(28)), packet.ErrNotIP)

	// Link types and empty frames.
	fail("link-unknown", packet.LinkType(0), syn4, packet.ErrLink)
	fail("link-ipv4-only", packet.LinkType(228), syn4[ethIP:], packet.ErrLink)
	for _, l := range allLinks {
		fail("empty/"+linkName(l), l, nil, packet.ErrTruncated)
	}
	fail("ether-header-cut", E, syn4[:13], packet.ErrTruncated)
	fail("sll-header-cut", packet.LinkSLL, sll(layers.EthernetTypeIPv4, nil)[:15], packet.ErrTruncated)
	fail("sll2-header-cut", packet.LinkSLL2, sll2(layers.EthernetTypeIPv4, nil)[:19], packet.ErrTruncated)

	cs = append(cs, fuzzRegressions()...)
	return cs
}

// fuzzRegressions holds inputs the fuzzer found, one named case each.
func fuzzRegressions() []decodeCase {
	return nil
}

func withOptions(ip *layers.IPv4, opts ...layers.IPv4Option) *layers.IPv4 {
	ip.Options = opts
	return ip
}

func fragment4(proto layers.IPProtocol, offset uint16, more bool) *layers.IPv4 {
	ip := ipv4(proto)
	ip.Flags = 0
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	ip.FragOffset = offset
	return ip
}

// destChain returns outer, ip, n destination options headers, then inner.
func destChain(n int, outer, ip, inner gopacket.SerializableLayer) []gopacket.SerializableLayer {
	ls := []gopacket.SerializableLayer{outer, ip}
	for i := range n {
		next := layers.IPProtocolIPv6Destination
		if i == n-1 {
			next = layers.IPProtocolUDP
		}
		ls = append(ls, destOpts(next))
	}
	return append(ls, inner)
}

// padded extends frame to n bytes with fill, as a NIC pads a short
// Ethernet frame or a capture keeps the frame check sequence.
func padded(frame []byte, n int, fill byte) []byte {
	for len(frame) < n {
		frame = append(frame, fill)
	}
	return frame
}

// diffHit describes how got differs from want, one field per line, as
// (-want +got); empty when they are equal.
func diffHit(want, got packet.Hit) string {
	var b strings.Builder
	field := func(name string, w, g any) {
		if w != g {
			fmt.Fprintf(&b, "-%s: %v\n+%s: %v\n", name, w, name, g)
		}
	}
	field("Src", want.Src, got.Src)
	field("Dst", want.Dst, got.Dst)
	field("Proto", want.Proto, got.Proto)
	field("SrcPort", want.SrcPort, got.SrcPort)
	field("DstPort", want.DstPort, got.DstPort)
	field("Flags", want.Flags, got.Flags)
	field("PayloadLen", want.PayloadLen, got.PayloadLen)
	return b.String()
}

func errName(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got packet.Hit
			err := packet.Decode(tc.link, tc.frame, &got)
			if err != tc.err {
				t.Fatalf("Decode() error = %s, want %s", errName(err), errName(tc.err))
			}
			if d := diffHit(tc.want, got); d != "" {
				t.Errorf("Decode() hit mismatch (-want +got):\n%s", d)
			}
		})
	}
}

// TestDecodeNamesUnique keeps the table honest: a duplicated name would
// hide a case behind another in `go test -run`.
func TestDecodeNamesUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, tc := range decodeCases() {
		if seen[tc.name] {
			t.Errorf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
	}
}

// TestDecodeTruncatedEveryOffset cuts every table packet at every byte.
// A cut packet must never panic, and must either decode to the same hit as
// the whole packet (the cut only lost payload, padding or TCP bytes past
// the flags) or fail with ErrTruncated, or with the error the whole packet
// already had.
func TestDecodeTruncatedEveryOffset(t *testing.T) {
	t.Parallel()
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for n := range len(tc.frame) {
				var got packet.Hit
				err := packet.Decode(tc.link, tc.frame[:n], &got)
				switch {
				case err == nil && tc.err == nil && tc.capLen:
					// The payload length follows the capture; only the
					// rest must match.
					got.PayloadLen = tc.want.PayloadLen
					if d := diffHit(tc.want, got); d != "" {
						t.Errorf("cut at %d: hit mismatch (-want +got):\n%s", n, d)
					}
				case err == nil && tc.err == nil:
					if d := diffHit(tc.want, got); d != "" {
						t.Errorf("cut at %d: hit mismatch (-want +got):\n%s", n, d)
					}
				case err == nil:
					t.Errorf("cut at %d: decoded %v, but the whole packet fails with %v", n, got, tc.err)
				case tc.capLen && err == packet.ErrMalformed:
					// With no length in the IP header, a cut cannot be
					// told from a packet that is too short.
				case err != packet.ErrTruncated && err != tc.err:
					t.Errorf("cut at %d: error = %v, want %v or %v", n, err, packet.ErrTruncated, errName(tc.err))
				}
				if err != nil && got != (packet.Hit{}) {
					t.Errorf("cut at %d: error %v left hit %v, want the zero Hit", n, err, got)
				}
			}
		})
	}
}

// TestDecodeOverwritesHit checks that nothing of an earlier hit survives
// in the one Decode fills, on success or on failure: capture loops reuse
// one Hit.
func TestDecodeOverwritesHit(t *testing.T) {
	t.Parallel()
	stale := packet.Hit{Src: src6, Dst: dst6, Proto: packet.TCP, SrcPort: 1, DstPort: 2, Flags: packet.AllFlags, PayloadLen: 99}
	for _, tc := range decodeCases() {
		h := stale
		err := packet.Decode(tc.link, tc.frame, &h)
		if err != tc.err {
			t.Errorf("%s: Decode() error = %s, want %s", tc.name, errName(err), errName(tc.err))
			continue
		}
		if d := diffHit(tc.want, h); d != "" {
			t.Errorf("%s: hit over a stale one (-want +got):\n%s", tc.name, d)
		}
	}
}

// TestDecodeAddressForms checks that an IPv4 packet yields 4-byte
// addresses, never IPv4-mapped IPv6 ones, so that they compare equal to
// the addresses the configuration and the firewall use.
func TestDecodeAddressForms(t *testing.T) {
	t.Parallel()
	for _, tc := range decodeCases() {
		if tc.err != nil {
			continue
		}
		var h packet.Hit
		if err := packet.Decode(tc.link, tc.frame, &h); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if h.Src.Is4() != tc.want.Src.Is4() || h.Src.Is4In6() || h.Dst.Is4In6() || h.Src.BitLen() != h.Dst.BitLen() {
			t.Errorf("%s: addresses %v -> %v (4-byte src %v)", tc.name, h.Src, h.Dst, h.Src.Is4())
		}
	}
}

func TestDecodeErrorsAreDistinct(t *testing.T) {
	t.Parallel()
	errs := []error{packet.ErrLink, packet.ErrTruncated, packet.ErrMalformed, packet.ErrNotIP, packet.ErrNotTransport, packet.ErrFragment}
	for i, a := range errs {
		if !strings.HasPrefix(a.Error(), "packet: ") {
			t.Errorf("error %q lacks the package prefix", a)
		}
		for _, b := range errs[i+1:] {
			if errors.Is(a, b) || a.Error() == b.Error() {
				t.Errorf("errors %q and %q are not distinct", a, b)
			}
		}
	}
}

// TestDecodeDoesNotAllocate is the hot-path promise: not one allocation
// per packet, whatever the packet, on success or failure. It is not
// parallel: AllocsPerRun counts every allocation in the process.
func TestDecodeDoesNotAllocate(t *testing.T) {
	for _, tc := range decodeCases() {
		var h packet.Hit
		allocs := testing.AllocsPerRun(100, func() {
			_ = packet.Decode(tc.link, tc.frame, &h)
		})
		if allocs != 0 {
			t.Errorf("%s: Decode allocates %v times per call, want 0", tc.name, allocs)
		}
	}
}

func TestHitString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hit  packet.Hit
		want string
	}{
		{"ipv4-tcp-syn", hit4(packet.TCP, packet.SYN, 0), "198.18.0.2:40000 -> 198.18.0.1:7000 tcp [syn]"},
		{"ipv4-tcp-pshack-data", hit4(packet.TCP, packet.PSH|packet.ACK, 5), "198.18.0.2:40000 -> 198.18.0.1:7000 tcp [psh,ack] len=5"},
		{"ipv4-tcp-no-flags", hit4(packet.TCP, 0, 0), "198.18.0.2:40000 -> 198.18.0.1:7000 tcp [none]"},
		{"ipv6-udp", hit6(packet.UDP, 0, 6), "[2001:db8::2]:40000 -> [2001:db8::1]:7000 udp len=6"},
		{"zero", packet.Hit{}, "invalid AddrPort -> invalid AddrPort proto(0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.hit.String(); got != tt.want {
				t.Errorf("String() mismatch (-want +got):\n-%s\n+%s", tt.want, got)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	benches := []struct {
		name  string
		link  packet.LinkType
		frame []byte
	}{
		{"ipv4-tcp-syn-ether", packet.LinkEthernet,
			serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcpWithOptions())},
		{"ipv6-exthdr-udp-ether", packet.LinkEthernet,
			serialize(ether(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6HopByHop),
				hopByHop(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolIPv6Routing),
				routing(layers.IPProtocolUDP), udp(), gopacket.Payload("knock\n"))},
		{"vlan-ipv4", packet.LinkEthernet,
			serialize(ether(layers.EthernetTypeDot1Q), dot1q(100, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolTCP), tcp("S"))},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			var h packet.Hit
			if err := packet.Decode(bb.link, bb.frame, &h); err != nil {
				b.Fatalf("Decode: %v", err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.frame)))
			for b.Loop() {
				if err := packet.Decode(bb.link, bb.frame, &h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An IPv4-mapped IPv6 source would pose as the IPv4 address (the matcher
// and the doors key on the unmapped address): it is rejected.
func TestDecodeRejectsIPv4MappedSource(t *testing.T) {
	t.Parallel()
	ip := ipv6(layers.IPProtocolTCP)
	ip.SrcIP = netip.MustParseAddr("::ffff:198.18.0.2").AsSlice()
	frame := serialize(ip, tcp("S"))
	h := packet.Hit{DstPort: 1}
	if err := packet.Decode(packet.LinkRaw, frame, &h); err != packet.ErrMalformed || h != (packet.Hit{}) {
		t.Fatalf("Decode = %v, hit %v; want ErrMalformed and a zero hit", err, h)
	}
}

// TestDecodeUDPHead checks the payload head a UDP hit keeps: the first
// HeadSize bytes that were both declared and captured, so HasPayload is
// exact, also when the capture cut the datagram short.
func TestDecodeUDPHead(t *testing.T) {
	t.Parallel()
	knock := serialize(ether(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP), udp(), gopacket.Payload("knock\n"))
	knockRaw := serialize(ipv4(layers.IPProtocolUDP), udp(), gopacket.Payload("knock\n"))
	long := serialize(ipv6(layers.IPProtocolUDP), udp(), payload(40))
	tests := []struct {
		name     string
		link     packet.LinkType
		frame    []byte
		head     string
		knockish bool // HasPayload("knock\n")
	}{
		{"knock", packet.LinkEthernet, knock, "knock\n", true},
		{"knock-cut-in-payload", packet.LinkRaw, knockRaw[:len(knockRaw)-2], "knoc", false},
		{"knock-with-trailer-padding", packet.LinkEthernet, padded(knock, 70, 0), "knock\n", true},
		{"long-keeps-16", packet.LinkRaw, long, "abcdefghijklmnop", false},
		{"empty", packet.LinkRaw, serialize(ipv4(layers.IPProtocolUDP), udp()), "", false},
		{"tcp-has-none", packet.LinkRaw, serialize(ipv4(layers.IPProtocolTCP), tcp("PA"), gopacket.Payload("knock\n")), "", false},
	}
	for _, tc := range tests {
		var h packet.Hit
		if err := packet.Decode(tc.link, tc.frame, &h); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := string(h.Head[:h.HeadLen]); got != tc.head {
			t.Errorf("%s: head %q, want %q", tc.name, got, tc.head)
		}
		if got := h.HasPayload([]byte("knock\n")); got != tc.knockish {
			t.Errorf("%s: HasPayload(knock) = %v, want %v", tc.name, got, tc.knockish)
		}
	}
}
