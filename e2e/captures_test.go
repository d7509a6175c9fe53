//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// The capture sources end to end (SPEC §5): the same knock test that
// proves AF_PACKET proves a UDP listener and an NFLOG group — same daemon,
// same door, same clients, only --capture differs.

// sesamedCapturing is sesamed reading its hits from capture.
func sesamedCapturing(capture string) *daemon {
	d := *daemons[0]
	d.args = func(conf, iface string) []string {
		return []string{"-c", conf, "-i", iface, "-v", "--capture", capture}
	}
	return &d
}

func TestCaptureModes(t *testing.T) {
	t.Parallel()
	modes := []struct {
		capture string
		cases   []struct {
			knocker  *knocker
			sequence string
			v6       bool
		}
	}{
		{"afpacket", nil},
		{"nflog:7", nil},
		{"udp", nil},
	}
	type tc = struct {
		knocker  *knocker
		sequence string
		v6       bool
	}
	mixed := []tc{
		{sesameKnocker, "7000,8000:udp,9000", false},
		{sesameKnocker, "7000,8000:udp,9000", true},
		{knockKnocker, "7000:udp,8000:udp,9000:udp", false},
	}
	modes[0].cases = mixed
	modes[1].cases = mixed
	// A UDP listener sees only datagrams: its knocks are UDP.
	modes[2].cases = []tc{
		{sesameKnocker, "7000:udp,8000:udp,9000:udp", false},
		{sesameKnocker, "7000:udp,8000:udp,9000:udp", true},
		{knockKnocker, "7000:udp,8000:udp,9000:udp", false},
	}
	for _, m := range modes {
		d := sesamedCapturing(m.capture)
		t.Run(m.capture, func(t *testing.T) {
			t.Parallel()
			for _, c := range m.cases {
				name := c.knocker.name + "-" + c.sequence
				if c.v6 {
					name += "-v6"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					s := newScene(t, d, netlab.Config{}, c.sequence, nil)
					if !readyWith(s.proc, captureName(m.capture, s.lab.Server.IfName)) {
						t.Fatalf("the ready line does not name capture %s:\n%s", m.capture, s.proc.Log())
					}
					openClose(t, s, c.knocker, c.sequence, c.v6)
				})
			}
		})
	}
}

// readyWith reports whether the daemon's ready line lists capture.
func readyWith(p *netlab.Proc, capture string) bool {
	for _, l := range p.Lines("msg=ready") {
		if strings.Contains(l, "capture=") && strings.Contains(l, capture) {
			return true
		}
	}
	return false
}

// captureName is how the daemon's ready line names a capture.
func captureName(capture, iface string) string {
	if capture == "afpacket" {
		return iface
	}
	return capture
}

// TestCipherOverNflog: a cipher knock (the Kroon portknock's, done right)
// read from the firewall's log group, as the Kroon portknock read it.
func TestCipherOverNflog(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t, netlab.Config{Clients: 1})
	lab.Server.Echo(t, nativePort)
	c := lab.Client(0)
	dir := t.TempDir()
	key := filepath.Join(dir, "door.key")
	writeFile(t, key, "passphrase = correct horse battery staple\n")
	conf := fmt.Sprintf("[options]\n\tCapture = nflog:9\n\tStateDir = %s\n[door]\n\tCipher_Key_File = %s\n\tCipher_Ports = 62000:tcp\n\tOpen = tcp:%d\n\tOpen_Timeout = 5\n",
		filepath.Join(dir, "state"), key, nativePort)
	d := startSesamed(t, lab, conf)
	if !readyWith(d, "nflog:9") {
		t.Fatalf("not reading nflog group 9:\n%s", d.Log())
	}
	to := dst(lab.Server.V4)
	mustFiltered(t, c, c.V4, to, "before the knock")
	knockWith(t, c, "--cipher-key", key, "--event", "door", "--cipher-ports", "62000:tcp", lab.Server.V4.String())
	if _, err := d.WaitLog(`msg="OPEN SESAME" src=`+c.V4.String(), 5*time.Second); err != nil {
		t.Fatalf("the cipher knock did not open over nflog: %v\n%s", err, d.Log())
	}
	mustConnect(t, c, c.V4, to, "after the cipher knock")
}
