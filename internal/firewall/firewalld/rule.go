package firewalld

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

// A door's rich rule has exactly this form, which is also the text
// firewalld gives back from getRichRules (it normalises the order of the
// elements but keeps the address text as given, so the address must be
// canonical or one door could become two rules):
//
//	rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept
//	rule family="ipv6" source address="2001:db8::2" port port="22" protocol="tcp" accept
//
// The same string is used to add, to remove and to recognise a rule:
// firewalld keys a rule's expiry timer by the exact string it was added
// with, and a removal with a different spelling would leave the old timer
// armed to delete the refreshed rule early.
const (
	rulePrefix   = `rule family="`
	ruleSource   = `" source address="`
	rulePort     = `" port port="`
	ruleProtocol = `" protocol="`
	ruleSuffix   = `" accept`
)

// maxRuleLen bounds what parseRule looks at: the longest rule it accepts
// (a full-length IPv6 address, port 65535) is well under it.
const maxRuleLen = 160

// errNotSesame is parseRule's answer for a rule that is not a door.
var errNotSesame = errors.New("not a sesame rich rule")

// formatRule returns the rich rule that admits src to p. Everything that
// goes into it is checked first, so nothing taken from a packet can add
// rich-rule syntax: the address is a netip.Addr printed canonically
// (never a zone, which could carry arbitrary text), the port a number and
// the protocol one of two words.
func formatRule(src netip.Addr, p firewall.Port) (string, error) {
	family, err := familyOf(src)
	if err != nil {
		return "", err
	}
	proto, err := protoName(p.Proto)
	if err != nil {
		return "", err
	}
	if p.Port == 0 {
		return "", errors.New("port 0 cannot be opened")
	}
	return rulePrefix + family + ruleSource + src.String() + rulePort +
		strconv.Itoa(int(p.Port)) + ruleProtocol + proto + ruleSuffix, nil
}

// parseRule is formatRule's inverse. It accepts only the exact text
// formatRule produces (canonical address, family matching the address,
// port 1-65535 without leading zeros, tcp or udp) and returns errNotSesame
// for anything else, so an administrator's own rich rules are never taken
// for doors: parseRule(s) succeeds exactly when formatRule gives s back.
func parseRule(s string) (firewall.Entry, error) {
	var e firewall.Entry
	if len(s) > maxRuleLen {
		return e, errNotSesame
	}
	rest, ok := strings.CutPrefix(s, rulePrefix)
	if !ok {
		return e, errNotSesame
	}
	family, rest, ok := strings.Cut(rest, ruleSource)
	if !ok {
		return e, errNotSesame
	}
	addr, rest, ok := strings.Cut(rest, rulePort)
	if !ok {
		return e, errNotSesame
	}
	port, rest, ok := strings.Cut(rest, ruleProtocol)
	if !ok {
		return e, errNotSesame
	}
	proto, ok := strings.CutSuffix(rest, ruleSuffix)
	if !ok {
		return e, errNotSesame
	}
	src, err := netip.ParseAddr(addr)
	if err != nil || src.String() != addr {
		return e, errNotSesame
	}
	if f, err := familyOf(src); err != nil || f != family {
		return e, errNotSesame
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != port {
		return e, errNotSesame
	}
	switch proto {
	case "tcp":
		e.Port.Proto = packet.TCP
	case "udp":
		e.Port.Proto = packet.UDP
	default:
		return e, errNotSesame
	}
	e.Src, e.Port.Port = src, uint16(n)
	return e, nil
}

func familyOf(a netip.Addr) (string, error) {
	switch {
	case !a.IsValid():
		return "", errors.New("no source address")
	case a.Zone() != "":
		return "", fmt.Errorf("source address %s has a zone", a)
	case a.Is4():
		return "ipv4", nil
	default:
		// An IPv4-mapped address is an IPv6 source (the packet was
		// IPv6): family ipv6, address ::ffff:a.b.c.d.
		return "ipv6", nil
	}
}

func protoName(p packet.Proto) (string, error) {
	switch p {
	case packet.TCP:
		return "tcp", nil
	case packet.UDP:
		return "udp", nil
	}
	return "", fmt.Errorf("protocol %d is not tcp or udp", uint8(p))
}
