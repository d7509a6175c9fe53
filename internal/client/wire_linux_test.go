//go:build linux

package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/packet"
)

// These tests watch the wire: an AF_PACKET socket on the loopback
// interface records every packet the client sends to the knocked ports.
// They need root (CAP_NET_RAW); they skip without it, except in CI (CI=true),
// where skipping would hide a regression, so they fail instead.

func needRaw(t *testing.T, err error) {
	t.Helper()
	msg := "needs root (CAP_NET_RAW) to capture on loopback"
	if err != nil {
		msg += ": " + err.Error()
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// wirePacket is one captured IPv4/IPv6 TCP or UDP packet.
type wirePacket struct {
	src, dst netip.AddrPort
	proto    packet.Proto
	flags    packet.TCPFlags
	payload  []byte
	l4       []byte // the transport header and payload, as captured
}

func (p wirePacket) String() string {
	if p.proto == packet.TCP {
		return fmt.Sprintf("tcp %s > %s [%s]", p.src, p.dst, p.flags)
	}
	return fmt.Sprintf("udp %s > %s payload %x", p.src, p.dst, p.payload)
}

type capture struct{ fd int }

// openCapture starts recording, on lo, the packets to any of ports. A
// classic BPF filter keeps the rest of the host's loopback traffic (other
// tests, other programs) out of the socket's buffer.
func openCapture(t *testing.T, ports []uint16) *capture {
	t.Helper()
	if os.Geteuid() != 0 {
		needRaw(t, nil)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatalf("no loopback interface: %v", err)
	}
	const ethPAll = 0x0300 // htons(ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, ethPAll)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		needRaw(t, err)
	}
	if err != nil {
		t.Fatalf("AF_PACKET socket: %v", err)
	}
	c := &capture{fd: fd}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20); err != nil {
		t.Fatalf("SO_RCVBUF: %v", err)
	}
	prog := portFilter(ports)
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
		t.Fatalf("SO_ATTACH_FILTER: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAll, Ifindex: lo.Index}); err != nil {
		t.Fatalf("bind to lo: %v", err)
	}
	// Whatever was queued before the filter and the bind took effect is
	// not ours to count.
	buf := make([]byte, 2048)
	for {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	return c
}

// portFilter is a BPF program (on a SOCK_DGRAM packet socket, offset 0 is
// the IP header) accepting IPv4 and IPv6 packets whose transport
// destination port is one of ports.
func portFilter(ports []uint16) []unix.SockFilter {
	n := len(ports)
	p := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 0},                              // 0: A = version<<4 | ihl
		{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: 0xf0},                          // 1
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0x40, Jt: 0, Jf: 3},            // 2: IPv4? else 6
		{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 0},                             // 3: X = ihl*4
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_IND, K: 2},                              // 4: A = dst port
		{Code: unix.BPF_JMP | unix.BPF_JA, K: 2},                                           // 5: to 8
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0x60, Jt: 0, Jf: uint8(n + 1)}, // 6: IPv6? else drop
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 42},                             // 7: A = dst port (no extension headers)
	}
	for i, port := range ports { // 8 … 8+n-1
		p = append(p, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(port), Jt: uint8(n - i), Jf: 0})
	}
	return append(p,
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: 0},       // drop
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: 0x40000}, // accept
	)
}

// collect returns the packets sent on lo (not their looped-back copies)
// that arrive before the deadline: a few hundred milliseconds after the
// knocks, all of which were handed to the loopback device before Run
// returned.
func (c *capture) collect(t *testing.T, window time.Duration) []wirePacket {
	t.Helper()
	deadline := time.Now().Add(window)
	buf := make([]byte, 2048)
	var out []wirePacket
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return out
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			t.Fatalf("SO_RCVTIMEO: %v", err)
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return out
		case err != nil:
			t.Fatalf("capture: %v", err)
		}
		// Each packet on lo shows up twice: going out and coming in.
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_OUTGOING {
			continue
		}
		if p, ok := decodeIP(buf[:n]); ok {
			out = append(out, p)
		}
	}
}

// decodeIP decodes just enough of a loopback IP packet for the tests.
func decodeIP(b []byte) (wirePacket, bool) {
	var p wirePacket
	var l4 []byte
	var src, dst netip.Addr
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0xf) * 4
		if len(b) < ihl {
			return p, false
		}
		p.proto = packet.Proto(b[9])
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[ihl:]
	case len(b) >= 40 && b[0]>>4 == 6:
		p.proto = packet.Proto(b[6])
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[40:]
	default:
		return p, false
	}
	if len(l4) < 8 {
		return p, false
	}
	sport, dport := binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
	p.src, p.dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	p.l4 = append([]byte(nil), l4...)
	switch p.proto {
	case packet.TCP:
		if len(l4) < 20 {
			return p, false
		}
		p.flags = packet.TCPFlags(l4[13])
		p.payload = append([]byte(nil), l4[int(l4[12]>>4)*4:]...)
	case packet.UDP:
		p.payload = append([]byte(nil), l4[8:]...)
	default:
		return p, false
	}
	return p, true
}

// closedTCPPort reserves a TCP port on addr that is closed: a socket is
// bound to it but never listens, so the kernel answers a SYN with a RST
// and no other program can start listening there during the test.
func closedTCPPort(t *testing.T, addr netip.Addr) uint16 {
	t.Helper()
	family := unix.AF_INET
	if addr.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	sa, _ := sockaddr(netip.AddrPortFrom(addr, 0))
	if err := unix.Bind(fd, sa); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot bind %s: %v", addr, err)
		}
		t.Skipf("cannot bind %s: %v", addr, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	switch got := got.(type) {
	case *unix.SockaddrInet4:
		return uint16(got.Port)
	case *unix.SockaddrInet6:
		return uint16(got.Port)
	}
	t.Fatalf("getsockname: %T", got)
	return 0
}

// freeUDPPort reserves a UDP port on addr (the test's socket receives the
// knock and is closed at the end of the test).
func freeUDPPort(t *testing.T, addr netip.Addr) uint16 {
	t.Helper()
	return listenUDP(t, addr.String()).LocalAddr().(*net.UDPAddr).AddrPort().Port()
}

// TestWireOnePacketPerKnock proves that a TCP knock is exactly one SYN
// (no retransmit, no RST, no ACK from the client) and a UDP knock exactly
// one datagram carrying one zero byte, over IPv4 and IPv6.
func TestWireOnePacketPerKnock(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			dst := netip.MustParseAddr(host)
			t1, t2 := closedTCPPort(t, dst), closedTCPPort(t, dst)
			u1 := freeUDPPort(t, dst)
			knocks := []Knock{tcp(t1), udp(u1), tcp(t2)}
			c := openCapture(t, []uint16{t1, t2, u1})
			if err := Run(context.Background(), Options{Hosts: []string{host}, Knocks: knocks}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := c.collect(t, 300*time.Millisecond)
			var fromClient []wirePacket
			for _, p := range got {
				if p.src.Addr() == dst && p.dst.Addr() == dst {
					fromClient = append(fromClient, p)
				}
			}
			if len(fromClient) != len(knocks) {
				t.Fatalf("captured %d packets to the knocked ports, want %d (one per knock):\n%v", len(fromClient), len(knocks), fromClient)
			}
			for i, k := range knocks {
				p := fromClient[i]
				if p.proto != k.Proto || p.dst.Port() != k.Port {
					t.Errorf("packet %d is %v, want a knock %s", i, p, k)
				}
				if k.Proto == packet.TCP && p.flags != packet.SYN {
					t.Errorf("packet %d is %v, want a bare SYN", i, p)
				}
				if k.Proto == packet.UDP && string(p.payload) != "\x00" {
					t.Errorf("packet %d is %v, want payload 00", i, p)
				}
			}
		})
	}
}

// TestWireSource proves that Options.Source (sesame --source) is the
// address the knocks leave from, for TCP and UDP.
func TestWireSource(t *testing.T) {
	dst, src := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	tp, up := closedTCPPort(t, dst), freeUDPPort(t, dst)
	c := openCapture(t, []uint16{tp, up})
	o := Options{Hosts: []string{"127.0.0.1"}, Knocks: []Knock{tcp(tp), udp(up)}, Source: src}
	if err := Run(context.Background(), o); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var n int
	for _, p := range c.collect(t, 300*time.Millisecond) {
		if p.dst.Addr() != dst {
			continue
		}
		n++
		if p.src.Addr() != src {
			t.Errorf("%v: source %s, want %s", p, p.src.Addr(), src)
		}
	}
	if n != 2 {
		t.Errorf("captured %d knocks, want 2", n)
	}
}
