package client

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sesame-knock/sesame/internal/packet"
)

func tcp(p uint16) Knock { return Knock{Proto: packet.TCP, Port: p} }
func udp(p uint16) Knock { return Knock{Proto: packet.UDP, Port: p} }

func TestParseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		proto      packet.Proto
		wantHosts  []string
		wantKnocks []Knock
	}{
		{"knock form", []string{"srv", "7000", "8000", "9000"}, packet.TCP,
			[]string{"srv"}, []Knock{tcp(7000), tcp(8000), tcp(9000)}},
		{"knock form protos", []string{"myserver.example.com", "123:tcp", "456:udp", "789:tcp"}, packet.TCP,
			[]string{"myserver.example.com"}, []Knock{tcp(123), udp(456), tcp(789)}},
		{"-u default", []string{"srv", "8284", "4721:tcp", "18592"}, packet.UDP,
			[]string{"srv"}, []Knock{udp(8284), tcp(4721), udp(18592)}},
		{"frame form", []string{"srv", "tcp:7000", "udp:8000"}, packet.TCP,
			[]string{"srv"}, []Knock{tcp(7000), udp(8000)}},
		{"frame form ignores -u", []string{"srv", "tcp:7000"}, packet.UDP,
			[]string{"srv"}, []Knock{tcp(7000)}},
		{"forms mixed", []string{"srv", "tcp:1", "2:udp", "3"}, packet.TCP,
			[]string{"srv"}, []Knock{tcp(1), udp(2), tcp(3)}},
		{"proto case", []string{"srv", "UDP:1", "2:Tcp"}, packet.TCP,
			[]string{"srv"}, []Knock{udp(1), tcp(2)}},
		{"several hosts", []string{"h1", "h2", "7000", "8000", "9000"}, packet.TCP,
			[]string{"h1", "h2"}, []Knock{tcp(7000), tcp(8000), tcp(9000)}},
		{"port bounds", []string{"srv", "1", "65535:udp"}, packet.TCP,
			[]string{"srv"}, []Knock{tcp(1), udp(65535)}},
		{"leading zeros", []string{"srv", "007000"}, packet.TCP,
			[]string{"srv"}, []Knock{tcp(7000)}},
		{"ipv4 literal", []string{"198.51.100.7", "7000"}, packet.TCP,
			[]string{"198.51.100.7"}, []Knock{tcp(7000)}},
		{"ipv6 literals", []string{"::1", "2001:db8::1", "1::", "[2001:db8::2]", "fe80::1%eth0", "7000:udp"}, packet.TCP,
			[]string{"::1", "2001:db8::1", "1::", "[2001:db8::2]", "fe80::1%eth0"}, []Knock{udp(7000)}},
		{"v4-mapped literal", []string{"::ffff:127.0.0.1", "tcp:7"}, packet.TCP,
			[]string{"::ffff:127.0.0.1"}, []Knock{tcp(7)}},
		{"host named like a proto", []string{"tcp", "udp", "7"}, packet.TCP,
			[]string{"tcp", "udp"}, []Knock{tcp(7)}},
		{"repeated port", []string{"srv", "7", "7"}, packet.TCP,
			[]string{"srv"}, []Knock{tcp(7), tcp(7)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hosts, knocks, err := ParseArgs(tt.args, tt.proto)
			if err != nil {
				t.Fatalf("ParseArgs(%q) error: %v", tt.args, err)
			}
			if !reflect.DeepEqual(hosts, tt.wantHosts) {
				t.Errorf("hosts (-want +got):\n-%q\n+%q", tt.wantHosts, hosts)
			}
			if !reflect.DeepEqual(knocks, tt.wantKnocks) {
				t.Errorf("knocks (-want +got):\n-%v\n+%v", tt.wantKnocks, knocks)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // the whole error
	}{
		{"nothing", nil, `missing host and ports`},
		{"host only", []string{"srv"}, `no ports to knock after host "srv"`},
		{"hosts only", []string{"h1", "h2"}, `no ports to knock after host "h2"`},
		{"port first", []string{"7000", "srv"}, `missing host before port "7000"`},
		{"frame first", []string{"tcp:7000"}, `missing host before port "tcp:7000"`},
		{"port zero", []string{"srv", "0"}, `port 0 in "0" is out of range: want 1 to 65535`},
		{"port too big", []string{"srv", "65536:udp"}, `port 65536 in "65536:udp" is out of range: want 1 to 65535`},
		{"port huge", []string{"srv", "99999999999999999999"}, `port 99999999999999999999 in "99999999999999999999" is out of range: want 1 to 65535`},
		{"frame port zero", []string{"srv", "udp:0"}, `port 0 in "udp:0" is out of range: want 1 to 65535`},
		{"frame port word", []string{"srv", "tcp:ssh"}, `invalid port "ssh" in "tcp:ssh": want a number from 1 to 65535`},
		{"frame port empty", []string{"srv", "tcp:"}, `invalid port "" in "tcp:": want a number from 1 to 65535`},
		{"negative port", []string{"srv", "-1"}, `no ports to knock after host "-1"`},
		{"unknown proto", []string{"srv", "7000:icmp"}, `invalid protocol "icmp" in "7000:icmp": want tcp or udp`},
		{"empty proto", []string{"srv", "7000:"}, `invalid protocol "" in "7000:": want tcp or udp`},
		{"empty port", []string{"srv", ":tcp"}, `invalid port "" in ":tcp": want a number from 1 to 65535`},
		{"host:port", []string{"srv:7000"}, `invalid port spec "srv:7000": want PORT[:tcp|udp] or tcp|udp:PORT, each its own argument`},
		{"too many fields", []string{"srv", "7000:tcp:syn"}, `invalid port spec "7000:tcp:syn": want PORT[:tcp|udp] or tcp|udp:PORT, each its own argument`},
		{"raw flag knock", []string{"srv", "tcp:110:up"}, `raw TCP flag knock "tcp:110:up" is not supported yet (it will need root or CAP_NET_RAW); a plain SYN knock is "tcp:110"`},
		{"raw flag knock later", []string{"srv", "tcp:7000", "tcp:8000:s"}, `raw TCP flag knock "tcp:8000:s" is not supported yet (it will need root or CAP_NET_RAW); a plain SYN knock is "tcp:8000"`},
		{"udp flags", []string{"srv", "udp:110:up"}, `invalid port spec "udp:110:up": flags are for tcp frames only`},
		{"empty flags", []string{"srv", "tcp:110:"}, `invalid port spec "tcp:110:": empty flags (drop the last colon for a plain knock)`},
		{"host after ports", []string{"h1", "7000", "h2", "8000"}, `unexpected "h2" after the ports: hosts come first, then ports`},
		{"address after ports", []string{"h1", "7000", "::1"}, `unexpected "::1" after the ports: hosts come first, then ports`},
		{"empty host", []string{"", "7000"}, `empty host name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hosts, knocks, err := ParseArgs(tt.args, packet.TCP)
			if err == nil {
				t.Fatalf("ParseArgs(%q) = %q, %v; want error %q", tt.args, hosts, knocks, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("ParseArgs(%q) error (-want +got):\n-%s\n+%s", tt.args, tt.want, got)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestParseArgsBadDefault(t *testing.T) {
	t.Parallel()
	if _, _, err := ParseArgs([]string{"srv", "7"}, packet.Proto(1)); err == nil {
		t.Fatal("ParseArgs with default proto 1: no error")
	}
}

func TestKnockString(t *testing.T) {
	t.Parallel()
	if got, want := udp(8000).String(), "8000:udp"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
