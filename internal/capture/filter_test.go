package capture

import (
	"encoding/binary"
	"net"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/sesame-knock/sesame/internal/packet"
)

// The tests run the generated program in x/net/bpf's VM. That VM does not
// implement the pkt_type extension, so they check the prologue (the
// outgoing-packet drop) by shape and run the rest.

var (
	srcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	dstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	src4   = net.IP{198, 18, 0, 2}
	dst4   = net.IP{198, 18, 0, 1}
	src6   = net.ParseIP("fd00:5e5a::2")
	dst6   = net.ParseIP("fd00:5e5a::1")
)

// pkt describes a test packet.
type pkt struct {
	v6       bool
	vlans    []layers.EthernetType // in-band tag TPIDs, outermost first
	proto    layers.IPProtocol     // TCP, UDP, or another (ICMP)
	dport    uint16
	syn, ack bool
	fin, psh bool
	urg      bool
	hopByHop bool   // IPv6: a hop-by-hop options header before the transport
	fragOff  uint16 // IPv4 fragment offset in 8-byte units
	arp      bool
}

// frame serialises p for link.
func (p pkt) frame(t testing.TB, link packet.LinkType) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	if link == packet.LinkEthernet {
		eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC}
		ls = append(ls, eth)
		types := append(slices.Clone(p.vlans), layers.EthernetTypeIPv4)
		switch {
		case p.arp:
			types[len(types)-1] = layers.EthernetTypeARP
		case p.v6:
			types[len(types)-1] = layers.EthernetTypeIPv6
		}
		eth.EthernetType = types[0]
		for i := range p.vlans {
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(10 + i), Type: types[i+1]})
		}
	}
	if p.arp {
		ls = append(ls, &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: srcMAC, SourceProtAddress: src4,
			DstHwAddress: make([]byte, 6), DstProtAddress: dst4,
		})
		return serialize(t, ls)
	}
	var netLayer gopacket.NetworkLayer
	if p.v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: src6, DstIP: dst6, NextHeader: p.proto}
		ls = append(ls, ip)
		if p.hopByHop {
			ip.NextHeader = layers.IPProtocolIPv6HopByHop
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = p.proto
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			ls = append(ls, hbh)
		}
		netLayer = ip
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, SrcIP: src4, DstIP: dst4, Protocol: p.proto, FragOffset: p.fragOff}
		ls = append(ls, ip)
		netLayer = ip
	}
	switch p.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(p.dport), SYN: p.syn, ACK: p.ack, FIN: p.fin, PSH: p.psh, URG: p.urg, Window: 1024}
		tcp.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(p.dport)}
		udp.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, udp, gopacket.Payload("knock"))
	default:
		ls = append(ls, gopacket.Payload("ping"))
	}
	return serialize(t, ls)
}

func serialize(t testing.TB, ls []gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return buf.Bytes()
}

// newVM checks the prologue and returns a VM for the rest of the program.
func newVM(t testing.TB, prog []bpf.Instruction) *bpf.VM {
	t.Helper()
	want := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
	}
	if len(prog) <= prologueLen || !slices.Equal(prog[:prologueLen], want) {
		t.Fatalf("program does not start with the outgoing-packet drop: %v", prog[:min(len(prog), prologueLen)])
	}
	if len(prog) > MaxInstructions {
		t.Fatalf("program has %d instructions, the kernel allows %d", len(prog), MaxInstructions)
	}
	vm, err := bpf.NewVM(prog[prologueLen:])
	if err != nil {
		t.Fatalf("VM rejects the program: %v", err)
	}
	return vm
}

func accepts(t testing.TB, vm *bpf.VM, frame []byte) bool {
	t.Helper()
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	if n != 0 && n != SnapLen {
		t.Fatalf("VM returned %d, want 0 or %d", n, SnapLen)
	}
	return n == SnapLen
}

func TestFilter(t *testing.T) {
	t.Parallel()
	const tcpP, udpP = layers.IPProtocolTCP, layers.IPProtocolUDP
	seq := FilterSpec{TCPPorts: []uint16{7000, 8000, 9000}, UDPPorts: []uint16{7500}}
	guard := seq
	guard.ScanGuard = true
	dot1q := []layers.EthernetType{layers.EthernetTypeDot1Q}
	qinq := []layers.EthernetType{layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q}
	three := []layers.EthernetType{layers.EthernetTypeDot1Q, layers.EthernetTypeDot1Q, layers.EthernetTypeDot1Q}
	tests := []struct {
		name string
		spec FilterSpec
		link packet.LinkType
		pkt  pkt
		want bool
	}{
		{"tcp syn to sequence port", seq, packet.LinkEthernet, pkt{proto: tcpP, dport: 8000, syn: true}, true},
		{"tcp ack to sequence port", seq, packet.LinkEthernet, pkt{proto: tcpP, dport: 8000, ack: true}, true},
		{"tcp ack to other port", seq, packet.LinkEthernet, pkt{proto: tcpP, dport: 22, ack: true}, false},
		{"tcp ack to other port guard", guard, packet.LinkEthernet, pkt{proto: tcpP, dport: 22, ack: true}, false},
		{"tcp syn-ack to other port guard", guard, packet.LinkEthernet, pkt{proto: tcpP, dport: 22, syn: true, ack: true}, false},
		{"tcp syn to other port", seq, packet.LinkEthernet, pkt{proto: tcpP, dport: 22, syn: true}, false},
		{"tcp syn to other port guard", guard, packet.LinkEthernet, pkt{proto: tcpP, dport: 22, syn: true}, true},
		// Stealth scans: every segment without ACK is a probe the guard sees.
		{"tcp fin probe to other port guard", guard, packet.LinkEthernet, pkt{proto: tcpP, dport: 22, fin: true}, true},
		{"tcp null probe to other port guard", guard, packet.LinkEthernet, pkt{proto: tcpP, dport: 22}, true},
		{"tcp xmas probe to other port guard", guard, packet.LinkEthernet, pkt{proto: tcpP, dport: 22, fin: true, psh: true, urg: true}, true},
		{"tcp fin-ack to other port guard", guard, packet.LinkEthernet, pkt{proto: tcpP, dport: 22, fin: true, ack: true}, false},
		{"tcp fin probe to other port", seq, packet.LinkEthernet, pkt{proto: tcpP, dport: 22, fin: true}, false},
		{"tcp to udp sequence port", seq, packet.LinkEthernet, pkt{proto: tcpP, dport: 7500, syn: true}, false},
		{"udp to sequence port", seq, packet.LinkEthernet, pkt{proto: udpP, dport: 7500}, true},
		{"udp to other port", seq, packet.LinkEthernet, pkt{proto: udpP, dport: 53}, false},
		{"udp to tcp sequence port", seq, packet.LinkEthernet, pkt{proto: udpP, dport: 7000}, false},
		{"udp to other port guard", guard, packet.LinkEthernet, pkt{proto: udpP, dport: 53}, true},
		{"icmp", guard, packet.LinkEthernet, pkt{proto: layers.IPProtocolICMPv4}, false},
		{"arp", guard, packet.LinkEthernet, pkt{arp: true}, false},
		{"vlan tcp sequence port", seq, packet.LinkEthernet, pkt{vlans: dot1q, proto: tcpP, dport: 9000, ack: true}, true},
		{"vlan tcp other port", seq, packet.LinkEthernet, pkt{vlans: dot1q, proto: tcpP, dport: 9001, ack: true}, false},
		{"qinq udp sequence port", seq, packet.LinkEthernet, pkt{vlans: qinq, proto: udpP, dport: 7500}, true},
		{"qinq ipv6 syn guard", guard, packet.LinkEthernet, pkt{vlans: qinq, v6: true, proto: tcpP, dport: 1, syn: true}, true},
		{"three tags", guard, packet.LinkEthernet, pkt{vlans: three, proto: udpP, dport: 7500}, false},
		{"vlan arp", guard, packet.LinkEthernet, pkt{vlans: dot1q, arp: true}, false},
		{"ipv6 tcp sequence port", seq, packet.LinkEthernet, pkt{v6: true, proto: tcpP, dport: 7000, ack: true}, true},
		{"ipv6 tcp other port", seq, packet.LinkEthernet, pkt{v6: true, proto: tcpP, dport: 7001, syn: true}, false},
		{"ipv6 syn guard", guard, packet.LinkEthernet, pkt{v6: true, proto: tcpP, dport: 7001, syn: true}, true},
		{"ipv6 udp sequence port", seq, packet.LinkEthernet, pkt{v6: true, proto: udpP, dport: 7500}, true},
		{"ipv6 udp other port", seq, packet.LinkEthernet, pkt{v6: true, proto: udpP, dport: 7501}, false},
		{"ipv6 hop-by-hop", seq, packet.LinkEthernet, pkt{v6: true, hopByHop: true, proto: tcpP, dport: 1, ack: true}, true},
		{"ipv6 icmp", guard, packet.LinkEthernet, pkt{v6: true, proto: layers.IPProtocolICMPv6}, false},
		{"ipv4 first fragment", seq, packet.LinkEthernet, pkt{proto: udpP, dport: 7500}, true},
		{"ipv4 non-first fragment", guard, packet.LinkEthernet, pkt{proto: udpP, dport: 7500, fragOff: 185}, false},
		{"raw tcp sequence port", seq, packet.LinkRaw, pkt{proto: tcpP, dport: 7000, syn: true}, true},
		{"raw tcp other port", seq, packet.LinkRaw, pkt{proto: tcpP, dport: 7001, syn: true}, false},
		{"raw syn guard", guard, packet.LinkRaw, pkt{proto: tcpP, dport: 7001, syn: true}, true},
		{"raw udp", seq, packet.LinkRaw, pkt{proto: udpP, dport: 7500}, true},
		{"raw ipv6 tcp sequence port", seq, packet.LinkRaw, pkt{v6: true, proto: tcpP, dport: 9000, ack: true}, true},
		{"raw ipv6 ack other port guard", guard, packet.LinkRaw, pkt{v6: true, proto: tcpP, dport: 9001, ack: true}, false},
		{"raw ipv6 hop-by-hop", seq, packet.LinkRaw, pkt{v6: true, hopByHop: true, proto: udpP, dport: 1}, true},
		{"raw ipv4 non-first fragment", guard, packet.LinkRaw, pkt{proto: tcpP, dport: 7000, syn: true, fragOff: 1}, false},
		{"empty spec tcp", FilterSpec{}, packet.LinkEthernet, pkt{proto: tcpP, dport: 7000, syn: true}, false},
		{"empty spec guard syn", FilterSpec{ScanGuard: true}, packet.LinkEthernet, pkt{proto: tcpP, dport: 7000, syn: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prog, err := Filter(tt.spec, tt.link)
			if err != nil {
				t.Fatalf("Filter: %v", err)
			}
			vm := newVM(t, prog)
			if got := accepts(t, vm, tt.pkt.frame(t, tt.link)); got != tt.want {
				t.Errorf("accept = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterIPv4Options(t *testing.T) {
	t.Parallel()
	// An IPv4 header with options (IHL 6) must be skipped through X.
	b := pkt{proto: layers.IPProtocolTCP, dport: 7000, syn: true}.frame(t, packet.LinkEthernet)
	ip := b[14:]
	withOpt := slices.Concat(b[:14], ip[:20], []byte{1, 1, 1, 0}, ip[20:]) // NOP NOP NOP EOL
	withOpt[14] = 0x46
	binary.BigEndian.PutUint16(withOpt[16:], uint16(len(withOpt)-14))
	prog, err := Filter(FilterSpec{TCPPorts: []uint16{7000}}, packet.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t, prog)
	if !accepts(t, vm, withOpt) {
		t.Error("TCP behind IPv4 options not accepted")
	}
	var h packet.Hit
	if err := packet.Decode(packet.LinkEthernet, withOpt, &h); err != nil || h.DstPort != 7000 {
		t.Errorf("test frame decodes to %+v, %v", h, err)
	}
}

func TestFilterUnknownLink(t *testing.T) {
	t.Parallel()
	if _, err := Filter(FilterSpec{}, packet.LinkSLL); err == nil {
		t.Error("Filter accepted a link type it cannot filter")
	}
}

func TestPortRanges(t *testing.T) {
	t.Parallel()
	got := portRanges([]uint16{5, 3, 4, 4, 10, 65535, 65534, 0, 12})
	want := []portRange{{0, 0}, {3, 5}, {10, 10}, {12, 12}, {65534, 65535}}
	if !slices.Equal(got, want) {
		t.Errorf("portRanges = %v, want %v", got, want)
	}
}

// spreadPorts returns n ports no two of which are consecutive.
func spreadPorts(n int, start, step uint16) []uint16 {
	p := make([]uint16, n)
	for i := range p {
		p[i] = start + uint16(i)*step
	}
	return p
}

func TestFilterManyPorts(t *testing.T) {
	t.Parallel()
	spec := FilterSpec{TCPPorts: spreadPorts(1000, 1000, 7), UDPPorts: spreadPorts(1000, 1001, 11)}
	for _, link := range []packet.LinkType{packet.LinkEthernet, packet.LinkRaw} {
		prog, err := Filter(spec, link)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("link %d: 1000 TCP + 1000 UDP ports: %d instructions", link, len(prog))
		vm := newVM(t, prog)
		for _, p := range spec.TCPPorts {
			if !accepts(t, vm, pkt{proto: layers.IPProtocolTCP, dport: p, ack: true}.frame(t, link)) {
				t.Fatalf("TCP port %d rejected", p)
			}
			if accepts(t, vm, pkt{proto: layers.IPProtocolTCP, dport: p + 1, ack: true}.frame(t, link)) {
				t.Fatalf("TCP port %d accepted (no fallback expected)", p+1)
			}
		}
		for _, p := range spec.UDPPorts {
			if !accepts(t, vm, pkt{v6: true, proto: layers.IPProtocolUDP, dport: p}.frame(t, link)) {
				t.Fatalf("UDP port %d rejected", p)
			}
			if accepts(t, vm, pkt{v6: true, proto: layers.IPProtocolUDP, dport: p - 1}.frame(t, link)) {
				t.Fatalf("UDP port %d accepted (no fallback expected)", p-1)
			}
		}
	}
}

func TestFilterFallback(t *testing.T) {
	t.Parallel()
	// 5000 isolated TCP ports cannot fit in 4096 instructions: all TCP is
	// accepted, UDP stays selective.
	spec := FilterSpec{TCPPorts: spreadPorts(5000, 2, 3), UDPPorts: []uint16{7500}}
	prog, err := Filter(spec, packet.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fallback program: %d instructions", len(prog))
	vm := newVM(t, prog)
	if !accepts(t, vm, pkt{proto: layers.IPProtocolTCP, dport: 3, ack: true}.frame(t, packet.LinkEthernet)) {
		t.Error("fallback rejects TCP")
	}
	if accepts(t, vm, pkt{proto: layers.IPProtocolUDP, dport: 7501}.frame(t, packet.LinkEthernet)) {
		t.Error("fallback made UDP unselective")
	}
	// Both lists too big: everything TCP/UDP passes, still a valid program.
	spec.UDPPorts = spreadPorts(5000, 3, 3)
	prog, err = Filter(spec, packet.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	vm = newVM(t, prog)
	if !accepts(t, vm, pkt{proto: layers.IPProtocolUDP, dport: 1}.frame(t, packet.LinkEthernet)) {
		t.Error("double fallback rejects UDP")
	}
	if accepts(t, vm, pkt{proto: layers.IPProtocolICMPv4}.frame(t, packet.LinkEthernet)) {
		t.Error("double fallback accepts ICMP")
	}
}

func TestFilterCipherWindow(t *testing.T) {
	t.Parallel()
	// A 256-port cipher window is one range: a handful of instructions.
	var window []uint16
	for p := 40000; p < 40256; p++ {
		window = append(window, uint16(p))
	}
	small, err := Filter(FilterSpec{TCPPorts: []uint16{7000}}, packet.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Filter(FilterSpec{TCPPorts: append(window, 7000)}, packet.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) > len(small)+2 {
		t.Errorf("window costs %d instructions, want at most 2", len(prog)-len(small))
	}
	vm := newVM(t, prog)
	for _, tc := range []struct {
		port uint16
		want bool
	}{{39999, false}, {40000, true}, {40128, true}, {40255, true}, {40256, false}, {7000, true}} {
		if got := accepts(t, vm, pkt{proto: layers.IPProtocolTCP, dport: tc.port, ack: true}.frame(t, packet.LinkEthernet)); got != tc.want {
			t.Errorf("port %d: accept = %v, want %v", tc.port, got, tc.want)
		}
	}
}

// Typical configuration: a few knockd events, scan guard on.
func TestFilterTypicalSize(t *testing.T) {
	t.Parallel()
	spec := FilterSpec{TCPPorts: []uint16{7000, 8000, 9000, 22, 2222}, UDPPorts: []uint16{7500, 8500}, ScanGuard: true}
	prog, err := Filter(spec, packet.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("typical config (5 TCP, 2 UDP ports, scan guard) on Ethernet: %d instructions", len(prog))
	spec.ScanGuard = false
	prog, err = Filter(spec, packet.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("same without scan guard: %d instructions", len(prog))
}

// FuzzFilter generates programs from random specs and runs random frames
// through them. The generator must not fail, the VM must take the program,
// and whenever packet.Decode yields a hit the matcher needs (a port in the
// spec, or a new connection under the scan guard), the filter must have
// accepted the frame: the kernel filter may pass too much, never too little.
func FuzzFilter(f *testing.F) {
	seed := func(flags byte, ports []uint16, p pkt, link packet.LinkType) {
		b := []byte{flags, byte(len(ports))}
		for _, v := range ports {
			b = binary.BigEndian.AppendUint16(b, v)
		}
		f.Add(b, p.frame(f, link))
	}
	seed(0, []uint16{7000, 7500}, pkt{proto: layers.IPProtocolTCP, dport: 7000, syn: true}, packet.LinkEthernet)
	seed(1, []uint16{7000}, pkt{proto: layers.IPProtocolUDP, dport: 53}, packet.LinkEthernet)
	seed(2, []uint16{7000, 7001, 7002}, pkt{v6: true, proto: layers.IPProtocolTCP, dport: 7001, ack: true}, packet.LinkRaw)
	seed(3, []uint16{1, 2, 3, 4, 5, 6}, pkt{v6: true, hopByHop: true, proto: layers.IPProtocolUDP, dport: 9}, packet.LinkRaw)
	seed(0, []uint16{7000}, pkt{vlans: []layers.EthernetType{layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q}, proto: layers.IPProtocolTCP, dport: 7000, ack: true}, packet.LinkEthernet)
	seed(4, nil, pkt{arp: true}, packet.LinkEthernet)

	f.Fuzz(func(t *testing.T, specBytes, frame []byte) {
		var spec FilterSpec
		link := packet.LinkEthernet
		if len(specBytes) > 0 {
			spec.ScanGuard = specBytes[0]&1 != 0
			if specBytes[0]&2 != 0 {
				link = packet.LinkRaw
			}
			ports := specBytes[1:]
			for i := 0; i+1 < len(ports); i += 2 {
				p := binary.BigEndian.Uint16(ports[i:])
				// Even/odd position picks the protocol; a long input
				// may well exercise the fallback.
				if i/2%2 == 0 {
					spec.TCPPorts = append(spec.TCPPorts, p)
				} else {
					spec.UDPPorts = append(spec.UDPPorts, p)
				}
			}
		}
		prog, err := Filter(spec, link)
		if err != nil {
			t.Fatalf("Filter(%+v): %v", spec, err)
		}
		vm := newVM(t, prog)
		got := accepts(t, vm, frame)

		var h packet.Hit
		if packet.Decode(link, frame, &h) != nil || link == packet.LinkEthernet && vlanTags(frame) > maxVLANTags {
			return
		}
		needed := spec.ScanGuard && h.Probe() ||
			h.Proto == packet.TCP && slices.Contains(spec.TCPPorts, h.DstPort) ||
			h.Proto == packet.UDP && slices.Contains(spec.UDPPorts, h.DstPort)
		if needed && !got {
			t.Errorf("filter dropped a needed hit %+v (spec %+v)", h, spec)
		}
	})
}

// vlanTags counts in-band tags in an Ethernet frame.
func vlanTags(frame []byte) int {
	n := 0
	for off := 12; off+2 <= len(frame); off += vlanTagLen {
		switch binary.BigEndian.Uint16(frame[off:]) {
		case etherTypeVLAN, etherTypeQinQ, etherTypeQinQ1:
			n++
		default:
			return n
		}
	}
	return n
}
