package daemon

// Admission: the last check between a completed knock and its door, for
// the replay-proof events (SPEC §4.3, §4.4). The matcher says a lane
// completed; here a TOTP knock must be the first use of its (client,
// step), and a cipher block must decrypt, name this event, be fresh and be
// new. What opened is written to the replay cache, which persists it
// before the door opens: a knock the cache cannot record is refused (fail
// closed), because after a restart it could be replayed.

import (
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/knock"
	"github.com/sesame-knock/sesame/internal/metrics"
	"github.com/sesame-knock/sesame/internal/replay"
	"github.com/sesame-knock/sesame/internal/totp"
)

// admit decides whether a completed lane opens its door, logging why not.
// It returns attributes naming who knocked, for the success line.
func (e *engine) admit(o *knock.Outcome, ln *lane, ev *config.Event) ([]slog.Attr, bool) {
	now := e.clock.Now()
	switch {
	case ev.TOTP != nil:
		t := ev.TOTP
		client := e.keys.TOTP[ln.event].Clients[ln.client].Name
		who := []slog.Attr{slog.String("client", client), slog.String("step", u64(ln.step))}
		if lo, hi := window(totp.Step(now, t.Step), t.Skew); ln.step < lo || ln.step > hi {
			// Lanes move on at step boundaries; this one is late.
			e.stats.Fail(metrics.Stray)
			e.report(levelVerbose, "failed: TOTP step outside the window", o, ev, who...)
			return who, false
		}
		// The step stays acceptable until the window has moved past it;
		// one step more covers a clock that is set back a little.
		expires := totp.StepStart(ln.step+uint64(t.Skew)+2, t.Step)
		return who, e.remember(o, ev, replayKey("totp", ev.Name, client, u64(ln.step)), expires, now, who)
	case ev.Cipher != nil:
		b := cipherknock.Block(o.Block)
		p, err := e.keys.Cipher[ln.event].Verify(b, cipherknock.EventID(ev.Name), now, ev.Cipher.MaxAge)
		switch {
		case errors.Is(err, cipherknock.ErrStale):
			e.stats.Fail(metrics.Stale)
			e.report(slog.LevelInfo, "failed: stale cipher knock", o, ev, slog.Time("sent", p.Time(now)))
			return nil, false
		case errors.Is(err, cipherknock.ErrWrongEvent):
			e.stats.Fail(metrics.Stray)
			e.report(levelVerbose, "failed: cipher knock for another event", o, ev)
			return nil, false
		case err != nil:
			e.stats.Fail(metrics.Forged)
			e.report(slog.LevelInfo, "failed: forged or damaged cipher knock", o, ev)
			return nil, false
		}
		return nil, e.remember(o, ev, replayKey("cipher", ev.Name, b.ReplayKey()), p.Expires(now, ev.Cipher.MaxAge), now, nil)
	}
	return nil, true
}

// remember records key in the replay cache; false if it was already there
// or cannot be recorded.
func (e *engine) remember(o *knock.Outcome, ev *config.Event, key string, expires, now time.Time, who []slog.Attr) bool {
	err := e.replay.Add(key, expires, now)
	switch {
	case err == nil:
		return true
	case errors.Is(err, replay.ErrReplay):
		e.stats.Fail(metrics.Replayed)
		e.report(slog.LevelInfo, "failed: replayed knock", o, ev, who...)
	case errors.Is(err, replay.ErrClockBehind):
		e.stats.Fail(metrics.Refused)
		e.log.Error("refused a knock: the clock went back behind the replay cache; knocks are refused until it catches up", "src", o.Src.String(), "event", ev.Name, "err", err)
	default:
		e.stats.Fail(metrics.Refused)
		e.log.Error("refused a knock: the replay cache cannot record it", "src", o.Src.String(), "event", ev.Name, "err", err)
	}
	return false
}

// armStep sets the step timer for the next TOTP step boundary. Called
// with e.mu held.
func (e *engine) armStep() {
	now := e.clock.Now()
	at, ok := nextStep(e.events, now)
	if !ok {
		return
	}
	e.stepDue = at
	d := at.Sub(now)
	if e.stepper == nil {
		e.stepper = e.clock.AfterFunc(d, e.step)
	} else {
		e.stepper.Reset(d)
	}
}

// step runs at a TOTP step boundary: lanes whose step left the window
// take the step that entered it, and secrets files that changed (a client
// enrolled) are read again.
func (e *engine) step() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.roll(e.clock.Now())
}

// roll moves the TOTP lanes to the steps of now, taking new clients, and
// sets the timer for the next step. Called with e.mu held.
func (e *engine) roll(now time.Time) {
	if fresh := e.freshSecrets(); fresh == nil || !e.rebuild(fresh, now) {
		e.m.SetSequences(rollLanes(e.lanes, e.events, e.keys, now))
	}
	e.armStep()
}

// freshSecrets reads again every TOTP secrets file that changed. It
// returns the keys with the new clients, or nil when nothing changed. A
// file that no longer reads keeps the clients it had.
func (e *engine) freshSecrets() *Keys {
	var fresh *Keys
	for i := range e.events {
		t, old := e.events[i].TOTP, e.keys.TOTP[i]
		if t == nil || old == nil || !old.changed(t.SecretFile) {
			continue
		}
		c, err := loadTOTPClients(t.SecretFile)
		if err != nil {
			e.log.Error("TOTP secrets file changed but does not read; keeping its previous clients", "event", e.events[i].Name, "err", err)
			old.modTime = time.Time{} // look again at the next step
			continue
		}
		if fresh == nil {
			fresh = &Keys{TOTP: slices.Clone(e.keys.TOTP), Cipher: e.keys.Cipher}
		}
		fresh.TOTP[i] = c
		e.log.Info("TOTP secrets reloaded", "event", e.events[i].Name, "clients", len(c.Clients))
	}
	return fresh
}

// rebuild lays the lanes out afresh for new TOTP clients in a new
// matcher; attempts in progress are dropped. It reports false, keeping
// everything as it was, when the new lanes do not fit.
func (e *engine) rebuild(keys *Keys, now time.Time) bool {
	lanes, first, evs, err := buildLanes(e.events, keys, now)
	if err != nil {
		e.log.Error("cannot take the new TOTP clients; keeping the old ones", "err", err)
		return false
	}
	for i, ot := range e.onetime {
		if ot != nil {
			evs[first[i]].Sequence, _ = ot.Current()
		}
	}
	m := knock.New(evs, e.opts)
	if e.localSet {
		m.SetLocal(e.local)
	}
	e.m, e.lanes, e.first, e.keys = m, lanes, first, keys
	e.armedFor = 0
	return true
}
