package iptables

// Root tests. Each test works in fresh network namespaces it creates
// (ip netns add sesame-ipt-<pid>-<n>) and deletes in t.Cleanup, so the
// host's own rules and sets are never read or changed: the product code
// gets the namespace as Config.NetNSFd, and assertions run iptables-save,
// ip6tables-save and ipset under "ip netns exec". Deleting a namespace
// drops its iptables rules (legacy and nft) and its ipsets with it.
//
// Without root the tests skip, except under CI=true, where they fail.

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/netlab"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// requireRoot skips the test without root, or fails it under CI=true.
func requireRoot(t *testing.T) {
	t.Helper()
	netlab.RequireRoot(t)
}

var nsSeq atomic.Int32

// netNS is a network namespace made for one test.
type netNS struct {
	name string
	fd   int
}

// newNS creates a fresh named network namespace, removed at cleanup.
func newNS(t *testing.T) *netNS {
	t.Helper()
	requireRoot(t)
	name := fmt.Sprintf("sesame-ipt-%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	ns := &netNS{name: name, fd: -1}
	t.Cleanup(func() {
		if ns.fd >= 0 {
			unix.Close(ns.fd)
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	fd, err := unix.Open(filepath.Join("/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ns.fd = fd
	ns.run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// run runs a command in the namespace and returns its stdout.
func (ns *netNS) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := ns.try(args...)
	if err != nil {
		t.Fatalf("ip netns exec %s %s: %v", ns.name, strings.Join(args, " "), err)
	}
	return out
}

// try runs a command in the namespace.
func (ns *netNS) try(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// do runs fn on a thread inside the namespace (sockets made there stay
// there). The thread is discarded afterwards.
func (ns *netNS) do(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("setns %s: %v", ns.name, err)
	}
}

// variant is one iptables implementation.
type variant struct {
	name         string
	path4, path6 string // for Config
	save4, save6 string // iptables-save binaries for assertions
}

// variants returns iptables-nft and iptables-legacy where both binaries
// (and their ip6tables and -save twins) exist, else the default iptables.
func variants(t *testing.T) []variant {
	var vs []variant
	for _, v := range []string{"nft", "legacy"} {
		bins := []string{"iptables-" + v, "ip6tables-" + v, "iptables-" + v + "-save", "ip6tables-" + v + "-save"}
		ok := true
		for _, b := range bins {
			if _, err := exec.LookPath(b); err != nil {
				ok = false
			}
		}
		if ok {
			vs = append(vs, variant{v, bins[0], bins[1], bins[2], bins[3]})
		}
	}
	if len(vs) == 0 {
		vs = append(vs, variant{"default", "", "", "iptables-save", "ip6tables-save"})
	}
	return vs
}

var (
	saveComment = regexp.MustCompile(`(?m)^#.*\n`)
	saveCounter = regexp.MustCompile(`\[\d+:\d+\]`)
	ipsetMemory = regexp.MustCompile(`(?m)^Size in memory: \d+$`)
	ipsetInit   = regexp.MustCompile(` initval 0x[0-9a-f]+`)
	ipsetEntry  = regexp.MustCompile(`(?m)^(\S+) timeout \d+$`)
)

// save returns iptables-save (or ip6tables-save) of table filter, with
// comments and counters masked.
func (ns *netNS) save(t *testing.T, bin string) string {
	t.Helper()
	out := ns.run(t, bin, "-t", "filter")
	out = saveComment.ReplaceAllString(out, "")
	return saveCounter.ReplaceAllString(out, "[0:0]")
}

// ipsetList returns "ipset list" with sizes, initvals and entry timeouts
// masked.
func (ns *netNS) ipsetList(t *testing.T) string {
	t.Helper()
	out := ns.run(t, "ipset", "list")
	out = ipsetMemory.ReplaceAllString(out, "Size in memory: *")
	out = ipsetInit.ReplaceAllString(out, "")
	out = ipsetEntry.ReplaceAllString(out, "$1 timeout *")
	// Members come in hash order, which a random initval decides.
	var b strings.Builder
	for i, set := range strings.Split(out, "\n\n") {
		head, members, ok := strings.Cut(set, "Members:\n")
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(head)
		if ok {
			lines := strings.Split(strings.TrimSuffix(members, "\n"), "\n")
			slices.Sort(lines)
			b.WriteString("Members:\n" + strings.Join(lines, "\n") + "\n")
		}
	}
	return b.String()
}

// golden compares got with testdata/name (rewritten under -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func hasIpsetCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ipset"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the ipset command is needed for the assertions (apt-get install ipset)")
		}
		t.Skip("the ipset command is needed for the assertions (apt-get install ipset)")
	}
}
