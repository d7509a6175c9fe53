//go:build linux

package udpsock

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/packet"
)

// oobSize holds the control messages a socket is asked for: one packet
// info (IPv4's is 12 bytes, IPv6's 20) and one drop counter (4 bytes), each
// behind a control message header, with room to spare.
const oobSize = 128

// receiver is everything recvmsg(2) needs, allocated once per Run: the
// message header points into the receiver itself, so a read is one system
// call on memory that is already there. unix.Recvmsg would allocate the
// source address on every call, and x/net's ipv4.PacketConn a control
// message.
type receiver struct {
	msg  unix.Msghdr
	iov  unix.Iovec
	name unix.RawSockaddrInet6 // large enough for either family
	buf  [packet.HeadSize]byte // the payload bytes a hit keeps
	oob  [oobSize]byte

	// Set by decode from the control messages.
	dst       netip.Addr
	hasDrops  bool
	dropCount uint32
}

func newReceiver() *receiver {
	r := new(receiver)
	r.iov.Base = &r.buf[0]
	r.iov.SetLen(len(r.buf))
	r.msg.Name = (*byte)(unsafe.Pointer(&r.name))
	r.msg.Iov = &r.iov
	r.msg.SetIovlen(1)
	r.msg.Control = &r.oob[0]
	return r
}

// recv reads one datagram from the non-blocking socket fd. With MSG_TRUNC
// the kernel returns the datagram's real length even though only the first
// len(buf) bytes are copied. The error is returned as a bare Errno (EAGAIN
// when the socket is empty), which compares without allocating.
func (r *receiver) recv(fd int) (int, unix.Errno) {
	r.msg.Namelen = uint32(unsafe.Sizeof(r.name))
	r.msg.SetControllen(len(r.oob))
	r.msg.Flags = 0
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.msg)), unix.MSG_TRUNC)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// decode fills h from the datagram recv just read, n bytes long, that
// arrived on port. It reports false if the kernel gave no source or no
// destination address.
func (r *receiver) decode(n int, port uint16, h *packet.Hit) bool {
	*h = packet.Hit{Proto: packet.UDP, DstPort: port, PayloadLen: uint16(min(n, 0xffff))}
	switch r.name.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.name))
		h.Src = netip.AddrFrom4(sa.Addr)
		h.SrcPort = netPort(&sa.Port)
	case unix.AF_INET6:
		h.Src = netip.AddrFrom16(r.name.Addr).Unmap()
		h.SrcPort = netPort(&r.name.Port)
	default:
		return false
	}
	h.SetHead(r.buf[:min(n, len(r.buf))])
	r.parseControl(r.oob[:min(int(r.msg.Controllen), len(r.oob))])
	if !r.dst.IsValid() {
		return false
	}
	h.Dst = r.dst
	return true
}

// netPort reads a port stored in network byte order.
func netPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return binary.BigEndian.Uint16(b[:])
}

// cmsgLenSize is the size of a control message header's length field
// (size_t), which comes before its level and type (two int32).
const cmsgLenSize = unix.SizeofCmsghdr - 8

// parseControl walks the control messages in b, in place, and sets r.dst,
// r.hasDrops and r.dropCount from them.
func (r *receiver) parseControl(b []byte) {
	r.dst, r.hasDrops, r.dropCount = netip.Addr{}, false, 0
	for len(b) >= unix.SizeofCmsghdr {
		var l int
		if cmsgLenSize == 8 {
			l = int(min(binary.NativeEndian.Uint64(b), uint64(len(b))+1))
		} else {
			l = int(binary.NativeEndian.Uint32(b))
		}
		if l < unix.SizeofCmsghdr || l > len(b) {
			return
		}
		level := int32(binary.NativeEndian.Uint32(b[cmsgLenSize:]))
		typ := int32(binary.NativeEndian.Uint32(b[cmsgLenSize+4:]))
		data := b[unix.CmsgLen(0):l]
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }:
			// ipi_addr is the header's destination address.
			r.dst = netip.AddrFrom4([4]byte(data[8:12]))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr ipi6_addr; int ipi6_ifindex; }
			r.dst = netip.AddrFrom16([16]byte(data[:16])).Unmap()
		case level == unix.SOL_SOCKET && typ == unix.SO_RXQ_OVFL && len(data) >= 4:
			r.hasDrops, r.dropCount = true, binary.NativeEndian.Uint32(data)
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next >= len(b) {
			return
		}
		b = b[next:]
	}
}
