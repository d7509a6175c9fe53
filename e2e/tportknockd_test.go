//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// tportknockd's configuration, read unchanged: the flag-knock example of
// its documentation, where one port is knocked with five flag sets.
const tportConf = `<SSH2>
 sequence      = tcp:110:x tcp:110:up tcp:110:up tcp:110:n tcp:110:i
 timeout       = 10
 start_command = %s
 stop_command  = %s
 command_delay = 30
</SSH2>
`

// hpingFlags are hping3's options for each frame of the sequence (with
// no flag option, hping3 sends a segment with no flags at all).
var hpingFlags = map[string][]string{
	"x":  {"-F", "-S", "-R", "-P", "-A", "-U"},
	"up": {"-U", "-P"},
	"uf": {"-U", "-F"},
	"n":  nil,
	"i":  {"-S"},
}

// TestTportknockdFlagKnocks: the tportknockd example opens when knocked
// with hping3 and with sesame's raw flag knocks, and the same sequence with
// one wrong flag set does not.
func TestTportknockdFlagKnocks(t *testing.T) {
	lab := netlab.New(t, netlab.Config{Clients: 3})
	door := lab.Server.Protect(t, doorPort)
	d := startSesamed(t, lab, fmt.Sprintf(tportConf, door.StartCommand(), door.StopCommand()))
	srv := lab.Server.V4.String()
	to := netip.AddrPortFrom(lab.Server.V4, doorPort)

	hping := func(c *netlab.Host, frames ...string) {
		t.Helper()
		for _, f := range frames {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			args := append([]string{"-q", "-c", "1", "-p", "110"}, hpingFlags[f]...)
			out, err := c.Run(ctx, bin(t, "hping3"), append(args, srv)...)
			cancel()
			// hping3 exits 1 when no reply came; the segment left anyway.
			if err != nil && !strings.Contains(string(out), "packets transmitted") {
				t.Fatalf("hping3 %v: %v\n%s", args, err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// hping3, the right flags.
	h := lab.Client(0)
	mustFiltered(t, h, h.V4, to, "before the knock")
	hping(h, "x", "up", "up", "n", "i")
	if _, err := d.WaitLog(`msg="OPEN SESAME" src=`+h.V4.String(), 5*time.Second); err != nil {
		t.Fatalf("hping3's flag knock did not open: %v\n%s", err, d.Log())
	}
	mustConnect(t, h, h.V4, to, "after hping3's flag knock")

	// hping3, one wrong flag set.
	w := lab.Client(1)
	hping(w, "x", "up", "uf", "n", "i")
	time.Sleep(300 * time.Millisecond)
	mustFiltered(t, w, w.V4, to, "after a knock with one wrong flag set")
	if n := len(d.Lines(`msg="OPEN SESAME" src=` + w.V4.String())); n != 0 {
		t.Fatalf("a wrong flag set opened:\n%s", d.Log())
	}

	// sesame's raw flag knocks.
	s := lab.Client(2)
	knockWith(t, s, "-d", "50", srv, "tcp:110:x", "tcp:110:up", "tcp:110:up", "tcp:110:n", "tcp:110:i")
	if _, err := d.WaitLog(`msg="OPEN SESAME" src=`+s.V4.String(), 5*time.Second); err != nil {
		t.Fatalf("sesame's flag knock did not open: %v\n%s", err, d.Log())
	}
	mustConnect(t, s, s.V4, to, "after sesame's flag knock")
}
