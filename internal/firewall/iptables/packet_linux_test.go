package iptables

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/firewall"
)

// The packet test wires two namespaces with a veth pair: the server
// (198.18.0.1, fd00:5e5a::1) runs the backend and echo servers; the client
// has a knocking address (.2, ::2) and another one (.3, ::3).
const (
	guardedTCP = 2222
	guardedUDP = 5353
	shortWait  = 400 * time.Millisecond // how long a dropped dial is given
)

type addrs struct {
	server, knocker, other netip.Addr
}

var families = []struct {
	name string
	addrs
}{
	{"ipv4", addrs{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")}},
	{"ipv6", addrs{netip.MustParseAddr("fd00:5e5a::1"), netip.MustParseAddr("fd00:5e5a::2"), netip.MustParseAddr("fd00:5e5a::3")}},
}

// wire connects srv and cli with a veth pair and addresses both ends.
func wire(t *testing.T, srv, cli *netNS) {
	t.Helper()
	srv.run(t, "ip", "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", cli.name)
	for _, fam := range families {
		plen := "/24"
		if fam.server.Is6() {
			plen = "/64"
		}
		add := func(ns *netNS, dev string, a netip.Addr) {
			args := []string{"ip", "addr", "add", a.String() + plen, "dev", dev}
			if a.Is6() {
				args = append(args, "nodad")
			}
			ns.run(t, args...)
		}
		add(srv, "vs", fam.server)
		add(cli, "vc", fam.knocker)
		add(cli, "vc", fam.other)
	}
	srv.run(t, "ip", "link", "set", "vs", "up")
	cli.run(t, "ip", "link", "set", "vc", "up")
}

// echoServers listens on the guarded TCP and UDP ports in ns (all
// addresses, both families) and echoes, until cleanup.
func echoServers(t *testing.T, ns *netNS) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	var err error
	ns.do(t, func() {
		if ln, err = net.Listen("tcp", net.JoinHostPort("::", strconv.Itoa(guardedTCP))); err != nil {
			return
		}
		pc, err = net.ListenPacket("udp", net.JoinHostPort("::", strconv.Itoa(guardedUDP)))
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		pc.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); io.Copy(c, c) }()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
}

// dial connects from src (in cli) to the server's guarded TCP port.
func dial(t *testing.T, cli *netNS, src, dst netip.Addr, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var err error
	cli.do(t, func() {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: timeout}
		c, err = d.Dial("tcp", netip.AddrPortFrom(dst, guardedTCP).String())
	})
	return c, err
}

// echo checks that c carries a round trip.
func echo(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo mismatch: " + string(buf))
	}
	return nil
}

// udpEcho sends one datagram from src and reports whether the echo came.
func udpEcho(t *testing.T, cli *netNS, src, dst netip.Addr) bool {
	t.Helper()
	var c *net.UDPConn
	var err error
	cli.do(t, func() {
		c, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, guardedUDP)))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(shortWait))
	if _, err := c.Write([]byte("knock")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	return err == nil && string(buf[:n]) == "knock"
}

// TestPackets sends real packets through the rules: a guarded port is
// closed to new connections until a door opens for the knocking address
// only, closes again when the door expires, and an established connection
// survives the door closing.
func TestPackets(t *testing.T) {
	requireRoot(t)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			srv, cli := newNS(t), newNS(t)
			wire(t, srv, cli)
			echoServers(t, srv)
			ctx := context.Background()

			// The network works before sesame guards the port.
			for _, fam := range families {
				c, err := dial(t, cli, fam.knocker, fam.server, 3*time.Second)
				if err != nil {
					t.Fatalf("%s: before Reconcile: %v", fam.name, err)
				}
				c.Close()
				if !udpEcho(t, cli, fam.knocker, fam.server) {
					t.Fatalf("%s: before Reconcile: no UDP echo", fam.name)
				}
			}

			b := newBackend(t, srv, v)
			if err := b.Reconcile(ctx, []firewall.Port{tcp(guardedTCP), udp(guardedUDP)}); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			closed := func(step string, fam addrs, src netip.Addr) {
				t.Helper()
				if c, err := dial(t, cli, src, fam.server, shortWait); err == nil {
					c.Close()
					t.Errorf("%s: TCP from %s got through", step, src)
				} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					t.Errorf("%s: TCP from %s: %v, want a timeout (dropped)", step, src, err)
				}
				if udpEcho(t, cli, src, fam.server) {
					t.Errorf("%s: UDP from %s got through", step, src)
				}
			}
			for _, fam := range families {
				closed("before Open", fam.addrs, fam.knocker)
			}

			var doors []firewall.Door
			for _, fam := range families {
				doors = append(doors, firewall.Door{Src: fam.knocker, Ports: []firewall.Port{tcp(guardedTCP), udp(guardedUDP)}, Timeout: 3 * time.Second})
			}
			if err := b.Open(ctx, doors); err != nil {
				t.Fatalf("Open: %v", err)
			}
			established := map[string]net.Conn{}
			for _, fam := range families {
				c, err := dial(t, cli, fam.knocker, fam.server, 2*time.Second)
				if err != nil {
					t.Fatalf("%s: after Open: %v", fam.name, err)
				}
				t.Cleanup(func() { c.Close() })
				if err := echo(c, "hello"); err != nil {
					t.Fatalf("%s: after Open: %v", fam.name, err)
				}
				established[fam.name] = c
				if !udpEcho(t, cli, fam.knocker, fam.server) {
					t.Errorf("%s: after Open: no UDP echo", fam.name)
				}
				closed("after Open, another address", fam.addrs, fam.other)
			}

			deadline := time.Now().Add(10 * time.Second)
			for len(list(t, b)) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("doors still open: %v", list(t, b))
				}
				time.Sleep(100 * time.Millisecond)
			}
			for _, fam := range families {
				closed("after the door expired", fam.addrs, fam.knocker)
				if err := echo(established[fam.name], "still here"); err != nil {
					t.Errorf("%s: established connection after the door expired: %v", fam.name, err)
				}
			}
		})
	}
}
