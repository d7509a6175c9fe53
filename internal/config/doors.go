package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Native door directives (sesame's additions to a knockd.conf event):
//
//	Open           = tcp:22,udp:1194   the ports the door admits the knocker to
//	Open_Timeout   = 30                how long, in seconds (default 30)
//	Firewall       = nftables          or iptables, firewalld (default: nftables where available)
//	Nft_Table      = inet filter       nftables set mode: sesame's sets live in this table of yours
//	Firewalld_Zone = public            the firewalld zone (default: firewalld's default zone)

// ParsePorts reads an Open list: proto:port items separated by commas.
// knockd's order (port:proto) and a bare port (TCP) are accepted too.
func ParsePorts(s string) ([]Port, error) {
	s = cutTrailingComment(trimBlank(s))
	if s == "" {
		return nil, errors.New("empty port list, expected proto:port,... e.g. tcp:22,udp:1194")
	}
	var ports []Port
	seen := map[Port]bool{}
	for i, item := range strings.Split(s, ",") {
		p, err := parseOpenPort(trimBlank(item))
		if err != nil {
			return nil, fmt.Errorf("item %d %q: %v", i+1, trimBlank(item), err)
		}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

func parseOpenPort(item string) (Port, error) {
	if item == "" {
		return Port{}, errors.New("empty item (a doubled or trailing comma?), expected proto:port")
	}
	fields := strings.Split(item, ":")
	var protoText, portText string
	switch len(fields) {
	case 1:
		protoText, portText = "tcp", fields[0]
	case 2:
		protoText, portText = fields[0], fields[1]
		if _, err := ParsePort(trimBlank(fields[0])); err == nil {
			protoText, portText = fields[1], fields[0] // knockd's port:proto
		}
	default:
		return Port{}, errors.New("too many ':' fields, expected proto:port")
	}
	port, err := ParsePort(trimBlank(portText))
	if err != nil {
		return Port{}, err
	}
	switch p := trimBlank(protoText); strings.ToLower(p) {
	case "tcp":
		return Port{Proto: packet.TCP, Port: port}, nil
	case "udp":
		return Port{Proto: packet.UDP, Port: port}, nil
	default:
		return Port{}, fmt.Errorf("unknown protocol %q, expected tcp or udp", p)
	}
}

// FormatPorts writes ports as Open reads them: tcp:22,udp:1194.
func FormatPorts(ports []Port) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func setOpen(_ *knockdParser, ev *eventState, _ int, v string) string {
	ports, err := ParsePorts(v)
	if err != nil {
		return "bad Open: " + err.Error()
	}
	ev.Open = ports
	return ""
}

func setFirewall(_ *knockdParser, ev *eventState, _ int, v string) string {
	switch f := strings.ToLower(cutTrailingComment(v)); f {
	case FirewallNftables, FirewallIptables, FirewallFirewalld:
		ev.Firewall = f
		return ""
	}
	return fmt.Sprintf("Firewall %q, expected nftables, iptables or firewalld", v)
}

func setNftTable(_ *knockdParser, ev *eventState, _ int, v string) string {
	fields := strings.Fields(cutTrailingComment(v))
	if len(fields) != 2 {
		return fmt.Sprintf("Nft_Table %q, expected a family and a table name, e.g. \"inet filter\"", v)
	}
	switch fields[0] {
	case "inet", "ip", "ip6":
	default:
		return fmt.Sprintf("Nft_Table family %q, expected inet, ip or ip6", fields[0])
	}
	if !validName(fields[1]) {
		return fmt.Sprintf("Nft_Table name %q, expected letters, digits, '_', '-' or '.'", fields[1])
	}
	ev.NftTable = fields[0] + " " + fields[1]
	return ""
}

func setFirewalldZone(_ *knockdParser, ev *eventState, _ int, v string) string {
	z := cutTrailingComment(v)
	if !validName(z) {
		return fmt.Sprintf("Firewalld_Zone %q, expected a zone name (letters, digits, '_', '-')", v)
	}
	ev.FirewalldZone = z
	return ""
}

// validName accepts the characters nftables and firewalld allow in names.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// checkDoor validates the native door directives of a finished event and
// fills in the default timeout.
func (p *knockdParser) checkDoor(ev *eventState) {
	if len(ev.Open) == 0 {
		for _, d := range []string{"Open_Timeout", "Firewall", "Nft_Table", "Firewalld_Zone"} {
			if line, ok := ev.seen[d]; ok {
				p.errorf(line, "%s without Open in event [%s], expected Open = proto:port,... (e.g. tcp:22)", d, ev.Name)
			}
		}
		return
	}
	if ev.OpenTimeout == 0 {
		ev.OpenTimeout = DefaultOpenTimeout
	}
	if line, ok := ev.seen["Nft_Table"]; ok && ev.Firewall != "" && ev.Firewall != FirewallNftables {
		p.errorf(line, "Nft_Table is for Firewall = nftables, not %s", ev.Firewall)
	}
	if line, ok := ev.seen["Firewalld_Zone"]; ok && ev.Firewall != FirewallFirewalld {
		p.errorf(line, "Firewalld_Zone needs Firewall = firewalld")
	}
}
