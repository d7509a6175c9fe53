package firewalld

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sesame-knock/sesame/internal/firewall"
	"github.com/sesame-knock/sesame/internal/packet"
)

func tcp(p uint16) firewall.Port { return firewall.Port{Proto: packet.TCP, Port: p} }
func udp(p uint16) firewall.Port { return firewall.Port{Proto: packet.UDP, Port: p} }

func TestFormatRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  netip.Addr
		port firewall.Port
		want string
	}{
		{"ipv4-tcp", netip.MustParseAddr("198.18.0.2"), tcp(22),
			`rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept`},
		{"ipv4-udp-max-port", netip.MustParseAddr("198.18.0.255"), udp(65535),
			`rule family="ipv4" source address="198.18.0.255" port port="65535" protocol="udp" accept`},
		{"ipv6-canonical", netip.MustParseAddr("2001:db8:0:0::2"), tcp(2222),
			`rule family="ipv6" source address="2001:db8::2" port port="2222" protocol="tcp" accept`},
		{"ipv6-upper-case-in", netip.MustParseAddr("FD00:5E5A::1"), tcp(1),
			`rule family="ipv6" source address="fd00:5e5a::1" port port="1" protocol="tcp" accept`},
		{"ipv4-mapped-is-ipv6", netip.MustParseAddr("::ffff:198.18.0.2"), tcp(22),
			`rule family="ipv6" source address="::ffff:198.18.0.2" port port="22" protocol="tcp" accept`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := formatRule(tt.src, tt.port)
			if err != nil {
				t.Fatalf("formatRule(%v, %v): %v", tt.src, tt.port, err)
			}
			if got != tt.want {
				t.Errorf("formatRule(%v, %v):\n got %s\nwant %s", tt.src, tt.port, got, tt.want)
			}
			e, err := parseRule(got)
			if err != nil {
				t.Fatalf("parseRule(%q): %v", got, err)
			}
			if e.Src != tt.src.WithZone("") || e.Port != tt.port {
				t.Errorf("parseRule(%q) = %v %v, want %v %v", got, e.Src, e.Port, tt.src, tt.port)
			}
		})
	}
}

func TestFormatRuleRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  netip.Addr
		port firewall.Port
	}{
		{"no-address", netip.Addr{}, tcp(22)},
		{"zone-injection", netip.MustParseAddr(`fe80::1%x" accept rule family="ipv4`), tcp(22)},
		{"zone", netip.MustParseAddr("fe80::1%eth0"), tcp(22)},
		{"port-zero", netip.MustParseAddr("198.18.0.2"), tcp(0)},
		{"icmp", netip.MustParseAddr("198.18.0.2"), firewall.Port{Proto: 1, Port: 22}},
		{"sctp", netip.MustParseAddr("198.18.0.2"), firewall.Port{Proto: 132, Port: 22}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := formatRule(tt.src, tt.port); err == nil {
				t.Errorf("formatRule(%v, %v) = %q, want an error", tt.src, tt.port, got)
			}
		})
	}
}

func TestParseRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rule string
		want *firewall.Entry // nil: not sesame's
	}{
		{"ipv4", `rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept`,
			&firewall.Entry{Src: netip.MustParseAddr("198.18.0.2"), Port: tcp(22)}},
		{"ipv6-udp", `rule family="ipv6" source address="fd00:5e5a::2" port port="7000" protocol="udp" accept`,
			&firewall.Entry{Src: netip.MustParseAddr("fd00:5e5a::2"), Port: udp(7000)}},
		{"empty", ``, nil},
		{"other-order", `rule source address="198.18.0.2" family="ipv4" port port="22" protocol="tcp" accept`, nil},
		{"network", `rule family="ipv4" source address="198.18.0.0/24" port port="22" protocol="tcp" accept`, nil},
		{"no-source", `rule family="ipv4" port port="22" protocol="tcp" accept`, nil},
		{"no-family", `rule source address="198.18.0.2" port port="22" protocol="tcp" accept`, nil},
		{"family-mismatch", `rule family="ipv6" source address="198.18.0.2" port port="22" protocol="tcp" accept`, nil},
		{"family-mismatch-6", `rule family="ipv4" source address="2001:db8::2" port port="22" protocol="tcp" accept`, nil},
		{"non-canonical-ipv6", `rule family="ipv6" source address="2001:db8:0::2" port port="22" protocol="tcp" accept`, nil},
		{"upper-case-ipv6", `rule family="ipv6" source address="2001:DB8::2" port port="22" protocol="tcp" accept`, nil},
		{"leading-zero-ipv4", `rule family="ipv4" source address="198.18.0.02" port port="22" protocol="tcp" accept`, nil},
		{"zone", `rule family="ipv6" source address="fe80::1%eth0" port port="22" protocol="tcp" accept`, nil},
		{"port-range", `rule family="ipv4" source address="198.18.0.2" port port="22-23" protocol="tcp" accept`, nil},
		{"port-leading-zero", `rule family="ipv4" source address="198.18.0.2" port port="022" protocol="tcp" accept`, nil},
		{"port-zero", `rule family="ipv4" source address="198.18.0.2" port port="0" protocol="tcp" accept`, nil},
		{"port-too-big", `rule family="ipv4" source address="198.18.0.2" port port="65536" protocol="tcp" accept`, nil},
		{"port-sign", `rule family="ipv4" source address="198.18.0.2" port port="+22" protocol="tcp" accept`, nil},
		{"sctp", `rule family="ipv4" source address="198.18.0.2" port port="22" protocol="sctp" accept`, nil},
		{"drop", `rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" drop`, nil},
		{"reject", `rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" reject`, nil},
		{"logged", `rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" log prefix="x" accept`, nil},
		{"priority", `rule priority="-1" family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept`, nil},
		{"inverted", `rule family="ipv4" source NOT address="198.18.0.2" port port="22" protocol="tcp" accept`, nil},
		{"limited", `rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept limit value="1/m"`, nil},
		{"trailing-space", `rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept `, nil},
		{"service", `rule family="ipv4" source address="198.18.0.2" service name="ssh" accept`, nil},
		{"two-ports-smuggled", `rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept" port port="23" protocol="tcp" accept`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseRule(tt.rule)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("parseRule(%q) = %v, want not sesame's", tt.rule, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRule(%q): %v", tt.rule, err)
			}
			if diff := cmp.Diff(*tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("parseRule(%q) (-want +got):\n%s", tt.rule, diff)
			}
		})
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		`rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept`,
		`rule family="ipv6" source address="2001:db8::2" port port="65535" protocol="udp" accept`,
		`rule family="ipv6" source address="::ffff:198.18.0.2" port port="1" protocol="tcp" accept`,
		`rule family="ipv6" source address="fe80::1%eth0" port port="22" protocol="tcp" accept`,
		`rule family="ipv4" source address="198.18.0.2" port port="022" protocol="tcp" accept`,
		`rule family="ipv4" source address="198.18.0.2" port port="22" protocol="tcp" accept" port port="23" protocol="tcp" accept`,
		`rule family="ipv4" source address="198.18.0.0/24" service name="ssh" accept`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseRule(s)
		if err != nil {
			return
		}
		// Whatever parses is exactly what formatRule writes for it.
		back, err := formatRule(e.Src, e.Port)
		if err != nil {
			t.Fatalf("parseRule(%q) = %v, which formatRule refuses: %v", s, e, err)
		}
		if back != s {
			t.Fatalf("round trip changed the rule:\n  in %q\n out %q", s, back)
		}
		if e.Expires != 0 {
			t.Fatalf("parseRule(%q): Expires %v, want 0", s, e.Expires)
		}
	})
}

// FuzzFormatRule checks that no address/port/protocol gives a rule with
// more rich-rule syntax than sesame's form, and that every rule parses back.
func FuzzFormatRule(f *testing.F) {
	f.Add([]byte{198, 18, 0, 2}, uint16(22), uint8(6), "")
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, uint16(1), uint8(17), "")
	f.Add([]byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint16(22), uint8(6), `" accept`)
	f.Fuzz(func(t *testing.T, ip []byte, port uint16, proto uint8, zone string) {
		src, ok := netip.AddrFromSlice(ip)
		if !ok {
			return
		}
		if src.Is6() {
			src = src.WithZone(zone)
		}
		p := firewall.Port{Proto: packet.Proto(proto), Port: port}
		s, err := formatRule(src, p)
		if err != nil {
			return
		}
		if strings.Count(s, `"`) != 8 || strings.Count(s, " ") != 7 {
			t.Fatalf("formatRule(%v, %v) = %q: not sesame's form", src, p, s)
		}
		e, err := parseRule(s)
		if err != nil {
			t.Fatalf("parseRule(formatRule(%v, %v) = %q): %v", src, p, s, err)
		}
		if e.Src != src || e.Port != p {
			t.Fatalf("round trip of %v %v gave %v %v", src, p, e.Src, e.Port)
		}
	})
}

func TestTimeoutSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      time.Duration
		want    int32
		wantErr bool
	}{
		{time.Nanosecond, 1, false},
		{time.Second, 1, false},
		{1500 * time.Millisecond, 2, false},
		{30 * time.Second, 30, false},
		{0, 0, true},
		{-time.Second, 0, true},
		{(1<<31 + 5) * time.Second, 0, true},
	}
	for _, tt := range tests {
		got, err := timeoutSeconds(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("timeoutSeconds(%v) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestOpenPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pairs   [][]string
		guarded []firewall.Port
		want    string // "" for none
	}{
		{"exact", [][]string{{"22", "tcp"}}, []firewall.Port{tcp(22)}, "22/tcp"},
		{"other-proto", [][]string{{"22", "udp"}}, []firewall.Port{tcp(22)}, ""},
		{"range", [][]string{{"20-30", "tcp"}}, []firewall.Port{tcp(2222), tcp(25)}, "20-30/tcp"},
		{"range-edge", [][]string{{"2222-2222", "tcp"}}, []firewall.Port{tcp(2222)}, "2222-2222/tcp"},
		{"outside", [][]string{{"1-21", "tcp"}, {"23-65535", "tcp"}}, []firewall.Port{tcp(22)}, ""},
		{"garbage", [][]string{{"x", "tcp"}, {"30-20", "tcp"}, {"99999", "tcp"}, {"22"}}, []firewall.Port{tcp(22)}, ""},
	}
	for _, tt := range tests {
		_, got, ok := openPort(tt.pairs, tt.guarded)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("%s: openPort = %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
}
