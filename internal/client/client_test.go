package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

func TestRunInvalidOptions(t *testing.T) {
	t.Parallel()
	ok := Options{Hosts: []string{"127.0.0.1"}, Knocks: []Knock{tcp(7)}}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no hosts", func(o *Options) { o.Hosts = nil }, "no host to knock"},
		{"no knocks", func(o *Options) { o.Knocks = nil }, "no ports to knock"},
		{"port 0", func(o *Options) { o.Knocks = []Knock{udp(0)} }, "invalid knock 0:udp: port 0"},
		{"proto", func(o *Options) { o.Knocks = []Knock{{Proto: 1, Port: 7}} }, "invalid knock 7:proto(1): only tcp and udp knocks are supported"},
		{"delay", func(o *Options) { o.Delay = -time.Millisecond }, "delay cannot be negative"},
		{"family", func(o *Options) { o.Family = 5 }, "invalid address family 5: want 0, 4 or 6"},
		{"source family", func(o *Options) { o.Family = 6; o.Source = netip.MustParseAddr("127.0.0.1") }, "source address 127.0.0.1 is not IPv6"},
		{"source unspecified", func(o *Options) { o.Source = netip.IPv6Unspecified() }, "source address :: is unspecified: name one of this host's addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tt.edit(&o)
			err := Run(context.Background(), o)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Run error (-want +got):\n-%s\n+%v", tt.want, err)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	v4 := netip.MustParseAddr("127.0.0.2")
	v6 := netip.MustParseAddr("::1")
	tests := []struct {
		host    string
		family  int
		src     netip.Addr
		want    string
		wantErr string
	}{
		{host: "198.51.100.7", want: "198.51.100.7"},
		{host: "198.51.100.7", family: 4, want: "198.51.100.7"},
		{host: "2001:db8::7", want: "2001:db8::7"},
		{host: "[2001:db8::7]", family: 6, want: "2001:db8::7"},
		{host: "fe80::1%eth0", want: "fe80::1%eth0"},
		{host: "::ffff:198.51.100.7", family: 4, want: "198.51.100.7"},
		{host: "dual.test", want: "2001:db8::1"},
		{host: "dual.test", family: 4, want: "198.51.100.1"},
		{host: "dual.test", family: 6, want: "2001:db8::1"},
		{host: "dual.test", src: v4, want: "198.51.100.1"},
		{host: "dual.test", src: v6, want: "2001:db8::1"},
		{host: "v4only.test", want: "198.51.100.2"},
		{host: "2001:db8::7", family: 4, wantErr: `host "2001:db8::7" has no IPv4 address`},
		{host: "198.51.100.7", family: 6, wantErr: `host "198.51.100.7" has no IPv6 address`},
		{host: "198.51.100.7", src: v6, wantErr: `host "198.51.100.7" has no IPv6 (the family of source address ::1) address`},
		{host: "v4only.test", family: 6, wantErr: `host "v4only.test" has no IPv6 address`},
		{host: "0.0.0.0", wantErr: `cannot knock "0.0.0.0": 0.0.0.0 is the unspecified address`},
		{host: "nowhere.test", wantErr: `failed to resolve "nowhere.test": no such host`},
		{host: "broken.test", wantErr: `failed to resolve "broken.test": lookup broken.test: server misbehaving`},
	}
	lookup := func(_ context.Context, network, host string) ([]netip.Addr, error) {
		var all []netip.Addr
		switch host {
		case "dual.test":
			all = []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("198.51.100.1")}
		case "v4only.test":
			all = []netip.Addr{netip.MustParseAddr("::ffff:198.51.100.2")}
		case "broken.test":
			return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
		default:
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var out []netip.Addr
		for _, a := range all {
			if network == "ip" || (network == "ip4") == a.Unmap().Is4() {
				out = append(out, a)
			}
		}
		return out, nil
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d/%s", tt.host, tt.family, tt.src), func(t *testing.T) {
			t.Parallel()
			got, err := resolveWith(context.Background(), lookup, tt.host, tt.family, tt.src)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error (-want +got):\n-%s\n+%v", tt.wantErr, err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Errorf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// listenUDP binds a UDP socket on a free loopback port of addr's family.
func listenUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 0)))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no %s on loopback: %v", addr, err)
		}
		t.Skipf("no %s on loopback: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readDatagram reads one datagram with a short, bounded deadline.
func readDatagram(t *testing.T, c *net.UDPConn) ([]byte, netip.AddrPort, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	return buf[:n], from, err
}

// TestUDPKnock needs no privileges: the knocked port is a socket of the
// test's, which sees the datagram, its payload and its source.
func TestUDPKnock(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ dst, src, wantSrc string }{
		{dst: "127.0.0.1", wantSrc: "127.0.0.1"},
		{dst: "::1", wantSrc: "::1"},
		{dst: "127.0.0.1", src: "127.0.0.2", wantSrc: "127.0.0.2"},
		{dst: "127.0.0.1", src: "::ffff:127.0.0.3", wantSrc: "127.0.0.3"},
	} {
		t.Run(tt.dst+"/"+tt.src, func(t *testing.T) {
			t.Parallel()
			c := listenUDP(t, tt.dst)
			port := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
			var verbose bytes.Buffer
			o := Options{Hosts: []string{tt.dst}, Knocks: []Knock{udp(port)}, Verbose: &verbose}
			if tt.src != "" {
				o.Source = netip.MustParseAddr(tt.src)
			}
			if err := Run(context.Background(), o); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got, from, err := readDatagram(t, c)
			if err != nil {
				t.Fatalf("no datagram: %v", err)
			}
			if !bytes.Equal(got, []byte{0}) {
				t.Errorf("payload = %x, want 00 (knock's one zero byte)", got)
			}
			if from.Addr().Unmap().String() != tt.wantSrc {
				t.Errorf("source = %s, want %s", from.Addr(), tt.wantSrc)
			}
			if want := fmt.Sprintf("hitting udp %s:%d\n", tt.dst, port); verbose.String() != want {
				t.Errorf("verbose (-want +got):\n-%q\n+%q", want, verbose.String())
			}
		})
	}
}

func TestSourceNotLocal(t *testing.T) {
	t.Parallel()
	o := Options{Hosts: []string{"127.0.0.1"}, Knocks: []Knock{tcp(9)}, Source: netip.MustParseAddr("192.0.2.77")}
	err := Run(context.Background(), o)
	var ke *KnockError
	if !errors.As(err, &ke) || !strings.HasPrefix(err.Error(), "failed to knock tcp 127.0.0.1:9: bind 192.0.2.77: ") {
		t.Fatalf("Run error = %v, want a bind failure", err)
	}
}

// TestSeveralHostsOrder checks the order (host by host, the whole sequence
// each) and the verbose lines, with UDP so that no privileges are needed.
func TestSeveralHostsOrder(t *testing.T) {
	t.Parallel()
	a, b := listenUDP(t, "127.0.0.1"), listenUDP(t, "::1")
	pa := a.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	pb := b.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	var verbose bytes.Buffer
	o := Options{
		Hosts:   []string{"127.0.0.1", "::1"},
		Knocks:  []Knock{udp(pa), udp(pb)},
		Verbose: &verbose,
	}
	if err := Run(context.Background(), o); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := fmt.Sprintf("hitting udp 127.0.0.1:%d\nhitting udp 127.0.0.1:%d\nhitting udp ::1:%d\nhitting udp ::1:%d\n", pa, pb, pa, pb)
	if verbose.String() != want {
		t.Errorf("verbose (-want +got):\n-%s\n+%s", want, verbose.String())
	}
	if _, _, err := readDatagram(t, a); err != nil {
		t.Errorf("127.0.0.1:%d got no knock: %v", pa, err)
	}
	if _, _, err := readDatagram(t, b); err != nil {
		t.Errorf("[::1]:%d got no knock: %v", pb, err)
	}
}

// TestDelay checks that the delay separates knocks, across hosts too, and
// is not added after the last one.
func TestDelay(t *testing.T) {
	t.Parallel()
	c4, c6 := listenUDP(t, "127.0.0.1"), listenUDP(t, "::1")
	p4 := c4.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	p6 := c6.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	const d = 7 * time.Millisecond
	tests := []struct {
		name   string
		hosts  []string
		knocks []Knock
		delay  time.Duration
		want   string
	}{
		{"one knock", []string{"127.0.0.1"}, []Knock{udp(p4)}, d, "k"},
		{"three knocks", []string{"127.0.0.1"}, []Knock{udp(p4), udp(p4), udp(p4)}, d, "k.k.k"},
		{"two hosts", []string{"127.0.0.1", "::1"}, []Knock{udp(p4), udp(p6)}, d, "k.k.k.k"},
		{"no delay", []string{"127.0.0.1"}, []Knock{udp(p4), udp(p4)}, 0, "kk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			o := Options{Hosts: tt.hosts, Knocks: tt.knocks, Delay: tt.delay, Verbose: writerFunc(func(p []byte) {
				log.WriteString("k")
			})}
			o.wait = func(_ context.Context, got time.Duration) error {
				if got != d {
					t.Errorf("wait(%v), want %v", got, d)
				}
				log.WriteString(".")
				return nil
			}
			if err := Run(context.Background(), o); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if log.String() != tt.want {
				t.Errorf("knocks (k) and waits (.) = %q, want %q", log.String(), tt.want)
			}
		})
	}
	// And once for real: two delays of 20 ms take at least 40 ms.
	o := Options{Hosts: []string{"127.0.0.1"}, Knocks: []Knock{udp(p4), udp(p4), udp(p4)}, Delay: 20 * time.Millisecond}
	start := time.Now()
	if err := Run(context.Background(), o); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Errorf("3 knocks with a 20ms delay took %v, want at least 40ms", el)
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func TestCancel(t *testing.T) {
	t.Parallel()
	c := listenUDP(t, "127.0.0.1")
	port := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	ctx, cancel := context.WithCancel(context.Background())
	var verbose bytes.Buffer
	o := Options{Hosts: []string{"127.0.0.1"}, Knocks: []Knock{udp(port), udp(port)}, Delay: time.Hour, Verbose: &verbose}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	// The first knock is sent at once; cancel while Run waits to send the second.
	if _, _, err := readDatagram(t, c); err != nil {
		t.Fatalf("first knock: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if n := strings.Count(verbose.String(), "hitting"); n != 1 {
		t.Errorf("%d knocks sent, want 1:\n%s", n, verbose.String())
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var verbose bytes.Buffer
	err := Run(ctx, Options{Hosts: []string{"127.0.0.1"}, Knocks: []Knock{tcp(9)}, Verbose: &verbose})
	if !errors.Is(err, context.Canceled) || verbose.Len() != 0 {
		t.Errorf("Run = %v, verbose %q; want context.Canceled and nothing sent", err, verbose.String())
	}
}

func TestKnockErrorUnwrap(t *testing.T) {
	t.Parallel()
	inner := errors.New("boom")
	err := error(&KnockError{Knock: Knock{Proto: packet.TCP, Port: 7}, Addr: netip.MustParseAddr("::1"), Err: inner})
	if got, want := err.Error(), "failed to knock tcp [::1]:7: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, inner) {
		t.Error("KnockError does not unwrap")
	}
}
