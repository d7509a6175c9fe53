//go:build linux

package netlab_test

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/netlab"
)

func TestAddressPlan(t *testing.T) {
	t.Parallel()
	netlab.RequireRoot(t)
	lab := netlab.New(t, netlab.Config{Clients: 2, ExtraClientAddrs: 3})
	all := []netip.Addr{lab.Server.V4, lab.Server.V6}
	for _, c := range lab.Clients {
		all = append(all, c.V4, c.V6)
		all = append(all, c.Extra4...)
		all = append(all, c.Extra6...)
	}
	seen := map[netip.Addr]bool{}
	for _, a := range all {
		if !netlab.Net4.Contains(a) && !netlab.Net6.Contains(a) {
			t.Errorf("address %s is outside the lab's ranges", a)
		}
		if seen[a] {
			t.Errorf("address %s used twice", a)
		}
		seen[a] = true
	}
	if got, want := lab.Client(1).Extra4[2].String(), "198.18.32.4"; got != want {
		t.Errorf("client 1 extra 2 = %s, want %s", got, want)
	}
	if got, want := lab.Client(0).Extra6[0].String(), "fd00:5e5a::1:2"; got != want {
		t.Errorf("client 0 extra 0 = %s, want %s", got, want)
	}
	// Nothing of the lab is visible on the host, and no route leaves it.
	out, err := exec.Command("ip", "-o", "link").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"srv0", "cli0", "br0"} {
		if strings.Contains(string(out), " "+name+"@") || strings.Contains(string(out), " "+name+":") {
			t.Errorf("lab link %s appeared on the host", name)
		}
	}
	ctx := context.Background()
	for _, h := range append([]*netlab.Host{lab.Server}, lab.Clients...) {
		for _, fam := range []string{"-4", "-6"} {
			out, err := h.Run(ctx, "ip", fam, "route", "show", "table", "all")
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if strings.HasPrefix(l, "default") || strings.Contains(l, " via ") {
					t.Errorf("%s has a route that leaves the lab: %s", h.Name, l)
				}
			}
		}
	}
}

func TestDoorAndConnect(t *testing.T) {
	t.Parallel()
	netlab.RequireRoot(t)
	lab := netlab.New(t, netlab.Config{Clients: 2, ExtraClientAddrs: 2})
	door := lab.Server.Protect(t, 2222)
	ctx := context.Background()
	v4 := netip.AddrPortFrom(lab.Server.V4, door.Port)
	v6 := netip.AddrPortFrom(lab.Server.V6, door.Port)
	c := lab.Client(0)

	for _, dst := range []netip.AddrPort{v4, v6} {
		if err := c.Connect(netip.Addr{}, dst, 300*time.Millisecond); !errors.Is(err, netlab.ErrFiltered) {
			t.Fatalf("connect to %s before allowing: got %v, want ErrFiltered", dst, err)
		}
	}
	// A port without the door is refused, not filtered: Connect tells a
	// missing listener from a closed door.
	if err := c.Connect(netip.Addr{}, netip.AddrPortFrom(lab.Server.V4, 2223), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect to a closed port: got %v, want ECONNREFUSED", err)
	}
	if err := door.Allow(ctx, c.Extra4[1]); err != nil {
		t.Fatal(err)
	}
	if err := door.Allow(ctx, c.V6); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(c.Extra4[1], v4, time.Second); err != nil {
		t.Fatalf("connect from allowed %s: %v", c.Extra4[1], err)
	}
	if err := c.Connect(c.Extra4[0], v4, 300*time.Millisecond); !errors.Is(err, netlab.ErrFiltered) {
		t.Fatalf("connect from other address %s: got %v, want ErrFiltered", c.Extra4[0], err)
	}
	if err := c.Connect(netip.Addr{}, v6, time.Second); err != nil {
		t.Fatalf("connect over IPv6 from allowed %s: %v", c.V6, err)
	}
	if err := lab.Client(1).Connect(netip.Addr{}, v4, 300*time.Millisecond); !errors.Is(err, netlab.ErrFiltered) {
		t.Fatalf("connect from client 1: got %v, want ErrFiltered", err)
	}
	got, err := door.Allowed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{c.Extra4[1], c.V6}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Allowed() = %v, want %v", got, want)
	}
	cmd := strings.ReplaceAll(door.StopCommand(), "%IP%", c.Extra4[1].String())
	if _, err := lab.Server.Run(ctx, "sh", "-c", cmd); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(c.Extra4[1], v4, 300*time.Millisecond); !errors.Is(err, netlab.ErrFiltered) {
		t.Fatalf("connect after the stop command: got %v, want ErrFiltered", err)
	}
}

func TestKnockAndScanReachServer(t *testing.T) {
	t.Parallel()
	netlab.RequireRoot(t)
	lab := netlab.New(t, netlab.Config{ExtraClientAddrs: 2})
	c := lab.Client(0)
	udp, err := lab.Server.ListenPacket("udp", "[::]:7001")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	seq, err := netlab.ParseKnocks("7000,7001:udp")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.KnockFrom(c.Extra4, lab.Server.V4, seq, 0); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	buf := make([]byte, 64)
	for range c.Extra4 {
		_ = udp.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, from, err := udp.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		ap, _ := netip.ParseAddrPort(from.String())
		got[ap.Addr().Unmap().String()] = true
	}
	for _, a := range c.Extra4 {
		if !got[a.String()] {
			t.Errorf("no UDP knock from %s (got %v)", a, got)
		}
	}
	start := time.Now()
	n, err := c.ScanTCP(netip.Addr{}, lab.Server.V4, 1, 65535, time.Now().Add(30*time.Second))
	if err != nil || n != 65535 {
		t.Fatalf("ScanTCP = %d, %v", n, err)
	}
	t.Logf("65535-port scan took %v", time.Since(start))
}

func TestProcAndCleanup(t *testing.T) {
	netlab.RequireRoot(t)
	var name string
	var pid int
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t, netlab.Config{})
		name = lab.Name()
		p := lab.Server.Start(t, "", "sh", "-c", "ip -br addr show dev srv0; echo ready; exec sleep 60")
		pid = p.Pid()
		line, err := p.WaitLog("ready", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if line != "ready" {
			t.Errorf("WaitLog = %q", line)
		}
		if !strings.Contains(p.Log(), "198.18.0.1") {
			t.Errorf("server log lacks its address:\n%s", p.Log())
		}
		if _, err := p.WaitLog("never", 50*time.Millisecond); !errors.Is(err, netlab.ErrTimeout) {
			t.Errorf("WaitLog(never) = %v, want ErrTimeout", err)
		}
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(3 * time.Second); err == nil {
			t.Errorf("sleep killed by SIGTERM exited 0")
		}
		lab.Client(0).Start(t, "", "sleep", "60") // left for the cleanup
	})
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), name) {
		t.Errorf("namespaces of %s left after the test:\n%s", name, out)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("process %d still runs", pid)
	}
}
