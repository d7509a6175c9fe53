//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Knock is one element of a sequence.
type Knock struct {
	Port  uint16
	Proto string // "tcp" or "udp"
}

// ParseKnocks reads knockd's sequence syntax: "7000,8000:udp,9000".
func ParseKnocks(s string) ([]Knock, error) {
	var ks []Knock
	for _, f := range strings.Split(s, ",") {
		port, proto, _ := strings.Cut(strings.TrimSpace(f), ":")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || (proto != "tcp" && proto != "udp") {
			return nil, fmt.Errorf("bad knock %q", f)
		}
		ks = append(ks, Knock{Port: uint16(n), Proto: proto})
	}
	return ks, nil
}

// Args renders knocks as knock(1)/sesame command-line arguments ("7000:tcp").
func Args(ks []Knock) []string {
	var a []string
	for _, k := range ks {
		a = append(a, fmt.Sprintf("%d:%s", k.Port, k.Proto))
	}
	return a
}

// KnockFrom is a reference knock client that needs no program: for each
// element, in order, and for each source in srcs (interleaved, as if every
// source knocked at once), it sends one TCP SYN (a non-blocking connect that
// is closed at once, as knock(1) does) or one UDP datagram. An invalid
// source (netip.Addr{}) lets the kernel choose. It is the yardstick for the
// harness itself: if a daemon opens for it, the lab works.
func (ns *Netns) KnockFrom(srcs []netip.Addr, dst netip.Addr, seq []Knock, delay time.Duration) error {
	return ns.Do(func() error {
		for i, k := range seq {
			if i > 0 && delay > 0 {
				time.Sleep(delay)
			}
			for _, src := range srcs {
				if err := hit(src, netip.AddrPortFrom(dst, k.Port), k.Proto); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ScanTCP sends one SYN to every port from first to last, in order, from src
// (invalid: any) to dst, as a sequential port scan does, and returns how many
// it sent. It is bounded by deadline: it stops there with ErrTimeout.
func (ns *Netns) ScanTCP(src, dst netip.Addr, first, last uint16, deadline time.Time) (int, error) {
	sent := 0
	err := ns.Do(func() error {
		for p := int(first); p <= int(last); p++ {
			if p%1024 == 0 && time.Now().After(deadline) {
				return fmt.Errorf("scan stopped at port %d: %w", p, ErrTimeout)
			}
			if err := hit(src, netip.AddrPortFrom(dst, uint16(p)), "tcp"); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	return sent, err
}

// hit sends one knock packet on the calling thread.
func hit(src netip.Addr, dst netip.AddrPort, proto string) error {
	family := unix.AF_INET
	if dst.Addr().Is6() {
		family = unix.AF_INET6
	}
	typ := unix.SOCK_STREAM
	if proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if src.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(src, 0))); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
	}
	if proto == "udp" {
		if err := unix.Sendto(fd, []byte("knock\n"), 0, sockaddr(dst)); err != nil {
			return fmt.Errorf("send to %s/udp: %w", dst, err)
		}
		return nil
	}
	// The SYN leaves during connect(); closing the socket in SYN_SENT sends
	// nothing more, so this is exactly one packet.
	if err := unix.Connect(fd, sockaddr(dst)); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return fmt.Errorf("connect %s/tcp: %w", dst, err)
	}
	return nil
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}
