package daemon

// Lanes: how configured events become the matcher's events.
//
// The matcher knows nothing of clients, time steps or cipher blocks: it
// follows sequences and gathers windows. A static or one-time event is one
// lane. A TOTP event is one lane per client and accepted time step, each
// holding that client's sequence for that step, so a hit still costs O(1)
// (the matcher finds the lanes a port starts through its port index) and
// per-client secrets never compete for a step. A lane's slot is its step
// modulo the window width (2·skew+1): when the clock enters a new step only
// the slot of the step that left the window is refilled, and attempts in
// the other slots carry on. A cipher event is one gathering lane.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/knock"
	"github.com/sesame-knock/sesame/internal/totp"
)

// maxLanes is what the matcher's event index can hold.
const maxLanes = 1 << 16

// lane is one matcher event.
type lane struct {
	event  int    // index into the configuration's events
	client int    // TOTP: index into the event's clients; -1 otherwise
	step   uint64 // TOTP: the time step whose sequence the lane holds
}

// Keys are the secrets of the replay-proof events, indexed like the
// configuration's events (nil where an event has none).
type Keys struct {
	TOTP   []*TOTPClients
	Cipher []*cipherknock.Cipher
}

// TOTPClients is a TOTP event's secrets file as last read.
type TOTPClients struct {
	Clients []totp.Client
	modTime time.Time
	size    int64
}

// LoadKeys reads every TOTP secrets file and cipher key file of cfg. Its
// error lists every file that is missing, unreadable, too open or bad,
// one line each, as "file:line: event [name]: what".
func LoadKeys(cfg *config.Config) (*Keys, error) {
	k := &Keys{TOTP: make([]*TOTPClients, len(cfg.Events)), Cipher: make([]*cipherknock.Cipher, len(cfg.Events))}
	var errs []error
	for i, ev := range cfg.Events {
		var err error
		switch {
		case ev.TOTP != nil:
			k.TOTP[i], err = loadTOTPClients(ev.TOTP.SecretFile)
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w (sesamed --enroll CLIENT --event %s creates it)", err, ev.Name)
			}
		case ev.Cipher != nil:
			var key cipherknock.Key
			if key, err = cipherknock.LoadKeyFile(ev.Cipher.KeyFile, ev.Name); err == nil {
				k.Cipher[i] = cipherknock.NewCipher(key)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: event [%s]: %w", ev.Pos, ev.Name, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return k, nil
}

func loadTOTPClients(path string) (*TOTPClients, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read TOTP secrets: %w", err)
	}
	clients, err := totp.LoadSecrets(path)
	if err != nil {
		return nil, err
	}
	return &TOTPClients{Clients: clients, modTime: fi.ModTime(), size: fi.Size()}, nil
}

// changed reports whether the secrets file differs from what was read.
func (c *TOTPClients) changed(path string) bool {
	fi, err := os.Stat(path)
	return err != nil || !fi.ModTime().Equal(c.modTime) || fi.Size() != c.size
}

// buildLanes lays out the lanes of every event at wall-clock time now and
// the matcher events that go with them.
func buildLanes(events []config.Event, keys *Keys, now time.Time) ([]lane, []int, []knock.Event, error) {
	var lanes []lane
	var kev []knock.Event
	first := make([]int, len(events))
	for i := range events {
		ev := &events[i]
		first[i] = len(lanes)
		base := knock.Event{Sequence: ev.Sequence, Timeout: ev.SeqTimeout, Flags: ev.Flags, Target: ev.Target, Lockout: ev.Lockout}
		if ev.Payload != "" {
			base.Payload = []byte(ev.Payload)
		}
		switch {
		case ev.TOTP != nil:
			t := ev.TOTP
			lo, hi := window(totp.Step(now, t.Step), t.Skew)
			for c := range keys.TOTP[i].Clients {
				for s := lo; s <= hi; s++ {
					k := base
					k.Sequence = totpSequence(t, keys.TOTP[i].Clients[c].Secret, s)
					lanes = append(lanes, lane{event: i, client: c, step: s})
					kev = append(kev, k)
				}
			}
		case ev.Cipher != nil:
			k := base
			k.Gather = knock.Gather{Proto: ev.Cipher.Proto, Base: ev.Cipher.Base, Check: cipherCheck(keys.Cipher[i], ev.Name)}
			lanes = append(lanes, lane{event: i, client: -1})
			kev = append(kev, k)
		default:
			lanes = append(lanes, lane{event: i, client: -1})
			kev = append(kev, base)
		}
		if len(lanes) > maxLanes {
			return nil, nil, nil, fmt.Errorf("event %s: too many TOTP clients: %d lanes (clients × (2·TOTP_Skew+1)) in all, expected at most %d", ev.Name, len(lanes), maxLanes)
		}
	}
	return lanes, first, kev, nil
}

// cipherCheck accepts a gathered block that decrypts under the event's
// key to the event's id. Freshness and the replay cache are judged once
// the block is complete (admit), so that a stale or replayed block is
// reported, not silently slid past.
func cipherCheck(c *cipherknock.Cipher, event string) func(*[knock.GatherLen]byte) bool {
	id := cipherknock.EventID(event)
	return func(b *[knock.GatherLen]byte) bool {
		p, err := c.Open(cipherknock.Block(*b))
		return err == nil && p.EventID == id
	}
}

func totpSequence(t *config.TOTP, secret []byte, step uint64) []config.Element {
	ports := totp.Ports(secret, step, t.Lo, t.Hi, t.Length)
	seq := make([]config.Element, len(ports))
	for i, p := range ports {
		seq[i] = config.Element{Proto: t.Proto, Port: p}
	}
	return seq
}

// rollLanes moves every TOTP lane whose step left the window at now to
// the step that entered it in the same slot, and returns the changes.
func rollLanes(lanes []lane, events []config.Event, keys *Keys, now time.Time) []knock.SequenceChange {
	var changes []knock.SequenceChange
	for li := range lanes {
		ln := &lanes[li]
		ev := &events[ln.event]
		if ev.TOTP == nil {
			continue
		}
		t := ev.TOTP
		lo, hi := window(totp.Step(now, t.Step), t.Skew)
		if ln.step >= lo && ln.step <= hi {
			continue // still in the window
		}
		// The step of the window in this lane's slot.
		width := uint64(2*t.Skew + 1)
		s := lo + (ln.step%width+width-lo%width)%width
		ln.step = s
		changes = append(changes, knock.SequenceChange{Event: li, Sequence: totpSequence(t, keys.TOTP[ln.event].Clients[ln.client].Secret, s)})
	}
	return changes
}

// window is the steps accepted at step cur: [cur-skew, cur+skew], always
// 2·skew+1 of them (near the epoch, where cur < skew, the first ones).
func window(cur uint64, skew int) (lo, hi uint64) {
	k := uint64(skew)
	lo = max(cur, k) - k
	return lo, lo + 2*k
}

// nextStep is when the earliest TOTP event enters its next step after now.
func nextStep(events []config.Event, now time.Time) (time.Time, bool) {
	var next time.Time
	for i := range events {
		t := events[i].TOTP
		if t == nil {
			continue
		}
		at := totp.StepStart(totp.Step(now, t.Step)+1, t.Step)
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// replayKey names what may open only once, as the replay cache stores it.
// Keys longer than the cache takes (a very long event name) are hashed.
func replayKey(kind, event string, parts ...string) string {
	k := kind + "/" + url.PathEscape(event)
	for _, p := range parts {
		k += "/" + p
	}
	if len(k) > 200 {
		sum := sha256.Sum256([]byte(k))
		k = kind + "/sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }
