package client

// Sequences that are only known when they are sent (SPEC §4): a one-time
// sequence is the first unused line of a file and must be crossed out once
// it went out, a TOTP sequence is that of a time step the client has not
// used yet (the current one, else the next), and a cipher knock is a block
// sealed with the current time and a fresh nonce. Run asks for them after
// every host was resolved, just before each host's first knock, so that a
// slow name lookup cannot make a knock stale.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/seq"
	"github.com/sesame-knock/sesame/internal/totp"
)

// Sequence is a source of knocks that change from one use to the next.
type Sequence interface {
	// Next returns the knocks for the next host, to be sent from now on,
	// and a line for the verbose output that says what they are ("" for
	// nothing to say). It may wait first (a TOTP source that needs a
	// fresh time step), and then returns ctx's error if ctx is done.
	Next(ctx context.Context, now time.Time) (knocks []Knock, note string, err error)
	// Sent tells the source that at least one host received its whole
	// sequence. Run calls it once, at the end, also when a later host
	// failed, and prints the note like Next's.
	Sent() (note string, err error)
}

// FormatKnocks writes knocks as a knockd sequence, "7000:tcp,8000:udp".
func FormatKnocks(ks []Knock) string {
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k.String())
	}
	return b.String()
}

// TOTP knocks the sequence of a time step (SPEC §4.3, docs/totp.md):
// Length distinct ports in [Lo, Hi] derived from Secret.
//
// The daemon opens at most once per (client, step), and logs a second
// knock in a step as a replay. So that a user who knocks twice within a
// step is not taken for a replayer, a TOTP with a StateDir remembers the
// last step it used for each secret, and knocks step
// max(current, last used + 1):
//
//   - the current step, as long as it was not used;
//   - the next step when it was (the daemon accepts it with its default
//     skew of 1 step; a daemon with TOTP_Skew = 0 refuses it);
//   - for a third knock within a step, the step after the next: Next
//     first waits until that one is the next step, saying so on Stderr
//     ("sesame: waiting 12s for a fresh TOTP step"), or until ctx is done.
//
// A remembered step more than one step ahead of the clock (the clock went
// back) is ignored, with a warning. Sent records the highest step Next
// gave, once the knocks went out. The state is a convenience: when it
// cannot be read, Next warns and knocks the current step; when it cannot
// be written, Sent warns; neither is an error. See StateDir for the file.
type TOTP struct {
	Secret []byte
	Proto  packet.Proto
	Lo, Hi uint16
	Length int
	Step   time.Duration

	// StateDir is the directory of the state file, StateFile in it; ""
	// keeps no state, and every Next knocks the current step.
	// DefaultStateDir is where the sesame command keeps it.
	StateDir string
	// Stderr receives the warnings about the state and the notice of a
	// wait, one line each; nil discards them.
	Stderr io.Writer

	wait func(context.Context, time.Duration) error // nil: sleep; tests record waits

	loaded bool   // the state file was read (or failed to be)
	broken bool   // a warning about the state file was given
	last   uint64 // the last step used, from the state file
	hasUse bool   // last is set
	used   uint64 // the highest step Next gave since the last Sent
	hasNew bool   // used is set
}

// Next returns the sequence of the step to knock, after waiting when that
// is two steps ahead of now's (see TOTP).
func (t *TOTP) Next(ctx context.Context, now time.Time) ([]Knock, string, error) {
	if len(t.Secret) < totp.MinSecretBytes {
		return nil, "", fmt.Errorf("TOTP secret is %d bytes, expected at least %d", len(t.Secret), totp.MinSecretBytes)
	}
	if err := totp.CheckParams(t.Lo, t.Hi, t.Length, t.Step); err != nil {
		return nil, "", fmt.Errorf("invalid TOTP parameters: %w", err)
	}
	n, err := t.pick(ctx, now)
	if err != nil {
		return nil, "", err
	}
	ports := totp.Ports(t.Secret, n, t.Lo, t.Hi, t.Length)
	if len(ports) != t.Length {
		// Probability below 2^-600 (see totp.Ports).
		return nil, "", fmt.Errorf("no TOTP sequence in time step %d, try again in %s", n, t.Step)
	}
	if t.StateDir != "" {
		if !t.hasNew || n > t.used {
			t.used = n
		}
		t.hasNew = true
	}
	ks := make([]Knock, len(ports))
	for i, p := range ports {
		ks[i] = Knock{Proto: t.Proto, Port: p}
	}
	return ks, fmt.Sprintf("TOTP sequence of step %d: %s", n, FormatKnocks(ks)), nil
}

// pick chooses the step to knock, max(current, last used + 1), and waits
// until it is at most the next step.
func (t *TOTP) pick(ctx context.Context, now time.Time) (uint64, error) {
	cur := totp.Step(now, t.Step)
	if t.StateDir == "" {
		return cur, nil
	}
	if !t.loaded {
		t.loaded = true
		last, ok, err := readStep(t.StateDir, t.stateKey())
		switch {
		case err != nil:
			t.broken = true
			t.warn("warning: cannot read the TOTP state: %v; knocking with the current step", err)
		case ok:
			t.last, t.hasUse = last, true
		}
	}
	if !t.hasUse || t.last < cur {
		return cur, nil
	}
	switch n := t.last + 1; {
	case n == cur+1:
		return n, nil // the next step: accepted at once
	case n == cur+2:
		// The current and the next step were used: wait until n is the
		// next one, less than a step from now.
		d := totp.StepStart(cur+1, t.Step).Sub(now)
		if d > 0 {
			t.warn("waiting %ds for a fresh TOTP step", int64((d+time.Second-1)/time.Second))
			wait := t.wait
			if wait == nil {
				wait = sleep
			}
			if err := wait(ctx, d); err != nil {
				return 0, err
			}
		}
		return n, nil
	default:
		t.warn("warning: TOTP step %d was used but the clock is in step %d (did it go back?); knocking with the current step", t.last, cur)
		t.hasUse = false
		return cur, nil
	}
}

// Sent records the highest step Next gave in the state file.
func (t *TOTP) Sent() (string, error) {
	if t.StateDir == "" || !t.hasNew {
		return "", nil
	}
	if !t.hasUse || t.used > t.last {
		t.last, t.hasUse = t.used, true
	}
	t.hasNew = false
	if err := writeStep(t.StateDir, t.stateKey(), t.last); err != nil && !t.broken {
		t.broken = true
		t.warn("warning: cannot record the TOTP step: %v; another knock within %s may be refused as a replay", err, t.Step)
	}
	return "", nil
}

// warn writes a line to Stderr: "sesame: " and the message.
func (t *TOTP) warn(format string, args ...any) {
	if t.Stderr != nil {
		fmt.Fprintf(t.Stderr, "sesame: "+format+"\n", args...)
	}
}

// Cipher knocks a cipher knock (SPEC §4.4, docs/cipher-knock.md): a block
// sealed under Key for Event, one knock per byte in the window of 256
// ports from Base. Every Next seals a new block.
type Cipher struct {
	Key   cipherknock.Key
	Event string
	Proto packet.Proto
	Base  uint16
	// Rand is where nonces come from; nil means crypto/rand.
	Rand io.Reader
}

// Next seals a block for now and returns its 16 knocks.
func (c *Cipher) Next(_ context.Context, now time.Time) ([]Knock, string, error) {
	if c.Event == "" {
		return nil, "", errors.New("cipher knock without an event name")
	}
	if err := cipherknock.CheckBase(c.Base); err != nil {
		return nil, "", err
	}
	b, err := cipherknock.NewCipher(c.Key).Seal(c.Event, now, c.Rand)
	if err != nil {
		return nil, "", err
	}
	ports := cipherknock.Ports(b, c.Base)
	ks := make([]Knock, len(ports))
	for i, p := range ports {
		ks[i] = Knock{Proto: c.Proto, Port: p}
	}
	note := fmt.Sprintf("cipher knock for event %q in ports %d-%d:%s: block %s",
		c.Event, c.Base, int(c.Base)+cipherknock.Window-1, c.Proto, b)
	return ks, note, nil
}

// Sent does nothing: the server's replay cache rejects a block twice.
func (c *Cipher) Sent() (string, error) { return "", nil }

// OneTime knocks the first unused sequence of a knockd one-time sequences
// file (One_Time_Sequences), the same one to every host, and crosses it out
// as knockd's daemon does (a '#' over the first byte of its line) once it
// was sent, so that client and server move on to the next line together.
type OneTime struct {
	f    *seq.OneTime
	seq  []config.Element
	pos  config.Pos
	used bool
}

// OpenOneTime opens a one-time sequences file for reading and marking.
func OpenOneTime(path string) (*OneTime, error) {
	f, err := seq.Open(path)
	if err != nil {
		return nil, err
	}
	o := &OneTime{f: f}
	s, ok := f.Current()
	if !ok {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, seq.ErrExhausted)
	}
	o.seq, o.pos = s, f.Pos()
	return o, nil
}

// Knocks returns the sequence that will be sent, and where it is in the
// file.
func (o *OneTime) Knocks() ([]Knock, config.Pos) {
	ks := make([]Knock, len(o.seq))
	for i, e := range o.seq {
		ks[i] = Knock{Proto: e.Proto, Port: e.Port}
	}
	return ks, o.pos
}

// Next returns the first unused sequence of the file, as it was when the
// file was opened.
func (o *OneTime) Next(context.Context, time.Time) ([]Knock, string, error) {
	if o.used {
		return nil, "", fmt.Errorf("%s: one-time sequence already used", o.pos)
	}
	ks, pos := o.Knocks()
	return ks, fmt.Sprintf("one-time sequence %s: %s", pos, FormatKnocks(ks)), nil
}

// Sent marks the sequence used.
func (o *OneTime) Sent() (string, error) {
	if o.used {
		return "", nil
	}
	if err := o.f.MarkUsed(); err != nil {
		return "", fmt.Errorf("knocked, but failed to mark the one-time sequence used: %w", err)
	}
	o.used = true
	note := fmt.Sprintf("marked %s used, %d unused left", o.pos, o.f.Remaining())
	if o.f.Remaining() == 0 {
		note = fmt.Sprintf("marked %s used, none left: add sequences to %s (and to the server's) before the next knock", o.pos, o.pos.File)
	}
	return note, nil
}

// Close closes the file.
func (o *OneTime) Close() error { return o.f.Close() }
