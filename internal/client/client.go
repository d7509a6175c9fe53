// Package client sends port knocks: the sesame command's engine.
//
// A knock is one packet, nothing more. A knock daemon (knockd, sesamed)
// watches for the first packet of a connection attempt, so anything the
// client sends after it is at best noise and at worst a failed sequence:
// sesamed treats a second packet to another port as a wrong step, and a
// retransmitted SYN that arrives after the next knock breaks the order.
//
// So a TCP knock is exactly one SYN. The client opens a non-blocking
// socket, starts a connect (which puts the SYN on the wire and returns
// EINPROGRESS, or WSAEWOULDBLOCK on Windows) and closes the socket at
// once. A socket closed in SYN_SENT has no peer to reset, so the kernel
// sends no RST and, the socket being gone, never retransmits the SYN. No
// root or CAP_NET_RAW is needed, unlike a raw-socket knock. If the door's
// port happens to be open, the server's SYN-ACK meets no socket and the
// kernel answers it with a RST, as it does for any stray segment.
//
// A UDP knock is exactly one datagram whose payload is a single zero byte,
// as knockd's knock client sends it (an empty string sent with length 1).
//
// A raw TCP flag knock (tportknockd's tcp:110:up) is exactly one TCP
// segment with exactly the frame's flags, built here and sent from a raw
// socket, which needs root or CAP_NET_RAW (see flags.go). Run opens a raw
// socket of each family it needs before it sends anything, so that a
// missing privilege stops a sequence before its first knock, not half-way.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Knock is one element of a sequence: a protocol and a destination port,
// and for a raw TCP flag knock the flags of its segment.
type Knock struct {
	Proto packet.Proto
	Port  uint16
	// Raw marks a raw TCP flag knock: one segment with exactly Flags (none
	// for a NULL segment), sent from a raw socket. Proto is then TCP.
	Raw   bool
	Flags packet.TCPFlags
}

// String gives the knock in knock's command-line form, "7000:tcp", or a
// raw knock in tportknockd's frame form, "tcp:110:up".
func (k Knock) String() string {
	if k.Raw {
		return fmt.Sprintf("%s:%d:%s", k.Proto, k.Port, flagString(k.Flags))
	}
	return fmt.Sprintf("%d:%s", k.Port, k.Proto)
}

// flagsSuffix is " (flags UP)" for a raw knock, "" for others: what -v
// and errors add to "tcp 198.51.100.7:110".
func (k Knock) flagsSuffix() string {
	if !k.Raw {
		return ""
	}
	return " (flags " + flagDisplay(k.Flags) + ")"
}

// Options says what to knock, where and how.
type Options struct {
	// Hosts are names or literal addresses ("server.example.com",
	// "198.51.100.7", "2001:db8::7", "[2001:db8::7]", "fe80::1%eth0").
	Hosts []string
	// Knocks is the sequence every host receives, in order.
	Knocks []Knock
	// Sequence, when not nil, gives the knocks instead of Knocks: a
	// one-time, TOTP or cipher sequence, asked for each host's knocks
	// just before they are sent.
	Sequence Sequence
	// Delay is the pause between two consecutive knocks (also between the
	// last knock to one host and the first to the next), never after the
	// last one. Zero sends as fast as the sockets allow.
	Delay time.Duration
	// Family restricts name resolution: 0 any, 4 IPv4 only, 6 IPv6 only.
	Family int
	// Source, when valid, is the local address the knocks are sent from
	// (for multi-homed hosts, and for tests). It must belong to this host,
	// and only hosts with an address of its family can be knocked.
	Source netip.Addr
	// Verbose, when not nil, receives one line per knock, just before it is
	// sent, in knock's -v format: "hitting tcp 198.51.100.7:7000", and for
	// a raw TCP flag knock "hitting tcp 198.51.100.7:110 (flags UP)".
	Verbose io.Writer

	wait func(context.Context, time.Duration) error // tests record delays
	now  func() time.Time                           // tests set the clock
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// payload is the content of a UDP knock: one zero byte, as knockd's knock
// client sends.
var payload = []byte{0}

// Run knocks: every host in o.Hosts, in the order given, receives the whole
// sequence o.Knocks before the next host receives any of it. All hosts are
// resolved first, once each, so a typo in the last host name stops the run
// before anything is sent. Run stops at the first knock that cannot be
// sent, and when ctx is done (also during a delay), returning ctx's error.
//
// With o.Sequence, each host's knocks come from o.Sequence.Next, and
// o.Sequence.Sent is called at the end if some host received its whole
// sequence (a one-time sequence is then used up, whatever became of the
// other hosts).
func Run(ctx context.Context, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	dsts := make([]netip.Addr, len(o.Hosts))
	for i, h := range o.Hosts {
		a, err := resolve(ctx, h, o.Family, o.Source)
		if err != nil {
			return err
		}
		dsts[i] = a
	}
	if hasRaw(o.Knocks) {
		if err := checkRaw(dsts); err != nil {
			return err
		}
	}
	complete, err := o.knock(ctx, dsts)
	if o.Sequence != nil && complete > 0 {
		note, serr := o.Sequence.Sent()
		if serr != nil {
			return errors.Join(err, serr)
		}
		if note != "" && o.Verbose != nil {
			fmt.Fprintln(o.Verbose, note)
		}
	}
	return err
}

// knock sends the knocks to every host in turn, and reports how many hosts
// received their whole sequence.
func (o *Options) knock(ctx context.Context, dsts []netip.Addr) (complete int, err error) {
	wait := o.wait
	if wait == nil {
		wait = sleep
	}
	now := o.now
	if now == nil {
		now = time.Now
	}
	first := true
	for _, dst := range dsts {
		knocks := o.Knocks
		if o.Sequence != nil {
			if err := ctx.Err(); err != nil {
				return complete, err
			}
			ks, note, err := o.Sequence.Next(ctx, now())
			if err != nil {
				return complete, err
			}
			if len(ks) == 0 {
				return complete, errors.New("the sequence source gave no knocks")
			}
			if err := checkKnocks(ks); err != nil {
				return complete, err
			}
			if note != "" && o.Verbose != nil {
				fmt.Fprintln(o.Verbose, note)
			}
			knocks = ks
		}
		for _, k := range knocks {
			if err := ctx.Err(); err != nil {
				return complete, err
			}
			if !first && o.Delay > 0 {
				if err := wait(ctx, o.Delay); err != nil {
					return complete, err
				}
			}
			first = false
			if o.Verbose != nil {
				// knock prints the address as getnameinfo gives it:
				// IPv6 without brackets ("hitting tcp ::1:7000").
				fmt.Fprintf(o.Verbose, "hitting %s %s:%d%s\n", k.Proto, dst, k.Port, k.flagsSuffix())
			}
			to := netip.AddrPortFrom(dst, k.Port)
			var err error
			if k.Raw {
				err = sendRaw(k.Flags, to, o.Source)
			} else {
				err = send(k, to, o.Source)
			}
			if err != nil {
				return complete, &KnockError{Knock: k, Addr: dst, Err: err}
			}
		}
		complete++
	}
	return complete, nil
}

// KnockError is a knock that could not be sent.
type KnockError struct {
	Knock Knock
	Addr  netip.Addr
	Err   error
}

func (e *KnockError) Error() string {
	return fmt.Sprintf("failed to knock %s %s%s: %v", e.Knock.Proto,
		netip.AddrPortFrom(e.Addr, e.Knock.Port), e.Knock.flagsSuffix(), e.Err)
}

func (e *KnockError) Unwrap() error { return e.Err }

func (o *Options) check() error {
	if len(o.Hosts) == 0 {
		return errors.New("no host to knock")
	}
	switch {
	case o.Sequence != nil && len(o.Knocks) > 0:
		return errors.New("both knocks and a sequence source given, expected one")
	case o.Sequence == nil && len(o.Knocks) == 0:
		return errors.New("no ports to knock")
	}
	if err := checkKnocks(o.Knocks); err != nil {
		return err
	}
	if o.Delay < 0 {
		return errors.New("delay cannot be negative")
	}
	switch o.Family {
	case 0, 4, 6:
	default:
		return fmt.Errorf("invalid address family %d: want 0, 4 or 6", o.Family)
	}
	if s := o.Source; s.IsValid() {
		s = s.Unmap()
		if (o.Family == 4 && !s.Is4()) || (o.Family == 6 && !s.Is6()) {
			return fmt.Errorf("source address %s is not IPv%d", s, o.Family)
		}
		if s.IsUnspecified() {
			return fmt.Errorf("source address %s is unspecified: name one of this host's addresses", s)
		}
		o.Source = s
	}
	return nil
}

func checkKnocks(ks []Knock) error {
	for _, k := range ks {
		if k.Port == 0 {
			return fmt.Errorf("invalid knock %s: port 0", k)
		}
		if k.Proto != packet.TCP && k.Proto != packet.UDP {
			return fmt.Errorf("invalid knock %s: only tcp and udp knocks are supported", k)
		}
		if k.Raw && k.Proto != packet.TCP {
			return fmt.Errorf("invalid knock %s: flags are for tcp knocks only", k)
		}
		if k.Flags&^packet.AllFlags != 0 || !k.Raw && k.Flags != 0 {
			return fmt.Errorf("invalid knock %s: flags %#x are not a raw knock's FIN SYN RST PSH ACK URG", k, uint8(k.Flags))
		}
	}
	return nil
}

// resolve turns a host into the one address its knocks go to: the first
// address of the wanted family, in the resolver's order (the system's
// address selection when it answers through getaddrinfo, RFC 6724 in Go's
// own resolver), as knock takes getaddrinfo's first answer.
func resolve(ctx context.Context, host string, family int, src netip.Addr) (netip.Addr, error) {
	return resolveWith(ctx, net.DefaultResolver.LookupNetIP, host, family, src)
}

type lookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

func resolveWith(ctx context.Context, lookup lookupFunc, host string, family int, src netip.Addr) (netip.Addr, error) {
	name := host
	if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		name = name[1 : len(name)-1]
	}
	if src.IsValid() && family == 0 {
		family = 4
		if src.Is6() {
			family = 6
		}
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(name); err == nil {
		addrs = []netip.Addr{a}
	} else {
		network := "ip"
		switch family {
		case 4:
			network = "ip4"
		case 6:
			network = "ip6"
		}
		addrs, err = lookup(ctx, network, name)
		if err != nil {
			if ctx.Err() != nil {
				return netip.Addr{}, ctx.Err()
			}
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				return netip.Addr{}, fmt.Errorf("failed to resolve %q: no such host", host)
			}
			return netip.Addr{}, fmt.Errorf("failed to resolve %q: %w", host, err)
		}
	}
	for _, a := range addrs {
		a = a.Unmap()
		if (family == 4 && !a.Is4()) || (family == 6 && !a.Is6()) {
			continue
		}
		if a.IsUnspecified() {
			return netip.Addr{}, fmt.Errorf("cannot knock %q: %s is the unspecified address", host, a)
		}
		return a, nil
	}
	if family == 0 {
		return netip.Addr{}, fmt.Errorf("host %q has no address", host)
	}
	why := fmt.Sprintf("IPv%d", family)
	if src.IsValid() {
		why += " (the family of source address " + src.String() + ")"
	}
	return netip.Addr{}, fmt.Errorf("host %q has no %s address", host, why)
}
