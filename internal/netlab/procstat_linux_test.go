//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// A real line (cat's), with the command name replaced by %s.
const statLine = "13403 (%s) R 13401 13401 5215 0 -1 4194304 102 0 0 0 %d %d %d %d 20 0 1 0 2220127 3133440 412 18446744073709551615 94511604678656 94511604698537 140735615071152 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 94511604714544 94511604716160 94512301461504 140735615072961 140735615072981 140735615072981 140735615074283 0\n"

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    statTimes
		wantErr string
	}{
		{"plain", fmt.Sprintf(statLine, "sesamed", 7, 3, 2, 1), statTimes{7, 3, 2, 1}, ""},
		{"spaces and parentheses in the name", fmt.Sprintf(statLine, "a) (b c) 9 9", 700, 300, 0, 0), statTimes{700, 300, 0, 0}, ""},
		{"empty name", fmt.Sprintf(statLine, "", 1, 2, 3, 4), statTimes{1, 2, 3, 4}, ""},
		{"no name", "13403 R 1 2 3", statTimes{}, "no \")\""},
		{"cut short", "13403 (x) R 13401 13401 5215 0 -1 4194304 102 0 0 0 5 6", statTimes{}, "fields after"},
		{"negative", fmt.Sprintf(strings.Replace(statLine, "%d %d %d %d", "%d %d -%d %d", 1), "x", 1, 2, 3, 4), statTimes{}, "field 16"},
		{"empty", "", statTimes{}, "no \")\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseStat = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStat = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		rss, hwm uint64
		wantErr  string
	}{
		{"real", "Name:\tcat\nVmPeak:\t    3892 kB\nVmHWM:\t    2028 kB\nVmRSS:\t    1000 kB\nThreads:\t1\n", 1000 << 10, 2028 << 10, ""},
		{"no trailing newline", "VmRSS:\t1 kB\nVmHWM:\t2 kB", 1 << 10, 2 << 10, ""},
		{"zombie", "Name:\tsesamed\nState:\tZ (zombie)\nThreads:\t1\n", 0, 0, "no VmRSS"},
		{"no HWM", "VmRSS:\t1 kB\n", 0, 0, "no VmRSS or VmHWM"},
		{"other unit", "VmRSS:\t1 MB\nVmHWM:\t2 kB\n", 0, 0, "not a size in kB"},
		{"no unit", "VmRSS:\t1\nVmHWM:\t2 kB\n", 0, 0, "not a size in kB"},
		{"not a number", "VmRSS:\tx kB\nVmHWM:\t2 kB\n", 0, 0, "VmRSS"},
		{"overflow", "VmRSS:\t18446744073709551615 kB\nVmHWM:\t2 kB\n", 0, 0, "overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rss, hwm, err := parseStatus([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseStatus = %d, %d, %v; want an error containing %q", rss, hwm, err, tt.wantErr)
				}
				return
			}
			if err != nil || rss != tt.rss || hwm != tt.hwm {
				t.Fatalf("parseStatus = %d, %d, %v; want %d, %d", rss, hwm, err, tt.rss, tt.hwm)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(fmt.Sprintf(statLine, "sesamed", 7, 3, 2, 1)), "knockd", uint64(1), uint64(2))
	f.Add([]byte("1 (a)) b"), "a) (b", uint64(1<<63), uint64(0))
	f.Fuzz(func(t *testing.T, raw []byte, comm string, utime, stime uint64) {
		_, _ = parseStat(raw) // any input: no panic
		// Any command name, and the counters come back.
		line := fmt.Sprintf(statLine, comm, utime, stime, 0, 0)
		got, err := parseStat([]byte(line))
		if err != nil || got.utime != utime || got.stime != stime {
			t.Fatalf("parseStat(%q) = %+v, %v", line, got, err)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("VmHWM:\t    2028 kB\nVmRSS:\t    1000 kB\n"), uint64(1000), uint64(2028))
	f.Add([]byte("VmRSS:\t1 kB\nVmRSS:\t2 kB\nVmHWM:"), uint64(1<<60), uint64(0))
	f.Fuzz(func(t *testing.T, raw []byte, rssKB, hwmKB uint64) {
		if rss, hwm, err := parseStatus(raw); err == nil && (rss%1024 != 0 || hwm%1024 != 0) {
			t.Fatalf("parseStatus(%q) = %d, %d: not whole kB", raw, rss, hwm)
		}
		in := fmt.Sprintf("Name:\tx\nVmHWM:\t%8d kB\nVmRSS:\t%8d kB\nThreads:\t1\n", hwmKB, rssKB)
		rss, hwm, err := parseStatus([]byte(in))
		if rssKB > 1<<54-1 || hwmKB > 1<<54-1 {
			if err == nil {
				t.Fatalf("parseStatus(%q) = %d, %d: want an overflow error", in, rss, hwm)
			}
			return
		}
		if err != nil || rss != rssKB*1024 || hwm != hwmKB*1024 {
			t.Fatalf("parseStatus(%q) = %d, %d, %v", in, rss, hwm, err)
		}
	})
}

// TestProcStatSelf reads the test's own process: CPU time grows with work,
// RSS and its peak with touched memory, and ResetPeakRSS brings the peak
// back down once the memory is returned.
func TestProcStatSelf(t *testing.T) {
	pid := os.Getpid()
	before, err := ProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if before.RSS == 0 || before.PeakRSS < before.RSS {
		t.Fatalf("ProcStat = %+v: want 0 < RSS ≤ PeakRSS", before)
	}
	if tick := clockTick(); tick != 10*time.Millisecond {
		t.Logf("CLK_TCK is not 100 here: a tick is %v", tick)
	}

	spin := time.Now().Add(200 * time.Millisecond)
	for x := 0; time.Now().Before(spin); x++ {
	}
	mem := make([]byte, 128<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	during, err := ProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(mem)
	if d := during.CPU - before.CPU; d < 100*time.Millisecond {
		t.Errorf("200 ms of spinning cost %v of CPU, want ≥ 100 ms", d)
	}
	if d := during.RSS - before.RSS; during.RSS < before.RSS || d < 100<<20 {
		t.Errorf("128 MiB touched: RSS %d → %d", before.RSS, during.RSS)
	}
	if during.PeakRSS < during.RSS {
		t.Errorf("PeakRSS %d < RSS %d", during.PeakRSS, during.RSS)
	}

	mem = nil
	runtime.GC()
	debug.FreeOSMemory()
	if err := ResetPeakRSS(pid); err != nil {
		t.Fatal(err)
	}
	after, err := ProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after.PeakRSS > during.PeakRSS-64<<20 {
		t.Errorf("after freeing 128 MiB and ResetPeakRSS: PeakRSS %d, was %d", after.PeakRSS, during.PeakRSS)
	}
	t.Logf("before %+v\nduring %+v\nafter  %+v", before, during, after)
}

func TestProcStatGone(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	_, err := ProcStat(cmd.Process.Pid) // reaped: /proc has no trace of it
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ProcStat of an exited process = %v, want os.ErrNotExist", err)
	}
}
