package iptables

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

func TestChainRules(t *testing.T) {
	t.Parallel()
	many := make([]firewall.Port, 0, 16)
	for p := uint16(1); p <= 16; p++ {
		many = append(many, tcp(p))
	}
	tests := []struct {
		name    string
		guarded []firewall.Port
		want    []string
	}{
		{name: "none", guarded: nil, want: nil},
		{
			name:    "tcp and udp, unsorted with a duplicate",
			guarded: []firewall.Port{udp(5353), tcp(2222), tcp(22), tcp(2222)},
			want: []string{
				"-p tcp -m multiport --dports 22,2222 -m set --match-set sesame_v4 src,dst -j ACCEPT",
				"-p tcp -m multiport --dports 22,2222 -m tcp --tcp-flags SYN,ACK SYN -j DROP",
				"-p tcp -m multiport --dports 22,2222 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
				"-p tcp -m multiport --dports 22,2222 -j DROP",
				"-p udp -m multiport --dports 5353 -m set --match-set sesame_v4 src,dst -j ACCEPT",
				"-p udp -m multiport --dports 5353 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
				"-p udp -m multiport --dports 5353 -j DROP",
			},
		},
		{
			name:    "more ports than one multiport match takes",
			guarded: many,
			want: []string{
				"-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 -m set --match-set sesame_v4 src,dst -j ACCEPT",
				"-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 -m tcp --tcp-flags SYN,ACK SYN -j DROP",
				"-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
				"-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 -j DROP",
				"-p tcp -m multiport --dports 16 -m set --match-set sesame_v4 src,dst -j ACCEPT",
				"-p tcp -m multiport --dports 16 -m tcp --tcp-flags SYN,ACK SYN -j DROP",
				"-p tcp -m multiport --dports 16 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
				"-p tcp -m multiport --dports 16 -j DROP",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ports, err := normalize(tt.guarded)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range chainRules(Set4, ports) {
				got = append(got, strings.Join(r, " "))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("chainRules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormalizeRejects(t *testing.T) {
	t.Parallel()
	for _, p := range []firewall.Port{{Proto: 1, Port: 22}, tcp(0)} {
		if _, err := normalize([]firewall.Port{p}); err == nil {
			t.Errorf("normalize(%v) = nil error, want one", p)
		}
	}
}

func TestJumpsTo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		listing     []string
		plain       int
		other       int
		first       bool
		chainWanted string
	}{
		{name: "empty", listing: []string{"-P INPUT ACCEPT"}},
		{name: "first", listing: []string{"-P INPUT ACCEPT", "-A INPUT -j SESAME", "-A INPUT -j ACCEPT"}, plain: 1, first: true},
		{name: "second and duplicate", listing: []string{"-P INPUT DROP", "-A INPUT -i lo -j ACCEPT", "-A INPUT -j SESAME", "-A INPUT -j SESAME"}, plain: 2},
		{name: "conditional", listing: []string{"-P INPUT ACCEPT", "-A INPUT -i eth0 -j SESAME", "-A INPUT -g SESAME"}, other: 2},
		{name: "other chain with same prefix", listing: []string{"-P INPUT ACCEPT", "-A INPUT -j SESAME-NEW"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plain, other, first := jumpsTo(tt.listing, Chain)
			if plain != tt.plain || other != tt.other || first != tt.first {
				t.Errorf("jumpsTo = %d, %d, %t; want %d, %d, %t", plain, other, first, tt.plain, tt.other, tt.first)
			}
		})
	}
}

func TestTimeoutSeconds(t *testing.T) {
	t.Parallel()
	src := netip.MustParseAddr("198.18.0.2")
	tests := []struct {
		in      time.Duration
		want    uint32
		wantErr bool
	}{
		{in: 0, wantErr: true},
		{in: -time.Second, wantErr: true},
		{in: time.Nanosecond, want: 1},
		{in: 2 * time.Second, want: 2},
		{in: 2*time.Second + time.Millisecond, want: 3},
		{in: 100 * 24 * time.Hour, want: maxEntryTimeout},
	}
	for _, tt := range tests {
		got, err := timeoutSeconds(firewall.Door{Src: src, Timeout: tt.in})
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("timeoutSeconds(%v) = %d, %v; want %d, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
