package config

// The replay-proof sequence sources of SPEC §4.3 and §4.4, written in
// knockd.conf as sesame's own directives:
//
//	[ssh]
//	    TOTP_Secret_File = /etc/sesame/ssh.totp   # one secret per client
//	    TOTP_Ports       = 40000-49999:tcp        # where the ports are drawn from
//	    TOTP_Length      = 4                      # knocks per sequence
//	    TOTP_Step        = 30                     # seconds a sequence lives
//	    TOTP_Skew        = 1                      # neighbouring steps accepted
//
//	[vpn]
//	    Cipher_Key_File  = /etc/sesame/vpn.key    # key = ... or passphrase = ...
//	    Cipher_Ports     = 61000:udp              # the window 61000-61255
//	    Cipher_Max_Age   = 60                     # seconds a block stays fresh
//
// An event has exactly one sequence source: Sequence, One_Time_Sequences,
// TOTP_Secret_File or Cipher_Key_File. The other TOTP_ and Cipher_
// directives only tune their source, so they are errors without it.

import (
	"bufio"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/totp"
)

// Defaults of the replay-proof sources.
const (
	DefaultTOTPLo     = 40000
	DefaultTOTPHi     = 49999
	DefaultTOTPLength = 4
	DefaultTOTPStep   = 30 * time.Second
	DefaultTOTPSkew   = 1
	MaxTOTPSkew       = 10

	DefaultCipherBase   = 61000
	DefaultCipherMaxAge = 60 * time.Second
	// CipherWindow is the number of consecutive ports a cipher knock uses.
	CipherWindow = 256

	// minTOTPBits is the guessing strength below which a TOTP event is
	// worth a warning (the default, 4 knocks in 10,000 ports, has 53).
	minTOTPBits = 32

	// DefaultStateDir holds what must survive a restart (the replay cache).
	DefaultStateDir = "/var/lib/sesame"
)

// TOTP is a time-derived sequence source (TOTP_Secret_File): every client
// in SecretFile knocks Length distinct ports drawn from [Lo, Hi], a new
// sequence every Step; Skew neighbouring steps on each side are accepted.
type TOTP struct {
	SecretFile string
	Proto      packet.Proto
	Lo, Hi     uint16
	Length     int
	Step       time.Duration
	Skew       int
}

// Ports is the range in TOTP_Ports syntax, "40000-49999:tcp".
func (t *TOTP) Ports() string {
	return fmt.Sprintf("%d-%d:%s", t.Lo, t.Hi, t.Proto)
}

// Cipher is an encrypted-knock source (Cipher_Key_File): a 16-byte block
// knocked as one port per byte in the window [Base, Base+255].
type Cipher struct {
	KeyFile string
	Proto   packet.Proto
	Base    uint16
	MaxAge  time.Duration
}

// Ports is the window's base in Cipher_Ports syntax, "61000:udp".
func (c *Cipher) Ports() string {
	return fmt.Sprintf("%d:%s", c.Base, c.Proto)
}

func (ev *eventState) totp() *TOTP {
	if ev.TOTP == nil {
		ev.TOTP = &TOTP{Proto: packet.TCP, Lo: DefaultTOTPLo, Hi: DefaultTOTPHi, Length: DefaultTOTPLength, Step: DefaultTOTPStep, Skew: DefaultTOTPSkew}
	}
	return ev.TOTP
}

func (ev *eventState) cipher() *Cipher {
	if ev.Cipher == nil {
		ev.Cipher = &Cipher{Proto: packet.TCP, Base: DefaultCipherBase, MaxAge: DefaultCipherMaxAge}
	}
	return ev.Cipher
}

var replayProofDirectives = []*directive{
	{name: "StateDir", global: true, setOpt: func(o *Options, v string) string {
		if v == "" || v[0] != '/' {
			return fmt.Sprintf("StateDir %q, expected an absolute directory path such as %s", v, DefaultStateDir)
		}
		o.StateDir = v
		return ""
	}},
	{name: "TOTP_Secret_File", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		if v == "" {
			return "empty TOTP_Secret_File, expected the path of a file of client secrets (sesamed --enroll creates it)"
		}
		ev.totp().SecretFile = v
		return ""
	}},
	{name: "TOTP_Ports", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		proto, lo, hi, err := ParsePortRange(v)
		if err != nil {
			return "bad TOTP_Ports: " + err.Error()
		}
		t := ev.totp()
		t.Proto, t.Lo, t.Hi = proto, lo, hi
		return ""
	}},
	{name: "TOTP_Length", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		n, ok := wholeNumber(cutTrailingComment(v))
		if !ok || n < 1 || n > MaxSequence {
			return fmt.Sprintf("TOTP_Length %q, expected a whole number of knocks 1-%d", v, MaxSequence)
		}
		ev.totp().Length = int(n)
		return ""
	}},
	{name: "TOTP_Step", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		d, msg := seconds("TOTP_Step", v, 1)
		if msg == "" {
			ev.totp().Step = d
		}
		return msg
	}},
	{name: "TOTP_Skew", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		n, ok := wholeNumber(cutTrailingComment(v))
		if !ok || n > MaxTOTPSkew {
			return fmt.Sprintf("TOTP_Skew %q, expected a whole number of steps 0-%d", v, MaxTOTPSkew)
		}
		ev.totp().Skew = int(n)
		return ""
	}},
	{name: "Cipher_Key_File", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		if v == "" {
			return "empty Cipher_Key_File, expected the path of a key file (key = ... or passphrase = ...)"
		}
		ev.cipher().KeyFile = v
		return ""
	}},
	{name: "Cipher_Ports", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		proto, base, err := ParseCipherPorts(v)
		if err != nil {
			return "bad Cipher_Ports: " + err.Error()
		}
		c := ev.cipher()
		c.Proto, c.Base = proto, base
		return ""
	}},
	{name: "Cipher_Max_Age", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		d, msg := seconds("Cipher_Max_Age", v, 1)
		if msg == "" {
			ev.cipher().MaxAge = d
		}
		return msg
	}},
}

func init() { directives = append(directives, replayProofDirectives...) }

// ParsePortRange parses "LO-HI[:tcp|udp]" (TCP when no protocol is given).
func ParsePortRange(s string) (packet.Proto, uint16, uint16, error) {
	s = cutTrailingComment(trimBlank(s))
	rng, proto, err := cutProto(s)
	if err != nil {
		return 0, 0, 0, err
	}
	a, b, ok := strings.Cut(rng, "-")
	lo, okLo := port(trimBlank(a))
	hi, okHi := port(trimBlank(b))
	if !ok || !okLo || !okHi || lo > hi {
		return 0, 0, 0, fmt.Errorf("%q is not a port range, expected LO-HI[:tcp|udp] with 1 <= LO <= HI <= 65535, e.g. 40000-49999", s)
	}
	return proto, lo, hi, nil
}

// ParseCipherPorts parses the base of a cipher window, "BASE[:tcp|udp]":
// the window is BASE..BASE+255, so BASE is at most 65280.
func ParseCipherPorts(s string) (packet.Proto, uint16, error) {
	s = cutTrailingComment(trimBlank(s))
	b, proto, err := cutProto(s)
	if err != nil {
		return 0, 0, err
	}
	base, ok := port(b)
	if !ok || int(base)+CipherWindow-1 > 65535 {
		return 0, 0, fmt.Errorf("%q is not a window base, expected a port 1-%d (the window is BASE-BASE+255), e.g. %d:udp", s, 65535-CipherWindow+1, DefaultCipherBase)
	}
	return proto, base, nil
}

// cutProto splits an optional ":tcp" or ":udp" off the end of s.
func cutProto(s string) (string, packet.Proto, error) {
	v, p, has := strings.Cut(s, ":")
	if !has {
		return trimBlank(v), packet.TCP, nil
	}
	switch strings.ToLower(trimBlank(p)) {
	case "tcp":
		return trimBlank(v), packet.TCP, nil
	case "udp":
		return trimBlank(v), packet.UDP, nil
	}
	return "", 0, fmt.Errorf("protocol %q in %q, expected tcp or udp", p, s)
}

// port parses a port number 1-65535, digits only.
func port(s string) (uint16, bool) {
	n, ok := wholeNumber(s)
	if !ok || n < 1 || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// checkSource makes sure a finished event has exactly one sequence source
// and that the TOTP_ and Cipher_ tuning directives have theirs.
func (p *knockdParser) checkSource(ev *eventState) {
	var given []string
	for _, d := range []string{"Sequence", "One_Time_Sequences", "TOTP_Secret_File", "Cipher_Key_File"} {
		if _, ok := ev.seen[d]; ok {
			given = append(given, d)
		}
	}
	if len(given) > 2 || (len(given) == 2 && !(given[0] == "Sequence" && given[1] == "One_Time_Sequences")) {
		// (Sequence with One_Time_Sequences is reported where it is read.)
		p.errorf(ev.Pos.Line, "event [%s] has %s, expected exactly one sequence source", ev.Name, strings.Join(given, " and "))
	}
	if ev.TOTP != nil && ev.TOTP.SecretFile == "" {
		for _, d := range []string{"TOTP_Ports", "TOTP_Length", "TOTP_Step", "TOTP_Skew"} {
			if line, ok := ev.seen[d]; ok {
				p.errorf(line, "%s without TOTP_Secret_File in event [%s], expected TOTP_Secret_File = FILE", d, ev.Name)
			}
		}
	}
	if t := ev.TOTP; t != nil && t.SecretFile != "" {
		if span := int(t.Hi) - int(t.Lo) + 1; span < 2*t.Length {
			line := ev.seen["TOTP_Ports"]
			if line == 0 {
				line = ev.seen["TOTP_Length"]
			}
			p.errorf(line, "TOTP_Ports %s holds %d ports, too few for %d distinct knocks: expected at least %d (twice TOTP_Length)", t.Ports(), span, t.Length, 2*t.Length)
		} else if err := totp.CheckParams(t.Lo, t.Hi, t.Length, t.Step); err != nil {
			p.errorf(ev.seen["TOTP_Step"], "bad TOTP parameters: %v", err)
		} else if bits := float64(t.Length) * math.Log2(float64(span)); bits < minTOTPBits {
			p.warnf(ev.Pos.Line, "event [%s]: TOTP sequences of %d knocks in %d ports hold only %.0f bits: a scanner guesses one in 2^%.0f tries; expected at least %d bits (a longer TOTP_Length or a wider TOTP_Ports)", ev.Name, t.Length, span, bits, bits, minTOTPBits)
		}
	}
	if ev.Cipher != nil && ev.Cipher.KeyFile == "" {
		for _, d := range []string{"Cipher_Ports", "Cipher_Max_Age"} {
			if line, ok := ev.seen[d]; ok {
				p.errorf(line, "%s without Cipher_Key_File in event [%s], expected Cipher_Key_File = FILE", d, ev.Name)
			}
		}
	}
}

// checkNames refuses a second event with the name of a TOTP or cipher
// event: enrolment finds the event by name, and the replay cache records
// what opened under it. (knockd allows repeated names; so does sesame for
// its other events.)
func (p *knockdParser) checkNames() {
	first := map[string]*Event{}
	for i := range p.cfg.Events {
		ev := &p.cfg.Events[i]
		prev, seen := first[ev.Name]
		if !seen {
			first[ev.Name] = ev
			continue
		}
		if ev.TOTP != nil || ev.Cipher != nil || prev.TOTP != nil || prev.Cipher != nil {
			p.errorf(ev.Pos.Line, "event [%s] already defined on line %d; a TOTP or cipher event needs a name of its own (enrolment and the replay cache go by name)", ev.Name, prev.Pos.Line)
		}
	}
}

// hasSource reports whether an event has some sequence source.
func (ev *Event) hasSource() bool {
	return len(ev.Sequence) > 0 || ev.OneTimeFile != "" ||
		(ev.TOTP != nil && ev.TOTP.SecretFile != "") || (ev.Cipher != nil && ev.Cipher.KeyFile != "")
}

// printReplayProof writes an event's TOTP or cipher source.
func printReplayProof(w *bufio.Writer, ev *Event) error {
	switch {
	case ev.TOTP != nil:
		t := ev.TOTP
		if err := printable("TOTP_Secret_File", t.SecretFile); err != nil {
			return err
		}
		kv(w, "TOTP_Secret_File", t.SecretFile)
		kv(w, "TOTP_Ports", t.Ports())
		kv(w, "TOTP_Length", strconv.Itoa(t.Length))
		kv(w, "TOTP_Step", secs(t.Step))
		kv(w, "TOTP_Skew", strconv.Itoa(t.Skew))
	case ev.Cipher != nil:
		c := ev.Cipher
		if err := printable("Cipher_Key_File", c.KeyFile); err != nil {
			return err
		}
		kv(w, "Cipher_Key_File", c.KeyFile)
		kv(w, "Cipher_Ports", c.Ports())
		fmt.Fprintf(w, "\t# the window is %s ports %d-%d\n", c.Proto, c.Base, int(c.Base)+CipherWindow-1)
		kv(w, "Cipher_Max_Age", secs(c.MaxAge))
	}
	return nil
}
