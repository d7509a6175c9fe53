//go:build linux

package netlab_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/netlab"
)

var spoofed = netip.MustParsePrefix("10.0.0.0/8")

func TestFloodRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	good := func() netlab.Flood {
		return netlab.Flood{
			DstMAC: net.HardwareAddr{2, 0x5e, 0x5a, 0, 0, 0}, Dst: netip.MustParseAddr("198.18.0.1"),
			Sources: spoofed, Distinct: 10, Kind: "syn", Ports: []uint16{7000}, Count: 1, Max: time.Second,
		}
	}
	tests := []struct {
		name   string
		change func(*netlab.Flood)
		want   string
	}{
		{"no MAC", func(f *netlab.Flood) { f.DstMAC = nil }, "not an Ethernet address"},
		{"IPv6 destination", func(f *netlab.Flood) { f.Dst = netip.MustParseAddr("fd00:5e5a::1") }, "not an IPv4 address"},
		{"no sources", func(f *netlab.Flood) { f.Sources = netip.Prefix{} }, "not an IPv4 prefix"},
		{"IPv6 sources", func(f *netlab.Flood) { f.Sources = netip.MustParsePrefix("fd00::/8") }, "not an IPv4 prefix"},
		{"no distinct", func(f *netlab.Flood) { f.Distinct = 0 }, "distinct sources, want"},
		{"too many distinct", func(f *netlab.Flood) { f.Distinct = 1<<24 + 1 }, "distinct sources, want"},
		{"distinct beyond prefix", func(f *netlab.Flood) { f.Sources = netip.MustParsePrefix("10.1.2.0/24"); f.Distinct = 257 }, "do not fit"},
		{"unknown kind", func(f *netlab.Flood) { f.Kind = "ack" }, "kind"},
		{"no ports", func(f *netlab.Flood) { f.Ports = nil }, "no destination ports"},
		{"negative rate", func(f *netlab.Flood) { f.Rate = -1 }, "negative rate"},
		{"no count", func(f *netlab.Flood) { f.Count = 0 }, "count"},
		{"no time limit", func(f *netlab.Flood) { f.Max = 0 }, "duration limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := good()
			tt.change(&f)
			// The spec is checked before the host is touched: a zero Host will do.
			_, err := new(netlab.Host).Flood(context.Background(), f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Flood(%s) = %v, want an error containing %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestLabMAC(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t, netlab.Config{Clients: 2})
	for _, h := range []*netlab.Host{lab.Server, lab.Client(0), lab.Client(1)} {
		var got net.HardwareAddr
		if err := h.Do(func() error {
			ifi, err := net.InterfaceByName(h.IfName)
			if ifi != nil {
				got = ifi.HardwareAddr
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if want := lab.MAC(h); got.String() != want.String() {
			t.Errorf("%s: MAC = %v, interface has %v", h.Name, want, got)
		}
	}
}

// TestFloodReachesServer counts, on the server's interface, the spoofed
// frames that arrive, their distinct sources and correct checksums, and
// anything the server sends back toward the spoofed sources.
func TestFloodReachesServer(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t, netlab.Config{Clients: 1})
	c := lab.Client(0)
	for _, tc := range []struct {
		kind  string
		ports []uint16
	}{
		{"syn", []uint16{7000}},
		{"udp", []uint16{7000, 8000, 9000}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			const n, distinct = 20000, 1000
			s := sniff(t, lab.Server, spoofed)
			res, err := c.Flood(context.Background(), netlab.Flood{
				DstMAC: lab.MAC(lab.Server), Dst: lab.Server.V4, Sources: spoofed, Distinct: distinct,
				Kind: tc.kind, Ports: tc.ports, Count: n, Max: 20 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != n {
				t.Fatalf("Sent = %d, want %d", res.Sent, n)
			}
			t.Logf("%s flood: %d frames in %v, %.0f/s", tc.kind, res.Sent, res.Elapsed, res.Rate())
			// Answers would follow the frames within milliseconds.
			st := s.stop(n, 300*time.Millisecond)
			if st.in < n*99/100 {
				t.Errorf("server saw %d of %d frames, want ≥ 99%%", st.in, n)
			}
			if len(st.sources) != distinct {
				t.Errorf("server saw %d distinct sources, want %d", len(st.sources), distinct)
			}
			if st.badSum > 0 {
				t.Errorf("%d frames with a bad IPv4, TCP or UDP checksum", st.badSum)
			}
			for _, p := range tc.ports {
				if st.ports[p] < st.in/len(tc.ports)-1 {
					t.Errorf("port %d got %d frames of %d", p, st.ports[p], st.in)
				}
			}
			if st.answers > 0 {
				t.Errorf("the server sent %d frames toward the spoofed sources (RSTs, ICMP or ARP), want none", st.answers)
			}
		})
	}
}

func TestFloodRate(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t, netlab.Config{Clients: 1})
	res, err := lab.Client(0).Flood(context.Background(), netlab.Flood{
		DstMAC: lab.MAC(lab.Server), Dst: lab.Server.V4, Sources: spoofed, Distinct: 100,
		Kind: "syn", Ports: []uint16{7000}, Rate: 5000, Count: 5000, Max: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("5000 frames at 5000/s took %v (%.0f/s)", res.Elapsed, res.Rate())
	if res.Sent != 5000 {
		t.Errorf("Sent = %d, want 5000", res.Sent)
	}
	if res.Elapsed < 500*time.Millisecond || res.Elapsed > 3*time.Second {
		t.Errorf("5000 frames at 5000/s took %v, want about a second", res.Elapsed)
	}
}

func TestFloodStops(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t, netlab.Config{Clients: 1})
	base := netlab.Flood{
		DstMAC: lab.MAC(lab.Server), Dst: lab.Server.V4, Sources: spoofed, Distinct: 10,
		Kind: "udp", Ports: []uint16{7000},
	}
	c := lab.Client(0)

	f := base
	f.Count, f.Max = 1000, 10*time.Second
	res, err := c.Flood(context.Background(), f)
	if err != nil || res.Sent != 1000 {
		t.Errorf("Count 1000: Sent = %d, %v; want 1000", res.Sent, err)
	}

	f = base
	f.Rate, f.Count, f.Max = 1000, 1<<30, 300*time.Millisecond
	res, err = c.Flood(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Elapsed < 300*time.Millisecond || res.Elapsed > 2*time.Second || res.Sent < 100 || res.Sent > 1000 {
		t.Errorf("Max 300ms at 1000/s: Sent %d in %v, want about 300 in 300ms", res.Sent, res.Elapsed)
	}

	f = base
	f.Count, f.Max = 1<<30, 30*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err = c.Flood(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Elapsed > 2*time.Second || res.Sent == 0 || res.Sent >= f.Count {
		t.Errorf("cancelled after 200ms: Sent %d in %v", res.Sent, res.Elapsed)
	}
}

// TestFloodAllocatesNothingPerPacket compares a flood of 64 frames with one
// of 100000: a per-packet allocation would show 100000 times over.
func TestFloodAllocatesNothingPerPacket(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 1})
	f := netlab.Flood{
		DstMAC: lab.MAC(lab.Server), Dst: lab.Server.V4, Sources: spoofed, Distinct: 1000,
		Kind: "syn", Ports: []uint16{7000, 8000}, Max: 20 * time.Second,
	}
	allocs := func(count int) float64 {
		f.Count = count
		return testing.AllocsPerRun(3, func() {
			if _, err := lab.Client(0).Flood(context.Background(), f); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(64), allocs(100000)
	t.Logf("allocations per flood: %v for 64 frames, %v for 100000", small, large)
	if large > small+50 {
		t.Errorf("a flood of 100000 frames allocates %v times, one of 64 %v: the send loop allocates", large, small)
	}
}

// sniffer counts what crosses a host's interface, from its own AF_PACKET
// socket with a buffer large enough for a whole test flood.
type sniffer struct {
	fd      int
	sources netip.Prefix
	dst     netip.Addr
	wg      sync.WaitGroup
	quit    chan struct{}

	mu sync.Mutex
	st sniffStats
}

type sniffStats struct {
	in      int // IPv4 TCP/UDP frames from sources to the host
	badSum  int // of which with a wrong checksum
	sources map[netip.Addr]bool
	ports   map[uint16]int
	answers int // frames the host sent toward sources: IPv4 to them, ARP for them
}

func sniff(t *testing.T, h *netlab.Host, sources netip.Prefix) *sniffer {
	t.Helper()
	s := &sniffer{sources: sources, dst: h.V4, quit: make(chan struct{})}
	s.st.sources = map[netip.Addr]bool{}
	s.st.ports = map[uint16]int{}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.IfName)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		s.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		if s.fd > 0 {
			unix.Close(s.fd)
		}
		t.Fatalf("sniffer in %s: %v", h.Name, err)
	}
	s.wg.Add(1)
	go s.read()
	t.Cleanup(func() { s.halt() })
	return s
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *sniffer) read() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		select {
		case <-s.quit:
			return
		default:
		}
		n, from, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			continue // the receive timeout: look at quit again
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok {
			continue
		}
		s.mu.Lock()
		s.count(buf[:n], ll.Pkttype == unix.PACKET_OUTGOING)
		s.mu.Unlock()
	}
}

func (s *sniffer) count(f []byte, out bool) {
	if len(f) < 14 {
		return
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case unix.ETH_P_ARP:
		if out && len(f) >= 42 && s.sources.Contains(netip.AddrFrom4([4]byte(f[38:42]))) {
			s.st.answers++
		}
	case unix.ETH_P_IP:
		ip := f[14:]
		if len(ip) < 20 || ip[0] != 0x45 {
			return
		}
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		if out {
			if s.sources.Contains(dst) {
				s.st.answers++
			}
			return
		}
		if !s.sources.Contains(src) || dst != s.dst || (ip[9] != unix.IPPROTO_TCP && ip[9] != unix.IPPROTO_UDP) {
			return
		}
		s.st.in++
		s.st.sources[src] = true
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if total > len(ip) || total < 24 || !checksumOK(ip[:total]) {
			s.st.badSum++
			return
		}
		s.st.ports[binary.BigEndian.Uint16(ip[22:])]++
	}
}

// checksumOK verifies an IPv4 packet's header checksum and its TCP or UDP
// checksum (with the pseudo-header), the plain way.
func checksumOK(ip []byte) bool {
	sum := func(b []byte, s uint32) uint32 {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
		for s>>16 != 0 {
			s = s>>16 + s&0xffff
		}
		return s
	}
	if sum(ip[:20], 0) != 0xffff {
		return false
	}
	seg := ip[20:]
	pseudo := sum(ip[12:20], uint32(ip[9])+uint32(len(seg)))
	return sum(seg, pseudo) == 0xffff
}

// stop waits until want frames have come in and nothing more for quiet (at
// most 5 s), stops the sniffer and returns what it counted.
func (s *sniffer) stop(want int, quiet time.Duration) sniffStats {
	deadline := time.Now().Add(5 * time.Second)
	last, lastChange := -1, time.Now()
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n := s.st.in + s.st.answers
		s.mu.Unlock()
		if n != last {
			last, lastChange = n, time.Now()
		} else if n >= want && time.Since(lastChange) >= quiet {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.halt()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *sniffer) halt() {
	select {
	case <-s.quit:
		return
	default:
	}
	close(s.quit)
	s.wg.Wait()
	unix.Close(s.fd)
}

// BenchmarkFlood measures the fastest flood a client sends here, one frame
// per op, into a server with nothing listening:
//
//	go test ./internal/netlab -run '^$' -bench Flood -benchtime 1000000x
func BenchmarkFlood(b *testing.B) {
	lab := netlab.New(b, netlab.Config{Clients: 1})
	for _, kind := range []string{"syn", "udp"} {
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			res, err := lab.Client(0).Flood(context.Background(), netlab.Flood{
				DstMAC: lab.MAC(lab.Server), Dst: lab.Server.V4, Sources: spoofed, Distinct: 1 << 16,
				Kind: kind, Ports: []uint16{7000, 8000, 9000}, Count: b.N, Max: time.Minute,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.Rate(), "frames/s")
		})
	}
}
