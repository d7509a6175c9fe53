// Package metrics holds the numbers sesamed keeps about itself — hits seen,
// doors opened, knocks that failed and why — and renders them for people
// (sesamed --status) and for Prometheus.
//
// The engine counts on the capture path, so counting is one atomic add and
// allocates nothing (Counters). Everything else — gauges the daemon reads
// off its parts (attempts in progress, doors open, pending stop commands),
// capture statistics, start time — is gathered only when someone asks, into
// a Snapshot: a plain value with stable JSON field names, which the control
// socket sends to sesamed --status and which both renderings read.
//
// The failure reasons mirror the daemon's log lines one for one (see
// Reason), so a number in --status can always be traced to lines in the log,
// and the reasons fail2ban bans for are exactly the ones counted as a
// knocker's failures.
package metrics

import (
	"errors"
	"slices"
	"sync/atomic"
	"time"
)

// Reason is why a knock attempt ended without opening a door. Each reason
// has a stable snake_case name, used as a JSON key and a Prometheus label
// value: names are never changed or reused, only added.
type Reason uint8

// The reasons, each with the log line it counts (the msg, and its level).
const (
	// WrongPort: "failed: wrong port" or "failed: wrong port or payload"
	// at INFO — a hit the sequence did not expect ended the attempt.
	WrongPort Reason = iota
	// Timeout: "timeout" at INFO — an attempt that had got past its first
	// knock (stage ≥ 2) ran out of time.
	Timeout
	// LoneKnock: "timeout" at VERBOSE — an attempt still at its first
	// knock ran out of time. Every stray SYN to a first port ends this
	// way; it is not an attack, and fail2ban does not count it.
	LoneKnock
	// Stray: the VERBOSE failures that are noise, not a knocker's mistake
	// — "failed: wrong port" at VERBOSE (an attempt wrong right after its
	// first knock, as a scan crossing a first port is; a TOTP lane
	// started by chance),
	// "failed: TOTP step outside the window", "failed: cipher knock for
	// another event".
	Stray
	// Replayed: "failed: replayed knock" — a TOTP code or cipher block
	// that already opened a door.
	Replayed
	// Stale: "failed: stale cipher knock" — a cipher block older than
	// the event's MaxAge.
	Stale
	// Forged: "failed: forged or damaged cipher knock" — a cipher block
	// that does not decrypt and verify.
	Forged
	// Refused: the ERROR lines "refused a knock: …" — a knock that was
	// good, refused because the replay cache could not record it (a clock
	// gone back, a disk that fails). The daemon's fault, not the knocker's.
	Refused
	// Evicted: "evicted: attempt table full" at DEBUG — an attempt dropped
	// to make room for another.
	Evicted

	numReasons
)

var reasonNames = [numReasons]string{
	WrongPort: "wrong_port",
	Timeout:   "timeout",
	LoneKnock: "lone_knock",
	Stray:     "stray",
	Replayed:  "replayed",
	Stale:     "stale",
	Forged:    "forged",
	Refused:   "refused",
	Evicted:   "evicted",
}

// String returns the reason's stable name ("wrong_port").
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every reason, in the order renderings show them.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Counters are the daemon's running totals. The zero value is ready; every
// method is safe for concurrent use, costs one atomic add and allocates
// nothing, so the engine calls them on the capture path.
type Counters struct {
	hits           atomic.Uint64
	opened         atomic.Uint64
	failures       [numReasons]atomic.Uint64
	reloads        atomic.Uint64
	reloadFailures atomic.Uint64
}

// Hit counts a hit the engine received (a packet on a port some event
// listens on, or a probe the scan guard looks at).
func (c *Counters) Hit() { c.hits.Add(1) }

// Opened counts a door opened: an "OPEN SESAME" line.
func (c *Counters) Opened() { c.opened.Add(1) }

// Fail counts an attempt that ended without opening, for reason r. An
// unknown reason is ignored.
func (c *Counters) Fail(r Reason) {
	if r < numReasons {
		c.failures[r].Add(1)
	}
}

// Reloaded counts a configuration reload that took effect.
func (c *Counters) Reloaded() { c.reloads.Add(1) }

// ReloadFailed counts a reload that was refused (the daemon kept running
// with the configuration it had).
func (c *Counters) ReloadFailed() { c.reloadFailures.Add(1) }

// Failures returns the count for reason r.
func (c *Counters) Failures(r Reason) uint64 {
	if r < numReasons {
		return c.failures[r].Load()
	}
	return 0
}

// State is what the daemon supplies when a snapshot is taken: the gauges it
// reads off its parts at that moment, and facts about the process.
type State struct {
	Version string    // the daemon's version (from build info)
	Config  string    // where the configuration was read from (config.Config.Source)
	Started time.Time // when the daemon started

	AttemptsInProgress int // knock.Matcher.Active
	DoorsOpen          int // doors open now (see OpenDoors)
	PendingStops       int // door.Runner.Pending

	Captures []Capture // one per capture source, in the daemon's order
}

// Capture is one capture source's statistics (capture.Stats).
type Capture struct {
	Name        string `json:"name"`
	Packets     uint64 `json:"packets"`
	Drops       uint64 `json:"drops"`
	Undecodable uint64 `json:"undecodable"`
}

// Snapshot is the daemon's numbers at one moment. Its JSON form is what the
// control socket sends; the field names are stable (fields are only added).
type Snapshot struct {
	Version string    `json:"version"`
	Config  string    `json:"config"`
	Started time.Time `json:"started"`
	Now     time.Time `json:"now"` // when the snapshot was taken, by the daemon's clock

	Hits        uint64 `json:"hits"`
	DoorsOpened uint64 `json:"doors_opened"`
	// Failures is keyed by reason name; every known reason is present.
	Failures       map[string]uint64 `json:"failures"`
	Reloads        uint64            `json:"reloads"`
	ReloadFailures uint64            `json:"reload_failures"`

	AttemptsInProgress int `json:"attempts_in_progress"`
	DoorsOpen          int `json:"doors_open"`
	PendingStops       int `json:"pending_stop_commands"`

	Captures []Capture `json:"captures"`
}

// Snapshot reads the counters and adds the state the daemon supplies. now
// is the daemon's clock.
func (c *Counters) Snapshot(now time.Time, st State) Snapshot {
	s := Snapshot{
		Version:            st.Version,
		Config:             st.Config,
		Started:            st.Started,
		Now:                now,
		Hits:               c.hits.Load(),
		DoorsOpened:        c.opened.Load(),
		Failures:           make(map[string]uint64, numReasons),
		Reloads:            c.reloads.Load(),
		ReloadFailures:     c.reloadFailures.Load(),
		AttemptsInProgress: st.AttemptsInProgress,
		DoorsOpen:          st.DoorsOpen,
		PendingStops:       st.PendingStops,
		Captures:           slices.Clone(st.Captures),
	}
	for r := range numReasons {
		s.Failures[r.String()] = c.failures[r].Load()
	}
	if s.Captures == nil {
		s.Captures = []Capture{} // [] in JSON, not null
	}
	return s
}

// Uptime is how long the daemon had been running when the snapshot was
// taken (zero if the start time is unknown).
func (s Snapshot) Uptime() time.Duration {
	if s.Started.IsZero() || s.Now.Before(s.Started) {
		return 0
	}
	return s.Now.Sub(s.Started)
}

// failureNames lists the snapshot's failure reasons: the known ones in
// their order, then any others (a newer daemon's) sorted by name.
func (s Snapshot) failureNames() []string {
	names := make([]string, 0, len(s.Failures))
	known := make(map[string]bool, numReasons)
	for r := range numReasons {
		known[r.String()] = true
		if _, ok := s.Failures[r.String()]; ok {
			names = append(names, r.String())
		}
	}
	var extra []string
	for name := range s.Failures {
		if !known[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	return append(names, extra...)
}

// ErrNoPrometheus is returned by Serve in a sesamed built without the
// prometheus build tag.
var ErrNoPrometheus = errors.New("this sesamed was built without Prometheus support (go build -tags prometheus)")
