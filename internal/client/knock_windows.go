//go:build windows

package client

import (
	"net/netip"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/sesame-knock/sesame/internal/packet"
)

// fionbio is _IOW('f', 126, u_long): ioctlsocket's "set non-blocking".
const fionbio = 0x8004667e

var (
	procIoctlsocket = windows.NewLazySystemDLL("ws2_32.dll").NewProc("ioctlsocket")
	wsaOnce         sync.Once
	wsaErr          error
)

func ioctlsocket(s windows.Handle, cmd uint32, arg *uint32) error {
	r, _, e := procIoctlsocket.Call(uintptr(s), uintptr(cmd), uintptr(unsafe.Pointer(arg)))
	if r != 0 { // SOCKET_ERROR
		if e == nil || e == windows.Errno(0) {
			return windows.WSAEINVAL
		}
		return e
	}
	return nil
}

// send puts one knock on the wire: one datagram, or one SYN from a
// non-blocking connect on a socket that is closed at once (see the package
// comment).
func send(k Knock, dst netip.AddrPort, src netip.Addr) error {
	wsaOnce.Do(func() {
		var d windows.WSAData
		wsaErr = windows.WSAStartup(uint32(0x202), &d) // Winsock 2.2
	})
	if wsaErr != nil {
		return os.NewSyscallError("wsastartup", wsaErr)
	}
	family, typ, proto := int32(windows.AF_INET), int32(windows.SOCK_DGRAM), int32(windows.IPPROTO_UDP)
	if dst.Addr().Is6() {
		family = windows.AF_INET6
	}
	if k.Proto == packet.TCP {
		typ, proto = windows.SOCK_STREAM, windows.IPPROTO_TCP
	}
	to, err := sockaddr(dst)
	if err != nil {
		return err
	}
	s, err := windows.WSASocket(family, typ, proto, nil, 0, windows.WSA_FLAG_NO_HANDLE_INHERIT)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer windows.Closesocket(s)
	on := uint32(1)
	if err := ioctlsocket(s, fionbio, &on); err != nil {
		return os.NewSyscallError("ioctlsocket", err)
	}
	if src.IsValid() {
		from, err := sockaddr(netip.AddrPortFrom(src, 0))
		if err != nil {
			return err
		}
		if err := windows.Bind(s, from); err != nil {
			return os.NewSyscallError("bind "+src.String(), err)
		}
	}
	if k.Proto == packet.TCP {
		switch err := windows.Connect(s, to); err {
		case nil, windows.WSAEWOULDBLOCK, windows.WSAECONNREFUSED:
			return nil // the SYN left
		default:
			return os.NewSyscallError("connect", err)
		}
	}
	if err := windows.Sendto(s, payload, 0, to); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	return nil
}

func sockaddr(ap netip.AddrPort) (windows.Sockaddr, error) {
	a := ap.Addr()
	if a.Is4() {
		return &windows.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, nil
	}
	zone, err := zoneIndex(a.Zone())
	if err != nil {
		return nil, err
	}
	return &windows.SockaddrInet6{Port: int(ap.Port()), ZoneId: zone, Addr: a.As16()}, nil
}
