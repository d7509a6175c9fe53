//go:build linux

package nftables

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// requireRoot skips a test that needs root, except under CI=true, where
// it fails instead: CI must run the root tests.
func requireRoot(t testing.TB) {
	t.Helper()
	netlab.RequireRoot(t)
}

var nsSeq atomic.Int32

// netns is a network namespace created for one test and deleted after it.
type netns struct {
	name string
	f    *os.File
}

// newNetns creates a fresh namespace "sesame-nft-PID-N" with lo up. Its
// ruleset is empty: tests never touch the host's.
func newNetns(t testing.TB) *netns {
	t.Helper()
	requireRoot(t)
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found: %v", tool, err)
			}
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	name := fmt.Sprintf("sesame-nft-%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &netns{name: name}
	t.Cleanup(func() {
		if ns.f != nil {
			ns.f.Close()
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	ns.f = f
	ns.run(t, "ip", "link", "set", "lo", "up")
	return ns
}

func (ns *netns) fd() int { return int(ns.f.Fd()) }

// run runs a command inside the namespace and returns its output.
func (ns *netns) run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.try(args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (ns *netns) try(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, out)
	}
	return string(out), nil
}

// nftLoad feeds a ruleset to nft -f - inside the namespace (the test
// playing administrator).
func (ns *netns) nftLoad(t testing.TB, ruleset string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s\n%s", err, out, ruleset)
	}
}

var expiresRE = regexp.MustCompile(`expires [0-9a-z.]+`)

// ruleset is `nft list ruleset` with element expiry times masked.
func (ns *netns) ruleset(t testing.TB) string {
	t.Helper()
	return expiresRE.ReplaceAllString(ns.run(t, "nft", "list", "ruleset"), "expires X")
}

// do runs f on a locked OS thread that has joined the namespace. The
// thread is never returned to the scheduler's pool: the goroutine exits
// with it still locked, so Go discards it.
func (ns *netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(ns.fd(), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		errc <- f()
	}()
	return errors.Join(<-errc)
}
