package packet

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Errors returned by Decode. They are fixed values, so returning one does
// not allocate; compare with errors.Is or ==.
var (
	// ErrLink: the link type is not one Decode knows.
	ErrLink = errors.New("packet: unsupported link type")
	// ErrTruncated: the capture ends before a header Decode needs (the snap
	// length was too short, or the frame was cut), and the packet's own
	// length fields, where it has them, say there is more.
	ErrTruncated = errors.New("packet: truncated")
	// ErrMalformed: a header contradicts itself or the headers around it
	// (wrong IP version for the link's protocol, IPv4 IHL < 5, lengths that
	// cannot hold the headers they declare, too many VLAN tags or IPv6
	// extension headers).
	ErrMalformed = errors.New("packet: malformed header")
	// ErrNotIP: the link layer carries something other than IPv4 or IPv6
	// (ARP, LLDP, an unknown ethertype or raw IP version).
	ErrNotIP = errors.New("packet: not IPv4 or IPv6")
	// ErrNotTransport: the IP packet carries something other than TCP or UDP
	// (ICMP, ESP, "no next header", an unknown protocol).
	ErrNotTransport = errors.New("packet: not TCP or UDP")
	// ErrFragment: a fragment other than the first, which holds no transport
	// header.
	ErrFragment = errors.New("packet: non-first fragment")
)

// Limits on the header chains Decode walks, so that the work per packet is
// bounded whatever a sender puts in it.
const (
	maxVLANTags   = 4  // 802.1Q/802.1ad tags before the IP ethertype
	maxExtHeaders = 16 // IPv6 extension headers (and IPv4 AH) before TCP/UDP
)

// Ethertypes, link header sizes and IP protocol numbers used below.
const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86DD
	etherDot1Q = 0x8100 // 802.1Q customer tag
	etherQinQ  = 0x88A8 // 802.1ad service tag
	etherQinQ1 = 0x9100 // pre-standard double tag

	ethernetLen = 14
	sllLen      = 16
	sll2Len     = 20

	ipv4MinLen   = 20
	ipv6Len      = 40
	tcpMinLen    = 14 // ports, sequence, ack, data offset and flags
	tcpHeaderMin = 20
	udpLen       = 8

	protoHopByHop = 0
	protoRouting  = 43
	protoFragment = 44
	protoESP      = 50
	protoAH       = 51
	protoNoNext   = 59
	protoDestOpts = 60
	protoMobility = 135
	protoHIP      = 139
	protoShim6    = 140
)

var be = binary.BigEndian

// Decode fills *h from one captured frame whose link layer is link.
//
// It reads the link header (walking in-band VLAN tags), the IPv4 or IPv6
// header (walking IPv6 extension headers), and the first bytes of the TCP
// or UDP header. It does not allocate, does not keep frame, never validates
// checksums, and never panics, whatever frame holds.
//
// A TCP header cut short by the capture still yields a hit as long as its
// first 14 bytes (ports and flags) are present. The first fragment of a
// fragmented datagram is decoded like any packet (its PayloadLen is that of
// the fragment); later fragments return ErrFragment. An IPv4 total length
// or IPv6 payload length of zero (TSO, GRO and BIG TCP on Linux, IPv6
// jumbograms) is taken to mean "the rest of the frame".
//
// On error *h is the zero Hit and the error is one of the Err values of
// this package.
func Decode(link LinkType, frame []byte, h *Hit) error {
	*h = Hit{}
	var err error
	switch link {
	case LinkEthernet:
		if len(frame) < ethernetLen {
			return ErrTruncated
		}
		err = decodeEtherType(be.Uint16(frame[12:14]), frame[ethernetLen:], h)
	case LinkRaw:
		if len(frame) < 1 {
			return ErrTruncated
		}
		switch frame[0] >> 4 {
		case 4:
			err = decodeIPv4(frame, h)
		case 6:
			err = decodeIPv6(frame, h)
		default:
			return ErrNotIP
		}
	case LinkSLL:
		if len(frame) < sllLen {
			return ErrTruncated
		}
		err = decodeEtherType(be.Uint16(frame[14:16]), frame[sllLen:], h)
	case LinkSLL2:
		if len(frame) < sll2Len {
			return ErrTruncated
		}
		err = decodeEtherType(be.Uint16(frame[0:2]), frame[sll2Len:], h)
	default:
		return ErrLink
	}
	if err != nil {
		*h = Hit{}
	}
	return err
}

// decodeEtherType decodes b, the bytes after a link header whose protocol
// field is et, stepping over any VLAN tags still in the frame (the kernel
// usually strips the outer tag into metadata, but not always, and never
// more than one).
func decodeEtherType(et uint16, b []byte, h *Hit) error {
	for tags := 0; ; tags++ {
		switch et {
		case etherIPv4:
			return decodeIPv4(b, h)
		case etherIPv6:
			return decodeIPv6(b, h)
		case etherDot1Q, etherQinQ, etherQinQ1:
			if tags == maxVLANTags {
				return ErrMalformed
			}
			// A tag is 2 bytes of TCI then the inner ethertype.
			if len(b) < 4 {
				return ErrTruncated
			}
			et = be.Uint16(b[2:4])
			b = b[4:]
		default:
			return ErrNotIP
		}
	}
}

// decodeIPv4 decodes an IPv4 packet and what it carries.
func decodeIPv4(b []byte, h *Hit) error {
	if len(b) < ipv4MinLen {
		return ErrTruncated
	}
	if b[0]>>4 != 4 {
		return ErrMalformed
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4MinLen {
		return ErrMalformed
	}
	total := int(be.Uint16(b[2:4]))
	if total == 0 {
		total = len(b) // segmentation offload: the length was never filled in
	}
	if total < ihl {
		return ErrMalformed
	}
	if len(b) < ihl {
		return ErrTruncated
	}
	if len(b) > total {
		b = b[:total] // Ethernet padding or trailer
	}
	if be.Uint16(b[6:8])&0x1fff != 0 {
		return ErrFragment
	}
	h.Src = netip.AddrFrom4([4]byte(b[12:16]))
	h.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	return decodeNext(b[9], b[ihl:], total-ihl, false, h)
}

// decodeIPv6 decodes an IPv6 packet and what it carries.
func decodeIPv6(b []byte, h *Hit) error {
	if len(b) < ipv6Len {
		return ErrTruncated
	}
	if b[0]>>4 != 6 {
		return ErrMalformed
	}
	data := b[ipv6Len:]
	declared := int(be.Uint16(b[4:6]))
	if declared == 0 {
		declared = len(data) // jumbogram or BIG TCP: the length is elsewhere
	}
	if len(data) > declared {
		data = data[:declared]
	}
	h.Src = netip.AddrFrom16([16]byte(b[8:24]))
	h.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	if h.Src.Is4In6() {
		// An IPv4-mapped source is invalid on the wire (RFC 4291 2.5.5.2)
		// and the stack drops it; as a knock it would pose as the IPv4
		// address and could finish that address's attempt.
		*h = Hit{}
		return ErrMalformed
	}
	return decodeNext(b[6], data, declared, true, h)
}

// decodeNext walks the header chain that starts with protocol nh in data,
// up to TCP or UDP, and decodes that. declared is how many bytes the IP
// header says follow (data is that many, or fewer when the capture was cut
// short). ext says whether IPv6 extension headers may appear; AH may appear
// after either IP version.
func decodeNext(nh byte, data []byte, declared int, ext bool, h *Hit) error {
	for n := 0; ; n++ {
		var hlen int
		switch nh {
		case byte(TCP):
			return decodeTCP(data, declared, h)
		case byte(UDP):
			return decodeUDP(data, declared, h)
		case protoAH:
			if len(data) < 2 {
				return short(data, declared)
			}
			hlen = (int(data[1]) + 2) * 4
			if hlen < 12 { // fixed part: next, len, reserved, SPI, sequence
				return ErrMalformed
			}
		case protoHopByHop, protoRouting, protoDestOpts, protoMobility, protoHIP, protoShim6:
			if !ext {
				return ErrNotTransport
			}
			if len(data) < 2 {
				return short(data, declared)
			}
			hlen = (int(data[1]) + 1) * 8
		case protoFragment:
			if !ext {
				return ErrNotTransport
			}
			if len(data) < 8 {
				return short(data, declared)
			}
			if be.Uint16(data[2:4])&0xfff8 != 0 {
				return ErrFragment
			}
			hlen = 8
		default: // ESP, no next header, ICMP, and the rest
			return ErrNotTransport
		}
		if n == maxExtHeaders {
			return ErrMalformed
		}
		if len(data) < hlen {
			return short(data, declared)
		}
		nh = data[0]
		data = data[hlen:]
		declared -= hlen
	}
}

// decodeTCP reads ports and flags from the TCP header at the start of data.
func decodeTCP(data []byte, declared int, h *Hit) error {
	if len(data) < tcpMinLen {
		return short(data, declared)
	}
	h.Proto = TCP
	h.SrcPort = be.Uint16(data[0:2])
	h.DstPort = be.Uint16(data[2:4])
	h.Flags = TCPFlags(data[13]) & AllFlags
	// A data offset below the minimum is nonsense the receiving stack will
	// drop, but the packet was still sent to this port: count the header as
	// its minimum size rather than refuse the hit.
	hlen := max(int(data[12]>>4)*4, tcpHeaderMin)
	h.PayloadLen = clipLen(declared - hlen)
	return nil
}

// decodeUDP reads ports from the UDP header at the start of data.
func decodeUDP(data []byte, declared int, h *Hit) error {
	if len(data) < udpLen {
		return short(data, declared)
	}
	h.Proto = UDP
	h.SrcPort = be.Uint16(data[0:2])
	h.DstPort = be.Uint16(data[2:4])
	h.PayloadLen = clipLen(declared - udpLen)
	// The head is what was both declared and captured.
	if n := min(int(h.PayloadLen), len(data)-udpLen); n > 0 {
		h.SetHead(data[udpLen : udpLen+n])
	}
	return nil
}

// short is the error for a header that does not fit in data: the capture
// was cut if the IP header declared more bytes than data holds, otherwise
// the packet itself is too short for what it claims to carry.
func short(data []byte, declared int) error {
	if declared > len(data) {
		return ErrTruncated
	}
	return ErrMalformed
}

func clipLen(n int) uint16 {
	return uint16(min(max(n, 0), 0xffff))
}
