package privilege

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Keep leaves every thread of the process with exactly caps: effective =
// permitted = caps, the bounding set narrowed to caps, the inheritable
// and ambient sets empty. It fails without changing anything if a kept
// capability is not permitted, if the bounding set must shrink and
// CAP_SETPCAP is not effective, or in a binary linked with cgo (ErrCgo).
// Dropping cannot be undone; calling Keep again can only narrow further,
// and only with SetPCap kept if the bounding set must shrink again.
func Keep(caps ...Cap) error {
	last, err := lastCap()
	if err != nil {
		return fmt.Errorf("failed to drop capabilities: %w", err)
	}
	var keep Set
	for _, c := range caps {
		if c < 0 || c > last {
			return fmt.Errorf("failed to drop capabilities: %v is not a capability of this kernel (the last is %v)", c, last)
		}
		keep |= 1 << c
	}
	cur, err := capget()
	if err != nil {
		return fmt.Errorf("failed to drop capabilities: %w", err)
	}
	if missing := keep &^ cur.Permitted; missing != 0 {
		return fmt.Errorf("failed to drop capabilities: cannot keep %v, not in the permitted set (%v)", missing, cur.Permitted)
	}
	var drop Set // in the bounding set, not kept
	for c := Cap(0); c <= last; c++ {
		if keep.Has(c) {
			continue
		}
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			return fmt.Errorf("failed to drop capabilities: prctl(PR_CAPBSET_READ, %v): %w", c, err)
		}
		if in == 1 {
			drop |= 1 << c
		}
	}
	if drop != 0 && !cur.Effective.Has(SetPCap) {
		return fmt.Errorf("failed to drop capabilities: cannot drop %v from the bounding set without cap_setpcap (under systemd, add CAP_SETPCAP to CapabilityBoundingSet=)", drop)
	}

	// From here on every step changes all threads. The first one that
	// runs fails with ENOTSUP, having changed nothing, if cgo is linked.
	for _, c := range drop.Caps() {
		if err := allThreads(fmt.Sprintf("prctl(PR_CAPBSET_DROP, %v)", c),
			unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return err
		}
	}
	if err := allThreads("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)",
		unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return err
	}
	// The header and data are read by every thread's capset; the
	// uintptrescapes AllThreadsSyscall6 keeps them alive and in place.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(keep), Permitted: uint32(keep)},
		{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32)},
	}
	return allThreads("capset",
		unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0, 0, 0)
}

// allThreads makes a system call on every thread of the process.
func allThreads(op string, trap, a1, a2, a3, a4, a5 uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall6(trap, a1, a2, a3, a4, a5, 0)
	return allThreadsError(op, errno)
}

func allThreadsError(op string, errno syscall.Errno) error {
	switch errno {
	case 0:
		return nil
	case syscall.ENOTSUP:
		// AllThreadsSyscall's answer when cgo is linked; the kernel's
		// prctl and capset never return it.
		return fmt.Errorf("failed to drop capabilities: %w", ErrCgo)
	}
	return fmt.Errorf("failed to drop capabilities: %s on all threads: %w", op, errno)
}

// capget reads the calling thread's sets; all threads have the same ones
// as long as only Keep changes them.
func capget() (ThreadCaps, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return ThreadCaps{}, fmt.Errorf("capget: %w", err)
	}
	join := func(lo, hi uint32) Set { return Set(hi)<<32 | Set(lo) }
	return ThreadCaps{
		Effective:   join(data[0].Effective, data[1].Effective),
		Permitted:   join(data[0].Permitted, data[1].Permitted),
		Inheritable: join(data[0].Inheritable, data[1].Inheritable),
	}, nil
}

// lastCap is the kernel's highest capability (CAP_LAST_CAP). Without
// /proc/sys (ProcSubset=pid), it is found by asking the bounding set
// about each number until the kernel says there is no such capability,
// as libcap does.
func lastCap() (Cap, error) {
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || n < 0 || n > 63 {
			return 0, fmt.Errorf("invalid /proc/sys/kernel/cap_last_cap %q", b)
		}
		return Cap(n), nil
	}
	return probeLastCap()
}

// probeLastCap finds CAP_LAST_CAP with PR_CAPBSET_READ, which fails with
// EINVAL past it.
func probeLastCap() (Cap, error) {
	for c := Cap(0); c < 64; c++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) && c > 0 {
				return c - 1, nil
			}
			return 0, fmt.Errorf("failed to find the last capability: prctl(PR_CAPBSET_READ, %v): %w", c, err)
		}
	}
	return 63, nil
}

// Threads reads the capability sets of every thread of this process.
func Threads() ([]ThreadCaps, error) { return threadsIn("/proc/self/task") }

// ThreadsOf reads the capability sets of every thread of process pid.
func ThreadsOf(pid int) ([]ThreadCaps, error) {
	return threadsIn(filepath.Join("/proc", strconv.Itoa(pid), "task"))
}

// threadsIn reads dir/*/status, in order of thread id. A thread that
// exits while it is read is left out.
func threadsIn(dir string) ([]ThreadCaps, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to list threads: %w", err)
	}
	var threads []ThreadCaps
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "status"))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // exited meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read thread %d: %w", tid, err)
		}
		tc, err := ParseStatus(b)
		if err != nil {
			return nil, fmt.Errorf("failed to read thread %d: %w", tid, err)
		}
		tc.TID = tid
		threads = append(threads, tc)
	}
	if len(threads) == 0 {
		return nil, fmt.Errorf("failed to list threads: none in %s", dir)
	}
	slices.SortFunc(threads, func(a, b ThreadCaps) int { return a.TID - b.TID })
	return threads, nil
}
