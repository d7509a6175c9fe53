//go:build linux

package netlab

// What a daemon costs: its CPU time and memory, read from /proc, so that a
// benchmark can take them before and after a load.
//
// There is no sampler: the kernel already keeps the peak of the resident set
// (VmHWM), more exactly than polling could, and ResetPeakRSS starts it over,
// so the peak of one phase of a benchmark is a reset before it and a
// ProcStat after it.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ProcUsage is what a process has cost so far.
type ProcUsage struct {
	CPU      time.Duration // user and system time of all its threads (utime+stime)
	ChildCPU time.Duration // that of its children it has waited for (cutime+cstime): a command door's forks
	RSS      uint64        // resident set now, in bytes (VmRSS)
	PeakRSS  uint64        // the resident set's high-water mark, in bytes (VmHWM)
}

// ProcStat reads a process's usage from /proc/PID/stat and /proc/PID/status.
// When the process is gone, the error wraps os.ErrNotExist; a zombie (it has
// no memory left to report) is an error too.
func ProcStat(pid int) (ProcUsage, error) {
	var u ProcUsage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, fmt.Errorf("process %d: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, fmt.Errorf("process %d: %w", pid, err)
	}
	t, err := parseStat(stat)
	if err != nil {
		return u, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	u.RSS, u.PeakRSS, err = parseStatus(status)
	if err != nil {
		return u, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	tick := clockTick()
	u.CPU = ticks(t.utime+t.stime, tick)
	u.ChildCPU = ticks(t.cutime+t.cstime, tick)
	return u, nil
}

// ResetPeakRSS sets a process's high-water mark (VmHWM, PeakRSS) back to its
// resident set now, so that the next ProcStat reports the peak since.
func ResetPeakRSS(pid int) error {
	// "5" to clear_refs resets the peak RSS (proc(5), Linux 4.0).
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("process %d: failed to reset its peak RSS: %w", pid, err)
	}
	return nil
}

// clockTick is the unit of the times in /proc/PID/stat: 1/sysconf(_SC_CLK_TCK)
// seconds, which the C library reads from the auxiliary vector's AT_CLKTCK.
// It is USER_HZ, the same for every process, 100 on every architecture Go
// runs on; 100 is also the answer if the vector cannot be read.
var clockTick = sync.OnceValue(func() time.Duration {
	const atClkTck = 17 // AT_CLKTCK in <elf.h>
	if auxv, err := unix.Auxv(); err == nil {
		for _, kv := range auxv {
			if kv[0] == atClkTck && kv[1] > 0 && kv[1] <= uintptr(time.Second) {
				return time.Second / time.Duration(kv[1])
			}
		}
	}
	return time.Second / 100
})

func ticks(n uint64, tick time.Duration) time.Duration {
	if n > uint64(math.MaxInt64/tick) {
		return math.MaxInt64
	}
	return time.Duration(n) * tick
}

// statTimes are the clock-tick counters of /proc/PID/stat.
type statTimes struct {
	utime, stime, cutime, cstime uint64
}

// parseStat reads /proc/PID/stat: "pid (comm) state ppid ..." where comm may
// hold spaces and parentheses, so fields are counted after the last ")".
// utime, stime, cutime and cstime are fields 14 to 17 (proc(5)).
func parseStat(b []byte) (statTimes, error) {
	var t statTimes
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return t, errors.New("no \")\" after the command name")
	}
	fields := bytes.Fields(b[end+1:]) // fields[0] is field 3, state
	const first = 14 - 3
	if len(fields) < first+4 {
		return t, fmt.Errorf("%d fields after the command name, want at least %d", len(fields), first+4)
	}
	for i, p := range []*uint64{&t.utime, &t.stime, &t.cutime, &t.cstime} {
		v, err := strconv.ParseUint(string(fields[first+i]), 10, 64)
		if err != nil {
			return t, fmt.Errorf("field %d: %w", first+3+i, err)
		}
		*p = v
	}
	return t, nil
}

// parseStatus reads VmRSS and VmHWM from /proc/PID/status ("VmRSS:\t 2028
// kB") in bytes. A process without them (a zombie, a kernel thread) is an
// error, not a zero.
func parseStatus(b []byte) (rss, hwm uint64, err error) {
	var haveRSS, haveHWM bool
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "VmRSS":
			dst, haveRSS = &rss, true
		case "VmHWM":
			dst, haveHWM = &hwm, true
		default:
			continue
		}
		n, err := parseKB(val)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		*dst = n
	}
	if !haveRSS || !haveHWM {
		return 0, 0, errors.New("no VmRSS or VmHWM: the process has no memory (a zombie or a kernel thread)")
	}
	return rss, hwm, nil
}

// parseKB reads "   2028 kB" as bytes.
func parseKB(v []byte) (uint64, error) {
	num, unit, ok := bytes.Cut(bytes.TrimSpace(v), []byte(" "))
	if !ok || string(unit) != "kB" {
		return 0, fmt.Errorf("%q is not a size in kB", v)
	}
	n, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return 0, err
	}
	if n > math.MaxUint64/1024 {
		return 0, fmt.Errorf("%d kB overflows", n)
	}
	return n * 1024, nil
}
