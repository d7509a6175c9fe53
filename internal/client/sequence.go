package client

// Sequences that are only known when they are sent (SPEC §4): a one-time
// sequence is the first unused line of a file and must be crossed out once
// it went out, a TOTP sequence is the current time step's, and a cipher
// knock is a block sealed with the current time and a fresh nonce. Run
// asks for them after every host was resolved, just before each host's
// first knock, so that a slow name lookup cannot make a knock stale.

import (
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
	// nothing to say).
	Next(now time.Time) (knocks []Knock, note string, err error)
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

// TOTP knocks the sequence of the current time step (SPEC §4.3,
// docs/totp.md): Length distinct ports in [Lo, Hi] derived from Secret.
type TOTP struct {
	Secret []byte
	Proto  packet.Proto
	Lo, Hi uint16
	Length int
	Step   time.Duration
}

// Next returns the sequence of the time step that now is in.
func (t *TOTP) Next(now time.Time) ([]Knock, string, error) {
	if len(t.Secret) < totp.MinSecretBytes {
		return nil, "", fmt.Errorf("TOTP secret is %d bytes, expected at least %d", len(t.Secret), totp.MinSecretBytes)
	}
	if err := totp.CheckParams(t.Lo, t.Hi, t.Length, t.Step); err != nil {
		return nil, "", fmt.Errorf("invalid TOTP parameters: %w", err)
	}
	n := totp.Step(now, t.Step)
	ports := totp.Ports(t.Secret, n, t.Lo, t.Hi, t.Length)
	if len(ports) != t.Length {
		// Probability below 2^-600 (see totp.Ports).
		return nil, "", fmt.Errorf("no TOTP sequence in time step %d, try again in %s", n, t.Step)
	}
	ks := make([]Knock, len(ports))
	for i, p := range ports {
		ks[i] = Knock{Proto: t.Proto, Port: p}
	}
	return ks, fmt.Sprintf("TOTP sequence of step %d: %s", n, FormatKnocks(ks)), nil
}

// Sent does nothing: the server remembers which steps were used.
func (t *TOTP) Sent() (string, error) { return "", nil }

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
func (c *Cipher) Next(now time.Time) ([]Knock, string, error) {
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
func (o *OneTime) Next(time.Time) ([]Knock, string, error) {
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
