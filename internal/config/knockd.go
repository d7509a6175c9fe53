package config

// This file reads knockd.conf as knockd 0.8 reads it (parseconfig in
// knockd.c), so that every file knockd accepts loads with the same meaning:
//
//   - Lines are trimmed of blanks (C isspace, so CRLF files work); an empty
//     line or one whose first non-blank character is '#' is a comment. A '#'
//     or ';' anywhere else is data: commands keep it.
//   - "[name]" starts a section. Only the exact, case-sensitive "[options]"
//     is the global section; "[Options]" or "[ options ]" is an event, as in
//     knockd. A repeated name is a second event.
//   - A directive is "Key = value", split at the first '='; the key is
//     case-insensitive, blanks around both are free, the value is kept
//     verbatim. "UseSyslog" is the one directive written without '='.
//
// Where knockd accepts nonsense silently (atoi turns "soon" into 0 and ""
// into port 0, a later duplicate silently wins, a Target that is not an
// address never matches) sesame reports file:line, what is wrong and what
// was expected, and collects every such problem before giving up.

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultPidFile is knockd's pid file when neither -p nor PidFile is given.
const DefaultPidFile = "/var/run/knockd.pid"

// Load reads a configuration file and parses it in the format its content
// shows (DetectFormat: tportknockd's <NAME> blocks, port-knocking-doors'
// TOML or knockd.conf).
// Config.Source is path, Config.Format the format.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read configuration: %w", err)
	}
	return Parse(path, src)
}

// ParseKnockd parses knockd.conf text; file names it in messages and in
// Config.Source. On failure the error is an Errors listing every problem.
func ParseKnockd(file string, src []byte) (*Config, error) {
	p := &knockdParser{
		diagnostics: diagnostics{file: file},
		cfg: &Config{
			Source:  file,
			Format:  FormatKnockd,
			Options: Options{ScanGuard: true, MaxAttempts: DefaultMaxAttempts},
		},
		optSeen: map[string]int{},
	}
	lines := strings.Split(string(src), "\n")
	for i, line := range lines {
		p.line(i+1, line)
	}
	p.endSection()
	p.checkNames()
	if msg := CheckCaptures(p.cfg); msg != "" {
		p.errorf(p.optSeen["Capture"], "%s", msg)
	}
	if err := p.errs.errOrNil(); err != nil {
		return nil, err
	}
	p.cfg.notes = p.warns.sorted()
	return p.cfg, nil
}

type knockdParser struct {
	diagnostics
	cfg *Config

	inSection bool
	inOptions bool
	ev        *eventState // the event being read, nil in [options]
	optSeen   map[string]int
}

type eventState struct {
	Event
	ignore         bool // the header was bad: swallow its directives quietly
	seen           map[string]int
	seqErr         bool
	start6, stop6  bool // Start_Command_6 / Stop_Command_6 given
	syslogReported bool
}

func (p *knockdParser) line(n int, raw string) {
	t, ok := p.text(n, raw)
	if !ok {
		return
	}
	if t[0] == '[' && len(t) >= 2 && t[len(t)-1] == ']' {
		p.section(n, t[1:len(t)-1])
		return
	}
	if t[0] == '[' && strings.IndexByte(t, '=') < 0 {
		p.errorf(n, "malformed section header %q, expected [name] alone on the line", t)
		return
	}
	if !p.inSection {
		p.errorf(n, "%q is outside any section, expected a [name] or [options] line first", t)
		return
	}
	if p.ev != nil && p.ev.ignore {
		return
	}
	key, val, hasEq := strings.Cut(t, "=")
	key, val = trimBlank(key), trimBlank(val)
	d := lookupDirective(key)
	switch {
	case !hasEq && d != nil && d.name == "UseSyslog":
		p.cfg.Options.UseSyslog = true
		if p.ev != nil {
			p.warnf(n, "UseSyslog in event [%s] sets the global option (as in knockd); it belongs in [options]", p.ev.Name)
		}
		return
	case !hasEq && d != nil:
		p.errorf(n, "%s needs a value, expected %q", d.name, d.name+" = ...")
		return
	case key == "":
		p.errorf(n, "missing directive name before '=', expected Key = value")
		return
	case d == nil:
		p.errorf(n, "%s", p.unknown(key))
		return
	case d.name == "UseSyslog":
		p.errorf(n, "UseSyslog takes no value, expected the word UseSyslog alone on its line")
		return
	}
	if p.ev == nil {
		if !d.global {
			p.errorf(n, "%s belongs in an event section, not in [options]", d.name)
			return
		}
		if prev, ok := p.optSeen[d.name]; ok {
			// A repeated option loads as in knockd: Interface keeps its
			// first value, the others their last.
			if d.name == "Interface" {
				p.warnf(n, "Interface already set on line %d: ignored, the first value wins, as in knockd", prev)
				return
			}
			p.warnf(n, "%s already set on line %d: this later value wins, as in knockd", d.name, prev)
		}
		p.optSeen[d.name] = n
		if msg := d.setOpt(&p.cfg.Options, val); msg != "" {
			p.errorf(n, "%s", msg)
		}
		return
	}
	ev := p.ev
	if d.global {
		msg := fmt.Sprintf("%s belongs in [options], not in event [%s]", d.name, ev.Name)
		if strings.EqualFold(strings.TrimSpace(ev.Name), "options") {
			msg += fmt.Sprintf(" (the global section is spelled exactly [options]; [%s] is an event, as in knockd)", ev.Name)
		}
		p.errorf(n, "%s", msg)
		return
	}
	if prev, ok := ev.seen[d.name]; ok && d.name != "TCPFlags" {
		// knockd keeps the last value; a real configuration that relies on
		// that must load with the same meaning, so this is only a warning.
		p.warnf(n, "%s already set on line %d in [%s]: this later value wins, as in knockd", d.name, prev, ev.Name)
	}
	ev.seen[d.name] = n
	if msg := d.setEv(p, ev, n, val); msg != "" {
		p.errorf(n, "%s", msg)
	}
}

func (p *knockdParser) section(n int, name string) {
	p.endSection()
	p.inSection = true
	p.inOptions = false
	p.ev = nil
	switch name {
	case "":
		p.errorf(n, "empty section name, expected [name] or [options]")
		p.ev = &eventState{ignore: true}
	case "options":
		p.inOptions = true
	default:
		p.ev = &eventState{
			Event: Event{
				Name:       name,
				Pos:        Pos{p.file, n},
				SeqTimeout: DefaultSeqTimeout,
				CmdTimeout: DefaultCmdTimeout,
			},
			seen: map[string]int{},
		}
	}
}

// endSection checks the event being read and adds it to the config.
func (p *knockdParser) endSection() {
	ev := p.ev
	p.ev = nil
	if ev == nil || ev.ignore {
		return
	}
	if !ev.hasSource() && !ev.seqErr {
		p.errorf(ev.Pos.Line, "event [%s] has no Sequence, expected Sequence = port[:tcp|udp],... or a file: One_Time_Sequences, TOTP_Secret_File or Cipher_Key_File = FILE", ev.Name)
	}
	p.checkSource(ev)
	if l, ok := ev.seen["Lockout"]; ok && ev.TOTP != nil {
		// A TOTP event is a matcher lane per client and time step, and a
		// lockout would hold one lane only: refuse rather than half-work.
		p.errorf(l, "Lockout does not apply to TOTP events (event [%s]): each knock is already valid once, and a wrong one only ends its attempt", ev.Name)
	}
	// knockd runs Start_Command (Stop_Command) for IPv6 knockers when no
	// _6 variant is given; an empty _6 value means "do nothing". Resolve
	// that here so the model says exactly what runs.
	if !ev.start6 {
		ev.StartCommand6 = ev.StartCommand
	}
	if !ev.stop6 {
		ev.StopCommand6 = ev.StopCommand
	}
	p.checkDoor(ev)
	p.cfg.Events = append(p.cfg.Events, ev.Event)
}

// directive is one knockd.conf key.
type directive struct {
	name    string // canonical spelling, as Print writes it
	aliases []string
	global  bool // an [options] directive
	setOpt  func(o *Options, val string) string
	setEv   func(p *knockdParser, ev *eventState, line int, val string) string
}

var directives = []*directive{
	{name: "UseSyslog", global: true},
	{name: "LogFile", global: true, setOpt: func(o *Options, v string) string { o.LogFile = v; return "" }},
	{name: "PidFile", global: true, setOpt: setPidFile},
	{name: "Interface", global: true, setOpt: setInterface},
	{name: "ScanGuard", global: true, setOpt: setScanGuard},
	{name: "MaxAttempts", global: true, setOpt: setMaxAttempts},

	{name: "Sequence", setEv: setSequence},
	{name: "One_Time_Sequences", setEv: setOneTime},
	{name: "Seq_Timeout", aliases: []string{"Timeout"}, setEv: secondsField("Seq_Timeout", 1, func(e *Event) *time.Duration { return &e.SeqTimeout })},
	{name: "TCPFlags", setEv: setTCPFlags},
	{name: "Start_Command", aliases: []string{"Command"}, setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		ev.StartCommand = v
		return ""
	}},
	{name: "Start_Command_6", aliases: []string{"Command_6"}, setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		ev.StartCommand6, ev.start6 = v, true
		return ""
	}},
	{name: "Cmd_Timeout", setEv: secondsField("Cmd_Timeout", 0, func(e *Event) *time.Duration { return &e.CmdTimeout })},
	{name: "Stop_Command", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		ev.StopCommand = v
		return ""
	}},
	{name: "Stop_Command_6", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		ev.StopCommand6, ev.stop6 = v, true
		return ""
	}},
	{name: "Target", setEv: setTarget},

	{name: "Open", setEv: setOpen},
	{name: "Open_Timeout", setEv: secondsField("Open_Timeout", 1, func(e *Event) *time.Duration { return &e.OpenTimeout })},
	{name: "Firewall", setEv: setFirewall},
	{name: "Nft_Table", setEv: setNftTable},
	{name: "Firewalld_Zone", setEv: setFirewalldZone},
}

func lookupDirective(key string) *directive {
	for _, d := range directives {
		if strings.EqualFold(key, d.name) {
			return d
		}
		for _, a := range d.aliases {
			if strings.EqualFold(key, a) {
				return d
			}
		}
	}
	return nil
}

// unknown explains an unknown key, suggesting the nearest directive valid
// in the current section (or, failing that, anywhere).
func (p *knockdParser) unknown(key string) string {
	here := func(d *directive) bool { return d.global == (p.ev == nil) }
	best, bestD := "", len(key)/3
	if bestD < 2 {
		bestD = 2
	}
	for pass := 0; pass < 2 && best == ""; pass++ {
		for _, d := range directives {
			if (pass == 0) != here(d) {
				continue
			}
			for _, n := range append([]string{d.name}, d.aliases...) {
				if dist := editDistance(strings.ToLower(key), strings.ToLower(n)); dist <= bestD && (best == "" || dist < editDistance(strings.ToLower(key), strings.ToLower(best))) {
					best = n
				}
			}
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown directive %q (did you mean %q?)", key, best)
	}
	var names []string
	for _, d := range directives {
		if here(d) {
			names = append(names, d.name)
		}
	}
	return fmt.Sprintf("unknown directive %q, expected one of %s", key, strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func setPidFile(o *Options, v string) string {
	if v == "" {
		return "empty PidFile, expected a path such as " + DefaultPidFile
	}
	o.PidFile = v
	return ""
}

func setInterface(o *Options, v string) string {
	if v == "" {
		return "empty Interface, expected an interface name such as eth0"
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		n = trimBlank(n)
		if msg := checkIfName(n); msg != "" {
			return msg
		}
		names = append(names, n)
	}
	o.Interfaces = names
	return ""
}

// checkIfName applies Linux's rules for interface names (IFNAMSIZ).
func checkIfName(n string) string {
	if n == "" {
		return "empty name in Interface list, expected names separated by commas such as eth0,wg0"
	}
	if len(n) > 15 || n == "." || n == ".." || strings.ContainsAny(n, "/: \t\v\f\r") {
		return fmt.Sprintf("%q is not an interface name, expected a name such as eth0 (not a path)", n)
	}
	return ""
}

func setScanGuard(o *Options, v string) string {
	switch strings.ToLower(v) {
	case "on", "yes", "true":
		o.ScanGuard = true
	case "off", "no", "false":
		o.ScanGuard = false
	default:
		return fmt.Sprintf("ScanGuard %q, expected on or off (yes/no, true/false)", v)
	}
	return ""
}

// maxAttemptsLimit keeps MaxAttempts a size the matcher can allocate.
const maxAttemptsLimit = 1 << 24

func setMaxAttempts(o *Options, v string) string {
	n, ok := wholeNumber(cutTrailingComment(v))
	if !ok || n < 1 || n > maxAttemptsLimit {
		return fmt.Sprintf("MaxAttempts %q, expected a whole number 1-%d", v, maxAttemptsLimit)
	}
	o.MaxAttempts = int(n)
	return ""
}

func setSequence(_ *knockdParser, ev *eventState, _ int, v string) string {
	if l, ok := ev.seen["One_Time_Sequences"]; ok {
		return fmt.Sprintf("Sequence and One_Time_Sequences (line %d) both given, expected one of them", l)
	}
	seq, err := ParseSequence(v)
	if err != nil {
		ev.seqErr = true
		return "bad Sequence: " + err.Error()
	}
	ev.Sequence = seq
	return ""
}

func setOneTime(_ *knockdParser, ev *eventState, _ int, v string) string {
	if l, ok := ev.seen["Sequence"]; ok {
		ev.seqErr = true
		return fmt.Sprintf("One_Time_Sequences and Sequence (line %d) both given, expected one of them", l)
	}
	if v == "" {
		ev.seqErr = true
		return "empty One_Time_Sequences, expected the path of a file of sequences"
	}
	ev.OneTimeFile = v
	return ""
}

// secondsField makes the setter of an event directive that is a whole
// number of seconds, at least min.
func secondsField(name string, min uint64, field func(*Event) *time.Duration) func(*knockdParser, *eventState, int, string) string {
	return func(_ *knockdParser, ev *eventState, _ int, v string) string {
		n, msg := seconds(name, v, min)
		if msg == "" {
			*field(&ev.Event) = n
		}
		return msg
	}
}

func setTCPFlags(_ *knockdParser, ev *eventState, _ int, v string) string {
	r, err := ParseFlagRule(v)
	if err != nil {
		return "bad TCPFlags: " + err.Error()
	}
	// knockd adds the flags of every TCPFlags line to the event.
	if both := (ev.Flags.Set & r.Clear) | (ev.Flags.Clear & r.Set); both != 0 {
		return fmt.Sprintf("bad TCPFlags: TCP flag %s both required and excluded across TCPFlags lines", both)
	}
	ev.Flags.Set |= r.Set
	ev.Flags.Clear |= r.Clear
	return ""
}

func setTarget(p *knockdParser, ev *eventState, line int, v string) string {
	a, err := netip.ParseAddr(v)
	switch {
	case err != nil:
		return fmt.Sprintf("Target %q is not an IP address, expected one such as 192.0.2.10 or 2001:db8::10", v)
	case a.Zone() != "":
		return fmt.Sprintf("Target %q has a zone, expected an address without %%zone", v)
	case a.Is4In6():
		return fmt.Sprintf("Target %q is an IPv4-mapped address, expected %s", v, a.Unmap())
	}
	if a.String() != v {
		p.warnf(line, "Target %q: knockd compares it as text and would only match it written as %s", v, a)
	}
	ev.Target = a
	return ""
}

// maxSeconds is the largest value knockd's atoi can hold.
const maxSeconds = 1<<31 - 1

// seconds parses a whole number of seconds of at least min.
func seconds(name, v string, min uint64) (d time.Duration, msg string) {
	n, ok := wholeNumber(cutTrailingComment(v))
	if !ok {
		return 0, fmt.Sprintf("%s %q is not a whole number of seconds (knockd would read %d), expected e.g. 25", name, v, atoi(v))
	}
	if n < min {
		msg := fmt.Sprintf("%s %d is too short, expected at least %d second", name, n, min)
		if name == "Seq_Timeout" {
			msg += " (with 0 knockd drops every attempt at its next packet)"
		}
		return 0, msg
	}
	if n > maxSeconds {
		return 0, fmt.Sprintf("%s %d is too large, expected at most %d seconds", name, n, maxSeconds)
	}
	return time.Duration(n) * time.Second, ""
}

// wholeNumber parses an unsigned decimal number, digits only.
func wholeNumber(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 1<<63 - 1, true // too large; callers range-check
	}
	return n, true
}

// atoi is C's atoi as knockd uses it, to say in a message what knockd
// would have made of a value. Out-of-range values saturate.
func atoi(s string) int64 {
	i := 0
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 1<<40 {
			n = n*10 + int64(s[i]-'0')
		}
	}
	if neg {
		return -n
	}
	return n
}
