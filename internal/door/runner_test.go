package door

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/clock"
	"github.com/sesame-knock/sesame/internal/config"
)

// epoch is where every fake clock starts.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// env is one Runner under test: a fake clock, a log captured as text, and
// a file the test's shell commands append lines to.
type env struct {
	t    *testing.T
	r    *Runner
	fc   *clock.Fake
	logs *syncBuffer
	dir  string
	file string
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{t: t, fc: clock.NewFake(epoch), logs: &syncBuffer{}, dir: t.TempDir()}
	e.file = filepath.Join(e.dir, "out")
	opts.Clock = e.fc
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.r = NewRunner(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.r.Close(ctx)
	})
	return e
}

// sh turns a command template into a shell command: FILE is the output
// file, GATE a file whose existence releases a waiting command.
func (e *env) sh(tmpl string) string {
	return strings.NewReplacer(
		"FILE", shellQuote(e.file),
		"GATE", shellQuote(filepath.Join(e.dir, "gate")),
	).Replace(tmpl)
}

// gated is a command that waits (at most about ten seconds) for the gate
// to open before running then.
func (e *env) gated(then string) string {
	return e.sh(`i=0; while [ ! -e GATE ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; ` + then)
}

func (e *env) openGate() {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, "gate"), nil, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// waitIdle waits until no command runs or waits for a slot. Commands are
// real processes, so this polls, with a bound; timeouts are never waited
// for this way, they are driven by the fake clock.
func (e *env) waitIdle() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.r.busy() {
		if time.Now().After(deadline) {
			e.t.Fatal("commands still running after 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) lines() []string {
	e.t.Helper()
	b, err := os.ReadFile(e.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func (e *env) wantLines(when string, want []string) {
	e.t.Helper()
	if got := e.lines(); !slices.Equal(got, want) {
		e.t.Errorf("%s: output file mismatch (-want +got):\n-%q\n+%q", when, want, got)
	}
}

func (e *env) wantPending(when string, want int) {
	e.t.Helper()
	if got := e.r.Pending(); got != want {
		e.t.Errorf("%s: Pending() = %d, want %d", when, got, want)
	}
}

// logLine returns the first log line that has every one of parts.
func (e *env) logLine(parts ...string) (string, bool) {
	for line := range strings.SplitSeq(e.logs.String(), "\n") {
		if containsAll(line, parts) {
			return line, true
		}
	}
	return "", false
}

func (e *env) wantLog(parts ...string) {
	e.t.Helper()
	if _, ok := e.logLine(parts...); !ok {
		e.t.Errorf("no log line with %q; log:\n%s", parts, e.logs.String())
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestOpen(t *testing.T) {
	t.Parallel()
	const timeout = 10 * time.Second
	tests := []struct {
		name                string
		start, stop         string
		start6, stop6       string
		src                 string
		wantStart, wantStop []string
	}{
		{
			name:      "ipv4 start now, stop after Cmd_Timeout",
			start:     "echo start %IP% >> FILE",
			stop:      "echo stop %IP% >> FILE",
			src:       "192.0.2.1",
			wantStart: []string{"start 192.0.2.1"},
			wantStop:  []string{"stop 192.0.2.1"},
		},
		{
			name:      "ipv4 ignores the _6 commands",
			start:     "echo start %IP% >> FILE",
			stop:      "echo stop %IP% >> FILE",
			start6:    "echo start6 %IP% >> FILE",
			stop6:     "echo stop6 %IP% >> FILE",
			src:       "192.0.2.1",
			wantStart: []string{"start 192.0.2.1"},
			wantStop:  []string{"stop 192.0.2.1"},
		},
		{
			name:      "ipv6 uses the _6 commands",
			start:     "echo start %IP% >> FILE",
			stop:      "echo stop %IP% >> FILE",
			start6:    "echo start6 %IP% >> FILE",
			stop6:     "echo stop6 %IP% >> FILE",
			src:       "2001:db8::7",
			wantStart: []string{"start6 2001:db8::7"},
			wantStop:  []string{"stop6 2001:db8::7"},
		},
		{
			// The parser copies Start_Command/Stop_Command into an absent
			// _6 directive (knockd's fallback); an empty one stays empty.
			name:  "ipv6 with an empty Start_Command_6 runs nothing",
			start: "echo start %IP% >> FILE",
			stop:  "echo stop %IP% >> FILE",
			stop6: "echo stop6 %IP% >> FILE",
			src:   "2001:db8::7",
		},
		{
			name:      "ipv6 with an empty Stop_Command_6 holds no stop",
			start:     "echo start %IP% >> FILE",
			stop:      "echo stop %IP% >> FILE",
			start6:    "echo start6 %IP% >> FILE",
			src:       "2001:db8::7",
			wantStart: []string{"start6 2001:db8::7"},
		},
		{
			name:      "every IP token replaced",
			start:     "echo %IP%,%IP%%IP% x%IP%x >> FILE",
			stop:      "echo '%IP%' \"%IP%\" >> FILE",
			src:       "198.51.100.20",
			wantStart: []string{"198.51.100.20,198.51.100.20198.51.100.20 x198.51.100.20x"},
			wantStop:  []string{"198.51.100.20 198.51.100.20"},
		},
		{
			name:      "ipv6 in canonical text",
			start6:    "echo start %IP% >> FILE",
			stop6:     "echo stop %IP% >> FILE",
			src:       "2001:0DB8:0000:0000:0000:0000:0000:0001",
			wantStart: []string{"start 2001:db8::1"},
			wantStop:  []string{"stop 2001:db8::1"},
		},
		{
			name:      "ipv6 zone dropped",
			start:     "echo start %IP% >> FILE",
			start6:    "echo start6 %IP% >> FILE",
			src:       "fe80::1%eth0",
			wantStart: []string{"start6 fe80::1"},
		},
		{
			name:      "ipv4-mapped source is its ipv4 address",
			start:     "echo start %IP% >> FILE",
			stop:      "echo stop %IP% >> FILE",
			start6:    "echo start6 %IP% >> FILE",
			stop6:     "echo stop6 %IP% >> FILE",
			src:       "::ffff:192.0.2.9",
			wantStart: []string{"start 192.0.2.9"},
			wantStop:  []string{"stop 192.0.2.9"},
		},
		{
			name:      "no stop command: nothing scheduled",
			start:     "echo start %IP% >> FILE",
			src:       "192.0.2.1",
			wantStart: []string{"start 192.0.2.1"},
		},
		{
			name: "no start command: nothing runs, not even the stop",
			stop: "echo stop %IP% >> FILE",
			src:  "192.0.2.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{})
			ev := &config.Event{
				Name:          "door",
				StartCommand:  e.sh(tt.start),
				StopCommand:   e.sh(tt.stop),
				StartCommand6: e.sh(tt.start6),
				StopCommand6:  e.sh(tt.stop6),
				CmdTimeout:    timeout,
			}
			pending := 0
			if tt.wantStop != nil {
				pending = 1
			}

			e.r.Open(ev, netip.MustParseAddr(tt.src))
			e.waitIdle()
			e.wantLines("after Open", tt.wantStart)
			e.wantPending("after Open", pending)
			if got := e.fc.Pending(); got != pending {
				t.Errorf("after Open: %d clock timers, want %d", got, pending)
			}

			e.fc.Advance(timeout - time.Nanosecond)
			e.waitIdle()
			e.wantLines("at Cmd_Timeout-1ns", tt.wantStart)
			e.wantPending("at Cmd_Timeout-1ns", pending)

			e.fc.Advance(time.Nanosecond)
			e.waitIdle()
			e.wantLines("at Cmd_Timeout", slices.Concat(tt.wantStart, tt.wantStop))
			e.wantPending("at Cmd_Timeout", 0)
		})
	}
}

// knockd sleeps Cmd_Timeout after the start command has returned, so the
// stop is due Cmd_Timeout after the start command finished.
func TestStopDueAfterStartFinished(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ev := &config.Event{
		Name:         "slow",
		StartCommand: e.gated("echo start %IP% >> FILE"),
		StopCommand:  e.sh("echo stop %IP% >> FILE"),
		CmdTimeout:   5 * time.Second,
	}
	e.r.Open(ev, netip.MustParseAddr("192.0.2.1"))
	e.wantPending("start running", 1)
	e.fc.Advance(time.Minute) // the start command is still running
	if got := e.fc.Pending(); got != 0 {
		t.Fatalf("a timer was set before the start command finished: %d timers", got)
	}
	e.openGate()
	e.waitIdle()
	e.wantLines("start finished", []string{"start 192.0.2.1"})

	e.fc.Advance(5*time.Second - time.Nanosecond)
	e.waitIdle()
	e.wantLines("Cmd_Timeout-1ns after start finished", []string{"start 192.0.2.1"})
	e.fc.Advance(time.Nanosecond)
	e.waitIdle()
	e.wantLines("Cmd_Timeout after start finished", []string{"start 192.0.2.1", "stop 192.0.2.1"})
}

func TestTwoSourcesKeepSeparateStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ev := &config.Event{
		Name:          "door",
		StartCommand:  e.sh("echo start %IP% >> FILE"),
		StopCommand:   e.sh("echo stop %IP% >> FILE"),
		StartCommand6: e.sh("echo start %IP% >> FILE"),
		StopCommand6:  e.sh("echo stop %IP% >> FILE"),
		CmdTimeout:    10 * time.Second,
	}
	e.r.Open(ev, netip.MustParseAddr("192.0.2.1"))
	e.waitIdle()
	e.fc.Advance(3 * time.Second)
	e.r.Open(ev, netip.MustParseAddr("2001:db8::2"))
	e.waitIdle()
	e.wantPending("both open", 2)

	e.fc.Advance(7 * time.Second)
	e.waitIdle()
	e.wantLines("first due", []string{"start 192.0.2.1", "start 2001:db8::2", "stop 192.0.2.1"})
	e.wantPending("first due", 1)

	e.fc.Advance(3*time.Second - time.Nanosecond)
	e.waitIdle()
	e.wantPending("second not yet due", 1)
	e.fc.Advance(time.Nanosecond)
	e.waitIdle()
	e.wantLines("second due", []string{"start 192.0.2.1", "start 2001:db8::2", "stop 192.0.2.1", "stop 2001:db8::2"})
	e.wantPending("second due", 0)
}

func TestMaxConcurrent(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprintf("max=%d", limit), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{MaxConcurrent: limit})
			ev := &config.Event{
				Name:         "door",
				StartCommand: e.sh("echo begin %IP% >> FILE; sleep 0.05; echo end %IP% >> FILE"),
			}
			srcs := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}
			for _, s := range srcs {
				e.r.Open(ev, netip.MustParseAddr(s))
			}
			e.waitIdle()
			lines := e.lines()
			if len(lines) != 2*len(srcs) {
				t.Fatalf("got %d lines, want %d: %q", len(lines), 2*len(srcs), lines)
			}
			running, most := 0, 0
			for _, l := range lines {
				if strings.HasPrefix(l, "begin") {
					running++
				} else {
					running--
				}
				most = max(most, running)
			}
			if most > limit {
				t.Errorf("%d commands ran at once, limit %d: %q", most, limit, lines)
			}
			if limit == 1 {
				var want []string
				for _, s := range srcs {
					want = append(want, "begin "+s, "end "+s)
				}
				e.wantLines("serialised, in order", want)
			}
		})
	}
}

func TestQueueFullDropsStartWithError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxConcurrent: 1, MaxQueued: 1})
	ev := &config.Event{Name: "door", StartCommand: e.gated("echo start %IP% >> FILE")}
	e.r.Open(ev, netip.MustParseAddr("192.0.2.1")) // runs
	e.r.Open(ev, netip.MustParseAddr("192.0.2.2")) // waits
	e.r.Open(ev, netip.MustParseAddr("192.0.2.3")) // dropped
	e.wantLog("level=ERROR", `msg="command queue full, start command dropped"`, "event=door", "src=192.0.2.3", "stage=start")
	e.openGate()
	e.waitIdle()
	e.wantLines("after the gate", []string{"start 192.0.2.1", "start 192.0.2.2"})
}

func TestStopsAreNotBoundedByTheQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxConcurrent: 1, MaxQueued: 1})
	ev := &config.Event{
		Name:         "door",
		StartCommand: e.sh("echo start %IP% >> FILE"),
		StopCommand:  e.sh("echo stop %IP% >> FILE"),
		CmdTimeout:   10 * time.Second,
	}
	srcs := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}
	for _, s := range srcs {
		e.r.Open(ev, netip.MustParseAddr(s))
		e.waitIdle()
	}
	// Hold the only slot, then let all three stops fall due at once.
	blocker := &config.Event{Name: "blocker", StartCommand: e.gated("echo blocker >> FILE")}
	e.r.Open(blocker, netip.MustParseAddr("198.51.100.1"))
	e.fc.Advance(10 * time.Second)
	e.wantPending("stops waiting for the slot", 3)
	e.openGate()
	e.waitIdle()
	e.wantLines("after the gate", []string{
		"start 192.0.2.1", "start 192.0.2.2", "start 192.0.2.3",
		"blocker",
		"stop 192.0.2.1", "stop 192.0.2.2", "stop 192.0.2.3",
	})
	e.wantPending("all stops run", 0)
}

func TestCloseRunsPendingStopsNow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxConcurrent: 1})
	ev := &config.Event{
		Name:         "door",
		StartCommand: e.sh("echo start %IP% >> FILE"),
		StopCommand:  e.sh("echo stop %IP% >> FILE"),
		CmdTimeout:   time.Hour,
	}
	// Opened in this order, due in the other.
	e.r.Open(ev, netip.MustParseAddr("192.0.2.1"))
	e.waitIdle()
	e.r.Open(&config.Event{
		Name:         "short",
		StartCommand: ev.StartCommand,
		StopCommand:  ev.StopCommand,
		CmdTimeout:   time.Minute,
	}, netip.MustParseAddr("192.0.2.2"))
	e.waitIdle()
	e.wantPending("before Close", 2)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.wantPending("after Close", 0)
	if got := e.fc.Pending(); got != 0 {
		t.Errorf("after Close: %d clock timers, want 0", got)
	}
	want := []string{"start 192.0.2.1", "start 192.0.2.2", "stop 192.0.2.2", "stop 192.0.2.1"}
	e.wantLines("after Close", want)

	// Closed: Open does nothing but log, and time passing changes nothing.
	e.r.Open(ev, netip.MustParseAddr("192.0.2.3"))
	e.fc.Advance(2 * time.Hour)
	e.waitIdle()
	e.wantLines("Open after Close", want)
	e.wantLog("level=WARN", "event=door", "src=192.0.2.3", "shutting down")
	if err := e.r.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseRunsStopOfRunningStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ev := &config.Event{
		Name:         "door",
		StartCommand: e.gated("echo start %IP% >> FILE"),
		StopCommand:  e.sh("echo stop %IP% >> FILE"),
		CmdTimeout:   time.Hour,
	}
	e.r.Open(ev, netip.MustParseAddr("192.0.2.1"))
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- e.r.Close(ctx)
	}()
	// Close cannot be done: the start command waits for the gate.
	select {
	case err := <-closed:
		t.Fatalf("Close returned while the start command ran: %v", err)
	default:
	}
	e.openGate()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not return")
	}
	e.wantLines("after Close", []string{"start 192.0.2.1", "stop 192.0.2.1"})
	e.wantPending("after Close", 0)
}

func TestCloseHonoursContextButKeepsTheStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ev := &config.Event{
		Name:         "door",
		StartCommand: e.gated("echo start %IP% >> FILE"),
		StopCommand:  e.sh("echo stop %IP% >> FILE"),
		CmdTimeout:   time.Hour,
	}
	e.r.Open(ev, netip.MustParseAddr("192.0.2.1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.r.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with a cancelled context = %v, want context.Canceled", err)
	}
	e.wantLog("level=ERROR", `msg="shutdown did not wait for commands"`, "stops_owed=1")
	// The command was not killed, and its stop still runs.
	e.openGate()
	e.waitIdle()
	e.wantLines("later", []string{"start 192.0.2.1", "stop 192.0.2.1"})
	e.wantPending("later", 0)
}

func TestCloseDropsQueuedStarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxConcurrent: 1})
	ev := &config.Event{
		Name:         "door",
		StartCommand: e.gated("echo start %IP% >> FILE"),
		StopCommand:  e.sh("echo stop %IP% >> FILE"),
		CmdTimeout:   time.Hour,
	}
	e.r.Open(ev, netip.MustParseAddr("192.0.2.1")) // runs
	e.r.Open(ev, netip.MustParseAddr("192.0.2.2")) // waits for the slot
	e.wantPending("before Close", 2)
	// The first Close (not waiting) drops the queued start while the
	// first one is held at the gate; the second waits for the rest.
	gone, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if err := e.r.Close(gone); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with a cancelled context = %v, want context.Canceled", err)
	}
	e.wantPending("queued start dropped", 1)
	e.openGate()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.wantLines("after Close", []string{"start 192.0.2.1", "stop 192.0.2.1"})
	e.wantPending("after Close", 0)
	e.wantLog("level=WARN", `msg="shutting down, queued start command not run"`, "src=192.0.2.2")
}

func TestLogs(t *testing.T) {
	t.Parallel()
	t.Run("failing command at warn with status and output", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		ev := &config.Event{Name: "door", StartCommand: "echo oops; echo bad >&2; exit 3"}
		e.r.Open(ev, netip.MustParseAddr("192.0.2.1"))
		e.waitIdle()
		e.wantLog("level=INFO", `msg="running start command"`, "event=door", "src=192.0.2.1", "stage=start", `cmd="echo oops; echo bad >&2; exit 3"`)
		e.wantLog("level=WARN", `msg="start command output"`, "event=door", "src=192.0.2.1", "stage=start", "line=oops")
		e.wantLog("level=WARN", `msg="start command output"`, "src=192.0.2.1", "line=bad")
		e.wantLog("level=WARN", `msg="start command exited"`, "event=door", "src=192.0.2.1", "stage=start", "status=3")
	})
	t.Run("succeeding command at info with status 0", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		ev := &config.Event{Name: "door", StartCommand6: "echo fine", StopCommand6: "true", CmdTimeout: time.Second}
		e.r.Open(ev, netip.MustParseAddr("2001:db8::1"))
		e.waitIdle()
		e.fc.Advance(time.Second)
		e.waitIdle()
		e.wantLog("level=INFO", `msg="start command output"`, "src=2001:db8::1", "line=fine")
		e.wantLog("level=INFO", `msg="start command exited"`, "event=door", "src=2001:db8::1", "stage=start", "status=0")
		e.wantLog("level=INFO", `msg="command timeout"`, "event=door", "src=2001:db8::1", "stage=stop")
		e.wantLog("level=INFO", `msg="stop command exited"`, "event=door", "src=2001:db8::1", "stage=stop", "status=0")
	})
	t.Run("shell that cannot run at error, stop still owed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{Shell: "/nonexistent/sh"})
		ev := &config.Event{Name: "door", StartCommand: "true", StopCommand: "true", CmdTimeout: time.Second}
		e.r.Open(ev, netip.MustParseAddr("192.0.2.1"))
		e.waitIdle()
		e.wantLog("level=ERROR", `msg="failed to run start command"`, "event=door", "src=192.0.2.1", "stage=start")
		e.wantPending("after a start that could not run", 1)
	})
	t.Run("output bounded", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{})
		ev := &config.Event{Name: "door", StartCommand: "head -c 10000 /dev/zero | tr '\\0' a"}
		e.r.Open(ev, netip.MustParseAddr("192.0.2.1"))
		e.waitIdle()
		e.wantLog(`msg="start command output truncated"`, "dropped_bytes=5904")
		line, _ := e.logLine(`msg="start command output"`)
		if n := strings.Count(line, "a"); n < outputLimit || n > outputLimit+10 {
			t.Errorf("logged output has %d a's, want %d", n, outputLimit)
		}
	})
}

func TestCapped(t *testing.T) {
	t.Parallel()
	c := &capped{limit: 8}
	for _, s := range []string{"one\r\n", "two\nthree", "\nfour\n"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if want := []string{"one", "two"}; !slices.Equal(c.lines(), want) {
		t.Errorf("lines() = %q, want %q", c.lines(), want)
	}
	if want := len("one\r\ntwo\nthree\nfour\n") - 8; c.dropped != want {
		t.Errorf("dropped = %d, want %d", c.dropped, want)
	}
	if got := (&capped{limit: 8}).lines(); got != nil {
		t.Errorf("lines() of no output = %q, want nil", got)
	}
}

// With the real clock and a zero Cmd_Timeout (knockd: sleep(0)) the stop
// runs right after the start: the real timer path, without waiting.
func TestRealClockZeroTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "out")
	r := NewRunner(Options{Logger: slog.New(slog.NewTextHandler(&syncBuffer{}, nil))})
	ev := &config.Event{
		Name:         "door",
		StartCommand: "echo start %IP% >> " + shellQuote(file),
		StopCommand:  "echo stop %IP% >> " + shellQuote(file),
	}
	r.Open(ev, netip.MustParseAddr("192.0.2.1"))
	deadline := time.Now().Add(10 * time.Second)
	for r.Pending() > 0 || r.busy() {
		if time.Now().After(deadline) {
			t.Fatal("stop did not run within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "start 192.0.2.1\nstop 192.0.2.1\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}
