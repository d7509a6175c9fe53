package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Shorthands for tportknockd frames.
func tcpX(p uint16, v packet.TCPFlags) Element {
	return Element{Proto: packet.TCP, Port: p, Flags: FrameFlags{Exact: true, Value: v}}
}
func tcpI(p uint16) Element { return tcp(p) } // i: any flags

func tportEvent(name string, seq ...Element) Event {
	ev := event(name, seq...)
	return ev
}

func withCmds(ev Event, start, stop string) Event {
	ev.StartCommand, ev.StartCommand6 = start, start
	ev.StopCommand, ev.StopCommand6 = stop, stop
	return ev
}

const (
	F, S, R, P, A, U = packet.FIN, packet.SYN, packet.RST, packet.PSH, packet.ACK, packet.URG
)

// The three examples of tportknockd's documentation load and mean what
// the documentation says.
func TestTportknockdDocExamples(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/tportknockd-doc.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != FormatTportknockd {
		t.Errorf("Format = %q, want %q", c.Format, FormatTportknockd)
	}
	const (
		addSSH = "/usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"
		delSSH = "/usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"
	)
	ssh := withCmds(tportEvent("SSH", udp(1234), tcpX(543, 0), tcpI(543), tcpX(123, F|R|A|P), tcpX(434, packet.AllFlags), tcpX(2345, 0)), addSSH, delSSH)
	ssh.SeqTimeout, ssh.CmdTimeout = secs2d(10), secs2d(30)
	vpn := withCmds(tportEvent("OpenVPN", tcpX(12430, A), tcpI(2711), tcpI(123), tcpX(8375, 0), tcpX(1155, 0)), "/bin/openvpn --remote %IP% --config /opt/openvpn/client.conf", "")
	vpn.SeqTimeout = secs2d(10)
	ssh2 := withCmds(tportEvent("SSH2", tcpX(110, packet.AllFlags), tcpX(110, U|P), tcpX(110, U|P), tcpX(110, 0), tcpI(110)), addSSH, delSSH)
	ssh2.SeqTimeout, ssh2.CmdTimeout = secs2d(10), secs2d(30)
	want := &Config{Options: defaultOptions(), Events: []Event{ssh, vpn, ssh2}}
	checkDiff(t, "config", dump(strip(want)), dump(strip(c)))

	// Spelled out for the flag-knock example: five frames on one port.
	got := c.Events[2].Sequence
	wantFlags := []FrameFlags{{true, packet.AllFlags}, {true, U | P}, {true, U | P}, {true, 0}, {false, 0}}
	if len(got) != len(wantFlags) {
		t.Fatalf("SSH2 has %d frames, want 5", len(got))
	}
	for i, ff := range wantFlags {
		if got[i].Proto != packet.TCP || got[i].Port != 110 || got[i].Flags != ff {
			t.Errorf("SSH2 frame %d = %+v, want tcp:110 %+v", i+1, got[i], ff)
		}
	}
	for i, ev := range c.Events {
		if ev.Pos.Line != []int{1, 9, 15}[i] || ev.Pos.File != "testdata/tportknockd-doc.conf" {
			t.Errorf("event %s at %v", ev.Name, ev.Pos)
		}
	}
}

func TestParseTportknockdRules(t *testing.T) {
	t.Parallel()
	ev := func(name string, seq ...Element) Event { return tportEvent(name, seq...) }
	mod := func(e Event, f func(*Event)) Event { f(&e); return e }
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"no flags means n", "<a>\nsequence = tcp:1\n</a>\n", []Event{ev("a", tcpX(1, 0))}},
		{"n", "<a>\nsequence = tcp:1:n\n</a>\n", []Event{ev("a", tcpX(1, 0))}},
		{"x", "<a>\nsequence = tcp:1:x\n</a>\n", []Event{ev("a", tcpX(1, packet.AllFlags))}},
		{"all six letters equal x", "<a>\nsequence = tcp:1:uapsrf\n</a>\n", []Event{ev("a", tcpX(1, packet.AllFlags))}},
		{"i ignores flags", "<a>\nsequence = tcp:1:i\n</a>\n", []Event{ev("a", tcp(1))}},
		{"each letter", "<a>\nsequence = tcp:1:f tcp:2:s tcp:3:r tcp:4:p tcp:5:a tcp:6:u\n</a>\n",
			[]Event{ev("a", tcpX(1, F), tcpX(2, S), tcpX(3, R), tcpX(4, P), tcpX(5, A), tcpX(6, U))}},
		{"upper case letters, any order", "<a>\nsequence = TCP:1:AS Udp:2 tcp:3:X tcp:4:N tcp:5:I\n</a>\n",
			[]Event{ev("a", tcpX(1, S|A), udp(2), tcpX(3, packet.AllFlags), tcpX(4, 0), tcp(5))}},
		{"commas and blanks separate frames", "<a>\nsequence = tcp:1:s,tcp:2:s , tcp:3:s\ttcp:4:s\n</a>\n",
			[]Event{ev("a", tcpX(1, S), tcpX(2, S), tcpX(3, S), tcpX(4, S))}},
		{"udp frame", "<a>\nsequence = udp:53\n</a>\n", []Event{ev("a", udp(53))}},
		{"keys case-insensitive, blanks free", "<a>\n\tSEQUENCE=tcp:1\n  Timeout\t=\t7\nCOMMAND_DELAY= 0\n</a>\n",
			[]Event{mod(ev("a", tcpX(1, 0)), func(e *Event) { e.SeqTimeout, e.CmdTimeout = secs2d(7), 0 })}},
		{"comments after numbers and the sequence", "<a> # event\nsequence = tcp:1 # knock\ntimeout = 7 # seconds\ncommand_delay = 3 #s\n</a> # end\n",
			[]Event{mod(ev("a", tcpX(1, 0)), func(e *Event) { e.SeqTimeout, e.CmdTimeout = secs2d(7), secs2d(3) })}},
		{"commands are verbatim", "<a>\nsequence = tcp:1\nstart_command = echo %IP% # not a comment; = ok\nstop_command = x#y\n</a>\n",
			[]Event{withCmds(ev("a", tcpX(1, 0)), "echo %IP% # not a comment; = ok", "x#y")}},
		{"empty start_command", "<a>\nsequence = tcp:1\nstart_command =\n</a>\n", []Event{ev("a", tcpX(1, 0))}},
		{"later key wins", "<a>\nsequence = tcp:1\nsequence = tcp:2\n</a>\n", []Event{ev("a", tcpX(2, 0))}},
		{"defaults are knockd's", "<a>\nsequence = tcp:1\n</a>\n", []Event{ev("a", tcpX(1, 0))}},
		{"names case-sensitive", "<a>\nsequence = tcp:1\n</a>\n<A>\nsequence = tcp:2\n</A>\n", []Event{ev("a", tcpX(1, 0)), ev("A", tcpX(2, 0))}},
		{"CRLF and comments", "# c\r\n\r\n<a>\r\n# c\r\nsequence = tcp:1\r\n</a>\r\n", []Event{ev("a", tcpX(1, 0))}},
		{"no events", "# nothing\n", nil},
		{"32 frames", "<a>\nsequence =" + strings.Repeat(" tcp:1", 32) + "\n</a>\n", []Event{ev("a", func() []Element {
			s := make([]Element, 32)
			for i := range s {
				s[i] = tcpX(1, 0)
			}
			return s
		}()...)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTportknockd("t.conf", []byte(tt.in))
			if err != nil {
				t.Fatalf("ParseTportknockd: %v", err)
			}
			want := &Config{Options: defaultOptions(), Events: tt.want}
			checkDiff(t, "config", dump(strip(want)), dump(strip(got)))
			if got.Format != FormatTportknockd {
				t.Errorf("Format %q", got.Format)
			}
		})
	}
}

func TestParseTportknockdWarnsOnRepeatedKey(t *testing.T) {
	t.Parallel()
	c, err := ParseTportknockd("t.conf", []byte("<a>\nsequence = tcp:7 udp:1\ntimeout = 5\ntimeout = 6\nstart_command = x\n</a>\n"))
	if err != nil {
		t.Fatal(err)
	}
	ws := c.Warnings()
	if len(ws) != 1 || ws[0] != "t.conf:4: timeout already set on line 3 in <a>: this later value wins" {
		t.Errorf("warnings %q", ws)
	}
}

func TestParseTportknockdErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string // each "line: substring", every error
	}{
		{"missing close tag", "<a>\nsequence = tcp:1\n", []string{"1: <a> is never closed, expected </a>"}},
		{"mismatched close tag", "<a>\nsequence = tcp:1\n</b>\n", []string{"3: </b> does not match <a> (line 1), expected </a>"}},
		{"close without open", "</a>\n", []string{"1: </a> closes no open event, expected <a> before it"}},
		{"close tag is case-sensitive", "<a>\nsequence = tcp:1\n</A>\n", []string{"3: </A> does not match <a>"}},
		{"nested open", "<a>\nsequence = tcp:1\n<b>\nsequence = tcp:2\n</b>\n", []string{"3: <b> inside <a> (line 1), expected </a> first"}},
		{"duplicate name", "<a>\nsequence = tcp:1\n</a>\n<a>\nsequence = tcp:2\n</a>\n", []string{"4: event <a> already defined on line 1, expected unique event names"}},
		{"empty name", "<>\nsequence = tcp:1\n</>\n", []string{"1: empty event name, expected <NAME>"}},
		{"name with a blank", "<a b>\nsequence = tcp:1\n</a b>\n", []string{"1: event name \"a b\" holds a blank"}},
		{"malformed tag", "<a\nsequence = tcp:1\n", []string{"1: malformed tag \"<a\", expected <NAME> or </NAME>", "2: \"sequence = tcp:1\" is outside any event"}},
		{"text after tag", "<a> x\nsequence = tcp:1\n</a>\n", []string{"1: \"x\" after the tag <a>, expected the tag alone"}},
		{"key outside event", "sequence = tcp:1\n", []string{"1: \"sequence = tcp:1\" is outside any event, expected a <NAME> line first"}},
		{"no sequence", "<a>\ntimeout = 5\n</a>\n", []string{"1: event <a> has no sequence, expected sequence = proto:port[:flags]"}},
		{"unknown key with suggestion", "<a>\nsequense = tcp:1\n</a>\n", []string{"2: unknown key \"sequense\" (did you mean \"sequence\"?)", "1: event <a> has no sequence"}},
		{"unknown key", "<a>\nsequence = tcp:1\ntarget = 10.0.0.1\n</a>\n", []string{"3: unknown key \"target\", expected one of sequence, timeout, start_command, stop_command, command_delay"}},
		{"key without value", "<a>\nsequence = tcp:1\ntimeout\n</a>\n", []string{"3: timeout needs a value, expected \"timeout = ...\""}},
		{"missing key", "<a>\nsequence = tcp:1\n= 5\n</a>\n", []string{"3: missing key before '=', expected key = value"}},
		{"NUL", "<a>\nsequence = tcp:1\x00\n</a>\n", []string{"2: NUL byte in line, expected text", "1: event <a> has no sequence"}},
		{"timeout not a number", "<a>\nsequence = tcp:1\ntimeout = soon\n</a>\n", []string{"3: timeout \"soon\" is not a whole number of seconds, expected e.g. 10"}},
		{"timeout zero", "<a>\nsequence = tcp:1\ntimeout = 0\n</a>\n", []string{"3: timeout 0 is too short, expected at least 1 second"}},
		{"command_delay negative", "<a>\nsequence = tcp:1\ncommand_delay = -1\n</a>\n", []string{"3: command_delay \"-1\" is not a whole number"}},
		{"command_delay too large", "<a>\nsequence = tcp:1\ncommand_delay = 99999999999\n</a>\n", []string{"3: command_delay 99999999999 is too large"}},
		{"empty sequence", "<a>\nsequence =\n</a>\n", []string{"2: bad sequence: empty sequence, expected frames proto:port[:flags]"}},
		{"port without protocol", "<a>\nsequence = 7000\n</a>\n", []string{"2: bad sequence: frame 1 \"7000\": expected proto:port[:flags] such as tcp:110:x"}},
		{"unknown protocol", "<a>\nsequence = icmp:1\n</a>\n", []string{"2: bad sequence: frame 1 \"icmp:1\": unknown protocol \"icmp\", expected tcp or udp"}},
		{"port zero", "<a>\nsequence = tcp:0\n</a>\n", []string{"2: bad sequence: frame 1 \"tcp:0\": port 0 out of range, expected 1-65535"}},
		{"port too large", "<a>\nsequence = tcp:1 tcp:65536\n</a>\n", []string{"2: bad sequence: frame 2 \"tcp:65536\": port 65536 out of range"}},
		{"port word", "<a>\nsequence = tcp:ssh\n</a>\n", []string{"2: bad sequence: frame 1 \"tcp:ssh\": port \"ssh\" is not a number"}},
		{"too many fields", "<a>\nsequence = tcp:1:s:a\n</a>\n", []string{"2: bad sequence: frame 1 \"tcp:1:s:a\": expected proto:port[:flags]"}},
		{"empty flags", "<a>\nsequence = tcp:1:\n</a>\n", []string{"2: bad sequence: frame 1 \"tcp:1:\": empty flags after ':', expected letters of fsrpau, or x, n or i alone"}},
		{"unknown flag", "<a>\nsequence = tcp:1:sy\n</a>\n", []string{"2: bad sequence: frame 1 \"tcp:1:sy\": unknown flag 'y' in \"sy\""}},
		{"x combined", "<a>\nsequence = tcp:1:xs\n</a>\n", []string{"2: bad sequence: frame 1 \"tcp:1:xs\": flag 'x' combined with others in \"xs\""}},
		{"n combined", "<a>\nsequence = tcp:1:sn\n</a>\n", []string{"2: bad sequence: frame 1 \"tcp:1:sn\": flag 'n' combined with others in \"sn\""}},
		{"i combined", "<a>\nsequence = tcp:1:Ia\n</a>\n", []string{"2: bad sequence: frame 1 \"tcp:1:Ia\": flag 'I' combined with others in \"Ia\""}},
		{"doubled letter", "<a>\nsequence = tcp:1:uu\n</a>\n", []string{"2: bad sequence: frame 1 \"tcp:1:uu\": flag 'u' given twice in \"uu\""}},
		{"flags on udp", "<a>\nsequence = udp:53:n\n</a>\n", []string{"2: bad sequence: frame 1 \"udp:53:n\": flags \"n\" on a UDP frame, expected udp:PORT"}},
		{"doubled comma", "<a>\nsequence = tcp:1,,tcp:2\n</a>\n", []string{"2: bad sequence: empty frame after frame 1 (a doubled or trailing comma?)"}},
		{"trailing comma", "<a>\nsequence = tcp:1,\n</a>\n", []string{"2: bad sequence: empty frame after frame 1"}},
		{"33 frames", "<a>\nsequence =" + strings.Repeat(" tcp:1", 33) + "\n</a>\n", []string{"2: bad sequence: 33 frames in sequence, expected at most 32"}},
		{"all errors collected", "<a>\nsequence = tcp:0\ntimeout = x\nbogus = 1\n</a>\n</a>\n<b>\n",
			[]string{"2: bad sequence", "3: timeout \"x\"", "4: unknown key \"bogus\"", "6: </a> closes no open event", "7: <b> is never closed", "7: event <b> has no sequence"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseTportknockd("t.conf", []byte(tt.in))
			if err == nil {
				t.Fatalf("ParseTportknockd succeeded, want errors\n%s", dump(c))
			}
			errs := wantErrors(t, err, "t.conf", tt.want)
			for _, e := range errs {
				if e.Pos.File != "t.conf" || e.Pos.Line < 1 || !strings.Contains(e.Msg, "expected") {
					t.Errorf("error %q lacks a position or what was expected", e.Error())
				}
			}
		})
	}
}

func TestDetectFormat(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"<a>\n", FormatTportknockd},
		{"\n  # c\n\t<a>\n", FormatTportknockd},
		{"\r\n#<x>\r\n <SSH>\r\n", FormatTportknockd},
		{"[a]\nsequence=1\n<a>\n", FormatKnockd},
		{"", FormatKnockd},
		{"# <a>\n", FormatKnockd},
	} {
		if got := DetectFormat([]byte(tt.in)); got != tt.want {
			t.Errorf("DetectFormat(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Load dispatches on content; knockd.conf is unchanged.
	dir := t.TempDir()
	for name, body := range map[string]string{FormatKnockd: "[a]\nsequence = 1\n", FormatTportknockd: "# x\n<a>\nsequence = tcp:1\n</a>\n"} {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p)
		if err != nil || c.Format != name || c.Source != p || len(c.Events) != 1 {
			t.Errorf("Load of a %s file: %v, %+v", name, err, c)
		}
	}
}

func tportFixtures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/tportknockd*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no tportknockd fixtures: %v", err)
	}
	return files
}

// TestPrintTportknockdGolden compares PrintTportknockd's output for each
// tportknockd fixture with testdata/NAME.golden and checks that reading it
// back means the same.
func TestPrintTportknockdGolden(t *testing.T) {
	for _, path := range tportFixtures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := PrintTportknockd(&out, c); err != nil {
				t.Fatalf("PrintTportknockd: %v", err)
			}
			golden := strings.TrimSuffix(path, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestPrintTportknockdGolden -update to create it)", err)
			}
			checkDiff(t, golden, string(want), out.String())
			if DetectFormat(out.Bytes()) != FormatTportknockd {
				t.Error("printed form is not detected as tportknockd")
			}
			back, err := Parse("printed", out.Bytes())
			if err != nil {
				t.Fatalf("printed form does not parse:\n%v\n%s", err, out.String())
			}
			checkDiff(t, "round trip", dump(strip(c)), dump(strip(back)))
		})
	}
}

func TestPrintTportknockdRejectsWhatItCannotSay(t *testing.T) {
	t.Parallel()
	base := func() *Config {
		return &Config{Format: FormatTportknockd, Options: defaultOptions(), Events: []Event{event("e", tcpX(1, S))}}
	}
	tests := []struct {
		name string
		mod  func(c *Config)
	}{
		{"options", func(c *Config) { c.Options.LogFile = "/x" }},
		{"scan guard off", func(c *Config) { c.Options.ScanGuard = false }},
		{"different IPv6 command", func(c *Config) { c.Events[0].StartCommand6 = "x" }},
		{"TCPFlags", func(c *Config) { c.Events[0].Flags.Set = S }},
		{"flags on udp", func(c *Config) {
			c.Events[0].Sequence[0] = Element{Proto: packet.UDP, Port: 1, Flags: FrameFlags{Exact: true}}
		}},
		{"port 0", func(c *Config) { c.Events[0].Sequence[0].Port = 0 }},
		{"empty sequence", func(c *Config) { c.Events[0].Sequence = nil }},
		{"one-time file", func(c *Config) { c.Events[0].OneTimeFile = "/x" }},
		{"door", func(c *Config) { c.Events[0].Open = []Port{{packet.TCP, 22}} }},
		{"sub-second timeout", func(c *Config) { c.Events[0].SeqTimeout = 1500 * 1e6 }},
		{"zero timeout", func(c *Config) { c.Events[0].SeqTimeout = 0 }},
		{"newline in command", func(c *Config) { c.Events[0].StartCommand, c.Events[0].StartCommand6 = "a\nb", "a\nb" }},
		{"name with a blank", func(c *Config) { c.Events[0].Name = "a b" }},
		{"empty name", func(c *Config) { c.Events[0].Name = "" }},
		{"duplicate name", func(c *Config) { c.Events = append(c.Events, c.Events[0]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			if err := PrintTportknockd(&bytes.Buffer{}, c); err != nil {
				t.Fatalf("base config: %v", err)
			}
			tt.mod(c)
			if err := PrintTportknockd(&bytes.Buffer{}, c); err == nil {
				t.Error("PrintTportknockd succeeded, want an error")
			}
		})
	}
}

func TestTportFrameNormalises(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"tcp:1":         "tcp:1:n",
		"TCP:1:N":       "tcp:1:n",
		"tcp:1:uapsrf":  "tcp:1:x",
		"tcp:1:X":       "tcp:1:x",
		"tcp:1:I":       "tcp:1:i",
		"tcp:1:up":      "tcp:1:pu",
		"tcp:1:frap":    "tcp:1:frpa",
		"tcp:1:AS":      "tcp:1:sa",
		"UDP:53":        "udp:53",
		"tcp:1:usf":     "tcp:1:fsu",
		"tcp:65535:rpa": "tcp:65535:rpa",
	} {
		seq, err := ParseTportSequence(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got, err := FormatTportSequence(seq); got != want || err != nil {
			t.Errorf("%q -> %q, %v; want %q", in, got, err, want)
		}
	}
}
