package config

// This file reads tportknockd's configuration unchanged (SPEC §2.2) and
// writes it back for `sesamed --check`:
//
//	<NAME>                       # an event; names unique, case-sensitive
//	 sequence      = tcp:110:x tcp:110:up udp:53 tcp:22:i
//	 timeout       = 10          # seconds to complete the sequence
//	 start_command = /sbin/iptables -A INPUT -s %IP% ... -j ACCEPT
//	 stop_command  = /sbin/iptables -D INPUT -s %IP% ... -j ACCEPT
//	 command_delay = 30          # seconds before stop_command
//	</NAME>
//
// The rules, where tportknockd's documentation leaves them open:
//
//   - Lines are trimmed of blanks (C isspace, so CRLF files work); an empty
//     line or one whose first non-blank character is '#' is a comment.
//   - A tag (<NAME> or </NAME>) is alone on its line, optionally followed
//     by a '#' comment, as in the documentation's template. A name is
//     non-empty, without blanks, '<', '>' or a leading '/'. Every block
//     ends with the </NAME> of its own name; blocks do not nest.
//   - "key = value", split at the first '='; keys are case-insensitive and
//     blanks around key and value are free.
//   - In sequence, timeout and command_delay a '#' after a blank starts a
//     comment ("timeout = 10 # seconds" is 10). Commands are verbatim: a
//     '#' in start_command or stop_command is part of the command, as in
//     knockd.conf (the shell sees it).
//   - sequence is frames separated by blanks and/or commas (the
//     documentation shows both): proto:port[:flags]. Protocols are tcp or
//     udp (any case). Flags are any of f s r p a u, each at most once, in
//     any order and case (the exact set is required), or one of x (all
//     six), n (none, the default for a TCP frame without flags), i (any
//     flags). UDP frames take no flags.
//   - A repeated key in a block warns and the later value wins (as
//     knockd.conf does); a repeated event name is an error.
//   - Defaults are knockd's: timeout DefaultSeqTimeout, command_delay
//     DefaultCmdTimeout. start_command and stop_command also run for IPv6
//     knockers (StartCommand6/StopCommand6), as knockd's fallback does.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Configuration formats, the values of Config.Format.
const (
	FormatKnockd      = "knockd.conf"
	FormatTportknockd = "tportknockd"
)

// DetectFormat tells the format of a configuration by its content, looking
// only at lines that are neither blank nor '#' comments:
//
//   - tportknockd's when the first such line starts with '<' (a <NAME> tag);
//   - port-knocking-doors' TOML when, before any line starting with '['
//     (a knockd.conf section, which every knockd.conf has), a line is
//     "key = value" with a key of port-knocking-doors (or a near miss of
//     one) or a TOML array value ("= [..."), and the key is not a
//     knockd.conf directive (a stray "Sequence = ..." stays knockd.conf);
//   - knockd.conf otherwise, so that its parser explains what is wrong.
func DetectFormat(src []byte) string {
	first := true
	for _, line := range strings.Split(string(src), "\n") {
		t := trimBlank(line)
		if t == "" || t[0] == '#' {
			continue
		}
		switch {
		case first && t[0] == '<':
			return FormatTportknockd
		case t[0] == '[':
			return FormatKnockd
		case looksPortKnocker(t):
			return FormatPortKnocker
		}
		first = false
	}
	return FormatKnockd
}

// Parse parses a configuration in the format DetectFormat finds.
func Parse(file string, src []byte) (*Config, error) {
	switch DetectFormat(src) {
	case FormatTportknockd:
		return ParseTportknockd(file, src)
	case FormatPortKnocker:
		return ParsePortKnocker(file, src)
	}
	return ParseKnockd(file, src)
}

// tportKeys are tportknockd's keys, in the order PrintTportknockd writes them.
var tportKeys = []string{"sequence", "timeout", "start_command", "stop_command", "command_delay"}

// ParseTportknockd parses tportknockd configuration text; file names it in
// messages and in Config.Source. On failure the error is an Errors listing
// every problem.
func ParseTportknockd(file string, src []byte) (*Config, error) {
	p := &tportParser{
		diagnostics: diagnostics{file: file},
		cfg:         &Config{Source: file, Format: FormatTportknockd, Options: Options{ScanGuard: true, MaxAttempts: DefaultMaxAttempts}},
		names:       map[string]int{},
	}
	for i, line := range strings.Split(string(src), "\n") {
		p.line(i+1, line)
	}
	if p.ev != nil {
		p.errorf(p.ev.Pos.Line, "<%s> is never closed, expected </%s> at the end of the block", p.ev.Name, p.ev.Name)
		p.end()
	}
	if err := p.errs.errOrNil(); err != nil {
		return nil, err
	}
	p.cfg.notes = p.warns.sorted()
	return p.cfg, nil
}

type tportParser struct {
	diagnostics
	cfg   *Config
	names map[string]int // event name -> line of its open tag

	ev     *Event // the block being read
	ignore bool   // its open tag was wrong: swallow its lines quietly
	seen   map[string]int
	seqErr bool
}

func (p *tportParser) line(n int, raw string) {
	t, ok := p.text(n, raw)
	if !ok {
		return
	}
	if t[0] == '<' {
		p.tag(n, t)
		return
	}
	if p.ev == nil {
		p.errorf(n, "%q is outside any event, expected a <NAME> line first", t)
		return
	}
	if p.ignore {
		return
	}
	key, val, hasEq := strings.Cut(t, "=")
	key, val = strings.ToLower(trimBlank(key)), trimBlank(val)
	known := false
	for _, k := range tportKeys {
		known = known || k == key
	}
	switch {
	case !hasEq && known:
		p.errorf(n, "%s needs a value, expected %q", key, key+" = ...")
		return
	case key == "":
		p.errorf(n, "missing key before '=', expected key = value")
		return
	case !known:
		p.errorf(n, "%s", tportUnknown(trimBlank(strings.SplitN(t, "=", 2)[0])))
		return
	}
	if prev, ok := p.seen[key]; ok {
		p.warnf(n, "%s already set on line %d in <%s>: this later value wins", key, prev, p.ev.Name)
	}
	p.seen[key] = n
	ev := p.ev
	switch key {
	case "sequence":
		seq, err := ParseTportSequence(val)
		if err != nil {
			p.seqErr = true
			p.errorf(n, "bad sequence: %v", err)
			return
		}
		ev.Sequence = seq
	case "timeout":
		if d, msg := tportSeconds(key, val, 1); msg != "" {
			p.errorf(n, "%s", msg)
		} else {
			ev.SeqTimeout = d
		}
	case "command_delay":
		if d, msg := tportSeconds(key, val, 0); msg != "" {
			p.errorf(n, "%s", msg)
		} else {
			ev.CmdTimeout = d
		}
	case "start_command":
		ev.StartCommand, ev.StartCommand6 = val, val
	case "stop_command":
		ev.StopCommand, ev.StopCommand6 = val, val
	}
}

func tportUnknown(key string) string {
	best, bestD := "", max(len(key)/3, 2)
	for _, k := range tportKeys {
		if d := editDistance(strings.ToLower(key), k); d <= bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?), expected one of %s", key, best, strings.Join(tportKeys, ", "))
	}
	return fmt.Sprintf("unknown key %q, expected one of %s", key, strings.Join(tportKeys, ", "))
}

// tag handles a line starting with '<'.
func (p *tportParser) tag(n int, t string) {
	end := strings.IndexByte(t, '>')
	if end < 0 {
		p.errorf(n, "malformed tag %q, expected <NAME> or </NAME>", t)
		return
	}
	if rest := trimBlank(t[end+1:]); rest != "" && rest[0] != '#' {
		p.errorf(n, "%q after the tag %s, expected the tag alone on its line (or a # comment)", rest, t[:end+1])
		// and read the tag, so that one slip is one error
	}
	name, closing := t[1:end], false
	if strings.HasPrefix(name, "/") {
		name, closing = name[1:], true
	}
	if closing && p.ev != nil && p.ev.Name == name {
		p.end()
		return
	}
	if msg := checkTportName(name); msg != "" {
		p.errorf(n, "%s", msg)
		if !closing && p.ev == nil {
			// Swallow the block's lines quietly; its close tag will match.
			p.open(n, name, true)
		}
		return
	}
	if closing {
		switch {
		case p.ev == nil:
			p.errorf(n, "</%s> closes no open event, expected <%s> before it", name, name)
		case p.ev.Name != name: // (a matching one was handled above)
			p.errorf(n, "</%s> does not match <%s> (line %d), expected </%s>", name, p.ev.Name, p.ev.Pos.Line, p.ev.Name)
			p.end()
		}
		return
	}
	if p.ev != nil {
		p.errorf(n, "<%s> inside <%s> (line %d), expected </%s> first", name, p.ev.Name, p.ev.Pos.Line, p.ev.Name)
		p.end()
	}
	dup := false
	if prev, ok := p.names[name]; ok {
		p.errorf(n, "event <%s> already defined on line %d, expected unique event names", name, prev)
		dup = true
	} else {
		p.names[name] = n
	}
	p.open(n, name, dup)
}

// checkTportName says what is wrong with an event name, or "".
func checkTportName(name string) string {
	switch {
	case name == "":
		return "empty event name, expected <NAME>"
	case strings.HasPrefix(name, "/"):
		return fmt.Sprintf("event name %q starts with '/', expected <NAME> or </NAME>", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; isBlank(c) || c < 0x20 || c == 0x7f || c == '<' || c == '>' {
			return fmt.Sprintf("event name %q holds a blank, a control character or '<', expected a name such as SSH", name)
		}
	}
	return ""
}

func (p *tportParser) open(n int, name string, ignore bool) {
	p.ev = &Event{Name: name, Pos: Pos{p.file, n}, SeqTimeout: DefaultSeqTimeout, CmdTimeout: DefaultCmdTimeout}
	p.seen = map[string]int{}
	p.seqErr = false
	p.ignore = ignore
}

// end checks the block being read and adds it to the config.
func (p *tportParser) end() {
	ev := p.ev
	p.ev = nil
	if p.ignore { // a block whose tag was wrong; already reported
		return
	}
	if len(ev.Sequence) == 0 && !p.seqErr {
		p.errorf(ev.Pos.Line, "event <%s> has no sequence, expected sequence = proto:port[:flags] ... e.g. tcp:110:x udp:53", ev.Name)
		return
	}
	p.cfg.Events = append(p.cfg.Events, *ev)
}

// tportSeconds parses a whole number of seconds, at least min, with an
// optional trailing comment.
func tportSeconds(name, v string, min uint64) (time.Duration, string) {
	v = cutComment(v)
	n, ok := wholeNumber(v)
	switch {
	case !ok:
		return 0, fmt.Sprintf("%s %q is not a whole number of seconds, expected e.g. 10", name, v)
	case n < min:
		return 0, fmt.Sprintf("%s %d is too short, expected at least %d second", name, n, min)
	case n > maxSeconds:
		return 0, fmt.Sprintf("%s %d is too large, expected at most %d seconds", name, n, maxSeconds)
	}
	return time.Duration(n) * time.Second, ""
}

// cutComment removes a '#' after a blank and everything after it.
func cutComment(s string) string {
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && isBlank(s[i-1]) {
			return trimBlank(s[:i])
		}
	}
	return s
}

// tportFlagLetters are the flag letters in the order they are written.
const tportFlagLetters = "fsrpau"

var tportFlagBits = [len(tportFlagLetters)]packet.TCPFlags{packet.FIN, packet.SYN, packet.RST, packet.PSH, packet.ACK, packet.URG}

// ParseTportSequence parses tportknockd's sequence: frames
// proto:port[:flags] separated by blanks and/or commas, with an optional
// trailing "# comment". At most MaxSequence frames.
func ParseTportSequence(s string) ([]Element, error) {
	s = cutComment(trimBlank(s))
	if s == "" {
		return nil, errors.New("empty sequence, expected frames proto:port[:flags] such as tcp:110:x udp:53")
	}
	var seq []Element
	for _, part := range strings.Split(s, ",") {
		frames := strings.FieldsFunc(part, func(r rune) bool { return r < 0x80 && isBlank(byte(r)) })
		if len(frames) == 0 {
			return nil, fmt.Errorf("empty frame after frame %d (a doubled or trailing comma?), expected proto:port[:flags]", len(seq))
		}
		for _, f := range frames {
			e, err := parseFrame(f)
			if err != nil {
				return nil, fmt.Errorf("frame %d %q: %v", len(seq)+1, f, err)
			}
			seq = append(seq, e)
		}
	}
	if len(seq) > MaxSequence {
		return nil, fmt.Errorf("%d frames in sequence, expected at most %d", len(seq), MaxSequence)
	}
	return seq, nil
}

func parseFrame(f string) (Element, error) {
	fields := strings.Split(f, ":")
	if len(fields) < 2 || len(fields) > 3 {
		return Element{}, errors.New("expected proto:port[:flags] such as tcp:110:x")
	}
	port, err := ParsePort(fields[1])
	if err != nil {
		return Element{}, err
	}
	e := Element{Port: port}
	switch strings.ToLower(fields[0]) {
	case "tcp":
		e.Proto = packet.TCP
	case "udp":
		e.Proto = packet.UDP
		if len(fields) == 3 {
			return Element{}, fmt.Errorf("flags %q on a UDP frame, expected udp:PORT (only TCP frames take flags)", fields[2])
		}
		return e, nil
	default:
		return Element{}, fmt.Errorf("unknown protocol %q, expected tcp or udp", fields[0])
	}
	e.Flags = FrameFlags{Exact: true} // no flags given: n
	if len(fields) == 3 {
		ff, err := parseTportFlags(fields[2])
		if err != nil {
			return Element{}, err
		}
		e.Flags = ff
	}
	return e, nil
}

func parseTportFlags(s string) (FrameFlags, error) {
	const expect = "expected letters of fsrpau, or x, n or i alone"
	if s == "" {
		return FrameFlags{}, errors.New("empty flags after ':', " + expect)
	}
	lower := strings.ToLower(s)
	switch lower {
	case "x":
		return FrameFlags{Exact: true, Value: packet.AllFlags}, nil
	case "n":
		return FrameFlags{Exact: true}, nil
	case "i":
		return FrameFlags{}, nil
	}
	ff := FrameFlags{Exact: true}
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		if c == 'x' || c == 'n' || c == 'i' {
			return FrameFlags{}, fmt.Errorf("flag %q combined with others in %q, %s", s[i], s, expect)
		}
		j := strings.IndexByte(tportFlagLetters, c)
		if j < 0 {
			return FrameFlags{}, fmt.Errorf("unknown flag %q in %q, %s", s[i], s, expect)
		}
		if ff.Value&tportFlagBits[j] != 0 {
			return FrameFlags{}, fmt.Errorf("flag %q given twice in %q, %s", s[i], s, expect)
		}
		ff.Value |= tportFlagBits[j]
	}
	return ff, nil
}

// TportFrame writes an element in tportknockd's syntax, flags normalised:
// "tcp:110:up" (letters in the order f s r p a u), "tcp:110:x" for all
// six, "tcp:110:n" for none, "tcp:110:i" for any, "udp:53".
func TportFrame(e Element) (string, error) {
	s := e.Proto.String() + ":" + strconv.Itoa(int(e.Port))
	switch {
	case e.Port == 0:
		return "", fmt.Errorf("port 0 in %s cannot be written as tportknockd", s)
	case e.Proto == packet.UDP:
		if e.Flags != (FrameFlags{}) {
			return "", fmt.Errorf("flags on UDP frame %s cannot be written as tportknockd", s)
		}
		return s, nil
	case e.Proto != packet.TCP:
		return "", fmt.Errorf("protocol of %s cannot be written as tportknockd", s)
	case !e.Flags.Exact:
		return s + ":i", nil
	case e.Flags.Value&^packet.AllFlags != 0:
		return "", fmt.Errorf("flags %#x of %s cannot be written as tportknockd", uint8(e.Flags.Value), s)
	case e.Flags.Value == packet.AllFlags:
		return s + ":x", nil
	case e.Flags.Value == 0:
		return s + ":n", nil
	}
	var b strings.Builder
	for i, bit := range tportFlagBits {
		if e.Flags.Value&bit != 0 {
			b.WriteByte(tportFlagLetters[i])
		}
	}
	return s + ":" + b.String(), nil
}

// FormatTportSequence writes a sequence in tportknockd's syntax, frames
// separated by one blank, so that ParseTportSequence reads it back equal.
func FormatTportSequence(seq []Element) (string, error) {
	parts := make([]string, len(seq))
	for i, e := range seq {
		f, err := TportFrame(e)
		if err != nil {
			return "", err
		}
		parts[i] = f
	}
	return strings.Join(parts, " "), nil
}

// PrintTportknockd is Print for a configuration read from tportknockd's
// format: a header naming the source, then every event as a block with
// its sequence normalised (see TportFrame) and every default filled in.
// ParseTportknockd of the output equals c. What tportknockd cannot say
// (options, IPv6 commands other than the IPv4 ones, TCPFlags, Target,
// doors, one-time, TOTP or cipher sequences) is an error.
func PrintTportknockd(w io.Writer, c *Config) error {
	if c.Options.UseSyslog || c.Options.LogFile != "" || c.Options.PidFile != "" || len(c.Options.Interfaces) > 0 ||
		!c.Options.ScanGuard || c.Options.MaxAttempts != DefaultMaxAttempts || c.Options.StateDir != "" {
		return errors.New("global options cannot be written as tportknockd")
	}
	bw := bufio.NewWriter(w)
	src := c.Source
	if src == "" {
		src = "(no file)"
	}
	if strings.ContainsAny(src, "\n\x00") {
		src = strconv.Quote(src)
	}
	fmt.Fprintf(bw, "# sesame: configuration read from %s (tportknockd format), normalised\n", src)
	names := map[string]bool{}
	for i := range c.Events {
		ev := &c.Events[i]
		if names[ev.Name] {
			return fmt.Errorf("event <%s> twice cannot be written as tportknockd", ev.Name)
		}
		names[ev.Name] = true
		if err := printTportEvent(bw, ev); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func printTportEvent(bw *bufio.Writer, ev *Event) error {
	if msg := checkTportName(ev.Name); msg != "" {
		return fmt.Errorf("cannot write event %q as tportknockd: %s", ev.Name, msg)
	}
	fail := func(what string) error {
		return fmt.Errorf("event <%s>: %s cannot be written as tportknockd", ev.Name, what)
	}
	switch {
	case ev.OneTimeFile != "" || ev.TOTP != nil || ev.Cipher != nil:
		return fail("a sequence other than a static one")
	case len(ev.Sequence) == 0 || len(ev.Sequence) > MaxSequence:
		return fail(fmt.Sprintf("a sequence of %d frames", len(ev.Sequence)))
	case !ev.Flags.IsZero():
		return fail("TCPFlags")
	case ev.Target.IsValid():
		return fail("Target")
	case len(ev.Open) > 0 || ev.Firewall != "" || ev.NftTable != "" || ev.FirewalldZone != "" || ev.OpenTimeout != 0:
		return fail("a native door")
	case ev.StartCommand6 != ev.StartCommand || ev.StopCommand6 != ev.StopCommand:
		return fail("an IPv6 command other than the IPv4 one")
	case ev.SeqTimeout < time.Second || ev.SeqTimeout%time.Second != 0 || ev.SeqTimeout > maxSeconds*time.Second:
		return fail(fmt.Sprintf("timeout %v", ev.SeqTimeout))
	case ev.CmdTimeout < 0 || ev.CmdTimeout%time.Second != 0 || ev.CmdTimeout > maxSeconds*time.Second:
		return fail(fmt.Sprintf("command_delay %v", ev.CmdTimeout))
	}
	for _, cmd := range []string{ev.StartCommand, ev.StopCommand} {
		if strings.ContainsAny(cmd, "\n\x00") || trimBlank(cmd) != cmd {
			return fail(fmt.Sprintf("command %q", cmd))
		}
	}
	seq, err := FormatTportSequence(ev.Sequence)
	if err != nil {
		return fmt.Errorf("event <%s>: %w", ev.Name, err)
	}
	fmt.Fprintf(bw, "\n<%s>\n", ev.Name)
	tkv(bw, "sequence", seq)
	tkv(bw, "timeout", secs(ev.SeqTimeout))
	tkv(bw, "start_command", ev.StartCommand)
	if ev.StopCommand != "" {
		tkv(bw, "stop_command", ev.StopCommand)
	} else {
		bw.WriteString(" # stop_command not set: nothing runs after command_delay\n")
	}
	tkv(bw, "command_delay", secs(ev.CmdTimeout))
	fmt.Fprintf(bw, "</%s>\n", ev.Name)
	return nil
}

func tkv(bw *bufio.Writer, key, val string) {
	if val == "" {
		fmt.Fprintf(bw, " %-13s =\n", key)
		return
	}
	fmt.Fprintf(bw, " %-13s = %s\n", key, val)
}
