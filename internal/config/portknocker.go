package config

// This file reads port-knocking-doors' TOML configuration unchanged
// (SPEC §2.3) and writes it back for `sesamed --check`:
//
//	ports_to_controls = [22]                            # TCP ports a knock opens (required)
//	opening_sequence  = [16001,16002,16003,16004,16005] # 5-20 UDP ports (required)
//	ignoring_period_after_knock_error    = 5   # lockout after a wrong knock; 0 = none
//	max_knocker_live_time                = 30  # seconds to complete the sequence
//	max_opened_door_duration             = 10  # seconds a door stays open
//	firewall_rules_check_periode_seconds = 10  # not needed by sesame
//	doors_cleanup_periode                = 10  # not needed by sesame
//
// It compiles into one event, PortKnockerEvent: the sequence as UDP knocks
// whose datagrams must carry "knock\n" (PortKnockerPayload), and a native
// door admitting the knocker to the controlled ports as TCP on sesame's
// default firewall.
//
// The rules, where port-knocking-doors leaves them open:
//
//   - The file is TOML (github.com/pelletier/go-toml/v2's parser, so every
//     problem has a line). Only top-level keys: a [table] is an error. Keys
//     are case-sensitive, as in TOML; each may appear once.
//   - Numbers are TOML integers (1_000 and 0x10 are numbers too); a quoted
//     "10" is a string and an error, as it is for port-knocking-doors.
//   - opening_sequence holds 5 to 20 ports (its help says so). The same
//     port twice in a row is an error: the second knock would be taken for
//     a retransmit of the first and ignored (SPEC §3).
//   - Durations are whole seconds, at least 1, except
//     ignoring_period_after_knock_error, where 0 means no lockout: a source
//     that fails an attempt may start again at once, as it would with
//     port-knocking-doors ignoring it for zero seconds.
//   - firewall_rules_check_periode_seconds and doors_cleanup_periode are
//     checked like the other durations and then ignored, with a warning:
//     sesame reconciles the firewall at start and every door closes by its
//     own timeout (a kernel timeout with nftables), so nothing is polled.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/sesame-knock/sesame/internal/packet"
)

// FormatPortKnocker is Config.Format for port-knocking-doors' TOML.
const FormatPortKnocker = "port-knocking-doors"

// PortKnockerEvent is the name of the one event a port-knocking-doors
// configuration compiles into.
const PortKnockerEvent = "port-knocking-doors"

// PortKnockerPayload is the datagram port-knocking-doors' knocks carry.
const PortKnockerPayload = "knock\n"

// Sequence length port-knocking-doors allows.
const (
	PortKnockerMinSequence = 5
	PortKnockerMaxSequence = 20
)

// port-knocking-doors' keys and its defaults (from its help).
const (
	pkPorts        = "ports_to_controls"
	pkSequence     = "opening_sequence"
	pkCheckPeriod  = "firewall_rules_check_periode_seconds"
	pkLockout      = "ignoring_period_after_knock_error"
	pkLiveTime     = "max_knocker_live_time"
	pkDoorDuration = "max_opened_door_duration"
	pkCleanup      = "doors_cleanup_periode"

	PortKnockerDefaultLockout   = 5 * time.Second
	PortKnockerDefaultLiveTime  = 30 * time.Second
	PortKnockerDefaultOpen      = 10 * time.Second
	portKnockerDefaultPeriod    = 10 // both unused periods
	portKnockerExampleFirstPort = 16001
)

// pkKeys are the keys in the order of port-knocking-doors' help.
var pkKeys = []string{pkPorts, pkSequence, pkCheckPeriod, pkLockout, pkLiveTime, pkDoorDuration, pkCleanup}

// pkUnneeded says why sesame does not need a key it accepts.
var pkUnneeded = map[string]string{
	pkCheckPeriod: "sesame reconciles the firewall at start and then changes it only itself, so it is not polled",
	pkCleanup:     "every door closes when its own max_opened_door_duration ends (a kernel timeout with nftables), so no clean-up runs",
}

// pkAliases are keys of other tools people write by habit.
var pkAliases = map[string]string{
	"sequence": pkSequence, "magic_seq": pkSequence, "magic_sequence": pkSequence, "knock_sequence": pkSequence,
	"ports": pkPorts, "open": pkPorts, "ports_to_open": pkPorts,
	"timeout": pkLiveTime, "seq_timeout": pkLiveTime,
	"open_timeout": pkDoorDuration, "lockout": pkLockout,
}

// ParsePortKnocker parses port-knocking-doors' TOML configuration; file
// names it in messages and in Config.Source. On failure the error is an
// Errors listing every problem.
func ParsePortKnocker(file string, src []byte) (*Config, error) {
	// A copy whose capacity is its length: positions are computed from
	// slice capacities, and the caller's spare capacity must not confuse them.
	data := make([]byte, len(src))
	copy(data, src)
	p := &pkParser{diagnostics: diagnostics{file: file}, data: data, seen: map[string]int{}}
	for start := 0; start >= 0 && start < len(data); {
		start = p.parseFrom(start)
	}
	cfg := p.finish()
	if err := p.errs.errOrNil(); err != nil {
		return nil, err
	}
	cfg.notes = p.warns.sorted()
	return cfg, nil
}

type pkParser struct {
	diagnostics
	data []byte

	newlines []int // offsets of '\n' in data (lineAt)

	seen    map[string]int // key -> line
	inTable string         // the [table] being skipped, after one was reported
	syntax  bool           // a syntax error: some of the file was not read

	ports     []Port
	seq       []Element
	seqLine   int
	durations map[string]time.Duration
}

// parseFrom parses data[base:] and returns where to resume after a syntax
// error, or -1 at the end.
func (p *pkParser) parseFrom(base int) int {
	var tp unstable.Parser
	chunk := p.data[base:]
	tp.Reset(chunk)
	for tp.NextExpression() {
		p.expr(base, tp.Expression())
	}
	err := tp.Error()
	if err == nil {
		return -1
	}
	p.syntax = true
	off := len(chunk)
	msg := err.Error()
	var perr *unstable.ParserError
	if errors.As(err, &perr) {
		msg = perr.Message
		if o := cap(chunk) - cap(perr.Highlight); perr.Highlight != nil && o >= 0 && o <= len(chunk) {
			off = o
		}
	}
	lineStart := base + bytes.LastIndexByte(chunk[:off], '\n') + 1
	text := p.lineText(lineStart)
	t := trimBlank(text)
	example := pkPorts + " = [22]"
	if key, _, _ := strings.Cut(t, "="); looksLikeKey(t) && pkExample(trimBlank(key)) != "" {
		example = pkExample(trimBlank(key))
	}
	// An error on the first character of a line that starts a new key
	// means the value before it was left open: say so, and read on from
	// that line rather than skip it.
	atKey := looksLikeKey(t) && base+off == lineStart+len(text)-len(strings.TrimLeft(text, " \t")) && lineStart > base
	if atKey {
		if key, line := p.keyBefore(base, lineStart); key != "" {
			msg = fmt.Sprintf("%s: the value of %s on line %d is not closed", msg, key, line)
			if pkExample(key) != "" {
				example = pkExample(key)
			}
		}
		p.errorf(p.lineAt(base+off), "bad TOML: %s; expected TOML such as %s", msg, example)
		return lineStart
	}
	p.errorf(p.lineAt(base+off), "bad TOML: %s; expected TOML such as %s", msg, example)
	return p.resync(base + off)
}

// keyBefore finds the last line in data[base:end] that starts with a key,
// and returns the key and its line.
func (p *pkParser) keyBefore(base, end int) (string, int) {
	for end > base {
		start := base + bytes.LastIndexByte(p.data[base:end-1], '\n') + 1
		if t := trimBlank(p.lineText(start)); looksLikeKey(t) {
			key, _, _ := strings.Cut(t, "=")
			return trimBlank(key), p.lineAt(start)
		}
		end = start
	}
	return "", 0
}

// lineText is the line that starts at offset, without its newline.
func (p *pkParser) lineText(offset int) string {
	b := p.data[offset:]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// pkExample is an example line for a key, or "".
func pkExample(key string) string {
	switch key {
	case pkPorts:
		return pkPorts + " = [22]"
	case pkSequence:
		return pkSequence + " = [16001, 16002, 16003, 16004, 16005]"
	case pkCheckPeriod, pkLockout, pkLiveTime, pkDoorDuration, pkCleanup:
		return fmt.Sprintf("%s = %d", key, pkDefault(key))
	}
	return ""
}

// resync finds the start of the first line after the one holding offset
// that looks like the beginning of a new expression (key = or [table]),
// so that one syntax error does not hide the rest of the file.
func (p *pkParser) resync(offset int) int {
	i := bytes.IndexByte(p.data[offset:], '\n')
	if i < 0 {
		return -1
	}
	for pos := offset + i + 1; pos < len(p.data); {
		text := p.lineText(pos)
		if t := trimBlank(text); t != "" && (t[0] == '[' || looksLikeKey(t)) {
			return pos
		}
		pos += len(text) + 1
	}
	return -1
}

// looksLikeKey reports whether a line starts with a bare or quoted key
// followed by '='.
func looksLikeKey(t string) bool {
	key, _, ok := strings.Cut(t, "=")
	key = trimBlank(key)
	if !ok || key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '"' || c == '\'' || c == ' ') {
			return false
		}
	}
	return true
}

// lineAt is the line number of a byte offset.
func (p *pkParser) lineAt(offset int) int {
	if p.newlines == nil {
		p.newlines = []int{}
		for i, c := range p.data {
			if c == '\n' {
				p.newlines = append(p.newlines, i)
			}
		}
	}
	return 1 + sort.SearchInts(p.newlines, offset)
}

// line of a node of the chunk at base; fallback for nodes without a
// position (arrays).
func (p *pkParser) line(base int, n *unstable.Node, fallback int) int {
	if n == nil || n.Kind == unstable.Array || n.Raw.Length == 0 && n.Raw.Offset == 0 {
		return fallback
	}
	return p.lineAt(base + int(n.Raw.Offset))
}

func (p *pkParser) expr(base int, e *unstable.Node) {
	switch e.Kind {
	case unstable.Table, unstable.ArrayTable:
		name, line := keyName(e.Key()), 0
		if it := e.Key(); it.Next() {
			line = p.line(base, it.Node(), 0)
		}
		if q := strconv.Quote(name); q[1:len(q)-1] != name || strings.ContainsAny(name, " []") {
			name = q // keep the message on one line, and plain
		}
		p.errorf(line, "[%s] is a table, expected only top-level keys (port-knocking-doors' file has no sections); the keys under it are not read", name)
		p.inTable = name
		return
	case unstable.KeyValue:
	default:
		return
	}
	if p.inTable != "" {
		return
	}
	it := e.Key()
	var parts []string
	keyLine := 0
	for it.Next() {
		if keyLine == 0 {
			keyLine = p.line(base, it.Node(), 0)
		}
		parts = append(parts, string(it.Node().Data))
	}
	key := strings.Join(parts, ".")
	if len(parts) != 1 {
		p.errorf(keyLine, "dotted key %q, expected one of %s", key, strings.Join(pkKeys, ", "))
		return
	}
	known := false
	for _, k := range pkKeys {
		known = known || k == key
	}
	if !known {
		p.errorf(keyLine, "%s", pkUnknown(key))
		return
	}
	if prev, ok := p.seen[key]; ok {
		p.errorf(keyLine, "%s already set on line %d, expected each key once (TOML forbids repeating a key)", key, prev)
		return
	}
	p.seen[key] = keyLine
	v := e.Value()
	switch key {
	case pkPorts:
		p.readPorts(base, keyLine, v)
	case pkSequence:
		p.seqLine = keyLine
		p.readSequence(base, keyLine, v)
	default:
		p.readDuration(base, keyLine, key, v)
	}
}

func keyName(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

func pkUnknown(key string) string {
	best := pkAliases[strings.ToLower(key)]
	if best == "" {
		best = nearPKKey(key)
	}
	if best != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?), expected one of %s", key, best, strings.Join(pkKeys, ", "))
	}
	return fmt.Sprintf("unknown key %q, expected one of %s", key, strings.Join(pkKeys, ", "))
}

// nearPKKey is the key of port-knocking-doors that key is a misspelling
// of, or "".
func nearPKKey(key string) string {
	if len(key) > 64 { // far from every key; spare the edit distance
		return ""
	}
	best, bestD := "", max(len(key)/3, 2)
	for _, k := range pkKeys {
		if d := editDistance(strings.ToLower(key), k); d <= bestD {
			best, bestD = k, d
		}
	}
	return best
}

// kindName names a TOML value's type for messages.
func kindName(n *unstable.Node) string {
	switch n.Kind {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "a number"
	case unstable.Float:
		return "a decimal number"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	}
	return "a date or time"
}

// integer reads a TOML integer node.
func integer(n *unstable.Node) (int64, bool) {
	v, err := strconv.ParseInt(string(n.Data), 0, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			if strings.HasPrefix(string(n.Data), "-") {
				return -1 << 63, true
			}
			return 1<<63 - 1, true
		}
		return 0, false
	}
	return v, true
}

// portList reads an array of port numbers; what names one port in
// messages ("UDP port").
func (p *pkParser) portList(base, keyLine int, key, what, example string, v *unstable.Node) ([]uint16, bool) {
	if v.Kind != unstable.Array {
		hint := ""
		if v.Kind == unstable.String {
			hint = " (write the numbers without quotes)"
		}
		p.errorf(p.line(base, v, keyLine), "%s is %s, expected an array of %ss such as %s%s", key, kindName(v), what, example, hint)
		return nil, false
	}
	var out []uint16
	ok := true
	it := v.Children()
	for i := 1; it.Next(); i++ {
		n := it.Node()
		if n.Kind == unstable.Comment {
			i--
			continue
		}
		line := p.line(base, n, keyLine)
		if n.Kind != unstable.Integer {
			p.errorf(line, "%s element %d is %s, expected a %s number 1-65535", key, i, kindName(n), what)
			ok = false
			continue
		}
		x, valid := integer(n)
		if !valid || x < 1 || x > 65535 {
			p.errorf(line, "%s element %d is %s, expected a %s 1-65535", key, i, string(n.Data), what)
			ok = false
			continue
		}
		out = append(out, uint16(x))
	}
	return out, ok
}

func (p *pkParser) readPorts(base, keyLine int, v *unstable.Node) {
	ports, ok := p.portList(base, keyLine, pkPorts, "TCP port", "[22, 80]", v)
	if !ok {
		return
	}
	if len(ports) == 0 {
		p.errorf(keyLine, "%s is empty, expected at least one TCP port such as [22]", pkPorts)
		return
	}
	seen := map[uint16]bool{}
	for _, n := range ports {
		if seen[n] {
			p.warnf(keyLine, "%s lists port %d more than once: once is enough", pkPorts, n)
			continue
		}
		seen[n] = true
		p.ports = append(p.ports, Port{Proto: packet.TCP, Port: n})
	}
}

func (p *pkParser) readSequence(base, keyLine int, v *unstable.Node) {
	ports, ok := p.portList(base, keyLine, pkSequence, "UDP port", "[16001, 16002, 16003, 16004, 16005]", v)
	if !ok {
		return
	}
	seq, msg := pkSequenceOf(ports)
	if msg != "" {
		p.errorf(keyLine, "%s %s", pkSequence, msg)
		return
	}
	p.seq = seq
}

// pkSequenceOf applies port-knocking-doors' rules to a sequence of ports
// and returns it as UDP elements, or what is wrong with it.
func pkSequenceOf(ports []uint16) ([]Element, string) {
	if n := len(ports); n < PortKnockerMinSequence || n > PortKnockerMaxSequence {
		return nil, fmt.Sprintf("has %d ports, expected %d to %d UDP ports", n, PortKnockerMinSequence, PortKnockerMaxSequence)
	}
	seq := make([]Element, len(ports))
	for i, n := range ports {
		if i > 0 && ports[i-1] == n {
			return nil, fmt.Sprintf("has port %d twice in a row (knocks %d and %d), expected a different port next: a repeated knock is taken for a retransmit and ignored", n, i, i+1)
		}
		seq[i] = Element{Proto: packet.UDP, Port: n}
	}
	return seq, ""
}

func (p *pkParser) readDuration(base, keyLine int, key string, v *unstable.Node) {
	line := p.line(base, v, keyLine)
	if v.Kind != unstable.Integer {
		hint := ""
		if v.Kind == unstable.String {
			hint = " (write the number without quotes)"
		}
		p.errorf(line, "%s is %s, expected a whole number of seconds such as %d%s", key, kindName(v), pkDefault(key), hint)
		return
	}
	n, _ := integer(v)
	min := int64(1)
	if key == pkLockout {
		min = 0
	}
	switch {
	case n < min && n >= 0:
		p.errorf(line, "%s is 0, expected at least 1 second%s", key, pkZeroWhy(key))
	case n < 0:
		p.errorf(line, "%s is %s, expected a whole number of seconds, at least %d", key, string(v.Data), min)
	case n > maxSeconds:
		p.errorf(line, "%s is %s, expected at most %d seconds", key, string(v.Data), maxSeconds)
	default:
		if p.durations == nil {
			p.durations = map[string]time.Duration{}
		}
		p.durations[key] = time.Duration(n) * time.Second
		if why, ok := pkUnneeded[key]; ok {
			p.warnf(keyLine, "%s is not needed by sesame: %s; the value is checked and ignored", key, why)
		}
	}
}

func pkZeroWhy(key string) string {
	switch key {
	case pkLiveTime:
		return " (a knocker forgotten at once never completes the sequence)"
	case pkDoorDuration:
		return " (a door open for no time admits no one)"
	}
	return " (0 would poll without pause)"
}

func pkDefault(key string) int {
	switch key {
	case pkLockout:
		return int(PortKnockerDefaultLockout / time.Second)
	case pkLiveTime:
		return int(PortKnockerDefaultLiveTime / time.Second)
	case pkDoorDuration:
		return int(PortKnockerDefaultOpen / time.Second)
	}
	return portKnockerDefaultPeriod
}

// finish checks what is missing and builds the config.
func (p *pkParser) finish() *Config {
	if !p.syntax {
		if _, ok := p.seen[pkPorts]; !ok {
			p.errorf(0, "missing %s, expected e.g. %s = [22], the TCP ports a knock opens", pkPorts, pkPorts)
		}
		if _, ok := p.seen[pkSequence]; !ok {
			p.errorf(0, "missing %s, expected e.g. %s = [16001, 16002, 16003, 16004, 16005], your own %d to %d UDP ports", pkSequence, pkSequence, PortKnockerMinSequence, PortKnockerMaxSequence)
		}
	}
	d := func(key string, def time.Duration) time.Duration {
		if v, ok := p.durations[key]; ok {
			return v
		}
		return def
	}
	cfg := portKnockerConfig(p.file, p.seq, p.ports, d(pkLockout, PortKnockerDefaultLockout), d(pkLiveTime, PortKnockerDefaultLiveTime), d(pkDoorDuration, PortKnockerDefaultOpen))
	cfg.Events[0].Pos = Pos{p.file, p.seqLine}
	return cfg
}

// portKnockerConfig is the one model of a port-knocking-doors door.
func portKnockerConfig(source string, seq []Element, ports []Port, lockout, live, open time.Duration) *Config {
	return &Config{
		Source:  source,
		Format:  FormatPortKnocker,
		Options: Options{ScanGuard: true, MaxAttempts: DefaultMaxAttempts},
		Events: []Event{{
			Name:        PortKnockerEvent,
			Pos:         Pos{File: source},
			Sequence:    seq,
			SeqTimeout:  live,
			Payload:     PortKnockerPayload,
			Lockout:     lockout,
			CmdTimeout:  DefaultCmdTimeout,
			Open:        ports,
			OpenTimeout: open,
		}},
	}
}

// PortKnockerFromLists builds the configuration port-knocking-doors makes
// of its -m/--magic-seq and -p/--ports (sesame: --ports) values, or of
// KNOCKER_SEQ and KNOCKER_PORTS: seq is 5 to 20 UDP ports and ports the
// TCP ports to open, both plain numbers separated by commas
// ("10001,10002,10003,10004,10005", "22,80"). The knocks carry "knock\n";
// the timeouts are port-knocking-doors' defaults. source says where the
// lists came from (Config.Source).
func PortKnockerFromLists(seq, ports, source string) (*Config, error) {
	s, err := ParseMagicSequence(seq)
	if err != nil {
		return nil, err
	}
	ps, err := ParseControlPorts(ports)
	if err != nil {
		return nil, err
	}
	return portKnockerConfig(source, s, ps, PortKnockerDefaultLockout, PortKnockerDefaultLiveTime, PortKnockerDefaultOpen), nil
}

// ParseMagicSequence reads port-knocking-doors' magic sequence: 5 to 20
// UDP port numbers separated by commas, no port twice in a row.
func ParseMagicSequence(s string) ([]Element, error) {
	nums, err := plainPorts(s, "magic sequence", "UDP", "10001,10002,10003,10004,10005")
	if err != nil {
		return nil, err
	}
	seq, msg := pkSequenceOf(nums)
	if msg != "" {
		return nil, fmt.Errorf("magic sequence %q %s", s, msg)
	}
	return seq, nil
}

// ParseControlPorts reads port-knocking-doors' list of ports to control:
// TCP port numbers separated by commas ("22,80,8080").
func ParseControlPorts(s string) ([]Port, error) {
	nums, err := plainPorts(s, "ports to control", "TCP", "22,80")
	if err != nil {
		return nil, err
	}
	var out []Port
	seen := map[uint16]bool{}
	for _, n := range nums {
		if !seen[n] {
			seen[n] = true
			out = append(out, Port{Proto: packet.TCP, Port: n})
		}
	}
	return out, nil
}

func plainPorts(s, what, proto, example string) ([]uint16, error) {
	t := trimBlank(s)
	if t == "" {
		return nil, fmt.Errorf("empty %s, expected %s port numbers separated by commas such as %s", what, proto, example)
	}
	var out []uint16
	for i, item := range strings.Split(t, ",") {
		item = trimBlank(item)
		if item == "" {
			return nil, fmt.Errorf("%s %q: item %d is empty (a doubled or trailing comma?), expected %s port numbers such as %s", what, s, i+1, proto, example)
		}
		n, err := ParsePort(item)
		if err != nil {
			if strings.Contains(item, ":") {
				return nil, fmt.Errorf("%s %q: item %d %q: expected a plain %s port number (every port here is %s)", what, s, i+1, item, proto, proto)
			}
			return nil, fmt.Errorf("%s %q: item %d: %v", what, s, i+1, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// QuickStart builds the configuration of `sesamed --sequence LIST --open
// LIST`, with knockd's meanings: sequence is knockd's Sequence (a port
// without protocol is TCP, port:udp a UDP knock) and open is an Open list
// (tcp:22, udp:1194, or a bare port for TCP). The timeouts are the
// defaults (Seq_Timeout DefaultSeqTimeout, Open_Timeout
// DefaultOpenTimeout); no payload, no lockout; the firewall is sesame's
// default. The configuration prints as knockd.conf.
func QuickStart(sequence, open string) (*Config, error) {
	const source = "command line (--sequence/--open)"
	seq, err := ParseSequence(sequence)
	if err != nil {
		return nil, fmt.Errorf("bad --sequence %q: %v", sequence, err)
	}
	ports, err := ParsePorts(open)
	if err != nil {
		return nil, fmt.Errorf("bad --open %q: %v", open, err)
	}
	return &Config{
		Source:  source,
		Format:  FormatKnockd,
		Options: Options{ScanGuard: true, MaxAttempts: DefaultMaxAttempts},
		Events: []Event{{
			Name:        QuickStartEvent,
			Pos:         Pos{File: source},
			Sequence:    seq,
			SeqTimeout:  DefaultSeqTimeout,
			CmdTimeout:  DefaultCmdTimeout,
			Open:        ports,
			OpenTimeout: DefaultOpenTimeout,
		}},
	}, nil
}

// QuickStartEvent is the name of QuickStart's event.
const QuickStartEvent = "command-line"

// PrintPortKnocker is Print for a configuration in port-knocking-doors'
// format: a header naming the source, then the keys of its help with
// every default filled in. ParsePortKnocker of the output equals c. What
// the format cannot say (more than one event, TCP knocks, another payload,
// commands, options, another firewall) is an error.
func PrintPortKnocker(w io.Writer, c *Config) error {
	fail := func(what string) error {
		return fmt.Errorf("%s cannot be written as port-knocking-doors' TOML", what)
	}
	o := c.Options
	switch {
	case len(c.Events) != 1:
		return fail(fmt.Sprintf("a configuration of %d events", len(c.Events)))
	case o.UseSyslog || o.LogFile != "" || o.PidFile != "" || len(o.Interfaces) > 0 || !o.ScanGuard ||
		o.MaxAttempts != DefaultMaxAttempts || o.StateDir != "" || len(o.Capture) > 0:
		return fail("a global option")
	}
	ev := &c.Events[0]
	switch {
	case ev.Name != PortKnockerEvent:
		return fail(fmt.Sprintf("event name %q", ev.Name))
	case ev.OneTimeFile != "" || ev.TOTP != nil || ev.Cipher != nil:
		return fail("a sequence other than a static one")
	case ev.Payload != PortKnockerPayload:
		return fail(fmt.Sprintf("payload %q", ev.Payload))
	case !ev.Flags.IsZero() || ev.Target.IsValid():
		return fail("TCPFlags or Target")
	case ev.StartCommand != "" || ev.StartCommand6 != "" || ev.StopCommand != "" || ev.StopCommand6 != "" || ev.CmdTimeout != DefaultCmdTimeout:
		return fail("a command")
	case ev.Firewall != "" || ev.NftTable != "" || ev.FirewalldZone != "":
		return fail("a firewall setting")
	case len(ev.Open) == 0:
		return fail("an event without ports to control")
	}
	ports := make([]uint16, len(ev.Sequence))
	for i, e := range ev.Sequence {
		if e.Proto != packet.UDP || e.Flags != (FrameFlags{}) {
			return fail(fmt.Sprintf("knock %s", e))
		}
		ports[i] = e.Port
	}
	if _, msg := pkSequenceOf(ports); msg != "" {
		return fail("a sequence that " + msg)
	}
	var open []string
	for _, p := range ev.Open {
		if p.Proto != packet.TCP || p.Port == 0 {
			return fail(fmt.Sprintf("door port %s", p))
		}
		open = append(open, strconv.Itoa(int(p.Port)))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
		min time.Duration
	}{{pkLockout, ev.Lockout, 0}, {pkLiveTime, ev.SeqTimeout, time.Second}, {pkDoorDuration, ev.OpenTimeout, time.Second}} {
		if d.v < d.min || d.v%time.Second != 0 || d.v > maxSeconds*time.Second {
			return fail(fmt.Sprintf("%s %v", d.key, d.v))
		}
	}
	bw := bufio.NewWriter(w)
	src := c.Source
	if src == "" {
		src = "(no file)"
	}
	if strings.ContainsAny(src, "\r\n\x00") {
		src = strconv.Quote(src)
	}
	fmt.Fprintf(bw, "# sesame: configuration read from %s (port-knocking-doors format), normalised\n", src)
	seq := make([]string, len(ports))
	for i, n := range ports {
		seq[i] = strconv.Itoa(int(n))
	}
	fmt.Fprintf(bw, "%s = [%s]\n", pkPorts, strings.Join(open, ", "))
	fmt.Fprintf(bw, "%s = [%s]  # UDP knocks carrying %q\n", pkSequence, strings.Join(seq, ", "), PortKnockerPayload)
	fmt.Fprintf(bw, "%s = %s", pkLockout, secs(ev.Lockout))
	if ev.Lockout == 0 {
		bw.WriteString("  # no lockout")
	}
	bw.WriteByte('\n')
	fmt.Fprintf(bw, "%s = %s\n", pkLiveTime, secs(ev.SeqTimeout))
	fmt.Fprintf(bw, "%s = %s\n", pkDoorDuration, secs(ev.OpenTimeout))
	for _, k := range []string{pkCheckPeriod, pkCleanup} {
		fmt.Fprintf(bw, "# %s: not needed by sesame\n", k)
	}
	bw.WriteString("# doors: sesame's default firewall (nftables where the kernel has it, else iptables)\n")
	return bw.Flush()
}

// PortKnockerHelp is the text of `sesamed --show-configuration-file-help`.
const PortKnockerHelp = `sesamed reads port-knocking-doors' configuration file as it is: TOML,
one "key = value" per line, '#' starts a comment.

  ports_to_controls = [22]
      Required. The TCP ports a successful knock opens, for the knocking
      address only.

  opening_sequence = [16001,16002,16003,16004,16005]
      Required. The knock: 5 to 20 UDP ports, in this order, each knocked
      with one datagram whose payload is "knock\n". No port twice in a
      row. Choose your own ports: the example is public.

  ignoring_period_after_knock_error = 5
      Optional, default 5. After a wrong knock, the address is ignored for
      this many seconds. 0 means no lockout.

  max_knocker_live_time = 30
      Optional, default 30. Seconds a knocker has to complete the
      sequence; then it is forgotten and starts again.

  max_opened_door_duration = 10
      Optional, default 10. Seconds a door stays open. Connections made
      while it is open stay up after it closes.

  firewall_rules_check_periode_seconds = 10
      Optional, default 10. Not needed by sesame, which reconciles the
      firewall when it starts; accepted, checked and ignored.

  doors_cleanup_periode = 10
      Optional, default 10. Not needed by sesame: every door closes by its
      own timeout (a kernel timeout with nftables); accepted, checked and
      ignored.

Durations are whole seconds, written without quotes.

Where sesamed finds its configuration, first match wins:
  1. --sequence LIST --open LIST, or -m/--magic-seq LIST --ports LIST
  2. -c FILE
  3. the environment: KNOCKER_SEQ (the sequence, e.g. 16001,16002,16003,
     16004,16005) and KNOCKER_PORTS (the ports, e.g. 22,80); each is used
     only where its flag (-m, --ports) is absent
  4. /etc/knockd.conf, /etc/sesame/sesame.conf, ~/.port_knocker.toml,
     /etc/port_knocker.toml

sesamed --set-configuration-file-in-home writes a minimal
~/.port_knocker.toml; sesamed --check shows how sesamed reads it.
`

// PortKnockerMinimal is the file `sesamed --set-configuration-file-in-home`
// writes: the required keys with the example values of port-knocking-doors'
// help, and the optional ones as comments with their defaults.
const PortKnockerMinimal = `# port-knocking-doors configuration, read by sesamed.
# sesamed --show-configuration-file-help explains every key.
ports_to_controls = [22]
# Choose your own 5 to 20 UDP ports: these example ones are public.
opening_sequence = [16001,16002,16003,16004,16005]
# ignoring_period_after_knock_error = 5
# max_knocker_live_time = 30
# max_opened_door_duration = 10
# firewall_rules_check_periode_seconds = 10  # not needed by sesame
# doors_cleanup_periode = 10                 # not needed by sesame
`

// looksPortKnocker reports whether a content line (trimmed, not a comment)
// is a line of port-knocking-doors' TOML: one of its keys, or a near miss,
// or a TOML array value, and not a knockd.conf directive.
func looksPortKnocker(t string) bool {
	key, val, ok := strings.Cut(t, "=")
	if !ok {
		return false
	}
	key = trimBlank(key)
	if len(key) >= 2 && (key[0] == '"' || key[0] == '\'') && key[len(key)-1] == key[0] {
		key = key[1 : len(key)-1]
	}
	if key == "" || lookupDirective(key) != nil {
		return false
	}
	if v := trimBlank(val); v != "" && v[0] == '[' {
		return true
	}
	return nearPKKey(key) != "" // the key itself (distance 0) or a misspelling
}

// isExampleSequence reports whether seq is the example of
// port-knocking-doors' help, 16001 to 16005 as UDP.
func isExampleSequence(seq []Element) bool {
	if len(seq) != 5 {
		return false
	}
	for i, e := range seq {
		if e.Proto != packet.UDP || int(e.Port) != portKnockerExampleFirstPort+i {
			return false
		}
	}
	return true
}

// formatPKSequence writes a sequence as opening_sequence does.
func formatPKSequence(seq []Element) string {
	parts := make([]string, len(seq))
	for i, e := range seq {
		parts[i] = strconv.Itoa(int(e.Port))
		if e.Proto != packet.UDP {
			parts[i] += ":" + e.Proto.String()
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
