//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Prefix starts the name of every namespace a lab creates.
const Prefix = "sesamelab-"

// The lab's address plan (see the package comment).
var (
	Net4 = netip.MustParsePrefix("198.18.0.0/15")
	Net6 = netip.MustParsePrefix("fd00:5e5a::/64")
)

const (
	maxClients = 31   // client blocks 1..31 of 4096 addresses fit in 198.18.0.0/15
	maxExtra   = 4000 // extra addresses per client, within its block
)

// Config shapes a lab.
type Config struct {
	// Clients is the number of client namespaces (default 1, at most 31).
	Clients int
	// ExtraClientAddrs adds this many more IPv4 and IPv6 addresses to every
	// client's interface (Host.Extra4, Host.Extra6), for many-source tests.
	ExtraClientAddrs int
}

// Lab is a server and its clients, each in its own namespace.
type Lab struct {
	Server  *Host
	Clients []*Host
	hub     *Netns
	name    string
}

// Host is one namespace with one interface into the lab.
type Host struct {
	*Netns
	IfName string     // the interface facing the hub ("srv0", "cli0")
	V4     netip.Addr // primary IPv4 address
	V6     netip.Addr // primary IPv6 address
	Extra4 []netip.Addr
	Extra6 []netip.Addr
}

// Client returns client i.
func (l *Lab) Client(i int) *Host { return l.Clients[i] }

// Name is the lab's unique name (the common prefix of its namespaces).
func (l *Lab) Name() string { return l.name }

var (
	labSeq    atomic.Int64
	sweepOnce sync.Once
)

// New builds a lab and registers its teardown with t.Cleanup. It fails the
// test if the lab cannot be built, and skips it (fails under CI=true) when not
// running as root on Linux.
func New(t testing.TB, cfg Config) *Lab {
	t.Helper()
	RequireRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		SkipOrFail(t, "netlab needs iproute2's ip: %v", err)
	}
	if cfg.Clients == 0 {
		cfg.Clients = 1
	}
	if cfg.Clients < 0 || cfg.Clients > maxClients {
		t.Fatalf("netlab: %d clients, want 1..%d", cfg.Clients, maxClients)
	}
	if cfg.ExtraClientAddrs < 0 || cfg.ExtraClientAddrs > maxExtra {
		t.Fatalf("netlab: %d extra addresses, want 0..%d", cfg.ExtraClientAddrs, maxExtra)
	}
	sweepOnce.Do(func() { sweep(t) })

	name := fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), labSeq.Add(1))
	l := &Lab{name: name}
	l.hub = newNetns(name + "-hub")
	l.Server = &Host{Netns: newNetns(name + "-srv"), IfName: "srv0", V4: addr4(0, 0), V6: addr6(0, 0)}
	for i := range cfg.Clients {
		h := &Host{Netns: newNetns(fmt.Sprintf("%s-c%d", name, i)), IfName: "cli0", V4: addr4(i+1, 0), V6: addr6(i+1, 0)}
		for k := 1; k <= cfg.ExtraClientAddrs; k++ {
			h.Extra4 = append(h.Extra4, addr4(i+1, k))
			h.Extra6 = append(h.Extra6, addr6(i+1, k))
		}
		l.Clients = append(l.Clients, h)
	}
	t.Cleanup(l.teardown)
	if err := l.build(); err != nil {
		t.Fatalf("netlab: failed to build lab %s: %v", name, err)
	}
	if err := l.check(); err != nil {
		t.Fatalf("netlab: lab %s is built but not working: %v", name, err)
	}
	return l
}

// addr4 is host k of block b: the server is block 0, client i is block i+1.
func addr4(block, k int) netip.Addr {
	base := Net4.Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	n += uint32(block)<<12 + uint32(k) + 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// addr6 is fd00:5e5a::B:K+1 (the server, block 0, is fd00:5e5a::1).
func addr6(block, k int) netip.Addr {
	a := Net6.Addr().As16()
	a[12], a[13] = byte(block>>8), byte(block)
	a[14], a[15] = byte((k+1)>>8), byte(k+1)
	return netip.AddrFrom16(a)
}

func (l *Lab) hosts() []*Host { return append([]*Host{l.Server}, l.Clients...) }

func (l *Lab) build() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := []*Netns{l.hub}
	for _, h := range l.hosts() {
		all = append(all, h.Netns)
	}
	for _, ns := range all {
		if out, err := exec.CommandContext(ctx, "ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns add %s: %v: %s", ns.Name, err, out)
		}
		ns.created = true
		// Before any link exists, so every interface inherits it: no DAD, no
		// router solicitations; addresses are usable at once.
		if err := ns.Do(func() error {
			for _, kv := range [][2]string{
				{"net/ipv6/conf/default/accept_dad", "0"},
				{"net/ipv6/conf/all/accept_dad", "0"},
				{"net/ipv6/conf/default/router_solicitations", "0"},
				{"net/ipv6/conf/default/accept_ra", "0"},
			} {
				if err := os.WriteFile("/proc/sys/"+kv[0], []byte(kv[1]), 0); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("sysctl in %s: %w", ns.Name, err)
		}
	}

	// The hub: a plain bridge, no STP (ports forward at once), no multicast
	// snooping (neighbour discovery reaches everyone).
	hub := []string{
		"link set lo up",
		"link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
		"link set br0 up",
	}
	if err := l.hub.batch(ctx, hub); err != nil {
		return err
	}
	for _, h := range l.hosts() {
		if err := l.plug(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// port is the hub's end of h's veth pair.
func (l *Lab) port(h *Host) string {
	if h == l.Server {
		return "srv"
	}
	for i, c := range l.Clients {
		if c == h {
			return fmt.Sprintf("c%d", i)
		}
	}
	panic("netlab: host not in this lab")
}

// mac is h's interface's MAC address: locally administered, by host.
func (l *Lab) mac(h *Host) string {
	n := 0
	for i, c := range l.Clients {
		if c == h {
			n = i + 1
		}
	}
	return fmt.Sprintf("02:5e:5a:00:00:%02x", n)
}

// plug creates h's veth pair, with both ends already inside the lab, and
// gives h's end its addresses.
func (l *Lab) plug(ctx context.Context, h *Host) error {
	port := l.port(h)
	if out, err := exec.CommandContext(ctx, "ip", "-n", l.hub.Name, "link", "add", port, "type", "veth", "peer", "name", h.IfName, "netns", h.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("veth %s-%s: %v: %s", port, h.IfName, err, out)
	}
	if err := l.hub.batch(ctx, []string{"link set " + port + " master br0", "link set " + port + " up"}); err != nil {
		return err
	}
	cmds := []string{
		"link set lo up",
		// A fixed MAC address, so that an interface plugged in again is
		// the same host to the others' neighbour caches (as a NIC is).
		fmt.Sprintf("link set dev %s address %s", h.IfName, l.mac(h)),
		fmt.Sprintf("addr add %s/%d dev %s", h.V4, Net4.Bits(), h.IfName),
		fmt.Sprintf("addr add %s/%d dev %s nodad", h.V6, Net6.Bits(), h.IfName),
	}
	for _, a := range h.Extra4 {
		cmds = append(cmds, fmt.Sprintf("addr add %s/32 dev %s", a, h.IfName))
	}
	for _, a := range h.Extra6 {
		// Deprecated (preferred_lft 0): still usable when bound, but
		// never picked as the default source over the primary address.
		cmds = append(cmds, fmt.Sprintf("addr add %s/128 dev %s nodad preferred_lft 0", a, h.IfName))
	}
	cmds = append(cmds, "link set "+h.IfName+" up")
	return h.batch(ctx, cmds)
}

// Unplug deletes h's veth pair: its interface is gone, as when a USB NIC
// is pulled or a VPN tunnel is torn down.
func (l *Lab) Unplug(ctx context.Context, h *Host) error {
	if out, err := exec.CommandContext(ctx, "ip", "-n", l.hub.Name, "link", "del", l.port(h)).CombinedOutput(); err != nil {
		return fmt.Errorf("unplug %s: %v: %s", h.IfName, err, out)
	}
	return nil
}

// Plug creates h's veth pair again after Unplug: an interface of the same
// name (with a new index) and the same addresses.
func (l *Lab) Plug(ctx context.Context, h *Host) error { return l.plug(ctx, h) }

// check proves every client reaches the server over IPv4 and IPv6: a connect
// to a closed port must be refused (the server's RST came back).
func (l *Lab) check() error {
	for _, c := range l.Clients {
		for _, dst := range []netip.Addr{l.Server.V4, l.Server.V6} {
			var err error
			for try := 0; try < 20; try++ { // bounded: the link may take a moment to come up
				_, err = c.Dial("tcp", netip.AddrPortFrom(dst, 9).String(), 500*time.Millisecond)
				if errors.Is(err, syscall.ECONNREFUSED) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return fmt.Errorf("%s cannot reach %s: %v", c.Name, dst, err)
			}
		}
	}
	return nil
}

func (l *Lab) teardown() {
	for _, h := range l.hosts() {
		h.killAll()
	}
	l.hub.killAll()
	for _, h := range l.hosts() {
		h.delete()
	}
	l.hub.delete()
}

var leftover = regexp.MustCompile(`^` + regexp.QuoteMeta(Prefix) + `(\d+)-\d+-`)

// sweep deletes namespaces that an earlier, crashed run of these tests left
// behind: named with Prefix and a PID that no longer runs. Processes still in
// them were started by that run; they are killed by PID first.
func sweep(t testing.TB) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := leftover.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || processExists(pid) {
			continue
		}
		ns := newNetns(f[0])
		ns.created = true
		if pids, err := exec.Command("ip", "netns", "pids", ns.Name).Output(); err == nil {
			for _, p := range strings.Fields(string(pids)) {
				if n, err := strconv.Atoi(p); err == nil && n > 1 {
					_ = syscall.Kill(n, syscall.SIGKILL)
				}
			}
		}
		ns.delete()
		t.Logf("netlab: swept leftover namespace %s of dead test process %d", ns.Name, pid)
	}
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
