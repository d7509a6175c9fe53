package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/clock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/knock"
	"github.com/sesame-knock/sesame/internal/metrics"
	"github.com/sesame-knock/sesame/internal/packet"
)

// Door is what happens when a knock completes. It must not block: it is
// called on the capture path.
type Door interface {
	Open(ev *config.Event, src netip.Addr)
}

// Sequencer is a sequence that moves on after each use (a one-time file).
type Sequencer interface {
	Current() ([]config.Element, bool)
	MarkUsed() error
	All() [][]config.Element // every sequence still to come, for the capture filter
}

// engine is the match stage of the road: capture sources hand it hits, it
// feeds the matcher, logs what happened and opens doors. It is safe for
// several capture goroutines: one mutex guards the matcher, which does
// O(1) work per hit, so the critical section is short.
type engine struct {
	mu       sync.Mutex
	m        *knock.Matcher
	events   []config.Event
	lanes    []lane // the matcher's events (see lanes.go)
	first    []int  // per event, its first lane
	keys     *Keys
	replay   ReplayCache
	onetime  []Sequencer // per event; nil for static sequences
	door     Door
	log      *slog.Logger
	clock    clock.Clock
	epoch    time.Time
	ipv4Only bool
	lookup   bool
	lookups  chan struct{}  // bounds concurrent reverse lookups
	lookupWG sync.WaitGroup // lookups in flight, waited for before the log closes
	// lookupAddr resolves names for -l (net.DefaultResolver; tests inject).
	lookupAddr func(ctx context.Context, addr string) ([]string, error)

	out      []knock.Outcome
	timer    clock.Timer
	armedFor int64       // deadline the timer is set for; 0 when idle
	stepper  clock.Timer // fires when a TOTP event enters its next step
	stepDue  time.Time   // that wall-clock time; zero without TOTP events
	closed   bool

	// What a rebuild of the matcher (TOTP clients enrolled) needs.
	opts     knock.Options
	local    []netip.Addr
	localSet bool

	stats *metrics.Counters // hits, opens, failures by reason (never nil)
}

// ReplayCache remembers what opened a door, so it opens only once
// (replay.Cache, persisted; tests use a map).
type ReplayCache interface {
	Seen(key string, now time.Time) bool
	Add(key string, expires, now time.Time) error
}

type engineConfig struct {
	Events    []config.Event
	OneTime   []Sequencer
	Keys      *Keys       // for TOTP and cipher events
	Replay    ReplayCache // required with TOTP or cipher events
	Door      Door
	Log       *slog.Logger
	Clock     clock.Clock
	ScanGuard bool
	Budget    int
	IPv4Only  bool
	Lookup    bool
	Stats     *metrics.Counters // nil: counted in the engine's own
}

func newEngine(c engineConfig) (*engine, error) {
	if c.Keys == nil {
		c.Keys = &Keys{TOTP: make([]*TOTPClients, len(c.Events)), Cipher: make([]*cipherknock.Cipher, len(c.Events))}
	}
	lanes, first, evs, err := buildLanes(c.Events, c.Keys, c.Clock.Now())
	if err != nil {
		return nil, err
	}
	for i := range c.Events {
		if c.OneTime != nil && c.OneTime[i] != nil {
			evs[first[i]].Sequence, _ = c.OneTime[i].Current()
		}
		if (c.Events[i].TOTP != nil || c.Events[i].Cipher != nil) && c.Replay == nil {
			return nil, fmt.Errorf("event %s: no replay cache", c.Events[i].Name)
		}
	}
	opts := knock.Options{MaxAttempts: c.Budget, ScanGuard: c.ScanGuard}
	e := &engine{
		m:          knock.New(evs, opts),
		opts:       opts,
		lanes:      lanes,
		first:      first,
		keys:       c.Keys,
		replay:     c.Replay,
		events:     c.Events,
		onetime:    c.OneTime,
		door:       c.Door,
		log:        c.Log,
		clock:      c.Clock,
		epoch:      c.Clock.Now(),
		ipv4Only:   c.IPv4Only,
		lookup:     c.Lookup,
		lookups:    make(chan struct{}, 8),
		lookupAddr: net.DefaultResolver.LookupAddr,
		out:        make([]knock.Outcome, 0, 2*len(lanes)+4),
		stats:      c.Stats,
	}
	if e.stats == nil {
		e.stats = new(metrics.Counters)
	}
	e.mu.Lock()
	e.armStep()
	e.mu.Unlock()
	return e, nil
}

// setLocal tells the matcher which destinations are this host's.
func (e *engine) setLocal(addrs []netip.Addr) {
	e.mu.Lock()
	e.local, e.localSet = append(e.local[:0], addrs...), true
	e.m.SetLocal(addrs)
	e.mu.Unlock()
}

// active is the number of attempts in progress (lockouts included).
func (e *engine) active() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m.Active()
}

// now is the engine's monotonic time in nanoseconds.
func (e *engine) now() int64 { return int64(e.clock.Now().Sub(e.epoch)) + 1 }

// Hit implements capture.Sink.
func (e *engine) Hit(h *packet.Hit) {
	if e.ipv4Only && h.Src.Is6() {
		return
	}
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug("hit", "src", h.Src, "dst", h.Dst, "proto", h.Proto, "port", h.DstPort, "flags", h.Flags)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.stats.Hit()
	wall := e.clock.Now()
	now := int64(wall.Sub(e.epoch)) + 1
	if !e.stepDue.IsZero() && !wall.Before(e.stepDue) {
		// The step timer is late (a suspended host, a clock stepped
		// forward): move the TOTP lanes on before matching.
		e.roll(wall)
	}
	e.out = e.m.Hit(h, now, e.out[:0])
	e.handle(e.out)
	e.arm(now)
}

// expire runs when the earliest deadline falls due: timeouts are enforced
// when they happen, not when the source next sends something.
func (e *engine) expire() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	now := e.now()
	e.armedFor = 0
	e.out = e.m.Expire(now, e.out[:0])
	e.handle(e.out)
	e.arm(now)
}

// arm makes sure the timer fires by the matcher's next deadline. It only
// touches the timer when the deadline moved earlier or nothing is armed,
// so a flood of new attempts (each with a later deadline) costs nothing.
func (e *engine) arm(now int64) {
	next, ok := e.m.NextDeadline()
	if !ok || (e.armedFor != 0 && e.armedFor <= next) {
		return
	}
	e.armedFor = next
	d := time.Duration(next - now)
	if e.timer == nil {
		e.timer = e.clock.AfterFunc(d, e.expire)
	} else {
		e.timer.Reset(d)
	}
}

// close stops matching and waits for the log lines of lookups in flight.
func (e *engine) close() {
	e.mu.Lock()
	e.closed = true
	if e.timer != nil {
		e.timer.Stop()
	}
	if e.stepper != nil {
		e.stepper.Stop()
	}
	e.mu.Unlock()
	e.lookupWG.Wait()
}

func (e *engine) handle(outs []knock.Outcome) {
	for i := range outs {
		o := &outs[i]
		ln := &e.lanes[o.Event]
		ev := &e.events[ln.event]
		switch o.Kind {
		case knock.Progress:
			e.report(levelVerbose, "stage", o, ev)
		case knock.Open:
			who, ok := e.admit(o, ln, ev)
			if !ok {
				continue
			}
			e.stats.Opened()
			e.report(slog.LevelInfo, "OPEN SESAME", o, ev, who...)
			e.door.Open(ev, o.Src)
			e.nextOneTime(ln.event)
		case knock.Fail:
			lvl := slog.LevelInfo
			switch {
			case o.Stage < 2 && !o.Locked:
				// Only the first knock had matched: as weak a sign as a
				// lone first knock timing out. A port scan that crosses
				// a first port, another event's knock sharing it, or a
				// spoofed flood make these by the thousand; at INFO they
				// would cost a log line each and feed fail2ban noise. (A
				// failure that locks the source out is always said.)
				lvl = levelVerbose
			case ev.TOTP != nil && advanced(outs, ln.event, e.lanes):
				// All clients' sequences share one port range, so a knock
				// often takes one lane of the event on while it fails
				// another it had started by chance: not a failed knock.
				lvl = levelVerbose
			}
			msg := "failed: wrong port"
			if ev.Payload != "" {
				msg = "failed: wrong port or payload"
			}
			if lvl == slog.LevelInfo {
				e.stats.Fail(metrics.WrongPort)
			} else {
				e.stats.Fail(metrics.Stray)
			}
			var extra []slog.Attr
			if o.Locked {
				extra = append(extra, slog.String("lockout", ev.Lockout.String()))
			}
			e.report(lvl, msg, o, ev, extra...)
		case knock.Timeout:
			lvl, reason := slog.LevelInfo, metrics.Timeout
			if o.Stage < 2 {
				// a lone first knock (or a spoofed flood of them)
				lvl, reason = levelVerbose, metrics.LoneKnock
			}
			e.stats.Fail(reason)
			e.report(lvl, "timeout", o, ev)
		case knock.Evicted:
			e.stats.Fail(metrics.Evicted)
			e.report(slog.LevelDebug, "evicted: attempt table full", o, ev)
		}
	}
}

// advanced reports whether one hit's outcomes took some lane of event on.
func advanced(outs []knock.Outcome, event int, lanes []lane) bool {
	for i := range outs {
		if k := outs[i].Kind; (k == knock.Progress || k == knock.Open) && lanes[outs[i].Event].event == event {
			return true
		}
	}
	return false
}

// report logs one outcome. With -l the reverse lookup runs off the
// capture path and the line is logged when it returns.
func (e *engine) report(level slog.Level, msg string, o *knock.Outcome, ev *config.Event, extra ...slog.Attr) {
	ctx := context.Background()
	if !e.log.Enabled(ctx, level) {
		return
	}
	if o.Kind == knock.Progress {
		msg = "stage " + itoa(o.Stage) + "/" + itoa(o.Of)
	}
	attrs := []slog.Attr{slog.String("src", o.Src.String()), slog.String("event", ev.Name), slog.String("stage", itoa(o.Stage)+"/"+itoa(o.Of))}
	if o.Kind == knock.Fail {
		attrs = append(attrs, slog.String("hit", o.Proto.String()+":"+itoa(int(o.Port))))
	}
	attrs = append(attrs, extra...)
	if !e.lookup {
		e.log.LogAttrs(ctx, level, msg, attrs...)
		return
	}
	src := o.Src.String() // o points into a buffer the next hit reuses
	select {
	case e.lookups <- struct{}{}:
		e.lookupWG.Add(1)
		go func() {
			defer e.lookupWG.Done()
			defer func() { <-e.lookups }()
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if names, err := e.lookupAddr(lctx, src); err == nil && len(names) > 0 {
				attrs = append(attrs, slog.String("host", names[0]))
			}
			e.log.LogAttrs(ctx, level, msg, attrs...)
		}()
	default: // too many lookups in flight: log without the name
		e.log.LogAttrs(ctx, level, msg, attrs...)
	}
}

// nextOneTime moves a one-time event on to its next sequence.
func (e *engine) nextOneTime(i int) {
	if e.onetime == nil || e.onetime[i] == nil {
		return
	}
	ot := e.onetime[i]
	ev := &e.events[i]
	if err := ot.MarkUsed(); err != nil {
		e.log.Error("failed to mark one-time sequence used", "event", ev.Name, "file", ev.OneTimeFile, "err", err)
	}
	seq, ok := ot.Current()
	if !ok {
		e.log.Warn("one-time sequences exhausted: event disabled", "event", ev.Name, "file", ev.OneTimeFile)
	}
	e.m.SetSequence(e.first[i], seq)
}

func itoa(n int) string { return strconv.Itoa(n) }

// reconfigure puts a reloaded configuration in force between two hits.
// The new matcher is built first; under the lock, it takes the one-time
// sequences as they are now (a knock may have used one a moment ago), its
// TOTP lanes move to the step of now, and the attempts in progress of
// every lane whose knock is the same in both (same event, by name and
// occurrence, same sequence, timeout, flags, target, payload and lockout;
// for TOTP the same client and step) move into it with their stages and
// deadlines; the rest are dropped. sniff and local say whether hits are
// checked against the interfaces' addresses, and which they are now.
func (e *engine) reconfigure(c engineConfig, sniff bool, local []netip.Addr) (carried, dropped int) {
	lanes, first, evs, err := buildLanes(c.Events, c.Keys, c.Clock.Now())
	if err != nil {
		// prepare built these lanes a moment ago with the same keys, so
		// this cannot happen; if it did, the old configuration stays.
		e.log.Error("reload: cannot lay out the new events' lanes", "err", err)
		return 0, 0
	}
	opts := knock.Options{MaxAttempts: c.Budget, ScanGuard: c.ScanGuard}
	m := knock.New(evs, opts)
	if sniff {
		m.SetLocal(local)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, 0
	}
	now := e.clock.Now()
	var seqs []knock.SequenceChange
	for i := range c.Events {
		if c.OneTime != nil && c.OneTime[i] != nil {
			seq, _ := c.OneTime[i].Current()
			seqs = append(seqs, knock.SequenceChange{Event: first[i], Sequence: seq})
		}
	}
	seqs = append(seqs, rollLanes(lanes, c.Events, c.Keys, now)...)
	m.SetSequences(seqs)

	sigs := make(map[string]int, len(lanes))
	for i, ln := range lanes {
		k := m.Event(i) // as the matcher holds it (with the scan guard's flag rule)
		sigs[laneSignature(c.Events, ln, &k, c.Keys)] = i
	}
	old := e.m
	carried, _ = m.Adopt(old, func(l int) (int, bool) {
		k := old.Event(l)
		n, ok := sigs[laneSignature(e.events, e.lanes[l], &k, e.keys)]
		return n, ok
	})
	dropped = old.Active() - carried // also the attempts of changed or removed events
	e.m, e.opts, e.lanes, e.first = m, opts, lanes, first
	e.events, e.onetime, e.keys = c.Events, c.OneTime, c.Keys
	if c.Replay != nil {
		e.replay = c.Replay
	}
	e.door = c.Door
	e.local, e.localSet = append(e.local[:0], local...), sniff
	if !sniff {
		e.local = nil
	}
	if n := 2*len(lanes) + 4; cap(e.out) < n {
		e.out = make([]knock.Outcome, 0, n)
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.armedFor = 0
	e.arm(e.now())
	if e.stepper != nil {
		e.stepper.Stop()
	}
	e.stepDue = time.Time{}
	e.armStep()
	return carried, dropped
}

// laneSignature names a lane by all that decides what its attempts mean,
// so that a reload carries an attempt only into the same knock. An event
// is named by its name and, for repeated names, which of them it is.
func laneSignature(events []config.Event, ln lane, k *knock.Event, keys *Keys) string {
	name := events[ln.event].Name
	nth := 0
	for i := 0; i < ln.event; i++ {
		if events[i].Name == name {
			nth++
		}
	}
	client := ""
	if ln.client >= 0 && keys != nil && keys.TOTP[ln.event] != nil {
		client = keys.TOTP[ln.event].Clients[ln.client].Name
	}
	return fmt.Sprintf("%q#%d|%q|%d|%v|%d|%v|%v|%x|%d|%v/%d", name, nth, client, ln.step, k.Sequence, k.Timeout, k.Flags, k.Target, k.Payload, k.Lockout, k.Gather.Proto, k.Gather.Base)
}
