package capture

import (
	"fmt"
	"slices"

	"golang.org/x/net/bpf"

	"github.com/sesame-knock/sesame/internal/packet"
)

// SnapLen is how many bytes of an accepted packet the kernel copies to user
// space: Ethernet (14) + two VLAN tags (8) + IPv6 (40) + a generous run of
// extension headers + TCP with options (60). Payloads are not needed.
const SnapLen = 384

// MaxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS).
const MaxInstructions = 4096

// FilterSpec says which packets can matter to the matcher.
type FilterSpec struct {
	TCPPorts []uint16 // destination ports of TCP sequence elements
	UDPPorts []uint16 // destination ports of UDP sequence elements
	// ScanGuard also passes every probe (a TCP segment without ACK: SYN,
	// FIN, NULL, Xmas; any UDP datagram) whatever its port (SPEC §3).
	ScanGuard bool
}

// Link-layer and IP constants used by the generated program.
const (
	packetOutgoing = 4 // PACKET_OUTGOING, skb->pkt_type of a packet this host sends

	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86dd
	etherTypeVLAN   = 0x8100 // 802.1Q
	etherTypeQinQ   = 0x88a8 // 802.1ad
	etherTypeQinQ1  = 0x9100 // pre-standard double tag (the decoder knows it too)
	ethHeaderLen    = 14
	vlanTagLen      = 4
	maxVLANTags     = 2
	ipv6HeaderLen   = 40
	ipv4FragMask    = 0x1fff // fragment offset bits of the flags/offset field
	tcpFlagsOffset  = 13
	tcpAckMask      = 0x10
	portOffset      = 2 // destination port within the TCP/UDP header
	portLeafRanges  = 16
	protoTCP        = 6
	protoUDP        = 17
	protoAH         = 51
	prologueLen     = 3 // the outgoing check: ld type; jeq; ret #0
	maxPortRangeEnd = 0xffff
)

// ipv6ExtHeaders are the next-header values that the kernel filter cannot
// see past cheaply: hop-by-hop, routing, fragment, destination options, AH,
// mobility, HIP, shim6 (the chain packet.Decode walks). Such packets go to
// user space, where the decoder walks the chain. They are rare.
var ipv6ExtHeaders = []uint32{0, 43, 44, 60, 51, 135, 139, 140}

// Filter generates the classic BPF program for spec on a link of the given
// type. The program
//
//   - drops packets this host sends (pkt_type PACKET_OUTGOING);
//   - finds the IP header: Ethernet with zero, one or two in-band
//     802.1Q/802.1ad tags (a tag the NIC stripped is out of band and never
//     seen here), or a raw-IP link where the frame starts with the IP header;
//   - drops IPv4 fragments other than the first (they carry no ports);
//   - accepts TCP to a port in TCPPorts and UDP to a port in UDPPorts, and with
//     ScanGuard every TCP segment without ACK and every UDP datagram;
//   - accepts IPv6 packets whose first next header is an extension header,
//     and IPv4 packets carrying AH (the decoder walks them in user space);
//   - drops everything else.
//
// Accepted packets are truncated to SnapLen bytes. Ports are searched as a
// binary tree over sorted ranges, so a thousand ports cost a dozen
// comparisons per packet. Should a configuration ever need more than the
// kernel's 4096 instructions, Filter falls back to accepting all TCP and UDP
// on the affected protocol (correct, only less selective: the matcher ignores
// what does not concern it).
func Filter(spec FilterSpec, link packet.LinkType) ([]bpf.Instruction, error) {
	tcp := portRanges(spec.TCPPorts)
	udp := portRanges(spec.UDPPorts)
	prog, err := generate(tcp, udp, spec.ScanGuard, link)
	if err != nil {
		return nil, err
	}
	if len(prog) > MaxInstructions {
		all := []portRange{{0, maxPortRangeEnd}}
		// Give up selectivity on the bigger list first.
		if len(tcp) >= len(udp) {
			tcp = all
		} else {
			udp = all
		}
		if prog, err = generate(tcp, udp, spec.ScanGuard, link); err != nil {
			return nil, err
		}
		if len(prog) > MaxInstructions {
			if prog, err = generate(all, all, spec.ScanGuard, link); err != nil {
				return nil, err
			}
		}
	}
	return prog, nil
}

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi uint16 }

// portRanges sorts and deduplicates ports and merges consecutive ones (the
// 256-port window of a cipher knock becomes a single range).
func portRanges(ports []uint16) []portRange {
	p := slices.Clone(ports)
	slices.Sort(p)
	p = slices.Compact(p)
	var out []portRange
	for _, v := range p {
		if n := len(out); n > 0 && out[n-1].hi != maxPortRangeEnd && out[n-1].hi+1 == v {
			out[n-1].hi = v
			continue
		}
		out = append(out, portRange{v, v})
	}
	return out
}

func generate(tcp, udp []portRange, scanGuard bool, link packet.LinkType) ([]bpf.Instruction, error) {
	a := new(assembler)

	// Prologue: outgoing packets never reach user space. The drop is
	// placed right here so the prologue is self-contained (tests running
	// x/net/bpf's VM, which lacks the pkt_type extension, skip it).
	a.emit(bpf.LoadExtension{Num: bpf.ExtType})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 0, SkipFalse: 1})
	a.emit(bpf.RetConstant{Val: 0})

	// Link layer: jump to the IPv4/IPv6 code for the IP header's offset.
	// Header code for each possible offset is generated separately, since
	// classic BPF absolute loads take constant offsets; after it, X holds
	// the transport header offset and the transport code is shared.
	hdrDrop, hdrAccept := a.newLabel("hdr.drop"), a.newLabel("hdr.accept")
	// The transport code lies after the header code and the TCP port
	// search may be long, so the header code reaches it through these
	// local trampolines (conditional jumps are short, ja is not).
	tcpL, udpL := a.newLabel("tcp"), a.newLabel("udp")
	toTCP, toUDP := a.newLabel("hdr.tcp"), a.newLabel("hdr.udp")

	var offsets []uint32
	switch link {
	case packet.LinkEthernet:
		offsets = []uint32{ethHeaderLen, ethHeaderLen + vlanTagLen, ethHeaderLen + 2*vlanTagLen}
	case packet.LinkRaw:
		offsets = []uint32{0}
	default:
		return nil, fmt.Errorf("no capture filter for link type %d", link)
	}
	ip4 := make([]label, len(offsets))
	ip6 := make([]label, len(offsets))
	for i, off := range offsets {
		ip4[i] = a.newLabel(fmt.Sprintf("ip4@%d", off))
		ip6[i] = a.newLabel(fmt.Sprintf("ip6@%d", off))
	}

	if link == packet.LinkEthernet {
		// The EtherType follows the MAC addresses and each in-band tag.
		vlan := []label{0, a.newLabel("vlan1"), a.newLabel("vlan2")}
		for tags := 0; tags <= maxVLANTags; tags++ {
			if tags > 0 {
				a.bind(vlan[tags])
			}
			a.emit(bpf.LoadAbsolute{Off: uint32(ethHeaderLen - 2 + tags*vlanTagLen), Size: 2})
			a.jumpIf(bpf.JumpEqual, etherTypeIPv4, ip4[tags], next)
			if tags == maxVLANTags {
				a.jumpIf(bpf.JumpEqual, etherTypeIPv6, ip6[tags], hdrDrop)
				break
			}
			a.jumpIf(bpf.JumpEqual, etherTypeIPv6, ip6[tags], next)
			a.jumpIf(bpf.JumpEqual, etherTypeVLAN, vlan[tags+1], next)
			a.jumpIf(bpf.JumpEqual, etherTypeQinQ, vlan[tags+1], next)
			a.jumpIf(bpf.JumpEqual, etherTypeQinQ1, vlan[tags+1], hdrDrop)
		}
	} else {
		// Raw IP: the version nibble says which.
		a.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		a.jumpIf(bpf.JumpEqual, 0x40, ip4[0], next)
		a.jumpIf(bpf.JumpEqual, 0x60, ip6[0], hdrDrop)
	}

	for i, off := range offsets {
		// IPv4 at off: drop non-first fragments, X = off + 4*IHL.
		a.bind(ip4[i])
		a.emit(bpf.LoadAbsolute{Off: off + 6, Size: 2})
		a.jumpIf(bpf.JumpBitsSet, ipv4FragMask, hdrDrop, next)
		a.emit(bpf.LoadMemShift{Off: off})
		if off != 0 {
			a.emit(bpf.TXA{})
			a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: off})
			a.emit(bpf.TAX{})
		}
		a.emit(bpf.LoadAbsolute{Off: off + 9, Size: 1})
		a.jumpIf(bpf.JumpEqual, protoTCP, toTCP, next)
		a.jumpIf(bpf.JumpEqual, protoUDP, toUDP, next)
		a.jumpIf(bpf.JumpEqual, protoAH, hdrAccept, hdrDrop) // the decoder walks AH

		// IPv6 at off: X = off + 40 for TCP/UDP; extension headers go up.
		a.bind(ip6[i])
		a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: off + ipv6HeaderLen})
		a.emit(bpf.LoadAbsolute{Off: off + 6, Size: 1})
		a.jumpIf(bpf.JumpEqual, protoTCP, toTCP, next)
		a.jumpIf(bpf.JumpEqual, protoUDP, toUDP, next)
		for j, nh := range ipv6ExtHeaders {
			otherwise := next
			if j == len(ipv6ExtHeaders)-1 {
				otherwise = hdrDrop
			}
			a.jumpIf(bpf.JumpEqual, nh, hdrAccept, otherwise)
		}
	}
	a.bind(hdrDrop)
	a.emit(bpf.RetConstant{Val: 0})
	a.bind(hdrAccept)
	a.emit(bpf.RetConstant{Val: SnapLen})
	a.bind(toTCP)
	a.ja(tcpL)
	a.bind(toUDP)
	a.ja(udpL)

	// TCP, X = offset of the TCP header.
	a.bind(tcpL)
	if scanGuard {
		probe, notProbe := a.newLabel("tcp.probe"), a.newLabel("tcp.ack")
		a.emit(bpf.LoadIndirect{Off: tcpFlagsOffset, Size: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: tcpAckMask})
		a.jumpIf(bpf.JumpEqual, 0, probe, notProbe)
		a.bind(probe)
		a.emit(bpf.RetConstant{Val: SnapLen})
		a.bind(notProbe)
	}
	a.emit(bpf.LoadIndirect{Off: portOffset, Size: 2})
	a.portSearch(tcp)

	// UDP, X = offset of the UDP header.
	a.bind(udpL)
	if scanGuard {
		a.emit(bpf.RetConstant{Val: SnapLen})
	} else {
		a.emit(bpf.LoadIndirect{Off: portOffset, Size: 2})
		a.portSearch(udp)
	}
	return a.assemble()
}

// portSearch emits code that returns SnapLen if A is in one of ranges and
// 0 otherwise. It is a binary search tree whose leaves test up to
// portLeafRanges ranges linearly. Every leaf ends with its own drop and
// accept, so no conditional jump goes far; an inner node reaches its right
// subtree through an unconditional jump (32-bit offset), never through a
// conditional one (8-bit offset).
func (a *assembler) portSearch(ranges []portRange) {
	if len(ranges) > portLeafRanges {
		mid := len(ranges) / 2
		tramp, left, right := a.newLabel("ports.tramp"), a.newLabel("ports.left"), a.newLabel("ports.right")
		a.jumpIf(bpf.JumpGreaterOrEqual, uint32(ranges[mid].lo), tramp, left)
		a.bind(tramp)
		a.ja(right)
		a.bind(left)
		a.portSearch(ranges[:mid])
		a.bind(right)
		a.portSearch(ranges[mid:])
		return
	}
	accept := a.newLabel("ports.accept")
	for _, r := range ranges {
		if r.lo == r.hi {
			a.jumpIf(bpf.JumpEqual, uint32(r.lo), accept, next)
			continue
		}
		// lo <= A && !(A > hi)
		checkHi, nextRange := a.newLabel("ports.hi"), a.newLabel("ports.next")
		a.jumpIf(bpf.JumpGreaterOrEqual, uint32(r.lo), checkHi, nextRange)
		a.bind(checkHi)
		a.jumpIf(bpf.JumpGreaterThan, uint32(r.hi), nextRange, accept)
		a.bind(nextRange)
	}
	a.emit(bpf.RetConstant{Val: 0})
	a.bind(accept)
	a.emit(bpf.RetConstant{Val: SnapLen})
}
