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
		{"host:port", []string{"srv:7000"}, `invalid port spec "srv:7000": want PORT[:tcp|udp] or tcp|udp:PORT[:FLAGS], each its own argument`},
		{"too many fields", []string{"srv", "7000:tcp:syn"}, `invalid port spec "7000:tcp:syn": want PORT[:tcp|udp] or tcp|udp:PORT[:FLAGS], each its own argument`},
		{"frame too many fields", []string{"srv", "tcp:110:up:x"}, `invalid port spec "tcp:110:up:x": want PROTO:PORT[:FLAGS], like tcp:110:up`},
		{"unknown flag", []string{"srv", "tcp:110:upz"}, `invalid flag "z" in "tcp:110:upz": ` + flagsWant},
		{"flag names", []string{"srv", "tcp:110:syn"}, `invalid flag "y" in "tcp:110:syn": ` + flagsWant},
		{"digit flag", []string{"srv", "tcp:110:1"}, `invalid flag "1" in "tcp:110:1": ` + flagsWant},
		{"x mixed", []string{"srv", "tcp:110:xs"}, `invalid flags "xs" in "tcp:110:xs": x cannot be combined with other flags; ` + flagsWant},
		{"x mixed late", []string{"srv", "tcp:110:sX"}, `invalid flags "sX" in "tcp:110:sX": X cannot be combined with other flags; ` + flagsWant},
		{"n mixed", []string{"srv", "tcp:110:an"}, `invalid flags "an" in "tcp:110:an": n cannot be combined with other flags; ` + flagsWant},
		{"i mixed", []string{"srv", "tcp:110:is"}, `invalid flags "is" in "tcp:110:is": i cannot be combined with other flags; ` + flagsWant},
		{"x twice", []string{"srv", "tcp:110:xx"}, `invalid flags "xx" in "tcp:110:xx": x cannot be combined with other flags; ` + flagsWant},
		{"n and i", []string{"srv", "tcp:110:ni"}, `invalid flags "ni" in "tcp:110:ni": n cannot be combined with other flags; ` + flagsWant},
		{"repeated flag", []string{"srv", "tcp:110:upu"}, `invalid flags "upu" in "tcp:110:upu": u given twice`},
		{"bad flag later", []string{"srv", "tcp:7000", "tcp:8000:q"}, `invalid flag "q" in "tcp:8000:q": ` + flagsWant},
		{"flags on knock form", []string{"srv", "110:tcp:up"}, `invalid port spec "110:tcp:up": want PORT[:tcp|udp] or tcp|udp:PORT[:FLAGS], each its own argument`},
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

func raw(p uint16, f packet.TCPFlags) Knock {
	return Knock{Proto: packet.TCP, Port: p, Raw: true, Flags: f}
}

// TestParseFlags covers every tportknockd flag combination: each of the 64
// subsets of f s r p a u, in two orders and both cases, and x, n, i.
func TestParseFlags(t *testing.T) {
	t.Parallel()
	bits := []packet.TCPFlags{packet.FIN, packet.SYN, packet.RST, packet.PSH, packet.ACK, packet.URG}
	for set := 1; set < 64; set++ {
		var fwd, rev string
		var want packet.TCPFlags
		for i, b := range bits {
			if set&(1<<i) != 0 {
				fwd += string("fsrpau"[i])
				rev = string("fsrpau"[i]) + rev
				want |= b
			}
		}
		for _, letters := range []string{fwd, rev, strings.ToUpper(rev)} {
			arg := "tcp:110:" + letters
			_, ks, err := ParseArgs([]string{"srv", arg}, packet.TCP)
			if err != nil {
				t.Errorf("%s: %v", arg, err)
				continue
			}
			if got := ks[0]; got != raw(110, want) {
				t.Errorf("%s = %+v, want flags %s", arg, got, want)
			}
			// String is the frame again, letters in header order.
			if _, again, err := ParseArgs([]string{"srv", ks[0].String()}, packet.TCP); err != nil || again[0] != ks[0] {
				t.Errorf("%s: String %q does not parse back: %v, %v", arg, ks[0], again, err)
			}
		}
	}
	tests := []struct {
		arg     string
		want    Knock
		str     string // Knock.String
		display string // -v's " (flags ...)"
	}{
		{"tcp:110:x", raw(110, packet.AllFlags), "tcp:110:x", " (flags UAPRSF)"},
		{"tcp:110:X", raw(110, packet.AllFlags), "tcp:110:x", " (flags UAPRSF)"},
		{"tcp:110:fsrpau", raw(110, packet.AllFlags), "tcp:110:x", " (flags UAPRSF)"},
		{"tcp:110:n", raw(110, 0), "tcp:110:n", " (flags none)"},
		{"tcp:110:N", raw(110, 0), "tcp:110:n", " (flags none)"},
		{"tcp:110:i", tcp(110), "110:tcp", ""},
		{"tcp:110:I", tcp(110), "110:tcp", ""},
		{"tcp:110:up", raw(110, packet.URG|packet.PSH), "tcp:110:up", " (flags UP)"},
		{"tcp:110:pu", raw(110, packet.URG|packet.PSH), "tcp:110:up", " (flags UP)"},
		{"tcp:123:frap", raw(123, packet.FIN|packet.RST|packet.ACK|packet.PSH), "tcp:123:aprf", " (flags APRF)"},
		{"tcp:12430:a", raw(12430, packet.ACK), "tcp:12430:a", " (flags A)"},
		{"tcp:7:s", raw(7, packet.SYN), "tcp:7:s", " (flags S)"},
		{"TCP:7:sa", raw(7, packet.SYN|packet.ACK), "tcp:7:as", " (flags AS)"},
	}
	for _, tt := range tests {
		_, ks, err := ParseArgs([]string{"srv", tt.arg}, packet.UDP)
		if err != nil {
			t.Errorf("%s: %v", tt.arg, err)
			continue
		}
		k := ks[0]
		if k != tt.want || k.String() != tt.str || k.flagsSuffix() != tt.display {
			t.Errorf("%s = %+v %q %q, want %+v %q %q", tt.arg, k, k.String(), k.flagsSuffix(), tt.want, tt.str, tt.display)
		}
	}
}

// TestParseArgsFlagSequence is the seed's sequence, flag knocks mixed with
// UDP and plain knocks, in order.
func TestParseArgsFlagSequence(t *testing.T) {
	t.Parallel()
	args := strings.Fields("srv udp:1234 tcp:543 tcp:543:i tcp:123:frap tcp:434:x tcp:2345:n 7000 8000:udp")
	_, ks, err := ParseArgs(args, packet.TCP)
	if err != nil {
		t.Fatal(err)
	}
	want := []Knock{udp(1234), tcp(543), tcp(543), raw(123, packet.FIN|packet.RST|packet.ACK|packet.PSH),
		raw(434, packet.AllFlags), raw(2345, 0), tcp(7000), udp(8000)}
	if !reflect.DeepEqual(ks, want) {
		t.Errorf("knocks:\n got %v\nwant %v", ks, want)
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
