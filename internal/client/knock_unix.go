//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package client

import (
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/packet"
)

// send puts one knock on the wire: one datagram, or one SYN from a
// non-blocking connect on a socket that is closed before any answer can
// be processed by it (see the package comment).
func send(k Knock, dst netip.AddrPort, src netip.Addr) error {
	family, typ := unix.AF_INET, unix.SOCK_DGRAM
	if dst.Addr().Is6() {
		family = unix.AF_INET6
	}
	if k.Proto == packet.TCP {
		typ = unix.SOCK_STREAM
	}
	to, err := sockaddr(dst)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(family, typ, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return os.NewSyscallError("setnonblock", err)
	}
	if src.IsValid() {
		from, err := sockaddr(netip.AddrPortFrom(src, 0))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, from); err != nil {
			return os.NewSyscallError("bind "+src.String(), err)
		}
	}
	if k.Proto == packet.TCP {
		switch err := unix.Connect(fd, to); err {
		case nil, unix.EINPROGRESS, unix.ECONNREFUSED:
			// The SYN left. ECONNREFUSED: on loopback the RST can be
			// processed before connect returns. nil: the port was open
			// and the handshake completed just as fast.
			return nil
		default:
			return os.NewSyscallError("connect", err)
		}
	}
	if err := unix.Sendto(fd, payload, 0, to); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	return nil
}

func sockaddr(ap netip.AddrPort) (unix.Sockaddr, error) {
	a := ap.Addr()
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, nil
	}
	zone, err := zoneIndex(a.Zone())
	if err != nil {
		return nil, err
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), ZoneId: zone, Addr: a.As16()}, nil
}
