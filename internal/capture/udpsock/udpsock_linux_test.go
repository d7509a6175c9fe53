package udpsock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/netlab"
	"github.com/sesame-knock/sesame/internal/packet"
)

// wait bounds every wait in these tests; they normally take microseconds.
const wait = 5 * time.Second

var knock = []byte("knock\n")

var addrEqual = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// freePorts returns n distinct UDP ports that were free on both families a
// moment ago (bound dual-stack on [::]:0, then released).
func freePorts(t testing.TB, n int) []uint16 {
	t.Helper()
	var conns []net.PacketConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var ports []uint16
	for len(ports) < n {
		c, err := net.ListenPacket("udp", ":0")
		if err != nil {
			t.Fatalf("failed to find a free port: %v", err)
		}
		conns = append(conns, c)
		ports = append(ports, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	}
	return ports
}

// openFree opens a listener on n free ports, retrying if another process
// took one of them in between.
func openFree(t testing.TB, n int, opts Options) (*Listener, []uint16) {
	t.Helper()
	for range 10 {
		ports := freePorts(t, n)
		l, err := Open(ports, opts)
		if errors.Is(err, unix.EADDRINUSE) {
			continue
		}
		if err != nil {
			t.Fatalf("Open(%d ports): %v", n, err)
		}
		t.Cleanup(func() { l.Close() })
		return l, ports
	}
	t.Fatalf("no %d free ports after 10 tries", n)
	return nil, nil
}

// chanSink copies every hit into a channel.
type chanSink chan packet.Hit

func (c chanSink) Hit(h *packet.Hit) {
	select {
	case c <- *h:
	default:
		panic("test sink full")
	}
}

// start runs l on its own goroutine and returns its hits and a function
// that cancels Run and returns what it returned.
func start(t testing.TB, l *Listener, buffer int) (chanSink, func() error) {
	t.Helper()
	hits := make(chanSink, buffer)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx, hits) }()
	var stopped atomic.Bool
	var runErr error
	stop := func() error {
		if stopped.Swap(true) {
			return runErr
		}
		cancel()
		select {
		case runErr = <-errc:
		case <-time.After(wait):
			t.Fatalf("Run did not return within %v of cancel", wait)
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	return hits, stop
}

// send sends one datagram from src (any port) to dst and returns the
// address it left from.
func send(t testing.TB, src netip.Addr, dst netip.AddrPort, payload []byte) netip.AddrPort {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(dst))
	if err != nil {
		t.Fatalf("dial %s: %v", dst, err)
	}
	defer c.Close()
	if _, err := c.Write(payload); err != nil {
		t.Fatalf("send to %s: %v", dst, err)
	}
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// next returns the next hit, failing the test if none comes in time.
func next(t testing.TB, hits chanSink) packet.Hit {
	t.Helper()
	select {
	case h := <-hits:
		return h
	case <-time.After(wait):
		t.Fatalf("no hit within %v", wait)
	}
	return packet.Hit{}
}

// wantHit is the hit a datagram from src to dst carrying payload makes.
func wantHit(src, dst netip.AddrPort, payload []byte) packet.Hit {
	h := packet.Hit{
		Src: src.Addr(), SrcPort: src.Port(), Dst: dst.Addr(), DstPort: dst.Port(),
		Proto: packet.UDP, PayloadLen: uint16(len(payload)),
	}
	h.SetHead(payload)
	return h
}

func hasIPv6(t testing.TB) {
	t.Helper()
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	c.Close()
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	hasIPv6(t)
	l, ports := openFree(t, 2, Options{})
	hits, stop := start(t, l, 16)
	long := []byte("knock\nand a good deal more than sixteen bytes")
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
		port     uint16
		payload  []byte
		knock    bool // HasPayload("knock\n")
	}{
		{"ipv4", netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"), ports[0], knock, true},
		{"ipv4 second port", netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"), ports[1], knock, true},
		// Dst is the address the datagram was sent to, not any local one.
		{"ipv4 other local address", netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.2"), ports[0], knock, true},
		{"ipv6", netip.MustParseAddr("::1"), netip.MustParseAddr("::1"), ports[1], knock, true},
		{"longer than the head", netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"), ports[0], long, false},
		{"other payload", netip.MustParseAddr("::1"), netip.MustParseAddr("::1"), ports[0], []byte("knock"), false},
		{"empty", netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"), ports[1], nil, false},
	} {
		dst := netip.AddrPortFrom(tc.dst, tc.port)
		src := send(t, tc.src, dst, tc.payload)
		got := next(t, hits)
		if diff := cmp.Diff(wantHit(src, dst, tc.payload), got, addrEqual); diff != "" {
			t.Errorf("%s: hit (-want +got):\n%s", tc.name, diff)
		}
		if got.HasPayload(knock) != tc.knock {
			t.Errorf("%s: HasPayload(%q) = %v, want %v", tc.name, knock, !tc.knock, tc.knock)
		}
		if !got.Src.Is4() && tc.src.Is4() {
			t.Errorf("%s: Src %v is not a 4-byte address", tc.name, got.Src)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if got, want := l.Stats(), (capture.Stats{Packets: 7}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestIPv4Only(t *testing.T) {
	t.Parallel()
	hasIPv6(t)
	l, ports := openFree(t, 1, Options{IPv4Only: true})
	hits, _ := start(t, l, 16)

	// Over IPv6 nothing listens: the kernel answers port unreachable,
	// which a connected socket reports as ECONNREFUSED.
	dst6 := netip.AddrPortFrom(netip.IPv6Loopback(), ports[0])
	if err := refused(dst6); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("IPv6 datagram to an IPv4-only listener: got %v, want ECONNREFUSED", err)
	}
	// Another process may bind the port on IPv6.
	if c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(dst6)); err != nil {
		t.Errorf("bind [::1]:%d beside an IPv4-only listener: %v", ports[0], err)
	} else {
		c.Close()
	}

	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ports[0])
	src := send(t, dst.Addr(), dst, knock)
	if diff := cmp.Diff(wantHit(src, dst, knock), next(t, hits), addrEqual); diff != "" {
		t.Errorf("hit (-want +got):\n%s", diff)
	}
	select {
	case h := <-hits:
		t.Errorf("unexpected hit %v", h)
	default:
	}
}

// refused sends a datagram to dst on a connected socket and returns what
// the next read says: ECONNREFUSED if the host answered port unreachable,
// a timeout if it did not answer.
func refused(dst netip.AddrPort) error {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(knock); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	_, err = c.Read(make([]byte, 16))
	return err
}

// The trade-off the package comment describes: a closed UDP port answers
// port unreachable, a bound knock port does not.
func TestBoundPortSendsNoUnreachable(t *testing.T) {
	t.Parallel()
	ports := freePorts(t, 2)
	l, err := Open(ports[:1], Options{})
	if err != nil {
		t.Skipf("port taken in between: %v", err)
	}
	defer l.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	if err := refused(netip.AddrPortFrom(lo, ports[1])); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("datagram to a closed port: got %v, want ECONNREFUSED", err)
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, ports[0])))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(knock)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("datagram to a knock port: got %v, want no answer", err)
	}
}

func TestPortInUse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, network, addr, suffix string
	}{
		{"ipv4", "udp4", "0.0.0.0", ""},
		{"ipv6", "udp6", "[::]", " (IPv6)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.network == "udp6" {
				hasIPv6(t)
			}
			ports := freePorts(t, 3)
			// Go's udp6 listener on [::] is IPV6_V6ONLY, so it takes the
			// port on one family only.
			busy, err := net.ListenPacket(tc.network, tc.addr+":"+strconv.Itoa(int(ports[1])))
			if err != nil {
				t.Skipf("port %d taken in between: %v", ports[1], err)
			}
			defer busy.Close()
			l, err := Open(ports, Options{})
			if err == nil {
				l.Close()
				t.Fatalf("Open succeeded with port %d in use", ports[1])
			}
			want := fmt.Sprintf("failed to listen on udp port %d%s: address already in use", ports[1], tc.suffix)
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("error %v is not EADDRINUSE", err)
			}
			// Open released the port it had bound before the failure.
			released(t, ports[0])
		})
	}
}

// released fails the test unless port can be bound on both families.
func released(t testing.TB, ports ...uint16) {
	t.Helper()
	for _, port := range ports {
		for _, a := range []string{"udp4/0.0.0.0", "udp6/[::]"} {
			network, addr, _ := strings.Cut(a, "/")
			c, err := net.ListenPacket(network, addr+":"+strconv.Itoa(int(port)))
			if err != nil {
				if network == "udp6" && errors.Is(err, syscall.EAFNOSUPPORT) {
					continue
				}
				t.Errorf("port %d still bound: %v", port, err)
				continue
			}
			c.Close()
		}
	}
}

func TestPermission(t *testing.T) {
	t.Parallel()
	const port = 1023
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		t.Skipf("cannot read ip_unprivileged_port_start: %v", err)
	}
	if start, _ := strconv.Atoi(strings.TrimSpace(string(b))); start <= port {
		t.Skipf("ip_unprivileged_port_start is %d: port %d needs no privilege here", start, port)
	}
	errc := make(chan error, 1)
	go func() {
		// Capabilities are per thread: drop CAP_NET_BIND_SERVICE from this
		// one, which is never handed back to the scheduler (no Unlock: it
		// exits with the goroutine).
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capget: %w", err)
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_BIND_SERVICE
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capset: %w", err)
			return
		}
		l, err := Open([]uint16{port}, Options{})
		if err == nil {
			l.Close()
			err = errors.New("Open succeeded")
		}
		errc <- err
	}()
	err = <-errc
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("Open(%d) without CAP_NET_BIND_SERVICE: %v, want a permission error", port, err)
	}
	if want := "failed to listen on udp port 1023: permission denied"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ports []uint16
		want  string
	}{
		{nil, "failed to listen on udp: no ports"},
		{[]uint16{7000, 0}, "failed to listen on udp port 0: not a port"},
	} {
		l, err := Open(tc.ports, Options{})
		if err == nil {
			l.Close()
			t.Errorf("Open(%v) succeeded", tc.ports)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Open(%v): %q, want %q", tc.ports, err, tc.want)
		}
	}
}

func TestDuplicatePorts(t *testing.T) {
	t.Parallel()
	ports := freePorts(t, 1)
	l, err := Open([]uint16{ports[0], ports[0]}, Options{})
	if err != nil {
		t.Skipf("port taken in between: %v", err)
	}
	l.Close()
}

func TestCloseWithoutRun(t *testing.T) {
	t.Parallel()
	l, ports := openFree(t, 4, Options{})
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	released(t, ports...)
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Run(t.Context(), chanSink(make(chan packet.Hit, 1))); err == nil {
		t.Errorf("Run after Close succeeded")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	l, ports := openFree(t, 2, Options{})
	var returned, late atomic.Bool
	first := make(chan struct{})
	var n atomic.Int64
	sink := capture.SinkFunc(func(h *packet.Hit) {
		if returned.Load() {
			late.Store(true)
		}
		if n.Add(1) == 1 {
			close(first)
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		err := l.Run(ctx, sink)
		returned.Store(true)
		errc <- err
	}()

	// Keep datagrams coming while Run is cancelled.
	flood := make(chan struct{})
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(ports[0])})
		if err != nil {
			return
		}
		defer c.Close()
		for {
			select {
			case <-flood:
				return
			default:
				c.Write(knock)
			}
		}
	}()
	select {
	case <-first:
	case <-time.After(wait):
		t.Fatalf("no hit within %v", wait)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run returned %v on cancel, want nil", err)
		}
	case <-time.After(wait):
		t.Fatalf("Run did not return within %v of cancel", wait)
	}
	close(flood)
	<-floodDone
	if late.Load() {
		t.Errorf("the sink was called after Run returned")
	}
	released(t, ports...)
	if err := l.Run(t.Context(), sink); err == nil {
		t.Errorf("second Run succeeded")
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
}

func TestRunCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	l, ports := openFree(t, 1, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, chanSink(make(chan packet.Hit, 1))) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(wait):
		t.Fatalf("Run with a cancelled context did not return within %v", wait)
	}
	released(t, ports...)
}

func TestManyPorts(t *testing.T) {
	t.Parallel()
	hasIPv6(t)
	const n = 256
	l, ports := openFree(t, n, Options{})
	hits, stop := start(t, l, 2*n)
	want := map[netip.AddrPort]bool{}
	for i, port := range ports {
		dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
		if i%2 == 1 {
			dst = netip.AddrPortFrom(netip.IPv6Loopback(), port)
		}
		send(t, dst.Addr(), dst, knock)
		want[dst] = true
	}
	for range n {
		h := next(t, hits)
		dst := netip.AddrPortFrom(h.Dst, h.DstPort)
		if !want[dst] {
			t.Errorf("unexpected or repeated hit %v", h)
		}
		delete(want, dst)
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	released(t, ports...)
}

// Datagrams the kernel drops on a full receive queue are counted, exactly.
func TestDrops(t *testing.T) {
	t.Parallel()
	l, ports := openFree(t, 1, Options{IPv4Only: true})
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(ports[0])}
	c, err := net.DialUDP("udp4", nil, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A small receive buffer, whatever the host's default, and far more
	// datagrams than it holds before Run reads any.
	if err := unix.SetsockoptInt(l.socks[0].fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<10); err != nil {
		t.Fatal(err)
	}
	const burst = 2000
	for range burst {
		if _, err := c.Write(knock); err != nil {
			t.Fatal(err)
		}
	}
	hits, _ := start(t, l, burst+1000)
	// Once the queue has drained, a marker gets through, carrying the
	// socket's drop count.
	marker := []byte("marker")
	got := 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
loop:
	for {
		select {
		case h := <-hits:
			if h.HasPayload(marker) {
				break loop
			}
			got++
		case <-tick.C:
			c.Write(marker)
		case <-deadline:
			t.Fatalf("no marker within %v", wait)
		}
	}
	drops := l.Stats().Drops
	if drops == 0 {
		t.Fatalf("no drops counted after a burst of %d (%d delivered)", burst, got)
	}
	if uint64(got)+drops != burst {
		t.Errorf("%d delivered + %d dropped != %d sent", got, drops, burst)
	}
	t.Logf("%d delivered, %d dropped", got, drops)
}

// The per-datagram path (recvmsg, decode, sink) does not allocate.
func TestReadNoAlloc(t *testing.T) {
	hasIPv6(t)
	l, ports := openFree(t, 1, Options{})
	for _, s := range l.socks {
		client := clientFor(t, s.v6, ports[0])
		rx := newReceiver()
		var h packet.Hit
		var n int
		sink := capture.SinkFunc(func(*packet.Hit) { n++ })
		allocs := testing.AllocsPerRun(1000, func() {
			unix.Write(client, knock)
			l.drain(&s, rx, &h, sink)
		})
		if n < 1000 {
			t.Errorf("v6=%v: %d hits, want at least 1000", s.v6, n)
		}
		if allocs != 0 {
			t.Errorf("v6=%v: %.1f allocations per datagram, want 0", s.v6, allocs)
		}
	}
}

// clientFor returns a raw UDP socket connected to the loopback port.
func clientFor(t testing.TB, v6 bool, port uint16) int {
	t.Helper()
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}
	if v6 {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(port), Addr: netip.IPv6Loopback().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	return fd
}

func BenchmarkRead(b *testing.B) {
	l, ports := openFree(b, 1, Options{IPv4Only: true})
	client := clientFor(b, false, ports[0])
	rx := newReceiver()
	var h packet.Hit
	sink := capture.SinkFunc(func(*packet.Hit) {})
	b.ReportAllocs()
	for b.Loop() {
		unix.Write(client, knock)
		l.drain(&l.socks[0], rx, &h, sink)
	}
}

func TestParseControl(t *testing.T) {
	t.Parallel()
	cmsg := func(level, typ int, data ...byte) []byte {
		b := make([]byte, unix.CmsgSpace(len(data)))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = int32(level), int32(typ)
		h.SetLen(unix.CmsgLen(len(data)))
		copy(b[unix.CmsgLen(0):], data)
		return b
	}
	v4 := cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, 2, 0, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2)
	v6 := cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0)
	mapped := cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1, 2, 0, 0, 0)
	drops := cmsg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 7, 0, 0, 0)
	other := cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16)...)
	for _, tc := range []struct {
		name     string
		b        []byte
		dst      string
		hasDrops bool
	}{
		{"ipv4", v4, "127.0.0.2", false},
		{"ipv6", v6, "fd00::1", false},
		{"v4-mapped", mapped, "192.0.2.1", false},
		{"with drops", slices.Concat(drops, other, v4), "127.0.0.2", true},
		{"empty", nil, "invalid IP", false},
		{"short header", v4[:unix.SizeofCmsghdr-1], "invalid IP", false},
		{"cut data", v4[:unix.CmsgLen(8)], "invalid IP", false},
		{"no padding after the last", v4[:unix.CmsgLen(12)], "127.0.0.2", false},
		{"length past end", slices.Concat(drops, v4[:unix.CmsgLen(12)-1]), "invalid IP", true},
	} {
		var r receiver
		r.parseControl(tc.b)
		if r.dst.String() != tc.dst || r.hasDrops != tc.hasDrops {
			t.Errorf("%s: dst %v drops %v, want %s %v", tc.name, r.dst, r.hasDrops, tc.dst, tc.hasDrops)
		}
		if tc.hasDrops && r.dropCount != 7 {
			t.Errorf("%s: drop count %d, want 7", tc.name, r.dropCount)
		}
	}
}

func FuzzParseControl(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r receiver
		r.parseControl(b)
	})
}

// A lab knock: datagrams from another namespace, from two addresses of the
// client over both families, arrive with their real source and the server
// address they were sent to.
func TestLab(t *testing.T) {
	lab := netlab.New(t, netlab.Config{ExtraClientAddrs: 1})
	srv, cli := lab.Server, lab.Client(0)
	ports := []uint16{7000, 8000, 9000}
	var l *Listener
	if err := srv.Do(func() (err error) {
		l, err = Open(ports, Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	hits, stop := start(t, l, 64)
	seq := []netlab.Knock{{Port: 7000, Proto: "udp"}, {Port: 8000, Proto: "udp"}, {Port: 9000, Proto: "udp"}}
	for _, fam := range []struct {
		srcs []netip.Addr
		dst  netip.Addr
	}{
		{[]netip.Addr{cli.V4, cli.Extra4[0]}, srv.V4},
		{[]netip.Addr{cli.V6, cli.Extra6[0]}, srv.V6},
	} {
		if err := cli.KnockFrom(fam.srcs, fam.dst, seq, 0); err != nil {
			t.Fatal(err)
		}
		for _, k := range seq {
			for _, src := range fam.srcs {
				h := next(t, hits)
				if h.Src != src || h.Dst != fam.dst || h.DstPort != k.Port || h.Proto != packet.UDP || !h.HasPayload(knock) {
					t.Errorf("hit %v (payload %q), want %v -> %v:%d udp \"knock\\n\"", h, h.Head[:h.HeadLen], src, fam.dst, k.Port)
				}
			}
		}
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}
