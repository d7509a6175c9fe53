package door

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sesame-knock/sesame/internal/clock"
	"github.com/sesame-knock/sesame/internal/config"
)

// Defaults for Options.
const (
	DefaultMaxConcurrent = 8
	// DefaultMaxQueued lets a thousand knockers who complete their knocks
	// at the same moment all have their start command run (a queued job
	// is a few hundred bytes: the bound is about memory, not fairness).
	DefaultMaxQueued = 4096
	DefaultShell     = "/bin/sh"
)

// Options configure a Runner. The zero value of each field means its
// default.
type Options struct {
	Clock  clock.Clock  // default clock.Real{}
	Logger *slog.Logger // default slog.Default()
	// MaxConcurrent is how many commands run at once (default 8).
	MaxConcurrent int
	// MaxQueued is how many start commands may wait for a free slot
	// (default 256); more are dropped. Stop commands always wait.
	MaxQueued int
	// Shell runs each command as Shell -c COMMAND (default /bin/sh).
	Shell string
}

// Stages: which of an event's commands a job is (the stage= log field).
const (
	stageStart = "start"
	stageStop  = "stop"
)

// job is one command to run, already substituted.
type job struct {
	stage string
	event string
	src   string // canonical text of the source address
	cmd   string

	// For a start job: the stop to hold for timeout after it finishes.
	stop    *job
	timeout time.Duration

	// For a stop job: why it runs now (logged before it runs).
	why string
}

// Runner runs the start and stop commands of events, holds the pending
// stops and limits how many commands run at once. Its methods are safe
// for concurrent use.
type Runner struct {
	clock     clock.Clock
	log       *slog.Logger
	shell     string
	max       int
	maxQueued int

	mu      sync.Mutex
	closed  bool
	running int    // jobs being run, one goroutine each
	starts  []*job // start jobs waiting for a slot (at most maxQueued)
	stops   []*job // due stop jobs waiting for a slot (unbounded)
	owed    int    // stop commands accepted and not yet begun

	sched    stopHeap
	seq      uint64
	timer    clock.Timer
	armedFor time.Time // due time the timer is set for; zero when idle

	done       chan struct{} // closed once closed and nothing is left to run
	doneClosed bool
}

// NewRunner returns a Runner ready to Open doors.
func NewRunner(opts Options) *Runner {
	r := &Runner{
		clock:     opts.Clock,
		log:       opts.Logger,
		shell:     opts.Shell,
		max:       opts.MaxConcurrent,
		maxQueued: opts.MaxQueued,
		done:      make(chan struct{}),
	}
	if r.clock == nil {
		r.clock = clock.Real{}
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.shell == "" {
		r.shell = DefaultShell
	}
	if r.max <= 0 {
		r.max = DefaultMaxConcurrent
	}
	if r.maxQueued <= 0 {
		r.maxQueued = DefaultMaxQueued
	}
	return r
}

// Open runs ev's start command for src and, when ev has a stop command,
// holds it to run ev.CmdTimeout after the start command has finished.
// It never blocks: the command runs on its own goroutine, or waits for a
// free slot.
func (r *Runner) Open(ev *config.Event, src netip.Addr) {
	if ev == nil || !src.IsValid() {
		r.log.Error("door opened without an event or source", "src", src)
		return
	}
	ip := canonical(src)
	start, stop := commandsFor(ev, src)
	if start == "" {
		r.log.Debug("no start command", "event", ev.Name, "src", ip)
		return
	}
	j := &job{
		stage:   stageStart,
		event:   ev.Name,
		src:     ip,
		cmd:     substitute(start, ip),
		timeout: max(ev.CmdTimeout, 0),
	}
	if stop != "" {
		j.stop = &job{stage: stageStop, event: ev.Name, src: ip, cmd: substitute(stop, ip)}
	}

	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		r.log.Warn("shutting down, start command not run", "event", j.event, "src", ip, "stage", stageStart)
		return
	case r.running < r.max:
		r.running++
		go r.work(j)
	case len(r.starts) < r.maxQueued:
		r.starts = append(r.starts, j)
	default:
		r.mu.Unlock()
		r.log.Error("command queue full, start command dropped",
			"event", j.event, "src", ip, "stage", stageStart, "queued", r.maxQueued)
		return
	}
	if j.stop != nil {
		r.owed++
	}
	r.mu.Unlock()
}

// Pending reports how many stop commands are owed and have not begun:
// held for their timeout, waiting for a slot, or waiting for their start
// command to finish.
func (r *Runner) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owed
}

// Close stops accepting doors, runs every pending stop command now (in
// due order, still at most MaxConcurrent at once), and waits for all
// commands to finish, or for ctx. A start command still running gets its
// stop command as soon as it finishes. Start commands still waiting for a
// slot are not run (their doors were never opened). Commands are never
// killed: if ctx ends first, Close returns its error and the commands go
// on while the process lives.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	var brought, dropped []*job
	if !r.closed {
		r.closed = true
		brought = r.drainLocked()
		r.stops = append(r.stops, brought...)
		dropped, r.starts = r.starts, nil
		for _, j := range dropped {
			if j.stop != nil {
				r.owed--
			}
		}
		r.dispatchLocked()
		r.checkDoneLocked()
	}
	r.mu.Unlock()

	for _, j := range dropped {
		r.log.Warn("shutting down, queued start command not run",
			"event", j.event, "src", j.src, "stage", stageStart, "cmd", j.cmd)
	}
	if len(brought) > 0 {
		r.log.Info("shutting down, running pending stop commands now", "count", len(brought))
	}

	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	left := append([]*job(nil), r.stops...)
	owed, running := r.owed, r.running
	r.mu.Unlock()
	for _, j := range left {
		r.log.Error("shutdown did not wait for stop command",
			"event", j.event, "src", j.src, "stage", stageStop, "cmd", j.cmd)
	}
	r.log.Error("shutdown did not wait for commands", "running", running, "stops_owed", owed)
	return fmt.Errorf("failed to wait for door commands: %w", context.Cause(ctx))
}

// work runs j, then whatever is waiting, until nothing is.
func (r *Runner) work(j *job) {
	for j != nil {
		r.execute(j)

		r.mu.Lock()
		if j.stop != nil {
			if r.closed {
				j.stop.why = "stop command brought forward by shutdown"
				r.stops = append(r.stops, j.stop)
			} else {
				r.scheduleLocked(j.stop, j.timeout)
			}
		}
		j = r.nextLocked()
		if j == nil {
			r.running--
			r.checkDoneLocked()
		}
		r.mu.Unlock()
	}
}

// nextLocked takes the next job to run: due stops before waiting starts.
func (r *Runner) nextLocked() *job {
	if len(r.stops) > 0 {
		j := r.stops[0]
		r.stops[0] = nil
		r.stops = r.stops[1:]
		r.owed--
		return j
	}
	if len(r.starts) > 0 {
		j := r.starts[0]
		r.starts[0] = nil
		r.starts = r.starts[1:]
		return j
	}
	return nil
}

// dispatchLocked starts a goroutine per free slot while jobs wait.
func (r *Runner) dispatchLocked() {
	for r.running < r.max {
		j := r.nextLocked()
		if j == nil {
			return
		}
		r.running++
		go r.work(j)
	}
}

func (r *Runner) checkDoneLocked() {
	if r.closed && !r.doneClosed && r.running == 0 && len(r.stops) == 0 && len(r.starts) == 0 {
		r.doneClosed = true
		close(r.done)
	}
}

// busy reports whether a command is running or waiting for a slot.
func (r *Runner) busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running > 0 || len(r.stops) > 0 || len(r.starts) > 0
}

// canonical is the text %IP% stands for: never anything from the packet,
// always the address's own canonical form, without an IPv6 zone.
func canonical(src netip.Addr) string {
	return src.Unmap().WithZone("").String()
}

// commandsFor picks ev's commands for src: the _6 ones for an IPv6
// source, as knockd 0.8 does. They are used as they are: the config
// parser has already resolved knockd's fallback (an absent _6 command is
// a copy of the IPv4 one, an empty one runs nothing), which the door could
// not, since an empty string cannot say whether the directive was given.
func commandsFor(ev *config.Event, src netip.Addr) (start, stop string) {
	if src.Unmap().Is6() {
		return ev.StartCommand6, ev.StopCommand6
	}
	return ev.StartCommand, ev.StopCommand
}

// substitute replaces every %IP% in cmd with ip.
func substitute(cmd, ip string) string {
	return strings.ReplaceAll(cmd, "%IP%", ip)
}
