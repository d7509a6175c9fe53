package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Raw TCP flag knocks (tportknockd's flag knocking, SPEC §2.2).
//
// A frame with flags, tcp:110:up, is one TCP segment carrying exactly
// those flags, written by the client itself and sent from a raw socket
// (the kernel adds the IP header), so it needs root or CAP_NET_RAW. The
// segment is a bare 20-byte header: a random source port in the ephemeral
// range 49152-65535, a random sequence number, an acknowledgment number
// that is 0 unless ACK is set (random then), data offset 5, window 64240,
// urgent pointer 0, no options and no payload. The IPv4 checksum is
// computed here over the pseudo-header (which is why the source address
// must be known: --source, else the address the kernel picks for the
// destination); for IPv6 the kernel fills it in (IPV6_CHECKSUM).

// flagLetters are tportknockd's flag letters, in bit order (FIN first).
const flagLetters = "fsrpau"

// displayOrder is the order flags are written in: as they sit in the TCP
// header, most significant first (URG ACK PSH RST SYN FIN), as nmap's
// --scanflags and tcpdump's "UAPRSF" do.
var displayOrder = [...]packet.TCPFlags{packet.URG, packet.ACK, packet.PSH, packet.RST, packet.SYN, packet.FIN}

const flagsWant = "want any of f s r p a u (FIN SYN RST PSH ACK URG), or x (all six), n (none) or i (ignore flags: a plain SYN) alone"

// parseFlags reads a frame's FLAGS field: a knock for port on success.
// Letters are case-insensitive. "i" is a plain SYN knock (the daemon
// ignores the flags, so the unprivileged connect SYN does).
func parseFlags(s, arg string, port uint16) (Knock, error) {
	ls := strings.ToLower(s)
	switch ls {
	case "i":
		return Knock{Proto: packet.TCP, Port: port}, nil
	case "x":
		return Knock{Proto: packet.TCP, Port: port, Raw: true, Flags: packet.AllFlags}, nil
	case "n":
		return Knock{Proto: packet.TCP, Port: port, Raw: true}, nil
	}
	var f packet.TCPFlags
	for i := 0; i < len(ls); i++ {
		c := ls[i]
		n := strings.IndexByte(flagLetters, c)
		switch {
		case c == 'x' || c == 'n' || c == 'i':
			return Knock{}, fmt.Errorf("invalid flags %q in %q: %c cannot be combined with other flags; %s", s, arg, s[i], flagsWant)
		case n < 0:
			return Knock{}, fmt.Errorf("invalid flag %q in %q: %s", s[i:i+1], arg, flagsWant)
		case f&(1<<n) != 0:
			return Knock{}, fmt.Errorf("invalid flags %q in %q: %c given twice", s, arg, s[i])
		}
		f |= 1 << n
	}
	return Knock{Proto: packet.TCP, Port: port, Raw: true, Flags: f}, nil
}

// flagString writes flags as letters in header order ("up" for URG|PSH),
// "x" for all six and "n" for none: the frame's FLAGS field.
func flagString(f packet.TCPFlags) string {
	switch f & packet.AllFlags {
	case packet.AllFlags:
		return "x"
	case 0:
		return "n"
	}
	var b strings.Builder
	for _, bit := range displayOrder {
		if f&bit != 0 {
			b.WriteByte(flagLetters[bitIndex(bit)])
		}
	}
	return b.String()
}

// flagDisplay is the flags in sesame -v's words: "UP", "UAPRSF", "none".
func flagDisplay(f packet.TCPFlags) string {
	switch f & packet.AllFlags {
	case 0:
		return "none"
	case packet.AllFlags:
		return "UAPRSF"
	}
	return strings.ToUpper(flagString(f))
}

func bitIndex(bit packet.TCPFlags) int {
	for i := 0; i < 8; i++ {
		if bit == 1<<i {
			return i
		}
	}
	return -1
}

// RawPermissionError is a raw socket the system refused to open: sesame
// runs without root (or, on Linux, CAP_NET_RAW).
type RawPermissionError struct{ Err error }

func (e *RawPermissionError) Error() string {
	need := "root"
	if runtime.GOOS == "linux" {
		need = "root or CAP_NET_RAW"
	}
	return "raw TCP flag knocks need " + need + ": " + e.Err.Error()
}

func (e *RawPermissionError) Unwrap() error { return e.Err }

// ErrRawUnsupported: this system cannot send raw TCP flag knocks.
var ErrRawUnsupported = errors.New("raw TCP flag knocks are not supported on " + runtime.GOOS)

// tcpWindow is the window of a raw knock's segment, a common SYN window.
const tcpWindow = 64240

// tcpSegment builds the 20-byte TCP header of a raw knock from src to dst.
// With a valid src4 (IPv4) the checksum is filled in; otherwise it is left
// 0 for the kernel (IPv6, IPV6_CHECKSUM).
func tcpSegment(sport uint16, dst netip.AddrPort, flags packet.TCPFlags, seq, ack uint32, src4 netip.Addr) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = 5 << 4 // data offset: 5 words, no options
	b[13] = byte(flags & packet.AllFlags)
	binary.BigEndian.PutUint16(b[14:], tcpWindow)
	// b[16:18] checksum, b[18:20] urgent pointer 0.
	if src4.Is4() && dst.Addr().Is4() {
		binary.BigEndian.PutUint16(b[16:], tcpChecksum4(src4.As4(), dst.Addr().As4(), b))
	}
	return b
}

// randomSegment is tcpSegment with a random source port (49152-65535),
// sequence number and, when ACK is set, acknowledgment number.
func randomSegment(dst netip.AddrPort, flags packet.TCPFlags, src4 netip.Addr) []byte {
	sport := uint16(49152 + rand.IntN(65536-49152))
	var ack uint32
	if flags&packet.ACK != 0 {
		ack = rand.Uint32()
	}
	return tcpSegment(sport, dst, flags, rand.Uint32(), ack, src4)
}

// tcpChecksum4 is the TCP checksum of seg (its checksum field zero) from
// src to dst over IPv4: RFC 793's pseudo-header, then the segment.
func tcpChecksum4(src, dst [4]byte, seg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	sum += uint32(packet.TCP) + uint32(len(seg))
	add(seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// hasRaw reports whether ks has a raw TCP flag knock.
func hasRaw(ks []Knock) bool {
	for _, k := range ks {
		if k.Raw {
			return true
		}
	}
	return false
}

// checkRaw makes sure, before anything is sent, that raw knocks to dsts
// can be sent: that this system has them and that a raw socket of each
// family opens (no root is the usual failure).
func checkRaw(dsts []netip.Addr) error {
	done := map[bool]bool{}
	for _, d := range dsts {
		v6 := d.Is6()
		if done[v6] {
			continue
		}
		done[v6] = true
		if err := rawProbe(v6); err != nil {
			return err
		}
	}
	return nil
}
