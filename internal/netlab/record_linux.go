package netlab

// The eavesdropper: a tap on a host's interface that records the frames
// the host sends to one address and sends them again later, byte for byte
// (same MAC addresses, same IP header, same ports and payload). A replay
// test then proves that what a listener on the wire saw is worth nothing.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Tap records the frames a host sends to one destination address.
type Tap struct {
	fd      int
	ifindex int
	dst     netip.Addr

	mu     sync.Mutex
	frames [][]byte
	done   chan struct{}
	stop   chan struct{}
}

// Tap starts recording the IPv4/IPv6 TCP and UDP frames that leave this
// namespace's interface toward dst. Stop it with Stop before Replay.
func (h *Host) Tap(dst netip.Addr) (*Tap, error) {
	tp := &Tap{dst: dst, done: make(chan struct{}), stop: make(chan struct{})}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.IfName)
		if err != nil {
			return err
		}
		tp.ifindex = ifi.Index
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind AF_PACKET to %s: %w", h.IfName, err)
		}
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		tp.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	go tp.read()
	return tp, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (tp *Tap) read() {
	defer close(tp.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-tp.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(tp.fd, buf, 0)
		if err != nil {
			continue // the receive timeout: look at stop again
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype != unix.PACKET_OUTGOING || !tp.wanted(buf[:n]) {
			continue
		}
		tp.mu.Lock()
		tp.frames = append(tp.frames, append([]byte(nil), buf[:n]...))
		tp.mu.Unlock()
	}
}

// wanted reports whether an Ethernet frame is TCP or UDP to tp.dst.
func (tp *Tap) wanted(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	ip := f[14:]
	switch binary.BigEndian.Uint16(f[12:14]) {
	case unix.ETH_P_IP:
		if len(ip) < 20 || !tp.dst.Is4() || netip.AddrFrom4([4]byte(ip[16:20])) != tp.dst {
			return false
		}
		return ip[9] == unix.IPPROTO_TCP || ip[9] == unix.IPPROTO_UDP
	case unix.ETH_P_IPV6:
		if len(ip) < 40 || !tp.dst.Is6() || netip.AddrFrom16([16]byte(ip[24:40])) != tp.dst {
			return false
		}
		return ip[6] == unix.IPPROTO_TCP || ip[6] == unix.IPPROTO_UDP
	}
	return false
}

// Stop ends the recording and returns the frames recorded, in order.
func (tp *Tap) Stop() [][]byte {
	select {
	case <-tp.stop:
	default:
		close(tp.stop)
	}
	<-tp.done
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.frames
}

// Replay sends frames out of the tapped interface again, unchanged, delay
// apart. The tap must be stopped.
func (tp *Tap) Replay(frames [][]byte, delay time.Duration) error {
	select {
	case <-tp.done:
	default:
		return errors.New("replay on a running tap: Stop it first")
	}
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: tp.ifindex}
	for i, f := range frames {
		if i > 0 && delay > 0 {
			time.Sleep(delay)
		}
		if err := unix.Sendto(tp.fd, f, 0, to); err != nil {
			return fmt.Errorf("replay frame %d: %w", i, err)
		}
	}
	return nil
}

// Close releases the socket.
func (tp *Tap) Close() error {
	tp.Stop()
	return unix.Close(tp.fd)
}

// Ports lists the destination ports of TCP/UDP frames, for messages.
func Ports(frames [][]byte) []uint16 {
	var ports []uint16
	for _, f := range frames {
		if len(f) < 14 {
			continue
		}
		ip := f[14:]
		var l4 []byte
		switch binary.BigEndian.Uint16(f[12:14]) {
		case unix.ETH_P_IP:
			if len(ip) >= 20 {
				l4 = ip[int(ip[0]&0x0f)*4:]
			}
		case unix.ETH_P_IPV6:
			if len(ip) >= 40 {
				l4 = ip[40:]
			}
		}
		if len(l4) >= 4 {
			ports = append(ports, binary.BigEndian.Uint16(l4[2:4]))
		}
	}
	return ports
}
