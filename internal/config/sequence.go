package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sesame-knock/sesame/internal/packet"
)

// isBlank is C's isspace in the "C" locale, the set knockd's trim() strips.
func isBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// trimBlank strips what knockd's trim() strips from both ends of s.
func trimBlank(s string) string {
	i, j := 0, len(s)
	for i < j && isBlank(s[i]) {
		i++
	}
	for j > i && isBlank(s[j-1]) {
		j--
	}
	return s[i:j]
}

// cutTrailingComment removes a comment that follows a value: a '#' after
// a blank, running to the end. knockd converts numbers with atoi, which
// stops at the first non-digit, so "seq_timeout = 5 # seconds" means 5
// there; sesame reads it the same way instead of rejecting a working file.
// When the comment holds a comma (the sequence separator) it is left in
// place, because knockd would have split it into more elements.
func cutTrailingComment(s string) string {
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && isBlank(s[i-1]) {
			if strings.IndexByte(s[i:], ',') >= 0 {
				return s
			}
			return trimBlank(s[:i])
		}
	}
	return s
}

// ParseSequence parses knockd's sequence syntax, used by the Sequence
// directive and by every line of a One_Time_Sequences file:
//
//	port[:tcp|udp][,port[:tcp|udp]]...
//
// A port without a protocol is TCP, as in knockd. Blanks around elements
// and fields are allowed, the protocol is case-insensitive, and a trailing
// "# comment" is ignored. knockd turns an empty element, a trailing comma or
// a word into port 0 and a negative number into a high port; sesame rejects
// them. At most MaxSequence elements.
func ParseSequence(s string) ([]Element, error) {
	s = cutTrailingComment(trimBlank(s))
	if s == "" {
		return nil, errors.New("empty sequence, expected port[:tcp|udp],... e.g. 7000,8000,9000")
	}
	items := strings.Split(s, ",")
	if len(items) > MaxSequence {
		return nil, fmt.Errorf("%d elements in sequence, knockd allows at most %d", len(items), MaxSequence)
	}
	seq := make([]Element, 0, len(items))
	for i, item := range items {
		e, err := parseElement(item)
		if err != nil {
			return nil, fmt.Errorf("element %d %q: %v", i+1, trimBlank(item), err)
		}
		seq = append(seq, e)
	}
	return seq, nil
}

func parseElement(item string) (Element, error) {
	item = trimBlank(item)
	if item == "" {
		return Element{}, errors.New("empty element (a doubled or trailing comma?), expected port[:tcp|udp]")
	}
	fields := strings.Split(item, ":")
	if len(fields) > 2 {
		return Element{}, errors.New("too many ':' fields, expected port[:tcp|udp]")
	}
	port, err := ParsePort(trimBlank(fields[0]))
	if err != nil {
		return Element{}, err
	}
	e := Element{Proto: packet.TCP, Port: port}
	if len(fields) == 2 {
		switch p := trimBlank(fields[1]); strings.ToLower(p) {
		case "tcp":
		case "udp":
			e.Proto = packet.UDP
		default:
			return Element{}, fmt.Errorf("unknown protocol %q, expected tcp or udp", p)
		}
	}
	return e, nil
}

// ParsePort parses a decimal port number 1-65535.
func ParsePort(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("missing port, expected a number 1-65535")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("port %q is not a number, expected 1-65535", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || n > 65535 {
		return 0, fmt.Errorf("port %s out of range, expected 1-65535", s)
	}
	return uint16(n), nil
}

// String formats an element in knockd's syntax with the protocol always
// written: "7000:tcp".
func (e Element) String() string {
	return strconv.Itoa(int(e.Port)) + ":" + e.Proto.String()
}

// FormatSequence writes a sequence in knockd's syntax, protocols explicit,
// so that ParseSequence(FormatSequence(s)) equals s.
func FormatSequence(seq []Element) string {
	var b strings.Builder
	for i, e := range seq {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.String())
	}
	return b.String()
}

// EqualSequence reports whether two sequences are the same, element by
// element (knockd compared only the first half of the bytes; see seq).
func EqualSequence(a, b []Element) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var flagBits = [...]struct {
	name string
	bit  packet.TCPFlags
}{
	{"fin", packet.FIN}, {"syn", packet.SYN}, {"rst", packet.RST},
	{"psh", packet.PSH}, {"ack", packet.ACK}, {"urg", packet.URG},
}

// ParseFlagRule parses knockd's TCPFlags value: comma-separated flag names
// (fin syn rst psh ack urg, any case), each optionally preceded by '!' to
// require the flag clear. Blanks around names are allowed (knockd rejects
// "syn, ack"; the meaning is plain). A flag both required and excluded is
// an error (knockd silently keeps the last).
func ParseFlagRule(s string) (FlagRule, error) {
	var r FlagRule
	s = trimBlank(s)
	if s == "" {
		return r, errors.New("empty TCPFlags, expected flags such as syn,!ack")
	}
	for _, item := range strings.Split(s, ",") {
		name := strings.ToLower(trimBlank(item))
		neg := strings.HasPrefix(name, "!")
		if neg {
			name = trimBlank(name[1:])
		}
		var bit packet.TCPFlags
		for _, f := range flagBits {
			if f.name == name {
				bit = f.bit
			}
		}
		if bit == 0 {
			return FlagRule{}, fmt.Errorf("unknown TCP flag %q, expected fin, syn, rst, psh, ack or urg, each optionally with a leading '!'", trimBlank(item))
		}
		if neg {
			r.Clear |= bit
		} else {
			r.Set |= bit
		}
	}
	if both := r.Set & r.Clear; both != 0 {
		return FlagRule{}, fmt.Errorf("TCP flag %s both required and excluded", both)
	}
	return r, nil
}

// String writes the rule in knockd's TCPFlags syntax, in a fixed order
// (fin syn rst psh ack urg), e.g. "syn,!ack". The zero rule is "".
func (r FlagRule) String() string {
	var parts []string
	for _, f := range flagBits {
		if r.Set&f.bit != 0 {
			parts = append(parts, f.name)
		} else if r.Clear&f.bit != 0 {
			parts = append(parts, "!"+f.name)
		}
	}
	return strings.Join(parts, ",")
}
