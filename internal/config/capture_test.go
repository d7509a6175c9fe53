package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCapture(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []Capture
		err  string
	}{
		{in: "afpacket", want: []Capture{{Kind: CaptureAFPacket}}},
		{in: " UDP ", want: []Capture{{Kind: CaptureUDP}}},
		{in: "nflog:0:external,nflog:65535:EXTERNAL", want: []Capture{{Kind: CaptureNflog, External: true}, {Kind: CaptureNflog, Group: 65535, External: true}}},
		{in: "udp,afpacket", err: `item 2 "afpacket": udp and afpacket see the same packets, so every knock would count twice`},
		{in: "nflog:5,nflog:6:external", err: `item 2 "nflog:6:external": nflog:5 and nflog:6:external see the same packets`},
		{in: "pcap:/a,pcap:/b", err: `item 2 "pcap:/b": pcap:/a and pcap:/b see the same packets`},
		{in: "pcap:/tmp/a b.pcap", want: []Capture{{Kind: CapturePcap, File: "/tmp/a b.pcap"}}},
		{in: "pcap:c:\\x.pcap", want: []Capture{{Kind: CapturePcap, File: "c:\\x.pcap"}}},
		{in: "", err: "empty capture list, expected afpacket, udp, nflog:GROUP or pcap:FILE"},
		{in: "udp,", err: `item 2 "": empty item (a doubled or trailing comma?)`},
		{in: "pcap", err: `item 1 "pcap": expected pcap:FILE, the capture file to replay`},
		{in: "nflog", err: `item 1 "nflog": expected nflog:GROUP with GROUP 0-65535, e.g. nflog:5`},
		{in: "nflog:65536", err: `item 1 "nflog:65536": expected nflog:GROUP with GROUP 0-65535, e.g. nflog:5`},
		{in: "nflog:5:mine", err: `item 1 "nflog:5:mine": unknown nflog option "mine", expected nflog:GROUP or nflog:GROUP:external`},
		{in: "udp:7000", err: `item 1 "udp:7000": udp takes no argument`},
		{in: "afpacket,afpacket", err: `item 2 "afpacket": given twice`},
		{in: "nflog:5,nflog:5:external", err: `item 2 "nflog:5:external": given twice`},
		{in: "pcap", err: `expected pcap:FILE`},
		{in: "libpcap", err: `item 1 "libpcap": unknown capture "libpcap", expected afpacket, udp, nflog:GROUP or pcap:FILE`},
	}
	for _, tt := range tests {
		got, err := ParseCapture(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseCapture(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCapture(%q): %v", tt.in, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("ParseCapture(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

func TestParsePayload(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, err string }{
		{in: `knock\n`, want: "knock\n"},
		{in: `a\tb\r\\\0\x7f`, want: "a\tb\r\\\x00\x7f"},
		{in: `#;`, want: "#;"},
		{in: `0123456789abcdef`, want: "0123456789abcdef"},
		{in: `0123456789abcdefg`, err: "payload of 17 bytes, expected 1-16"},
		{in: ``, err: "payload of 0 bytes, expected 1-16"},
		{in: `knock\`, err: `a lone '\' at the end`},
		{in: `\q`, err: `unknown escape \q`},
		{in: `\x1`, err: `\x needs two hex digits`},
		{in: `\xzz`, err: `\xzz is not two hex digits`},
	}
	for _, tt := range tests {
		got, err := ParsePayload(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParsePayload(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePayload(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// The directives in a knockd.conf, and what they cannot say.
func TestCaptureDirectives(t *testing.T) {
	t.Parallel()
	cfg, err := ParseKnockd("k.conf", []byte("[options]\n\tCapture = nflog:4:external, nflog:3:external\n[pkd]\n\tSequence = 1:udp,2:udp\n\tUDP_Payload = knock\\n\n\tLockout = 5\n\tStart_Command = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	ev := cfg.Events[0]
	if got := FormatCapture(cfg.Options.Capture); got != "nflog:4:external, nflog:3:external" || ev.Payload != "knock\n" || ev.Lockout != 5*time.Second {
		t.Errorf("Capture %q, payload %q, lockout %v", got, ev.Payload, ev.Lockout)
	}
	var b strings.Builder
	if err := Print(&b, cfg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Capture            = nflog:4:external, nflog:3:external\n", "UDP_Payload        = knock\\n\n", "Lockout            = 5\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printed config lacks %q:\n%s", want, b.String())
		}
	}
	for _, tt := range []struct{ src, err string }{
		{"[options]\n\tCapture = udp\n[a]\n\tSequence = 1:udp,2\n", "k.conf:2: event [a] knocks 2:tcp, but Capture = udp sees only UDP datagrams; add afpacket or nflog:GROUP to Capture"},
		{"[a]\n\tSequence = 1\n\tLockout = 0\n", "k.conf:3: Lockout 0 is too short, expected at least 1 second"},
		{"[a]\n\tSequence = 1\n\tUDP_Payload = \\y\n", `k.conf:3: bad UDP_Payload: unknown escape \y`},
		{"[a]\n\tCapture = udp\n\tSequence = 1\n", "k.conf:2: Capture belongs in [options]"},
		{"[a]\n\tTOTP_Secret_File = /x\n\tLockout = 5\n", "k.conf:3: Lockout does not apply to TOTP events (event [a])"},
	} {
		_, err := ParseKnockd("k.conf", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: error %v, want %q", tt.src, err, tt.err)
		}
	}
}

func FuzzParseCapture(f *testing.F) {
	for _, s := range []string{"afpacket", "udp,nflog:5", "nflog:1:external,pcap:/x", "pcap:", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseCapture(s)
		if err != nil {
			return
		}
		again, err := ParseCapture(FormatCapture(cs))
		if err != nil || !cmp.Equal(cs, again) {
			// A pcap file name with a comma or blanks at its ends cannot
			// be written back; everything else must round-trip.
			for _, c := range cs {
				if c.Kind == CapturePcap && (strings.Contains(c.File, ",") || c.File != trimBlank(c.File)) {
					return
				}
			}
			t.Fatalf("%q → %q → %v, %v", s, FormatCapture(cs), again, err)
		}
	})
}

func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{`knock\n`, `\x00\xff`, `\\`, `#`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePayload(s)
		if err != nil {
			return
		}
		if len(p) == 0 || len(p) > MaxPayload {
			t.Fatalf("%q → %d bytes", s, len(p))
		}
		again, err := ParsePayload(FormatPayload(p))
		if err != nil || again != p {
			t.Fatalf("%q → %q → %q → %q, %v", s, p, FormatPayload(p), again, err)
		}
	})
}
