//go:build linux

package nftables

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

// Addresses live only on the veth pair between two test namespaces.
var (
	server4 = netip.MustParseAddr("198.19.77.1")
	peer4   = netip.MustParseAddr("198.19.77.2")
	server6 = netip.MustParseAddr("fd00:5e5b::1")
	peer6   = netip.MustParseAddr("fd00:5e5b::2")
)

const echoPort = 2022

// lab is a server namespace and a client namespace joined by a veth pair.
func newLab(t *testing.T) (srv, cli *netns) {
	srv, cli = newNetns(t), newNetns(t)
	srv.run(t, "ip", "link", "add", "sv0", "type", "veth", "peer", "name", "cv0", "netns", cli.name)
	for _, x := range []struct {
		ns     *netns
		dev    string
		v4, v6 netip.Addr
	}{{srv, "sv0", server4, server6}, {cli, "cv0", peer4, peer6}} {
		x.ns.run(t, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		x.ns.run(t, "ip", "addr", "add", x.v4.String()+"/24", "dev", x.dev)
		x.ns.run(t, "ip", "addr", "add", x.v6.String()+"/64", "dev", x.dev, "nodad")
		x.ns.run(t, "ip", "link", "set", x.dev, "up")
	}
	return srv, cli
}

// echo listens on [::]:echoPort in ns (IPv4 and IPv6) and echoes.
func echo(t *testing.T, ns *netns) {
	var ln net.Listener
	if err := ns.do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf("[::]:%d", echoPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

// dial connects from ns, with a short timeout (a dropped SYN is a timeout).
func dial(ns *netns, dst netip.Addr, localPort int) (net.Conn, error) {
	var c net.Conn
	err := ns.do(func() (err error) {
		d := net.Dialer{Timeout: 700 * time.Millisecond}
		if localPort != 0 {
			d.LocalAddr = &net.TCPAddr{Port: localPort}
		}
		c, err = d.Dial("tcp", netip.AddrPortFrom(dst, echoPort).String())
		return err
	})
	return c, err
}

func roundTrip(c net.Conn) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping\n" {
		return fmt.Errorf("echo returned %q", buf)
	}
	return nil
}

func TestRootPackets(t *testing.T) {
	srv, cli := newLab(t)
	b := newRoot(t, srv, Config{})
	port := firewall.Port{Proto: packet.TCP, Port: echoPort}
	if err := b.Reconcile(ctx, []firewall.Port{port}); err != nil {
		t.Fatal(err)
	}
	echo(t, srv)

	for _, dst := range []netip.Addr{server4, server6} {
		if c, err := dial(cli, dst, 0); err == nil {
			c.Close()
			t.Fatalf("connect to %s before the door opened succeeded", dst)
		}
	}

	mustOpen(t, b, firewall.Door{Src: peer4, Ports: []firewall.Port{port}, Timeout: 2 * time.Second},
		firewall.Door{Src: peer6, Ports: []firewall.Port{port}, Timeout: 2 * time.Second})
	var conns []net.Conn
	for _, dst := range []netip.Addr{server4, server6} {
		c, err := dial(cli, dst, 0)
		if err != nil {
			t.Fatalf("connect to %s with the door open: %v", dst, err)
		}
		defer c.Close()
		if err := roundTrip(c); err != nil {
			t.Fatalf("%s: %v", dst, err)
		}
		conns = append(conns, c)
	}

	// Wait (bounded) for the kernel to close the doors.
	start := time.Now()
	for len(mustList(t, b)) > 0 {
		if time.Since(start) > 6*time.Second {
			t.Fatal("doors still open 6 s after a 2 s timeout")
		}
		time.Sleep(100 * time.Millisecond)
	}

	for i, dst := range []netip.Addr{server4, server6} {
		if c, err := dial(cli, dst, 0); err == nil {
			c.Close()
			t.Errorf("new connect to %s after the door closed succeeded", dst)
		}
		if err := roundTrip(conns[i]); err != nil {
			t.Errorf("established connection to %s broke when the door closed: %v", dst, err)
		}
	}

	// A SYN reusing the tuple of a connection that conntrack still holds
	// as established (its RST never reached the server: the client's own
	// firewall dropped it) must not pass as "established". A counter in
	// a chain after sesame's counts the SYNs that got through.
	srv.nftLoad(t, fmt.Sprintf(`table inet probe {
	chain after {
		type filter hook input priority filter + 10; policy accept;
		tcp dport %d tcp flags syn / syn,ack counter
	}
}
`, echoPort))
	cli.nftLoad(t, fmt.Sprintf(`table inet quiet {
	chain out {
		type filter hook output priority filter; policy accept;
		tcp dport %d tcp flags rst drop
	}
}
`, echoPort))
	c := conns[0].(*net.TCPConn)
	lport := c.LocalAddr().(*net.TCPAddr).Port
	c.SetLinger(0) // close with an RST, which the client's rule drops
	c.Close()
	if c, err := dial(cli, server4, lport); err == nil {
		c.Close()
		t.Errorf("connect from the reset connection's port %d succeeded without a door", lport)
	}
	out := srv.run(t, "nft", "list", "chain", "inet", "probe", "after")
	if !strings.Contains(out, "counter packets 0 ") {
		t.Errorf("a SYN reusing an established tuple passed sesame's chain:\n%s\nconntrack: %s", out, srv.run(t, "cat", "/proc/net/nf_conntrack"))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.ETIMEDOUT)
}
