package nflog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gonflog "github.com/florianl/go-nflog/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	nft "github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/netlab"
	"github.com/sesame-knock/sesame/internal/packet"
)

// nsFd opens the namespace's bind mount for the nftables connection.
func nsFd(t *testing.T, h *netlab.Host) int {
	t.Helper()
	f, err := os.Open(h.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// openIn opens a source inside host's namespace.
func openIn(h *netlab.Host, group uint16, spec capture.FilterSpec, opts Options) (*Source, error) {
	var s *Source
	err := h.Do(func() error {
		var err error
		s, err = Open(group, spec, opts)
		return err
	})
	return s, err
}

// hits collects what a running source delivers.
type hits struct {
	ch   chan packet.Hit
	done chan error
	stop context.CancelFunc
}

// run runs s until the returned hits is stopped (or the test ends).
func run(t *testing.T, s *Source) *hits {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &hits{ch: make(chan packet.Hit, 4096), done: make(chan error, 1), stop: cancel}
	sink := capture.SinkFunc(func(h *packet.Hit) {
		select {
		case r.ch <- *h:
		default:
			t.Errorf("test sink full; dropped %v", *h)
		}
	})
	go func() { r.done <- s.Run(ctx, sink) }()
	t.Cleanup(func() { r.end(t) })
	return r
}

// end stops Run and fails the test if it does not return nil promptly.
func (r *hits) end(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancellation")
	}
}

// collect returns hits until n have arrived (or timeout), then whatever
// else arrives within quiet.
func (r *hits) collect(t *testing.T, n int, timeout, quiet time.Duration) []packet.Hit {
	t.Helper()
	var got []packet.Hit
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case h := <-r.ch:
			got = append(got, h)
		case <-deadline:
			t.Fatalf("got %d hits within %v, want %d:\n%s", len(got), timeout, n, hitList(got))
		}
	}
	grace := time.After(quiet)
	for {
		select {
		case h := <-r.ch:
			got = append(got, h)
		case <-grace:
			return got
		}
	}
}

func hitList(hs []packet.Hit) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "\t%v head=%q\n", h, h.Head[:h.HeadLen])
	}
	return b.String()
}

// hitKey is what the tests compare of a hit.
type hitKey struct {
	Src, Dst netip.Addr
	Proto    packet.Proto
	DstPort  uint16
	Flags    packet.TCPFlags
	Knock    bool // UDP payload is exactly "knock\n"
}

func keys(hs []packet.Hit) []hitKey {
	var ks []hitKey
	for _, h := range hs {
		ks = append(ks, hitKey{h.Src, h.Dst, h.Proto, h.DstPort, h.Flags & packet.AllFlags, h.HasPayload([]byte("knock\n"))})
	}
	slices.SortFunc(ks, func(a, b hitKey) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	return ks
}

// settled fails the test unless the goroutine count comes back to base
// within a second: the source leaves none of its own or the library's
// behind.
func settled(t *testing.T, base int) {
	t.Helper()
	n := 0
	for range 100 {
		if n = runtime.NumGoroutine(); n <= base {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Errorf("%d goroutines, %d before Open:\n%s", n, base, buf[:runtime.Stack(buf, true)])
}

func knock(t *testing.T, c *netlab.Host, dst netip.Addr, ks ...netlab.Knock) {
	t.Helper()
	if err := c.KnockFrom([]netip.Addr{{}}, dst, ks, 0); err != nil {
		t.Fatal(err)
	}
}

func tcp(p uint16) netlab.Knock { return netlab.Knock{Port: p, Proto: "tcp"} }
func udp(p uint16) netlab.Knock { return netlab.Knock{Port: p, Proto: "udp"} }

// tables lists the names of the inet tables in the namespace.
func tables(t *testing.T, fd int) []string {
	t.Helper()
	c, err := nft.New(nft.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.ListTablesOfFamily(nft.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range ts {
		names = append(names, tb.Name)
	}
	slices.Sort(names)
	return names
}

// readBack lists sesame's table for group from the kernel as a ruleset,
// so that it renders like what buildRuleset made.
func readBack(t *testing.T, fd int, group uint16) *ruleset {
	t.Helper()
	c, err := nft.New(nft.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	name := TableName(group)
	rs := &ruleset{table: &nft.Table{Family: nft.TableFamilyINet, Name: name}}
	chains, err := c.ListChainsOfTableFamily(nft.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chains {
		if ch.Table.Name == name {
			if rs.chain != nil {
				t.Fatalf("more than one chain in %s", name)
			}
			rs.chain = ch
		}
	}
	if rs.chain == nil {
		t.Fatalf("no chain in table %s", name)
	}
	sets, err := c.GetSets(rs.table)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(sets, func(a, b *nft.Set) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range sets {
		els, err := c.GetSetElements(s)
		if err != nil {
			t.Fatal(err)
		}
		rs.sets = append(rs.sets, portSet{set: s, elems: els})
	}
	if rs.rules, err = c.GetRules(rs.table, rs.chain); err != nil {
		t.Fatal(err)
	}
	return rs
}

// checkInstalled compares the kernel's table with what buildRuleset makes.
func checkInstalled(t *testing.T, fd int, group uint16, spec capture.FilterSpec) {
	t.Helper()
	want := renderRuleset(buildRuleset(group, spec))
	if diff := cmp.Diff(want, renderRuleset(readBack(t, fd, group))); diff != "" {
		t.Errorf("installed table differs from the built one (-want +got):\n%s", diff)
	}
}

var labSpec = capture.FilterSpec{
	TCPPorts: append([]uint16{7000}, window(20000, 256)...), // a sequence port and a cipher window
	UDPPorts: append([]uint16{7500}, window(30000, 256)...),
}

// The whole road in a lab: Open installs the rule in the server's
// namespace, knocks from a client over IPv4 and IPv6 arrive as hits with
// the right addresses, ports, flags and payload, packets to other ports do
// not, and stopping Run removes the table.
func TestLabKnocks(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv, cli := lab.Server, lab.Client(0)
	fd := nsFd(t, srv)
	base := runtime.NumGoroutine()
	s, err := openIn(srv, 5, labSpec, Options{Install: true, NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "nflog:5" {
		t.Errorf("Name() = %q", s.Name())
	}
	checkInstalled(t, fd, 5, labSpec)
	r := run(t, s)

	// Unlisted first, so that a leak would arrive before the listed ones.
	knock(t, cli, srv.V4, tcp(9999), udp(9998), tcp(30000), udp(20000))
	knock(t, cli, srv.V4, tcp(7000), udp(7500), tcp(20000), tcp(20255), udp(30128))
	knock(t, cli, srv.V6, tcp(7000), udp(7500), udp(30255))
	want := []hitKey{
		{cli.V4, srv.V4, packet.TCP, 7000, packet.SYN, false},
		{cli.V4, srv.V4, packet.UDP, 7500, 0, true},
		{cli.V4, srv.V4, packet.TCP, 20000, packet.SYN, false},
		{cli.V4, srv.V4, packet.TCP, 20255, packet.SYN, false},
		{cli.V4, srv.V4, packet.UDP, 30128, 0, true},
		{cli.V6, srv.V6, packet.TCP, 7000, packet.SYN, false},
		{cli.V6, srv.V6, packet.UDP, 7500, 0, true},
		{cli.V6, srv.V6, packet.UDP, 30255, 0, true},
	}
	got := r.collect(t, len(want), 5*time.Second, 200*time.Millisecond)
	if diff := cmp.Diff(keys(hitsOf(want)), keys(got), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("hits (-want +got):\n%s\ngot:\n%s", diff, hitList(got))
	}
	for _, h := range got {
		if h.SrcPort == 0 {
			t.Errorf("hit without source port: %v", h)
		}
		if h.Proto == packet.UDP && (h.PayloadLen != 6 || h.HeadLen != 6 || string(h.Head[:6]) != "knock\n") {
			t.Errorf("UDP hit payload: len %d head %q", h.PayloadLen, h.Head[:h.HeadLen])
		}
	}

	r.end(t)
	if st := s.Stats(); st.Packets != uint64(len(want)) || st.Drops != 0 || st.Undecodable != 0 {
		t.Errorf("Stats() = %+v, want %d packets, no drops, none undecodable", st, len(want))
	}
	if ts := tables(t, fd); slices.Contains(ts, TableName(5)) {
		t.Errorf("table %s still there after Run returned: %v", TableName(5), ts)
	}
	settled(t, base)
	if err := s.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
	if err := s.Run(context.Background(), capture.SinkFunc(func(*packet.Hit) {})); err == nil {
		t.Error("a second Run succeeded")
	}
}

// hitsOf turns keys back into hits, so both sides go through keys.
func hitsOf(ks []hitKey) []packet.Hit {
	var hs []packet.Hit
	for _, k := range ks {
		h := packet.Hit{Src: k.Src, Dst: k.Dst, Proto: k.Proto, DstPort: k.DstPort, Flags: k.Flags}
		if k.Knock {
			h.SetHead([]byte("knock\n"))
			h.PayloadLen = 6
		}
		hs = append(hs, h)
	}
	return hs
}

// With the scan guard every probe is logged, whatever its port, and each
// packet once: a SYN to a listed port matches the port rule and the probe
// rule but arrives once; the segments of an established connection to an
// unlisted port (all with ACK) are not logged, only its SYN.
func TestLabScanGuard(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv, cli := lab.Server, lab.Client(0)
	fd := nsFd(t, srv)
	spec := capture.FilterSpec{TCPPorts: []uint16{7000}, UDPPorts: []uint16{7500}, ScanGuard: true}
	s, err := openIn(srv, 6, spec, Options{Install: true, NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, fd, 6, spec)
	ln, err := srv.Listen("tcp", net.JoinHostPort(srv.V4.String(), "8080"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = c.Read(make([]byte, 16))
			c.Close()
		}
		accepted <- err
	}()
	r := run(t, s)

	knock(t, cli, srv.V4, tcp(7000), tcp(9999), udp(9998), udp(7500))
	knock(t, cli, srv.V6, tcp(9999))
	c, err := cli.Dial("tcp", net.JoinHostPort(srv.V4.String(), "8080"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	c.Close()
	want := []hitKey{
		{cli.V4, srv.V4, packet.TCP, 7000, packet.SYN, false},
		{cli.V4, srv.V4, packet.TCP, 9999, packet.SYN, false},
		{cli.V4, srv.V4, packet.UDP, 9998, 0, true},
		{cli.V4, srv.V4, packet.UDP, 7500, 0, true},
		{cli.V6, srv.V6, packet.TCP, 9999, packet.SYN, false},
		{cli.V4, srv.V4, packet.TCP, 8080, packet.SYN, false},
	}
	got := r.collect(t, len(want), 5*time.Second, 300*time.Millisecond)
	if diff := cmp.Diff(keys(hitsOf(want)), keys(got), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("hits (-want +got):\n%s\ngot:\n%s", diff, hitList(got))
	}
}

// A table left by a crashed run on the same group (here with other ports
// and the scan guard) is replaced by Open; Close without Run removes the
// table and frees the group, so Open works again.
func TestLabStaleTableAndReopen(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv := lab.Server
	fd := nsFd(t, srv)
	stale, err := install(buildRuleset(5, capture.FilterSpec{TCPPorts: []uint16{1, 2, 3}, ScanGuard: true}), nft.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	stale.conn.CloseLasting() // crash: the table stays

	spec := capture.FilterSpec{TCPPorts: []uint16{7000}, UDPPorts: []uint16{7500}}
	base := runtime.NumGoroutine()
	for i := range 2 {
		s, err := openIn(srv, 5, spec, Options{Install: true, NetNSFd: fd})
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		checkInstalled(t, fd, 5, spec)
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
		if ts := tables(t, fd); len(ts) != 0 {
			t.Fatalf("tables still there after Close #%d: %v", i+1, ts)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close #%d: %v", i+1, err)
		}
		if err := s.Run(context.Background(), capture.SinkFunc(func(*packet.Hit) {})); err == nil {
			t.Errorf("Run after Close #%d succeeded", i+1)
		}
	}
	settled(t, base)
}

// When the socket fails under it, Run delivers what was queued, returns
// the error (so the daemon reopens the source) and still removes the
// table.
func TestLabSocketFailure(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv, cli := lab.Server, lab.Client(0)
	fd := nsFd(t, srv)
	s, err := openIn(srv, 5, capture.FilterSpec{TCPPorts: []uint16{7000}}, Options{Install: true, NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	knock(t, cli, srv.V4, tcp(7000))
	// Queued before Run starts: wait for it (the bound only catches a lost
	// packet), then a little for a duplicate, which the count below would
	// show.
	for deadline := time.Now().Add(5 * time.Second); len(s.queue) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the knock was not queued within 5s")
		}
	}
	time.Sleep(100 * time.Millisecond)
	s.nf.Con.Close() // the failure
	var n int
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background(), capture.SinkFunc(func(*packet.Hit) { n++ })) }()
	select {
	case err := <-errc:
		if err == nil || !strings.HasPrefix(err.Error(), "capture on nflog:5: ") {
			t.Errorf("Run after the socket failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the socket failed")
	}
	if n != 1 {
		t.Errorf("%d hits delivered, want the 1 queued before the failure", n)
	}
	if ts := tables(t, fd); slices.Contains(ts, TableName(5)) {
		t.Errorf("table %s still there after Run failed: %v", TableName(5), ts)
	}
}

// A group can have one listener: a second Open of the same group fails
// with ErrGroupInUse (not a permission error, which would send the
// administrator looking for the wrong fix) and leaves the first source's
// table alone.
func TestLabGroupInUse(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv, cli := lab.Server, lab.Client(0)
	fd := nsFd(t, srv)
	spec := capture.FilterSpec{TCPPorts: []uint16{7000}}
	s, err := openIn(srv, 5, spec, Options{Install: true, NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = openIn(srv, 5, spec, Options{Install: true, NetNSFd: fd})
	if !errors.Is(err, ErrGroupInUse) || errors.Is(err, os.ErrPermission) {
		t.Fatalf("second Open of group 5: %v, want ErrGroupInUse", err)
	}
	if want := "failed to bind nflog group 5: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	checkInstalled(t, fd, 5, spec)
	r := run(t, s)
	knock(t, cli, srv.V4, tcp(7000))
	r.collect(t, 1, 5*time.Second, 0)
}

// Two sources on different groups in one namespace (two daemons) each
// install their own table and each get their knocks, including one to a
// port both listen on; when one stops, it removes its own table only, and
// the other goes on receiving.
func TestLabTwoGroups(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv, cli := lab.Server, lab.Client(0)
	fd := nsFd(t, srv)
	spec5 := capture.FilterSpec{TCPPorts: []uint16{7000}, UDPPorts: []uint16{7500}}
	spec6 := capture.FilterSpec{TCPPorts: []uint16{7000, 8000}}
	s5, err := openIn(srv, 5, spec5, Options{Install: true, NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	s6, err := openIn(srv, 6, spec6, Options{Install: true, NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	if ts, want := tables(t, fd), []string{TableName(5), TableName(6)}; !slices.Equal(ts, want) {
		t.Errorf("tables %v, want %v", ts, want)
	}
	checkInstalled(t, fd, 5, spec5)
	checkInstalled(t, fd, 6, spec6)
	r5, r6 := run(t, s5), run(t, s6)

	knock(t, cli, srv.V4, tcp(7000), tcp(8000), udp(7500))
	opt := cmpopts.EquateComparable(netip.Addr{})
	want5 := []hitKey{
		{cli.V4, srv.V4, packet.TCP, 7000, packet.SYN, false},
		{cli.V4, srv.V4, packet.UDP, 7500, 0, true},
	}
	want6 := []hitKey{
		{cli.V4, srv.V4, packet.TCP, 7000, packet.SYN, false},
		{cli.V4, srv.V4, packet.TCP, 8000, packet.SYN, false},
	}
	for _, c := range []struct {
		group uint16
		r     *hits
		want  []hitKey
	}{{5, r5, want5}, {6, r6, want6}} {
		got := c.r.collect(t, len(c.want), 5*time.Second, 200*time.Millisecond)
		if diff := cmp.Diff(keys(hitsOf(c.want)), keys(got), opt); diff != "" {
			t.Errorf("group %d hits (-want +got):\n%s\ngot:\n%s", c.group, diff, hitList(got))
		}
	}

	r5.end(t)
	if ts, want := tables(t, fd), []string{TableName(6)}; !slices.Equal(ts, want) {
		t.Errorf("tables after group 5 stopped: %v, want %v", ts, want)
	}
	checkInstalled(t, fd, 6, spec6)
	knock(t, cli, srv.V4, udp(7500), tcp(7000), tcp(8000))
	got := r6.collect(t, len(want6), 5*time.Second, 200*time.Millisecond)
	if diff := cmp.Diff(keys(hitsOf(want6)), keys(got), opt); diff != "" {
		t.Errorf("group 6 hits after group 5 stopped (-want +got):\n%s\ngot:\n%s", diff, hitList(got))
	}
	r6.end(t)
	if ts := tables(t, fd); len(ts) != 0 {
		t.Errorf("tables after both stopped: %v", ts)
	}
}

// Without Install the administrator's rule does the logging: the source
// reads its group and creates no table, and leaves the administrator's
// table alone when it stops.
func TestLabExternalRule(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv, cli := lab.Server, lab.Client(0)
	fd := nsFd(t, srv)
	admin := buildRuleset(9, capture.FilterSpec{TCPPorts: []uint16{7000}})
	admin.table.Name = "admin"
	if _, err := install(admin, nft.WithNetNSFd(fd)); err != nil {
		t.Fatal(err)
	}
	s, err := openIn(srv, 9, capture.FilterSpec{TCPPorts: []uint16{7000}}, Options{NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	if ts := tables(t, fd); !slices.Equal(ts, []string{"admin"}) {
		t.Errorf("tables after Open without Install: %v, want only admin", ts)
	}
	r := run(t, s)
	knock(t, cli, srv.V4, tcp(7001), tcp(7000))
	got := r.collect(t, 1, 5*time.Second, 200*time.Millisecond)
	if len(got) != 1 || got[0].DstPort != 7000 || got[0].Src != cli.V4 {
		t.Errorf("hits:\n%s", hitList(got))
	}
	r.end(t)
	if ts := tables(t, fd); !slices.Equal(ts, []string{"admin"}) {
		t.Errorf("tables after Run: %v, want only admin", ts)
	}
}

// dropNetAdmin removes CAP_NET_ADMIN from the calling thread's effective
// set. Only the thread changes (capabilities are per thread): callers run
// it on a thread that dies afterwards (netlab's Do).
func dropNetAdmin() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
	return unix.Capset(&hdr, &data[0])
}

// Without CAP_NET_ADMIN both binding the group and installing the rule
// fail with an error that is os.ErrPermission and says what failed, so the
// daemon can print its hint.
func TestLabPermission(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv := lab.Server
	spec := capture.FilterSpec{TCPPorts: []uint16{7000}}
	var bindErr, installErr error
	if err := srv.Do(func() error {
		if err := dropNetAdmin(); err != nil {
			return err
		}
		_, bindErr = Open(5, spec, Options{Install: true})
		_, installErr = install(buildRuleset(5, spec))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		err    error
		prefix string
	}{
		{"bind", bindErr, "failed to bind nflog group 5: "},
		{"install", installErr, ""},
	} {
		if !errors.Is(tc.err, os.ErrPermission) || !errors.Is(tc.err, syscall.EPERM) {
			t.Errorf("%s: %v, want a permission error", tc.name, tc.err)
		}
		if tc.err != nil && !strings.HasPrefix(tc.err.Error(), tc.prefix) {
			t.Errorf("%s: %q does not start with %q", tc.name, tc.err, tc.prefix)
		}
	}
	if ts := tables(t, nsFd(t, srv)); len(ts) != 0 {
		t.Errorf("tables after failed Opens: %v", ts)
	}
}

// Allocations per packet on the whole path, kernel to sink, measured (and
// logged) with a ceiling against regressions. They are all the library's:
// mdlayher/netlink and mdlayher/socket allocate for each read (a peek and
// a read, each with a goroutine watching its context, the buffer, the
// message list) and go-nflog for each attribute it parses (a copy and a
// pointer each). Run's own part (decode, deliver) does not allocate
// (TestDeliverNoAlloc). The sender's write on a connected socket is
// included; it does not allocate.
func TestLabAllocsPerPacket(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv, cli := lab.Server, lab.Client(0)
	fd := nsFd(t, srv)
	s, err := openIn(srv, 5, capture.FilterSpec{UDPPorts: []uint16{7500}}, Options{Install: true, NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, capture.SinkFunc(func(*packet.Hit) {
			select {
			case got <- struct{}{}:
			default:
			}
		}))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// A socket on the server's port, never read (when full it drops): a
	// closed port would answer with ICMP, and the client's connected
	// socket would then fail its next write.
	ln, err := srv.ListenPacket("udp", net.JoinHostPort(srv.V4.String(), "7500"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := cli.Dial("udp", net.JoinHostPort(srv.V4.String(), "7500"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := []byte("knock\n")
	expired := make(chan struct{}) // closed on timeout: no allocation in the loop
	defer time.AfterFunc(20*time.Second, func() { close(expired) }).Stop()
	timedOut, writeErr := false, error(nil)
	n := testing.AllocsPerRun(500, func() {
		if _, err := c.Write(msg); err != nil {
			writeErr = err
		}
		select {
		case <-got:
		case <-expired:
			timedOut = true
		}
	})
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	if timedOut {
		t.Fatal("packets were lost")
	}
	t.Logf("%.1f allocations per packet (library receive and parse, whole path)", n)
	if n > 100 {
		t.Errorf("%.1f allocations per packet; go-nflog v2.3.0 with mdlayher/netlink v1.11.2 needed 69", n)
	}
}

// The source asks the kernel to send each logged packet as it comes (a
// queue threshold of one), not in batches: the kernel's default would hold
// a lone knock until 100 packets or its flush timeout (a second) are
// reached. It also asks for the documented copy mode, copy range and
// numbering.
func TestConfig(t *testing.T) {
	t.Parallel()
	c := config(7)
	if c.QThresh != 1 {
		t.Errorf("QThresh %d, want 1 (no batching)", c.QThresh)
	}
	if c.Group != 7 || c.Copymode != gonflog.CopyPacket || c.Bufsize != CopyRange || c.Flags&gonflog.FlagSeq == 0 {
		t.Errorf("config(7) = %+v, want group 7, copy mode packet, copy range %d, sequence numbers", *c, CopyRange)
	}
}

// A lone knock reaches the sink without waiting for a batch. The kernel's
// flush timeout is raised to an hour here, so that were the source's
// packets batched, a lone knock would sit in the kernel for that hour: the
// 5 s bound on each of these knocks, sent one at a time with nothing
// following, is a liveness bound that only fails then (or if the knock is
// lost), never because a machine is slow. The latency is measured and
// logged, not asserted.
func TestLabLatency(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv, cli := lab.Server, lab.Client(0)
	cfg := config(5)
	cfg.Timeout = 100 * 3600 // in 1/100 s: an hour
	opts := Options{Install: true, NetNSFd: nsFd(t, srv)}
	var s *Source
	if err := srv.Do(func() error {
		var err error
		s, err = openWith(cfg, capture.FilterSpec{TCPPorts: []uint16{7000}}, opts)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := run(t, s)
	var lat []time.Duration
	for i := range 50 {
		start := time.Now()
		knock(t, cli, srv.V4, tcp(7000))
		select {
		case <-r.ch:
			lat = append(lat, time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatalf("knock #%d not delivered within 5s: held for a batch, or lost", i+1)
		}
		time.Sleep(2 * time.Millisecond) // lone knocks, not a burst
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("knock to sink (including the client's thread setup): p50 %v, p99 %v", p50, p99)
}

// A burst while Run is held up overflows the socket: the kernel reports
// ENOBUFS, which does not stop the source, and the gaps in its numbering
// are counted as drops, so every packet logged is either delivered or
// counted.
func TestLabOverflow(t *testing.T) {
	lab := netlab.New(t, netlab.Config{})
	srv, cli := lab.Server, lab.Client(0)
	defer func(n int) { readBuffer = n }(readBuffer)
	readBuffer = 64 << 10 // some hundred packets
	s, err := openIn(srv, 5, capture.FilterSpec{UDPPorts: []uint16{7500}}, Options{Install: true, NetNSFd: nsFd(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.nf.Con.ReadBuffer(); err != nil || n != 2*readBuffer {
		t.Errorf("socket buffer %d (%v), want %d", n, err, 2*readBuffer)
	}
	// Not running yet: the queue fills, then the socket buffer.
	const burst = 3000
	if err := cli.KnockFrom([]netip.Addr{{}}, srv.V4, slices.Repeat([]netlab.Knock{udp(7500)}, burst), 0); err != nil {
		t.Fatal(err)
	}
	r := run(t, s)
	got := len(r.collect(t, queueLen, 10*time.Second, 500*time.Millisecond))
	knock(t, cli, srv.V4, udp(7500)) // reveals a gap at the end of the burst
	got += len(r.collect(t, 1, 5*time.Second, 0))
	st := s.Stats()
	t.Logf("%d sent, %d delivered, stats %+v", burst+1, got, st)
	if st.Drops == 0 || uint64(got) != st.Packets || st.Undecodable != 0 {
		t.Errorf("stats %+v after %d delivered, want drops, and every packet delivered", st, got)
	}
	// Every knock is delivered or counted. The count may run one over:
	// under overflow the kernel numbered one message more than the knocks
	// sent (seen once in CI: 1183 + 1819 for 3001), a message that never
	// arrived and so cannot be told apart from a lost knock.
	if sum := st.Packets + st.Drops; sum < burst+1 || sum > burst+2 {
		t.Errorf("%d delivered + %d dropped = %d, want the %d sent (or one more)", st.Packets, st.Drops, sum, burst+1)
	}
}

func TestCountGaps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start uint32
		seqs  []uint32
		want  uint64
	}{
		{"none", 0, []uint32{0, 1, 2, 3}, 0},
		{"gap", 0, []uint32{0, 1, 4, 5, 9}, 5},
		{"first lost", 0, []uint32{3, 4}, 3},
		{"wrap", 0xfffffffd, []uint32{0xfffffffe, 0xffffffff, 1}, 2},
		{"backwards is no drop", 0, []uint32{0, 1, 2, 1, 2}, 0},
	} {
		s := &Source{nextSeq: tc.start}
		for _, q := range tc.seqs {
			s.count(q)
		}
		if got := s.Stats().Drops; got != tc.want {
			t.Errorf("%s: %d drops, want %d", tc.name, got, tc.want)
		}
	}
}

// Run's own part of the per-packet path does not allocate.
func TestDeliverNoAlloc(t *testing.T) {
	ip4 := []byte{
		0x45, 0, 0, 34, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 16, 1, 198, 18, 0, 1, // IPv4, UDP
		0x9c, 0x40, 0x1d, 0x4c, 0, 14, 0, 0, 'k', 'n', 'o', 'c', 'k', '\n', // 40000 -> 7500
	}
	var n int
	sink := capture.SinkFunc(func(*packet.Hit) { n++ })
	s := &Source{}
	var h packet.Hit
	if a := testing.AllocsPerRun(1000, func() { s.deliver(ip4, &h, sink) }); a != 0 {
		t.Errorf("%.1f allocations per packet", a)
	}
	if n == 0 || h.DstPort != 7500 || !h.HasPayload([]byte("knock\n")) || s.Stats().Undecodable != 0 {
		t.Errorf("decoded %v (%d delivered, stats %+v)", h, n, s.Stats())
	}
	s.deliver(ip4[:10], &h, sink)
	if s.Stats().Undecodable != 1 {
		t.Errorf("a truncated packet was not counted as undecodable: %+v", s.Stats())
	}
}
