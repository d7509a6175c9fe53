package iptables

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

// Config configures the backend.
type Config struct {
	// IPv6 also manages ip6tables and the IPv6 set (the daemon's default
	// is true).
	IPv6 bool
	// Path4 and Path6 name the iptables and ip6tables binaries (for
	// example iptables-legacy); empty means go-iptables' lookup of
	// "iptables" and "ip6tables" in $PATH.
	Path4, Path6 string
	// NetNSFd, if not 0, is an open file descriptor of the network
	// namespace to work in (tests); 0 is the current namespace. The
	// backend does not close it.
	NetNSFd int
}

const (
	backendName = "iptables"
	table       = "filter"
	inputChain  = "INPUT"
	// Chain is sesame's chain in table filter.
	Chain = "SESAME"
	// stageChain holds the new rules while Reconcile builds them.
	stageChain = "SESAME-NEW"
	// Set4 and Set6 are the ipsets of open doors.
	Set4 = "sesame_v4"
	Set6 = "sesame_v6"
	// setType is the ipset type of both sets: one entry per
	// (source, protocol:port).
	setType = "hash:ip,port"
	// defaultSetTimeout is the sets' default timeout in seconds. Every
	// entry sesame adds carries its own; the default only makes the set
	// a set with timeouts.
	defaultSetTimeout = 30
	// maxEntryTimeout is the largest timeout ipset keeps (seconds,
	// UINT_MAX/1000 in the kernel).
	maxEntryTimeout = 4294967
	// multiportMax is the most ports one multiport match takes.
	multiportMax = 15
)

// normalize checks the guarded ports and returns them sorted by protocol
// then port, without duplicates.
func normalize(guarded []firewall.Port) ([]firewall.Port, error) {
	out := make([]firewall.Port, 0, len(guarded))
	for _, p := range guarded {
		if p.Proto != packet.TCP && p.Proto != packet.UDP {
			return nil, fmt.Errorf("cannot guard %s: only tcp and udp ports can be guarded", p)
		}
		if p.Port == 0 {
			return nil, fmt.Errorf("cannot guard %s: port 0", p)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b firewall.Port) int {
		if a.Proto != b.Proto {
			return int(a.Proto) - int(b.Proto)
		}
		return int(a.Port) - int(b.Port)
	})
	return slices.Compact(out), nil
}

// chainRules returns SESAME's rules (without "-A CHAIN") for the guarded
// ports, which must be normalized, with doors in the ipset named set.
func chainRules(set string, guarded []firewall.Port) [][]string {
	var rules [][]string
	for _, proto := range []packet.Proto{packet.TCP, packet.UDP} {
		var ports []string
		for _, p := range guarded {
			if p.Proto == proto {
				ports = append(ports, strconv.Itoa(int(p.Port)))
			}
		}
		for chunk := range slices.Chunk(ports, multiportMax) {
			match := []string{"-p", proto.String(), "-m", "multiport", "--dports", strings.Join(chunk, ",")}
			rule := func(tail ...string) []string {
				return append(slices.Clone(match), tail...)
			}
			rules = append(rules, rule("-m", "set", "--match-set", set, "src,dst", "-j", "ACCEPT"))
			if proto == packet.TCP {
				rules = append(rules, rule("-m", "tcp", "--tcp-flags", "SYN,ACK", "SYN", "-j", "DROP"))
			}
			rules = append(rules,
				rule("-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"),
				rule("-j", "DROP"))
		}
	}
	return rules
}

// jumpsTo returns how many rules of "iptables -S INPUT" output are the
// plain jump "-A INPUT -j chain", how many other rules jump to chain, and
// whether the first rule of INPUT is the plain jump.
func jumpsTo(listing []string, chain string) (plain, other int, first bool) {
	rule := 0
	for _, line := range listing {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" {
			continue
		}
		rule++
		n := len(f)
		if n < 2 || f[n-2] != "-j" && f[n-2] != "-g" || f[n-1] != chain {
			continue
		}
		if n == 4 && f[2] == "-j" {
			plain++
			if rule == 1 {
				first = true
			}
		} else {
			other++
		}
	}
	return plain, other, first
}

// timeoutSeconds turns a door's timeout into ipset's whole seconds,
// rounding up. A zero timeout is refused: in ipset it means "never
// expires", the opposite of a door.
func timeoutSeconds(d firewall.Door) (uint32, error) {
	if d.Timeout <= 0 {
		return 0, fmt.Errorf("door for %s has no timeout (%v)", d.Src, d.Timeout)
	}
	s := (d.Timeout.Nanoseconds() + 1e9 - 1) / 1e9
	if s > maxEntryTimeout {
		s = maxEntryTimeout
	}
	return uint32(s), nil
}
