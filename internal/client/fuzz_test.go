package client

import (
	"strings"
	"testing"

	"github.com/sesame-knock/sesame/internal/packet"
)

// FuzzParseArgs: any command line either parses into at least one host and
// one knock with valid ports and protocols, or fails with an error; it
// never panics.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"host 7000 8000 9000",
		"h1 h2 7000:udp 8000:tcp",
		"host tcp:7000 udp:8000",
		"::1 7000",
		"[2001:db8::1] 1",
		"fe80::1%eth0 65535:udp",
		"host tcp:110:up",
		"host 0 70000 -1 abc",
		"",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, line string, udp bool) {
		def := packet.TCP
		if udp {
			def = packet.UDP
		}
		hosts, knocks, err := ParseArgs(strings.Fields(line), def)
		if err != nil {
			return
		}
		if len(hosts) == 0 || len(knocks) == 0 {
			t.Fatalf("ParseArgs(%q) = %v %v with no error", line, hosts, knocks)
		}
		for _, k := range knocks {
			if k.Port == 0 || (k.Proto != packet.TCP && k.Proto != packet.UDP) {
				t.Fatalf("ParseArgs(%q) gave knock %+v", line, k)
			}
		}
	})
}
