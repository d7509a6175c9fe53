//go:build linux

package netlab

// The flood: Ethernet frames with spoofed IPv4 sources, written straight
// onto a lab host's interface, for benchmarks of what a knock daemon costs
// under load. Only the lab sees them: the socket is opened inside the host's
// namespace and sends on its one interface, into the lab's bridge.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Flood describes a packet flood from a lab host to the server: Count
// frames (TCP SYNs or UDP datagrams), at Rate, from Distinct source
// addresses of Sources, to the destination ports Ports in turn. Packet i
// comes from the (i mod Distinct)th address of Sources and goes to
// Ports[i mod len(Ports)], so when the two counts share a factor a source
// meets only some of the ports.
//
// The server has no route to the spoofed sources, so it answers nothing:
// its RSTs and ICMP port-unreachables fail their route lookup and are never
// sent. That holds only for Sources outside the lab's 198.18.0.0/15 (e.g.
// 10.0.0.0/8): sources on the lab's link make the server ARP for each one.
// If the server tracks connections (a Door's ct rule loads conntrack), each
// source and port its firewall lets in leaves a conntrack entry behind.
type Flood struct {
	DstMAC   net.HardwareAddr // the server's interface MAC (Lab.MAC)
	Dst      netip.Addr       // the server's IPv4 address
	Sources  netip.Prefix     // spoofed IPv4 sources: the first Distinct addresses of this prefix, in turn
	Distinct int              // how many distinct sources, 1 .. 2^24 (and at most the prefix's size)
	Kind     string           // "syn" (TCP SYN) or "udp" (a small UDP datagram)
	Ports    []uint16         // destination ports, in turn
	Rate     int              // packets per second; 0: as fast as the host can send
	Count    int              // stop after this many packets (required, > 0)
	Max      time.Duration    // and stop after this long (required, > 0)
}

// FloodResult says what a flood sent.
type FloodResult struct {
	Sent    int
	Elapsed time.Duration
}

// Rate is the achieved rate in packets per second.
func (r FloodResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// MAC returns the fixed MAC address of h's interface (h is the server or a
// client of l).
func (l *Lab) MAC(h *Host) net.HardwareAddr {
	mac, err := net.ParseMAC(l.mac(h))
	if err != nil {
		panic("netlab: " + err.Error()) // l.mac formats a valid address
	}
	return mac
}

const (
	floodSport   = 40000      // the spoofed packets' source port
	floodSeq     = 0x5e5a0001 // the SYNs' sequence number
	floodTTL     = 64
	floodBatch   = 64 // the longest burst sent without looking at the clock
	ethLen       = 14
	ipv4Len      = 20
	tcpLen       = 20
	udpLen       = 8
	floodPayload = "knock\n" // the UDP datagrams' payload
)

func (f *Flood) check() error {
	switch {
	case len(f.DstMAC) != 6:
		return fmt.Errorf("flood: destination MAC %q is not an Ethernet address", f.DstMAC)
	case !f.Dst.Is4():
		return fmt.Errorf("flood: destination %v is not an IPv4 address", f.Dst)
	case !f.Sources.IsValid() || !f.Sources.Addr().Is4():
		return fmt.Errorf("flood: sources %v is not an IPv4 prefix", f.Sources)
	case f.Distinct < 1 || f.Distinct > 1<<24:
		return fmt.Errorf("flood: %d distinct sources, want 1..%d", f.Distinct, 1<<24)
	case f.Sources.Bits() > 8 && f.Distinct > 1<<(32-f.Sources.Bits()):
		return fmt.Errorf("flood: %d distinct sources do not fit in %v", f.Distinct, f.Sources)
	case f.Kind != "syn" && f.Kind != "udp":
		return fmt.Errorf("flood: kind %q, want syn or udp", f.Kind)
	case len(f.Ports) == 0:
		return errors.New("flood: no destination ports")
	case f.Rate < 0:
		return fmt.Errorf("flood: negative rate %d", f.Rate)
	case f.Count <= 0:
		return fmt.Errorf("flood: count %d, want > 0", f.Count)
	case f.Max <= 0:
		return fmt.Errorf("flood: duration limit %v, want > 0", f.Max)
	}
	return nil
}

// Flood sends f from h's interface and returns what it sent. It stops after
// f.Count packets, after f.Max, or when ctx is done, whichever comes first;
// a cancelled context is not an error. A Rate is kept against the clock:
// bursts of at most a millisecond's worth of packets, and a sleep when ahead.
//
// The frames are written to an AF_PACKET socket opened in h's namespace, so
// they pass no firewall or routing of h's: they go onto the wire (the veth
// into the lab's bridge) as they are. The send loop allocates nothing.
func (h *Host) Flood(ctx context.Context, f Flood) (FloodResult, error) {
	var res FloodResult
	if err := f.check(); err != nil {
		return res, err
	}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.IfName)
		if err != nil {
			return fmt.Errorf("flood: %w", err)
		}
		fl, err := newFlooder(&f, ifi)
		if err != nil {
			return err
		}
		defer fl.close()
		res, err = fl.run(ctx)
		return err
	})
	return res, err
}

// flooder sends one flood. Its frames are one template per destination
// port, copied into a batch and patched there for each packet: the source
// address and the two checksums, which are kept as sums of the rest of the
// headers, so a packet costs a copy and a few additions.
//
// A batch goes out in one sendmmsg(2). Measured on a 2-vCPU VM, veth into
// the lab's bridge: one sendto(2) per frame reached ~235k frames/s,
// sendmmsg ~280k/s, a PACKET_TX_RING ~270k/s, and PACKET_QDISC_BYPASS
// changed nothing (veth has no qdisc). The kernel's receive path (bridge,
// then the server's stack) runs in the sender's system call and is most of
// the cost, which is why batching gains only a fifth.
type flooder struct {
	f      *Flood
	fd     int
	ifName string
	frames [][]byte // by port
	ipSum  []uint32 // by port: the IPv4 header's sum, without the source
	l4Sum  []uint32 // by port: the TCP/UDP checksum's sum, without the source
	l4Off  int      // the L4 checksum's offset in a frame
	first  uint32   // the first source address
	k, j   int      // the next source and port index

	// The batch: floodBatch frames, each its own message to the server's MAC.
	bufs [][]byte
	iovs []unix.Iovec
	msgs []unix.Mmsghdr
	to   unix.RawSockaddrLinklayer
}

// newFlooder builds the frames and opens the socket, in the calling
// thread's namespace.
func newFlooder(f *Flood, ifi *net.Interface) (*flooder, error) {
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("flood: %s has no Ethernet address", ifi.Name)
	}
	fl := &flooder{f: f, ifName: ifi.Name, first: be32(f.Sources.Masked().Addr())}
	fl.build(ifi.HardwareAddr)
	fl.to = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(unix.ETH_P_IP), Ifindex: int32(ifi.Index), Halen: 6}
	copy(fl.to.Addr[:], f.DstMAC)
	fl.bufs = make([][]byte, floodBatch)
	fl.iovs = make([]unix.Iovec, floodBatch)
	fl.msgs = make([]unix.Mmsghdr, floodBatch)
	for i := range fl.bufs {
		fl.bufs[i] = make([]byte, len(fl.frames[0]))
		fl.iovs[i].Base = &fl.bufs[i][0]
		fl.iovs[i].SetLen(len(fl.bufs[i]))
		fl.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&fl.to))
		fl.msgs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
		fl.msgs[i].Hdr.Iov = &fl.iovs[i]
		fl.msgs[i].Hdr.Iovlen = 1
	}
	// Protocol 0: the socket receives nothing, so a flood's answers (there
	// should be none) cost it nothing either.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("flood: AF_PACKET socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("flood: bind AF_PACKET to %s: %w", ifi.Name, err)
	}
	fl.fd = fd
	return fl, nil
}

func (fl *flooder) close() { unix.Close(fl.fd) }

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// build makes one frame per destination port, with source address zero,
// and the partial checksum sums that patch adds the source to.
func (fl *flooder) build(srcMAC net.HardwareAddr) {
	f := fl.f
	proto, l4 := byte(unix.IPPROTO_TCP), tcpLen
	if f.Kind == "udp" {
		proto, l4 = unix.IPPROTO_UDP, udpLen+len(floodPayload)
	}
	dst := f.Dst.As4()
	for _, port := range f.Ports {
		b := make([]byte, ethLen+ipv4Len+l4)
		copy(b[0:6], f.DstMAC)
		copy(b[6:12], srcMAC)
		binary.BigEndian.PutUint16(b[12:], unix.ETH_P_IP)
		ip := b[ethLen:]
		ip[0] = 0x45 // version 4, 5 words
		binary.BigEndian.PutUint16(ip[2:], uint16(ipv4Len+l4))
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // don't fragment
		ip[8], ip[9] = floodTTL, proto
		copy(ip[16:20], dst[:])
		seg := ip[ipv4Len:]
		binary.BigEndian.PutUint16(seg[0:], floodSport)
		binary.BigEndian.PutUint16(seg[2:], port)
		if proto == unix.IPPROTO_TCP {
			binary.BigEndian.PutUint32(seg[4:], floodSeq)
			seg[12] = tcpLen / 4 << 4
			seg[13] = 0x02 // SYN
			binary.BigEndian.PutUint16(seg[14:], 64240)
			fl.l4Off = ethLen + ipv4Len + 16
		} else {
			binary.BigEndian.PutUint16(seg[4:], uint16(l4))
			copy(seg[udpLen:], floodPayload)
			fl.l4Off = ethLen + ipv4Len + 6
		}
		fl.frames = append(fl.frames, b)
		fl.ipSum = append(fl.ipSum, sum16(ip[:ipv4Len], 0))
		// The pseudo-header without the source, then the segment.
		fl.l4Sum = append(fl.l4Sum, sum16(seg, sum16(dst[:], uint32(proto)+uint32(l4))))
	}
}

// sum16 adds b's big-endian 16-bit words to s: a one's complement sum,
// folded by csum.
func sum16(b []byte, s uint32) uint32 {
	for ; len(b) >= 2; b = b[2:] {
		s += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// csum folds a sum into an Internet checksum.
func csum(s uint32) uint16 {
	s = s>>16 + s&0xffff
	s += s >> 16
	return ^uint16(s)
}

// patch writes the next packet into b (as long as the templates) and moves
// on to the next source and the next port.
func (fl *flooder) patch(b []byte) {
	j := fl.j
	copy(b, fl.frames[j])
	a := fl.first + uint32(fl.k)
	binary.BigEndian.PutUint32(b[ethLen+12:], a)
	s := a>>16 + a&0xffff
	binary.BigEndian.PutUint16(b[ethLen+10:], csum(fl.ipSum[j]+s))
	c := csum(fl.l4Sum[j] + s)
	if c == 0 && fl.f.Kind == "udp" {
		c = 0xffff // a UDP checksum of zero means "none"
	}
	binary.BigEndian.PutUint16(b[fl.l4Off:], c)
	if fl.k++; fl.k == fl.f.Distinct {
		fl.k = 0
	}
	if fl.j++; fl.j == len(fl.frames) {
		fl.j = 0
	}
}

// send sends the next n packets (n ≤ floodBatch) and returns how many went
// out before an error.
func (fl *flooder) send(n int) (int, error) {
	for i := range n {
		fl.patch(fl.bufs[i])
	}
	sent := 0
	for sent < n {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fl.fd), uintptr(unsafe.Pointer(&fl.msgs[sent])), uintptr(n-sent), 0, 0, 0)
		switch e {
		case 0:
			sent += int(r)
		case unix.EINTR:
		default:
			// The unsent rest of the batch is dropped, and the source and
			// port sequence moves on without them.
			return sent, e
		}
	}
	return sent, nil
}

// run sends the flood on the calling thread.
func (fl *flooder) run(ctx context.Context) (FloodResult, error) {
	f := fl.f
	done := ctx.Done()
	start := time.Now()
	deadline := start.Add(f.Max)
	burst := floodBatch
	if f.Rate > 0 {
		burst = min(max(f.Rate/1000, 1), floodBatch)
	}
	sent := 0
	for sent < f.Count {
		select {
		case <-done:
			return FloodResult{Sent: sent, Elapsed: time.Since(start)}, nil
		default:
		}
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		n := min(burst, f.Count-sent)
		if f.Rate > 0 {
			// Packet i is due at start + i/Rate.
			due := int(float64(now.Sub(start))*float64(f.Rate)/float64(time.Second)) + 1
			if due <= sent {
				next := start.Add(time.Duration(float64(sent+n-1) * float64(time.Second) / float64(f.Rate)))
				time.Sleep(min(next.Sub(now), deadline.Sub(now)))
				continue
			}
			n = min(n, due-sent)
		}
		k, err := fl.send(n)
		sent += k
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
				time.Sleep(100 * time.Microsecond) // the interface's queue is full: let it drain
				continue
			}
			return FloodResult{Sent: sent, Elapsed: time.Since(start)}, fmt.Errorf("flood: send on %s: %w", fl.ifName, err)
		}
	}
	return FloodResult{Sent: sent, Elapsed: time.Since(start)}, nil
}
