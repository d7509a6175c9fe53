//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package client

import (
	"errors"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/packet"
)

// RawFlagKnocks reports whether this system can send raw TCP flag knocks.
const RawFlagKnocks = true

// rawSocket opens sockets; tests replace it to play an unprivileged user.
var rawSocket = unix.Socket

// openRaw opens a raw TCP socket: IPv4 with the kernel writing the IP
// header, or IPv6 with the kernel also filling the TCP checksum (offset
// 16 of what is sent).
func openRaw(v6 bool) (int, error) {
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := rawSocket(family, unix.SOCK_RAW, unix.IPPROTO_TCP)
	if err != nil {
		err = os.NewSyscallError("socket", err)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return -1, &RawPermissionError{Err: err}
		}
		return -1, err
	}
	unix.CloseOnExec(fd)
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_CHECKSUM, 16); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt IPV6_CHECKSUM", err)
		}
	}
	return fd, nil
}

// rawProbe checks that a raw socket of the family opens.
func rawProbe(v6 bool) error {
	fd, err := openRaw(v6)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// sendRaw sends one TCP segment with exactly flags to dst, from src when
// it is valid.
func sendRaw(flags packet.TCPFlags, dst netip.AddrPort, src netip.Addr) error {
	v6 := dst.Addr().Is6()
	if !v6 && !src.IsValid() {
		// The IPv4 checksum covers the source address: take the one the
		// kernel would use for dst, and bind to it so that it is used.
		var err error
		if src, err = routeSource(dst); err != nil {
			return err
		}
	}
	fd, err := openRaw(v6)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if src.IsValid() {
		from, err := sockaddr(netip.AddrPortFrom(src, 0))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, from); err != nil {
			return os.NewSyscallError("bind "+src.String(), err)
		}
	}
	// A raw socket's "port" is the protocol, or 0.
	to, err := sockaddr(netip.AddrPortFrom(dst.Addr(), 0))
	if err != nil {
		return err
	}
	seg := randomSegment(dst, flags, src)
	if err := unix.Sendto(fd, seg, 0, to); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	return nil
}

// routeSource is the local address the kernel picks for dst: that of a
// UDP socket connected to it (connecting a UDP socket sends nothing).
func routeSource(dst netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
