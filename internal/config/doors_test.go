package config

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

func TestNativeDoorDirectives(t *testing.T) {
	tests := []struct {
		name string
		body string
		want func(ev Event) string // "" when the event is as expected
	}{
		{
			name: "open with defaults",
			body: "Open = tcp:22,udp:1194",
			want: func(ev Event) string {
				if FormatPorts(ev.Open) != "tcp:22,udp:1194" || ev.OpenTimeout != DefaultOpenTimeout || ev.Firewall != "" || ev.NftTable != "" {
					return "defaults not applied"
				}
				return ""
			},
		},
		{
			name: "knockd order and bare ports, duplicates folded",
			body: "Open = 22, 1194:udp, 22:tcp",
			want: func(ev Event) string {
				if got := FormatPorts(ev.Open); got != "tcp:22,udp:1194" {
					return "Open = " + got
				}
				return ""
			},
		},
		{
			name: "every directive",
			body: "Open = tcp:22\n\tOpen_Timeout = 60\n\tFirewall = NFTables\n\tNft_Table = inet   filter",
			want: func(ev Event) string {
				if ev.OpenTimeout != time.Minute || ev.Firewall != FirewallNftables || ev.NftTable != "inet filter" {
					return "got " + ev.Firewall + " " + ev.NftTable + " " + ev.OpenTimeout.String()
				}
				return ""
			},
		},
		{
			name: "firewalld zone",
			body: "Open = udp:1194\n\tFirewall = firewalld\n\tFirewalld_Zone = public",
			want: func(ev Event) string {
				if ev.Firewall != FirewallFirewalld || ev.FirewalldZone != "public" || ev.Open[0] != (Port{packet.UDP, 1194}) {
					return "zone not set"
				}
				return ""
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "[door]\n\tSequence = 7000,8000\n\t" + tt.body + "\n"
			cfg, err := ParseKnockd("k.conf", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.want(cfg.Events[0]); msg != "" {
				t.Fatal(msg)
			}
			// Print writes what parses back to the same event.
			var buf bytes.Buffer
			if err := Print(&buf, cfg); err != nil {
				t.Fatal(err)
			}
			again, err := ParseKnockd("printed.conf", buf.Bytes())
			if err != nil {
				t.Fatalf("printed form does not parse: %v\n%s", err, buf.String())
			}
			a, b := cfg.Events[0], again.Events[0]
			if FormatPorts(a.Open) != FormatPorts(b.Open) || a.OpenTimeout != b.OpenTimeout || a.Firewall != b.Firewall || a.NftTable != b.NftTable || a.FirewalldZone != b.FirewalldZone {
				t.Fatalf("round trip changed the door:\n%s", buf.String())
			}
		})
	}
}

func TestNativeDoorErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{"Open =", "k.conf:3: bad Open: empty port list"},
		{"Open = ssh", `k.conf:3: bad Open: item 1 "ssh": `},
		{"Open = icmp:1", `k.conf:3: bad Open: item 1 "icmp:1": unknown protocol "icmp"`},
		{"Open = tcp:70000", `k.conf:3: bad Open: item 1 "tcp:70000": `},
		{"Open = tcp:22\n\tOpen_Timeout = 0", "k.conf:4: Open_Timeout"},
		{"Open = tcp:22\n\tFirewall = pf", `k.conf:4: Firewall "pf", expected nftables, iptables or firewalld`},
		{"Open = tcp:22\n\tNft_Table = filter", `k.conf:4: Nft_Table "filter", expected a family and a table name`},
		{"Open = tcp:22\n\tNft_Table = arp filter", `k.conf:4: Nft_Table family "arp"`},
		{"Open = tcp:22\n\tNft_Table = inet fil;ter", `k.conf:4: Nft_Table name "fil;ter"`},
		{"Open = tcp:22\n\tFirewall = iptables\n\tNft_Table = inet filter", "k.conf:5: Nft_Table is for Firewall = nftables, not iptables"},
		{"Open = tcp:22\n\tFirewalld_Zone = public", "k.conf:4: Firewalld_Zone needs Firewall = firewalld"},
		{"Open_Timeout = 5", "k.conf:3: Open_Timeout without Open in event [door]"},
		{"Firewall = nftables", "k.conf:3: Firewall without Open in event [door]"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			_, err := ParseKnockd("k.conf", []byte("[door]\n\tSequence = 7000,8000\n\t"+tt.body+"\n"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"tcp:22,udp:1194", "22", "22:udp", "tcp:0", ",", "udp:65535 # c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := ParsePorts(s)
		if err != nil {
			return
		}
		again, err := ParsePorts(FormatPorts(ports))
		if err != nil || FormatPorts(again) != FormatPorts(ports) {
			t.Fatalf("ParsePorts(%q) = %v does not round-trip: %v %v", s, ports, again, err)
		}
		for _, p := range ports {
			if p.Port == 0 || (p.Proto != packet.TCP && p.Proto != packet.UDP) {
				t.Fatalf("bad port %v from %q", p, s)
			}
		}
	})
}
