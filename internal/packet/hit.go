// Package packet decodes captured frames into hits without allocating.
//
// A hit is everything the matcher needs to know about one packet: who sent
// it, to which address and port, over which protocol, with which TCP flags.
// The decoder is hand-written (not gopacket's layers) because it runs once
// per captured packet and must not allocate; it never validates transport
// checksums, since with checksum offload (veth, most NICs) a captured
// packet's checksum is often not filled in yet.
package packet

import (
	"net/netip"
	"strings"
)

// Proto is an IP protocol number; only TCP and UDP carry knocks.
type Proto uint8

const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return "proto(" + itoa(int(p)) + ")"
}

// TCPFlags is the low byte of the TCP flags field.
type TCPFlags uint8

const (
	FIN TCPFlags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
)

// AllFlags is the six classic flags (tportknockd's "x").
const AllFlags = FIN | SYN | RST | PSH | ACK | URG

var flagNames = [...]string{"fin", "syn", "rst", "psh", "ack", "urg"}

// String lists the set flags, comma separated, knockd style ("syn,ack").
func (f TCPFlags) String() string {
	if f&AllFlags == 0 {
		return "none"
	}
	var b strings.Builder
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

// Hit is one decoded packet. It is a plain value: safe to copy, to send on
// a channel, and to keep after the capture buffer it came from is reused.
type Hit struct {
	Src, Dst netip.Addr // IPv4 addresses are 4-byte (never v4-mapped)
	Proto    Proto
	SrcPort  uint16
	DstPort  uint16
	Flags    TCPFlags // zero for UDP
	// PayloadLen is the transport payload length as the packet declares
	// it (IP length fields minus the IP, extension and transport headers),
	// not as captured: a snap length that cuts the packet short does not
	// change it. For the first fragment of a datagram it is that fragment's.
	PayloadLen uint16
	// Head holds the first HeadLen bytes of the UDP payload, as far as the
	// capture has them (HeadLen <= PayloadLen): enough to check a short
	// fixed knock payload such as port-knocking-doors' "knock\n" without
	// keeping a reference to the capture buffer. TCP hits leave it empty.
	Head    [HeadSize]byte
	HeadLen uint8
}

// HeadSize is how many payload bytes a Hit keeps (see Hit.Head).
const HeadSize = 16

// HasPayload reports whether the hit's payload is exactly p: p is at most
// HeadSize bytes long, the datagram declares len(p) payload bytes, and
// the capture holds them all.
func (h *Hit) HasPayload(p []byte) bool {
	return int(h.PayloadLen) == len(p) && int(h.HeadLen) == len(p) && string(h.Head[:h.HeadLen]) == string(p)
}

// SetHead copies the first bytes of a datagram's payload into h.Head, for
// sources that read datagrams rather than frames (UDP sockets).
func (h *Hit) SetHead(payload []byte) {
	h.HeadLen = uint8(copy(h.Head[:], payload))
}

// String formats the hit for debugging, e.g.
// "198.18.0.2:40000 -> 198.18.0.1:7000 tcp [syn]". It allocates; do not
// call it per packet on the hot path.
func (h Hit) String() string {
	var b strings.Builder
	b.WriteString(netip.AddrPortFrom(h.Src, h.SrcPort).String())
	b.WriteString(" -> ")
	b.WriteString(netip.AddrPortFrom(h.Dst, h.DstPort).String())
	b.WriteByte(' ')
	b.WriteString(h.Proto.String())
	if h.Proto == TCP {
		b.WriteString(" [")
		b.WriteString(h.Flags.String())
		b.WriteByte(']')
	}
	if h.PayloadLen > 0 {
		b.WriteString(" len=")
		b.WriteString(itoa(int(h.PayloadLen)))
	}
	return b.String()
}

// Probe reports whether the hit is an attempt to reach a port: any UDP
// datagram, or any TCP segment without ACK — a SYN opening a connection,
// and the FIN, NULL and Xmas probes of stealth scans. Every segment of an
// established connection carries ACK, so it is never a probe. The scan
// guard fails a source's attempts on a probe to any other port.
func (h *Hit) Probe() bool {
	if h.Proto == UDP {
		return true
	}
	return h.Proto == TCP && h.Flags&ACK == 0
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
