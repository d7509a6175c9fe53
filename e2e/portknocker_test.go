//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// port-knocking-doors' configuration, read unchanged: its TOML file, its
// knocks (UDP datagrams "knock\n" on each port of the sequence, sent here
// with printf and socat as its users do), its door (the controlled port,
// for the knocking address only) and its penalty (after a wrong knock the
// knocker is ignored for ignoring_period_after_knock_error seconds).
const pkdToml = `# port-knocking-doors configuration
ports_to_controls = [%d]
opening_sequence = [16001,16002,16003,16004,16005]
firewall_rules_check_periode_seconds=10
ignoring_period_after_knock_error=%d
max_knocker_live_time=10
max_opened_door_duration=%d
doors_cleanup_periode=10
`

const (
	pkdLockout  = 5 // s (a margin a slow machine cannot eat up)
	pkdDoorOpen = 4 // s
)

func TestPortKnockingDoors(t *testing.T) {
	t.Parallel()
	bin(t, "socat")
	for _, capture := range []string{"afpacket", "udp"} {
		t.Run(capture, func(t *testing.T) {
			t.Parallel()
			testPortKnockingDoors(t, capture)
		})
	}
}

func testPortKnockingDoors(t *testing.T, capture string) {
	lab := netlab.New(t, netlab.Config{Clients: 2})
	lab.Server.Echo(t, nativePort)
	dir := t.TempDir()
	conf := filepath.Join(dir, "port_knocker.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(pkdToml, nativePort, pkdLockout, pkdDoorOpen)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := lab.Server.Start(t, logPath(t, dir, "sesamed"), bin(t, "sesamed"), "-c", conf, "-i", lab.Server.IfName, "-v", "--capture", capture)
	if _, err := d.WaitLog("msg=ready", 10*time.Second); err != nil {
		t.Fatalf("sesamed did not become ready: %v\n%s", err, d.Log())
	}
	srv := lab.Server.V4
	to := dst(srv)

	// send is port-knocking-doors' client: one datagram per port.
	send := func(c *netlab.Host, payload string, ports ...int) {
		t.Helper()
		for _, p := range ports {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			cmd := fmt.Sprintf("printf '%s' | %s -u - UDP:%s:%d", payload, bin(t, "socat"), srv, p)
			out, err := c.Run(ctx, "sh", "-c", cmd)
			cancel()
			if err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
		}
	}
	seq := []int{16001, 16002, 16003, 16004, 16005}
	opens := func(c *netlab.Host) int { return len(d.Lines(`msg="OPEN SESAME" src=` + c.V4.String())) }

	// The knock opens the controlled port for the knocker only.
	a, b := lab.Client(0), lab.Client(1)
	mustFiltered(t, a, a.V4, to, "before the knock")
	send(a, `knock\n`, seq...)
	if _, err := d.WaitLog(`msg="OPEN SESAME" src=`+a.V4.String(), 5*time.Second); err != nil {
		t.Fatalf("the knock did not open: %v\n%s", err, d.Log())
	}
	mustConnect(t, a, a.V4, to, "after the knock")
	mustFiltered(t, b, b.V4, to, "from another address while the door is open for the knocker")

	// A wrong datagram starts the lockout: the right knock right after it
	// opens nothing, the same knock after the lockout opens.
	send(b, `knock\n`, seq[:2]...)
	send(b, `hello\n`, seq[2])
	if _, err := d.WaitLog(`src=`+b.V4.String()+` event=port-knocking-doors stage=2/5 hit=udp:16003 lockout=5s`, 3*time.Second); err != nil {
		t.Fatalf("no failure line with the lockout: %v\n%s", err, d.Log())
	}
	locked := time.Now()
	send(b, `knock\n`, seq...)
	time.Sleep(300 * time.Millisecond)
	if n := opens(b); n != 0 || time.Since(locked) >= pkdLockout*time.Second {
		t.Fatalf("a knock during the lockout opened (%d) or came too late to tell:\n%s", n, d.Log())
	}
	mustFiltered(t, b, b.V4, to, "after a knock during the lockout")
	time.Sleep(time.Until(locked.Add(pkdLockout*time.Second + 200*time.Millisecond)))
	send(b, `knock\n`, seq...)
	if _, err := d.WaitLog(`msg="OPEN SESAME" src=`+b.V4.String(), 5*time.Second); err != nil {
		t.Fatalf("the knock after the lockout did not open: %v\n%s", err, d.Log())
	}
	mustConnect(t, b, b.V4, to, "after the lockout")

	// max_opened_door_duration: the door shuts by itself.
	deadline := time.Now().Add((pkdDoorOpen + 3) * time.Second)
	for a.Connect(a.V4, to, 300*time.Millisecond) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the door is still open %ds after max_opened_door_duration", 3)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestQuickStartWithoutFile: a door from the command line alone, in
// knockd's terms (--sequence/--open, knocked with sesame) and in
// port-knocking-doors' (-m/--ports, knocked with its datagrams).
func TestQuickStartWithoutFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags []string
		knock func(t *testing.T, c *netlab.Host, srv string)
	}{
		{"sequence-open", []string{"--sequence", "7000,8000:udp,9000", "--open", fmt.Sprintf("tcp:%d", nativePort)},
			func(t *testing.T, c *netlab.Host, srv string) { knockWith(t, c, srv, "7000", "8000:udp", "9000") }},
		{"magic-seq-ports", []string{"-m", "11001,11003,11002,11005,11004", "--ports", fmt.Sprint(nativePort)},
			func(t *testing.T, c *netlab.Host, srv string) {
				for _, p := range []int{11001, 11003, 11002, 11005, 11004} {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					out, err := c.Run(ctx, "sh", "-c", fmt.Sprintf(`printf 'knock\n' | %s -u - UDP:%s:%d`, bin(t, "socat"), srv, p))
					cancel()
					if err != nil {
						t.Fatalf("socat: %v\n%s", err, out)
					}
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab := netlab.New(t, netlab.Config{Clients: 1})
			lab.Server.Echo(t, nativePort)
			dir := t.TempDir()
			args := append([]string{"-i", lab.Server.IfName, "-v"}, tc.flags...)
			d := lab.Server.Start(t, logPath(t, dir, "sesamed"), bin(t, "sesamed"), args...)
			if _, err := d.WaitLog("msg=ready", 10*time.Second); err != nil {
				t.Fatalf("sesamed %v did not become ready: %v\n%s", args, err, d.Log())
			}
			c := lab.Client(0)
			to := dst(lab.Server.V4)
			mustFiltered(t, c, c.V4, to, "before the knock")
			tc.knock(t, c, lab.Server.V4.String())
			if _, err := d.WaitLog(`msg="OPEN SESAME" src=`+c.V4.String(), 5*time.Second); err != nil {
				t.Fatalf("the knock did not open: %v\n%s", err, d.Log())
			}
			mustConnect(t, c, c.V4, to, "after the knock")
		})
	}
}
