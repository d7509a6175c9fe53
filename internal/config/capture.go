package config

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Capture and knock-checking directives (sesame's additions):
//
//	[options]
//	Capture     = afpacket, nflog:5, udp, pcap:/tmp/report.pcap
//	[event]
//	UDP_Payload = knock\n   UDP knocks must carry exactly this payload
//	Lockout     = 5         after a failed attempt, ignore the source for 5 s

// Capture kinds (SPEC §5).
const (
	CaptureAFPacket = "afpacket" // AF_PACKET ring on the interfaces (default)
	CaptureNflog    = "nflog"    // an nftables/iptables "log group" rule
	CaptureUDP      = "udp"      // real UDP sockets on the sequence ports
	CapturePcap     = "pcap"     // replay a capture file
)

// Capture is one source of hits.
type Capture struct {
	Kind string
	// Group is the NFLOG group (nflog).
	Group uint16
	// External (nflog) means the administrator's own firewall rule logs to
	// Group; otherwise sesame installs the rule itself.
	External bool
	// File is the capture file (pcap).
	File string
}

func (c Capture) String() string {
	switch c.Kind {
	case CaptureNflog:
		s := CaptureNflog + ":" + strconv.Itoa(int(c.Group))
		if c.External {
			s += ":external"
		}
		return s
	case CapturePcap:
		return CapturePcap + ":" + c.File
	}
	return c.Kind
}

// ParseCapture reads a Capture list: afpacket, udp, nflog:GROUP[:external]
// or pcap:FILE, separated by commas.
func ParseCapture(s string) ([]Capture, error) {
	s = trimBlank(s)
	if s == "" {
		return nil, errors.New("empty capture list, expected afpacket, udp, nflog:GROUP or pcap:FILE")
	}
	var out []Capture
	for i, item := range strings.Split(s, ",") {
		item = trimBlank(item)
		c, err := parseCaptureItem(item)
		if err != nil {
			return nil, fmt.Errorf("item %d %q: %v", i+1, item, err)
		}
		for _, prev := range out {
			if prev.Kind == c.Kind && (c.Kind != CaptureNflog || prev.Group == c.Group) && (c.Kind != CapturePcap || prev.File == c.File) {
				return nil, fmt.Errorf("item %d %q: given twice", i+1, item)
			}
			// Two sources that see the same packets would count every
			// knock twice, interleaved, which fails knocks (and with a
			// Lockout, locks the knocker out). Only NFLOG groups fed by
			// rules of the administrator's own can be told apart.
			if !prev.External || !c.External {
				return nil, fmt.Errorf("item %d %q: %s and %s see the same packets, so every knock would count twice; expected one source (or several nflog:GROUP:external groups your own rules feed with different packets)", i+1, item, prev, c)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func parseCaptureItem(item string) (Capture, error) {
	kind, rest, hasArg := strings.Cut(item, ":")
	switch strings.ToLower(trimBlank(kind)) {
	case CaptureAFPacket, CaptureUDP:
		if hasArg {
			return Capture{}, fmt.Errorf("%s takes no argument", strings.ToLower(kind))
		}
		return Capture{Kind: strings.ToLower(trimBlank(kind))}, nil
	case CaptureNflog:
		group, flag, hasFlag := strings.Cut(rest, ":")
		n, ok := wholeNumber(trimBlank(group))
		if !hasArg || !ok || n > 0xffff {
			return Capture{}, errors.New("expected nflog:GROUP with GROUP 0-65535, e.g. nflog:5")
		}
		c := Capture{Kind: CaptureNflog, Group: uint16(n)}
		if hasFlag {
			if !strings.EqualFold(trimBlank(flag), "external") {
				return Capture{}, fmt.Errorf("unknown nflog option %q, expected nflog:GROUP or nflog:GROUP:external", flag)
			}
			c.External = true
		}
		return c, nil
	case CapturePcap:
		if !hasArg || trimBlank(rest) == "" {
			return Capture{}, errors.New("expected pcap:FILE, the capture file to replay")
		}
		return Capture{Kind: CapturePcap, File: trimBlank(rest)}, nil
	case "":
		return Capture{}, errors.New("empty item (a doubled or trailing comma?)")
	}
	return Capture{}, fmt.Errorf("unknown capture %q, expected afpacket, udp, nflog:GROUP or pcap:FILE", kind)
}

// FormatCapture writes a Capture list as ParseCapture reads it.
func FormatCapture(cs []Capture) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, ", ")
}

// HasCapture reports whether the configuration reads from a source of kind
// (no Capture directive means afpacket alone).
func (o *Options) HasCapture(kind string) bool {
	if len(o.Capture) == 0 {
		return kind == CaptureAFPacket
	}
	for _, c := range o.Capture {
		if c.Kind == kind {
			return true
		}
	}
	return false
}

// SeesProbes reports whether the capture sees what the scan guard judges
// by: new-connection packets to every port. UDP sockets see only the
// sequence ports; everything else does (an NFLOG rule sesame installs
// logs probes too; an external one is the administrator's to make).
func (o *Options) SeesProbes() bool {
	for _, c := range o.Capture {
		if c.Kind != CaptureUDP {
			return true
		}
	}
	return len(o.Capture) == 0
}

// MaxPayload is the longest UDP_Payload: what a hit keeps of a datagram.
const MaxPayload = packet.HeadSize

// ParsePayload reads a UDP_Payload value: text with C escapes \n, \r, \t,
// \\, \0 and \xHH, 1 to MaxPayload bytes once unescaped.
func ParsePayload(s string) (string, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		if i+1 == len(s) {
			return "", errors.New(`a lone '\' at the end, expected an escape such as \n or \\`)
		}
		i++
		switch s[i] {
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case '0':
			b = append(b, 0)
		case '\\':
			b = append(b, '\\')
		case 'x':
			if i+2 >= len(s) {
				return "", errors.New(`\x needs two hex digits, e.g. \x0a`)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf(`\x%s is not two hex digits`, s[i+1:i+3])
			}
			b = append(b, byte(v))
			i += 2
		default:
			return "", fmt.Errorf(`unknown escape \%c, expected \n, \r, \t, \0, \\ or \xHH`, s[i])
		}
	}
	if len(b) == 0 || len(b) > MaxPayload {
		return "", fmt.Errorf("payload of %d bytes, expected 1-%d", len(b), MaxPayload)
	}
	return string(b), nil
}

// FormatPayload writes a payload as ParsePayload reads it.
func FormatPayload(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\\':
			b.WriteString(`\\`)
		case c < 0x21 || c > 0x7e || c == '#' || c == ';':
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var captureDirectives = []*directive{
	{name: "Capture", global: true, setOpt: func(o *Options, v string) string {
		cs, err := ParseCapture(v)
		if err != nil {
			return "bad Capture: " + err.Error()
		}
		o.Capture = cs
		return ""
	}},
	{name: "UDP_Payload", setEv: func(_ *knockdParser, ev *eventState, _ int, v string) string {
		p, err := ParsePayload(v)
		if err != nil {
			return "bad UDP_Payload: " + err.Error()
		}
		ev.Payload = p
		return ""
	}},
	{name: "Lockout", setEv: secondsField("Lockout", 1, func(e *Event) *time.Duration { return &e.Lockout })},
}

func init() { directives = append(directives, captureDirectives...) }

// CheckCaptures reports what the capture sources cannot see: a UDP
// listener sees only UDP knocks, so an event with TCP knocks needs another
// source. It returns "" when every event can be knocked.
func CheckCaptures(c *Config) string {
	if len(c.Options.Capture) == 0 {
		return ""
	}
	for _, k := range c.Options.Capture {
		if k.Kind != CaptureUDP {
			return ""
		}
	}
	for _, ev := range c.Events {
		if tcp := ev.tcpKnocks(); tcp != "" {
			return fmt.Sprintf("event [%s] knocks %s, but Capture = udp sees only UDP datagrams; add afpacket or nflog:GROUP to Capture", ev.Name, tcp)
		}
	}
	return ""
}

// tcpKnocks names a TCP knock of the event, or "" if it has none.
func (ev *Event) tcpKnocks() string {
	for _, e := range ev.Sequence {
		if e.Proto == packet.TCP {
			return e.String()
		}
	}
	if ev.TOTP != nil && ev.TOTP.Proto == packet.TCP {
		return "TOTP ports " + ev.TOTP.Ports()
	}
	if ev.Cipher != nil && ev.Cipher.Proto == packet.TCP {
		return "cipher ports " + ev.Cipher.Ports()
	}
	return ""
}

// printCheck writes an event's UDP_Payload and Lockout.
func printCheck(w *bufio.Writer, ev *Event) {
	if ev.Payload != "" {
		kv(w, "UDP_Payload", FormatPayload(ev.Payload))
	}
	if ev.Lockout > 0 {
		kv(w, "Lockout", secs(ev.Lockout))
	}
}
