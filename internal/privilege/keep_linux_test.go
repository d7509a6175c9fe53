package privilege

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// Dropping capabilities cannot be undone, so TestKeep does it in copies of
// the test binary (TestKeepHelper, one scenario each) and checks how they
// exit. It needs root; without it it skips, except under CI=true, where a
// skip would hide a broken test, so it fails.

const helperEnv = "SESAME_PRIVILEGE_HELPER"

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, so not skipping: %s", msg)
	}
	t.Skip(msg)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root to drop capabilities (euid %d)", os.Geteuid())
	}
}

// cgoLinked reports whether this test binary links cgo (go test -race
// does, when cgo is enabled), where AllThreadsSyscall always fails. The
// probe, getpid on every thread, changes nothing.
func cgoLinked() bool {
	_, _, errno := syscall.AllThreadsSyscall(syscall.SYS_GETPID, 0, 0, 0)
	return errno == syscall.ENOTSUP
}

func TestKeep(t *testing.T) {
	requireRoot(t)
	if cgoLinked() {
		runHelper(t, "cgo")
		skipOrFail(t, "this test binary links cgo (-race?), so Keep refuses, as checked; the drop itself is tested without cgo (CGO_ENABLED=0, or no -race)")
	}
	for _, scenario := range []string{"from-root", "systemd"} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			runHelper(t, scenario)
		})
	}
}

// runHelper runs TestKeepHelper in a child process.
func runHelper(t *testing.T, scenario string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKeepHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+scenario)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper (scenario %s) failed: %v\n%s", scenario, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestKeepHelper") || !strings.Contains(string(out), "scenario "+scenario+" done") {
		t.Fatalf("helper (scenario %s) did not run:\n%s", scenario, out)
	}
	t.Logf("helper output:\n%s", out)
}

// TestKeepHelper runs in a child process started by TestKeep, in one of
// its scenarios:
//
//   - from-root: from all of root's capabilities, keep cap_net_raw and
//     cap_net_admin; then Keep must refuse to keep what is gone, and to
//     shrink the bounding set without cap_setpcap, changing nothing;
//   - systemd: as under sesamed.service, whose CapabilityBoundingSet=
//     leaves cap_net_raw, cap_net_admin, cap_net_bind_service and
//     cap_setpcap, keep cap_net_raw and cap_net_admin;
//   - cgo: in a binary that links cgo, Keep refuses with ErrCgo and
//     changes nothing.
func TestKeepHelper(t *testing.T) {
	scenario := os.Getenv(helperEnv)
	if scenario == "" {
		t.Skip("run by TestKeep in a child process: dropping capabilities cannot be undone")
	}
	if scenario == "cgo" {
		before, err := Threads()
		if err != nil {
			t.Fatal(err)
		}
		if err := Keep(NetRaw, NetAdmin); !errors.Is(err, ErrCgo) {
			t.Fatalf("Keep in a cgo binary: got %v, want %v", err, ErrCgo)
		}
		after, err := Threads()
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range after {
			want := before[0]
			want.TID = tc.TID
			if tc != want {
				t.Errorf("thread %v changed, want %v", tc, want)
			}
		}
		t.Logf("scenario %s done: %d threads unchanged", scenario, len(after))
		return
	}
	// Threads the runtime will not use for anything else while they wait.
	stop := make(chan struct{})
	defer close(stop)
	const locked = 8
	lockThreads(locked, stop)
	threads, err := Threads()
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) <= locked {
		t.Fatalf("only %d threads, want more than %d", len(threads), locked)
	}

	kept := SetOf(NetRaw, NetAdmin)
	switch scenario {
	case "from-root":
		if err := Keep(NetRaw, NetAdmin); err != nil {
			t.Fatal(err)
		}
		checkAll(t, kept)

		err := Keep(NetRaw, NetBindService)
		wantErr(t, err, "cannot keep cap_net_bind_service, not in the permitted set (cap_net_admin,cap_net_raw)")
		err = Keep(NetRaw)
		wantErr(t, err, "cannot drop cap_net_admin from the bounding set without cap_setpcap")
		checkAll(t, kept)
		// Keeping what is already kept needs no cap_setpcap.
		if err := Keep(NetAdmin, NetRaw); err != nil {
			t.Fatal(err)
		}
	case "systemd":
		unit := SetOf(NetRaw, NetAdmin, NetBindService, SetPCap)
		if err := Keep(unit.Caps()...); err != nil {
			t.Fatal(err)
		}
		checkAll(t, unit)
		if err := Keep(NetRaw, NetAdmin); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown scenario %q", scenario)
	}
	// Threads started after Keep inherit the narrowed sets.
	lockThreads(locked, stop)
	checkAll(t, kept)
	t.Logf("scenario %s done", scenario)
}

// lockThreads starts n goroutines, each locked to its own thread until
// stop is closed, and returns once they are.
func lockThreads(n int, stop <-chan struct{}) {
	started := make(chan struct{})
	for range n {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			started <- struct{}{}
			<-stop
		}()
	}
	for range n {
		<-started
	}
}

// checkAll checks that every thread of the process, and a program it
// runs, have exactly want: effective, permitted and bounding, with
// nothing inheritable or ambient.
func checkAll(t *testing.T, want Set) {
	t.Helper()
	threads, err := Threads()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range threads {
		checkCaps(t, "thread", tc, want)
	}
	t.Logf("%d threads have %v", len(threads), want)

	// Root's execve makes the bounding set the new program's permitted
	// and effective sets: this is what the bounding set is dropped for.
	out, err := exec.Command("/bin/cat", "/proc/self/status").Output()
	if err != nil {
		t.Fatalf("failed to run cat: %v", err)
	}
	child, err := ParseStatus(out)
	if err != nil {
		t.Fatal(err)
	}
	checkCaps(t, "child process", child, want)
}

func checkCaps(t *testing.T, what string, tc ThreadCaps, want Set) {
	t.Helper()
	if tc.Effective != want || tc.Permitted != want || tc.Bounding != want || tc.Inheritable != 0 || tc.Ambient != 0 {
		t.Errorf("%s %v, want eff=prm=bnd=%v inh=amb=none", what, tc, want)
	}
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got error %v, want one containing %q", err, want)
	}
}

// TestKeepInvalid: a number that is not a capability is refused before
// anything changes, so it is safe to try as root in the test process.
func TestKeepInvalid(t *testing.T) {
	last, err := lastCap()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Cap{-1, last + 1, 64} {
		wantErr(t, Keep(NetRaw, c), fmt.Sprintf("%v is not a capability of this kernel (the last is %v)", c, last))
	}
}

// TestKeepNotPermitted: an unprivileged process cannot keep what it does
// not have. As root, Keep would succeed: TestKeep covers that refusal.
func TestKeepNotPermitted(t *testing.T) {
	cur, err := capget()
	if err != nil {
		t.Fatal(err)
	}
	if cur.Permitted.Has(NetRaw) {
		t.Skip("this process may keep cap_net_raw; TestKeep checks the refusal in a child")
	}
	wantErr(t, Keep(NetRaw), "cannot keep cap_net_raw, not in the permitted set")
}

func TestLastCap(t *testing.T) {
	last, err := lastCap()
	if err != nil {
		t.Fatal(err)
	}
	if last < NetRaw || last > 63 {
		t.Errorf("lastCap() = %d, want within [%d, 63]", last, NetRaw)
	}
	// The fallback for when /proc/sys is hidden finds the same.
	probed, err := probeLastCap()
	if err != nil || probed != last {
		t.Errorf("probeLastCap() = %d, %v; want %d (cap_last_cap)", probed, err, last)
	}
}

// TestThreads: every thread of this process is listed, the main one
// included, with the sets the process has (its threads all share them).
func TestThreads(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	proc, err := ParseStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, list := range []func() ([]ThreadCaps, error){Threads, func() ([]ThreadCaps, error) { return ThreadsOf(os.Getpid()) }} {
		threads, err := list()
		if err != nil {
			t.Fatal(err)
		}
		sawMain := false
		for i, tc := range threads {
			if i > 0 && tc.TID <= threads[i-1].TID {
				t.Errorf("threads not in increasing order: %d after %d", tc.TID, threads[i-1].TID)
			}
			sawMain = sawMain || tc.TID == os.Getpid()
			want := proc
			want.TID = tc.TID
			if tc != want {
				t.Errorf("thread %v, want %v", tc, want)
			}
		}
		if !sawMain {
			t.Errorf("main thread %d not among %v", os.Getpid(), threads)
		}
	}
}

func TestThreadsOfGone(t *testing.T) {
	// pid_max is at most 2^22: this process cannot exist.
	_, err := ThreadsOf(1 << 23)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping %v", err, os.ErrNotExist)
	}
}

func TestAllThreadsError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		errno syscall.Errno
		want  string
		is    error
	}{
		{0, "", nil},
		{syscall.ENOTSUP, "failed to drop capabilities: built with cgo; build with CGO_ENABLED=0 to drop capabilities", ErrCgo},
		{syscall.EPERM, "failed to drop capabilities: capset on all threads: operation not permitted", syscall.EPERM},
	}
	for _, tt := range tests {
		err := allThreadsError("capset", tt.errno)
		if tt.want == "" {
			if err != nil {
				t.Errorf("errno %d: got %v, want nil", tt.errno, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.want || !errors.Is(err, tt.is) {
			t.Errorf("errno %d: got %v, want %q wrapping %v", tt.errno, err, tt.want, tt.is)
		}
	}
}
