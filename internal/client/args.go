package client

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sesame-knock/sesame/internal/packet"
)

// ParseArgs splits the sesame command's positional arguments into hosts and
// knocks. The arguments before the first port spec are hosts (one or more);
// every argument from the first port spec on is a port spec, in one of two
// forms, told apart by whether the first field is a protocol name:
//
//	PORT[:PROTO]         knock's form: 7000, 7000:tcp, 8000:udp
//	PROTO:PORT[:FLAGS]   tportknockd's frame form: tcp:7000, udp:8000
//
// A port without a protocol uses defaultProto (TCP, or UDP for -u).
// Protocol names are tcp and udp, in any case. A TCP frame may have
// tportknockd's flags (tcp:110:up): any of f s r p a u (FIN SYN RST PSH ACK
// URG), x (all six) or n (none) make a raw TCP flag knock; i (the daemon
// ignores the flags) is a plain SYN knock, like tcp:110.
//
// An IP literal (2001:db8::1, [2001:db8::1], fe80::1%eth0) is a host,
// never a port spec; a host name has no colons.
func ParseArgs(args []string, defaultProto packet.Proto) (hosts []string, knocks []Knock, err error) {
	if defaultProto != packet.TCP && defaultProto != packet.UDP {
		return nil, nil, fmt.Errorf("invalid default protocol %s", defaultProto)
	}
	for _, arg := range args {
		if !isPortSpec(arg) {
			if len(knocks) > 0 {
				return nil, nil, fmt.Errorf("unexpected %q after the ports: hosts come first, then ports", arg)
			}
			if arg == "" {
				return nil, nil, fmt.Errorf("empty host name")
			}
			hosts = append(hosts, arg)
			continue
		}
		k, err := parseSpec(arg, defaultProto)
		if err != nil {
			return nil, nil, err
		}
		if len(hosts) == 0 {
			return nil, nil, fmt.Errorf("missing host before port %q", arg)
		}
		knocks = append(knocks, k)
	}
	switch {
	case len(hosts) == 0:
		return nil, nil, fmt.Errorf("missing host and ports")
	case len(knocks) == 0:
		return nil, nil, fmt.Errorf("no ports to knock after host %q", hosts[len(hosts)-1])
	}
	return hosts, knocks, nil
}

// isPortSpec reports whether arg is meant as a port spec (valid or not)
// rather than a host. Host names have no colons and IP literals parse as
// addresses, so anything else with a colon is a port spec, and so is a
// plain number.
func isPortSpec(arg string) bool {
	if !strings.Contains(arg, ":") {
		return allDigits(arg)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(arg, "["), "]")
	_, err := netip.ParseAddr(name)
	return err != nil
}

func parseSpec(arg string, defaultProto packet.Proto) (Knock, error) {
	f := strings.Split(arg, ":")
	if p, ok := protoByName(f[0]); ok && len(f) >= 2 {
		// tportknockd's frame: PROTO:PORT[:FLAGS]
		port, err := parsePort(f[1], arg)
		if err != nil {
			return Knock{}, err
		}
		if len(f) > 3 {
			return Knock{}, fmt.Errorf("invalid port spec %q: want PROTO:PORT[:FLAGS], like tcp:110:up", arg)
		}
		if len(f) == 3 {
			if p != packet.TCP {
				return Knock{}, fmt.Errorf("invalid port spec %q: flags are for tcp frames only", arg)
			}
			if f[2] == "" {
				return Knock{}, fmt.Errorf("invalid port spec %q: empty flags (drop the last colon for a plain knock)", arg)
			}
			return parseFlags(f[2], arg, port)
		}
		return Knock{Proto: p, Port: port}, nil
	}
	if len(f) > 2 || !allDigits(f[0]) && f[0] != "" {
		return Knock{}, fmt.Errorf("invalid port spec %q: want PORT[:tcp|udp] or tcp|udp:PORT[:FLAGS], each its own argument", arg)
	}
	port, err := parsePort(f[0], arg)
	if err != nil {
		return Knock{}, err
	}
	if len(f) == 1 {
		return Knock{Proto: defaultProto, Port: port}, nil
	}
	p, ok := protoByName(f[1])
	if !ok {
		return Knock{}, fmt.Errorf("invalid protocol %q in %q: want tcp or udp", f[1], arg)
	}
	return Knock{Proto: p, Port: port}, nil
}

func parsePort(s, arg string) (uint16, error) {
	if s == "" || !allDigits(s) {
		return 0, fmt.Errorf("invalid port %q in %q: want a number from 1 to 65535", s, arg)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %s in %q is out of range: want 1 to 65535", s, arg)
	}
	return uint16(n), nil
}

func protoByName(s string) (packet.Proto, bool) {
	switch strings.ToLower(s) {
	case "tcp":
		return packet.TCP, true
	case "udp":
		return packet.UDP, true
	}
	return 0, false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsPortSpec reports whether ParseArgs takes arg for a port spec (valid or
// not) rather than a host.
func IsPortSpec(arg string) bool { return isPortSpec(arg) }
