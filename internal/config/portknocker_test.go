package config

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// pkEvent is the event of a port-knocking-doors configuration with its
// defaults: the given UDP sequence and TCP ports.
func pkEvent(seq []uint16, ports ...uint16) Event {
	ev := Event{
		Name: PortKnockerEvent, SeqTimeout: 30 * time.Second, CmdTimeout: DefaultCmdTimeout,
		Payload: "knock\n", Lockout: 5 * time.Second, OpenTimeout: 10 * time.Second,
	}
	for _, p := range seq {
		ev.Sequence = append(ev.Sequence, udp(p))
	}
	for _, p := range ports {
		ev.Open = append(ev.Open, Port{packet.TCP, p})
	}
	return ev
}

var exampleSeq = []uint16{16001, 16002, 16003, 16004, 16005}

func TestParsePortKnocker(t *testing.T) {
	t.Parallel()
	mod := func(e Event, f func(*Event)) Event { f(&e); return e }
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{"required keys only: the defaults of its help",
			"ports_to_controls = [22]\nopening_sequence = [16001,16002,16003,16004,16005]\n",
			pkEvent(exampleSeq, 22)},
		{"every key",
			"ports_to_controls = [22, 80, 8080]\nopening_sequence = [7, 9, 7, 9, 7, 9]\nfirewall_rules_check_periode_seconds = 60\n" +
				"ignoring_period_after_knock_error = 2\nmax_knocker_live_time = 12\nmax_opened_door_duration = 45\ndoors_cleanup_periode = 60\n",
			mod(pkEvent([]uint16{7, 9, 7, 9, 7, 9}, 22, 80, 8080), func(e *Event) {
				e.Lockout, e.SeqTimeout, e.OpenTimeout = 2*time.Second, 12*time.Second, 45*time.Second
			})},
		{"lockout 0 means no lockout",
			"ports_to_controls = [22]\nopening_sequence = [1,2,3,4,5]\nignoring_period_after_knock_error = 0\n",
			mod(pkEvent([]uint16{1, 2, 3, 4, 5}, 22), func(e *Event) { e.Lockout = 0 })},
		{"TOML spellings: comments, multi-line arrays, trailing comma, CRLF, quoted keys, number forms",
			"# my doors\r\n\"ports_to_controls\" = [ # ssh\r\n  22,\r\n  0x50, # http\r\n]\r\n'opening_sequence' = [\r\n 1_001, 1_002,\r\n 1_003, 1_004, 1_005, 20_000,\r\n]\r\nmax_knocker_live_time = +9 # s\r\n",
			mod(pkEvent([]uint16{1001, 1002, 1003, 1004, 1005, 20000}, 22, 80), func(e *Event) { e.SeqTimeout = 9 * time.Second })},
		{"twenty ports",
			"ports_to_controls=[22]\nopening_sequence=[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]",
			pkEvent([]uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, 22)},
		{"a port listed twice opens once",
			"ports_to_controls = [22, 22, 443]\nopening_sequence = [5,4,3,2,1]\n",
			pkEvent([]uint16{5, 4, 3, 2, 1}, 22, 443)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePortKnocker("k.toml", []byte(tt.in))
			if err != nil {
				t.Fatalf("ParsePortKnocker: %v", err)
			}
			want := &Config{Options: defaultOptions(), Events: []Event{tt.want}}
			checkDiff(t, "config", dump(strip(want)), dump(strip(got)))
			if got.Format != FormatPortKnocker || got.Source != "k.toml" {
				t.Errorf("Format %q, Source %q", got.Format, got.Source)
			}
			if got.Events[0].Firewall != "" || got.Options.Capture != nil {
				t.Errorf("Firewall %q, Capture %v; want sesame's defaults", got.Events[0].Firewall, got.Options.Capture)
			}
		})
	}
}

func TestParsePortKnockerPositions(t *testing.T) {
	t.Parallel()
	c, err := ParsePortKnocker("k.toml", []byte("# c\nports_to_controls = [22, 22]\n\nopening_sequence = [1,2,3,4,5]\nfirewall_rules_check_periode_seconds = 3\ndoors_cleanup_periode = 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Events[0].Pos != (Pos{"k.toml", 4}) {
		t.Errorf("event at %v, want the line of opening_sequence, k.toml:4", c.Events[0].Pos)
	}
	want := []string{
		"k.toml:2: ports_to_controls lists port 22 more than once: once is enough",
		"k.toml:5: firewall_rules_check_periode_seconds is not needed by sesame: sesame reconciles the firewall at start and then changes it only itself, so it is not polled; the value is checked and ignored",
		"k.toml:6: doors_cleanup_periode is not needed by sesame: every door closes when its own max_opened_door_duration ends (a kernel timeout with nftables), so no clean-up runs; the value is checked and ignored",
	}
	checkDiff(t, "warnings", strings.Join(want, "\n"), strings.Join(c.Warnings(), "\n"))
}

func TestParsePortKnockerErrors(t *testing.T) {
	t.Parallel()
	const ok = "ports_to_controls = [22]\nopening_sequence = [1,2,3,4,5]\n"
	tests := []struct {
		name string
		in   string
		want []string // each "line: substring"; every error
	}{
		{"empty file", "", []string{": missing ports_to_controls, expected", ": missing opening_sequence, expected"}},
		{"comments only", "# ports_to_controls = [22]\n", []string{": missing ports_to_controls", ": missing opening_sequence"}},
		{"unknown key with suggestion", ok + "max_knocker_livetime = 3\n", []string{`3: unknown key "max_knocker_livetime" (did you mean "max_knocker_live_time"?)`}},
		{"knockd's word", "ports_to_controls = [22]\nSequence = [1,2,3,4,5]\n", []string{`2: unknown key "Sequence" (did you mean "opening_sequence"?)`, ": missing opening_sequence"}},
		{"keys are case-sensitive", ok + "Max_Knocker_Live_Time = 3\n", []string{`3: unknown key "Max_Knocker_Live_Time" (did you mean "max_knocker_live_time"?)`}},
		{"unknown key", ok + "colour = 1\n", []string{`3: unknown key "colour", expected one of ports_to_controls, opening_sequence, `}},
		{"dotted key", ok + "opening.sequence = 1\n", []string{`3: dotted key "opening.sequence", expected one of`}},
		{"repeated key", ok + "ports_to_controls = [80]\n", []string{"3: ports_to_controls already set on line 1, expected each key once"}},
		{"table", ok + "[options]\nmax_knocker_live_time = 0\n", []string{"3: [options] is a table, expected only top-level keys"}},
		{"string for a number", ok + "max_knocker_live_time = \"30\"\n", []string{"3: max_knocker_live_time is a string, expected a whole number of seconds such as 30 (write the number without quotes)"}},
		{"decimal for a number", ok + "max_opened_door_duration = 2.5\n", []string{"3: max_opened_door_duration is a decimal number, expected a whole number of seconds such as 10"}},
		{"boolean for a number", ok + "doors_cleanup_periode = true\n", []string{"3: doors_cleanup_periode is a boolean, expected a whole number of seconds"}},
		{"string for ports", "ports_to_controls = \"22,80\"\nopening_sequence = [1,2,3,4,5]\n", []string{"1: ports_to_controls is a string, expected an array of TCP ports such as [22, 80] (write the numbers without quotes)"}},
		{"number for the sequence", "ports_to_controls = [22]\nopening_sequence = 16001\n", []string{"2: opening_sequence is a number, expected an array of UDP ports"}},
		{"string in the sequence", "ports_to_controls = [22]\nopening_sequence = [\n1,\n\"2\",\n3,4,5]\n", []string{"4: opening_sequence element 2 is a string, expected a UDP port number 1-65535"}},
		{"nested array", "ports_to_controls = [[22]]\nopening_sequence = [1,2,3,4,5]\n", []string{"1: ports_to_controls element 1 is an array, expected a TCP port number"}},
		{"port 0", "ports_to_controls = [0]\nopening_sequence = [1,2,3,4,5]\n", []string{"1: ports_to_controls element 1 is 0, expected a TCP port 1-65535"}},
		{"port too large", "ports_to_controls = [22]\nopening_sequence = [1,2,3,4,65536]\n", []string{"2: opening_sequence element 5 is 65536, expected a UDP port 1-65535"}},
		{"negative port", "ports_to_controls = [-22]\nopening_sequence = [1,2,3,4,5]\n", []string{"1: ports_to_controls element 1 is -22, expected a TCP port 1-65535"}},
		{"huge port", "ports_to_controls = [99999999999999999999]\nopening_sequence = [1,2,3,4,5]\n", []string{"1: ports_to_controls element 1 is 99999999999999999999, expected a TCP port 1-65535"}},
		{"four ports", "ports_to_controls = [22]\nopening_sequence = [1,2,3,4]\n", []string{"2: opening_sequence has 4 ports, expected 5 to 20 UDP ports"}},
		{"twenty-one ports", "ports_to_controls = [22]\nopening_sequence = [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21]\n", []string{"2: opening_sequence has 21 ports, expected 5 to 20"}},
		{"empty sequence", "ports_to_controls = [22]\nopening_sequence = []\n", []string{"2: opening_sequence has 0 ports, expected 5 to 20"}},
		{"a port twice in a row", "ports_to_controls = [22]\nopening_sequence = [1,2,2,3,4]\n", []string{"2: opening_sequence has port 2 twice in a row (knocks 2 and 3), expected a different port next: a repeated knock is taken for a retransmit and ignored"}},
		{"no ports to control", "ports_to_controls = []\nopening_sequence = [1,2,3,4,5]\n", []string{"1: ports_to_controls is empty, expected at least one TCP port such as [22]"}},
		{"zero live time", ok + "max_knocker_live_time = 0\n", []string{"3: max_knocker_live_time is 0, expected at least 1 second (a knocker forgotten at once never completes the sequence)"}},
		{"zero door", ok + "max_opened_door_duration = 0\n", []string{"3: max_opened_door_duration is 0, expected at least 1 second (a door open for no time admits no one)"}},
		{"zero periods", ok + "firewall_rules_check_periode_seconds = 0\ndoors_cleanup_periode = 0\n", []string{"3: firewall_rules_check_periode_seconds is 0, expected at least 1 second", "4: doors_cleanup_periode is 0, expected at least 1 second"}},
		{"negative lockout", ok + "ignoring_period_after_knock_error = -5\n", []string{"3: ignoring_period_after_knock_error is -5, expected a whole number of seconds, at least 0"}},
		{"duration too large", ok + "max_knocker_live_time = 4294967296\n", []string{"3: max_knocker_live_time is 4294967296, expected at most 2147483647 seconds"}},
		{"unquoted unit", ok + "max_knocker_live_time = 30s\n", []string{"3: bad TOML: strings must be quoted; expected TOML such as max_knocker_live_time = 30"}},
		{"array left open", "ports_to_controls = [22\nopening_sequence = [1,2,3,4,5]\nmax_knocker_live_time = 0\n",
			[]string{"2: bad TOML: expected ',' or ']' after array value: the value of ports_to_controls on line 1 is not closed; expected TOML such as ports_to_controls = [22]", "3: max_knocker_live_time is 0"}},
		{"syntax errors do not hide the rest", "ports_to_controls = [22]\nopening_sequence = [1,2,3,4,5\nmax_knocker_live_time = 30 seconds\nmax_opened_door_duration = \"x\"\nbogus = 1\n",
			[]string{"3: bad TOML: expected ',' or ']' after array value: the value of opening_sequence on line 2 is not closed", "3: bad TOML: ", "4: max_opened_door_duration is a string", `5: unknown key "bogus"`}},
		{"knockd.conf fed to the TOML parser", "[openSSH]\nsequence = 7000,8000,9000\n", []string{"1: [openSSH] is a table, expected only top-level keys", "2: bad TOML: expected newline but got U+002C ','"}},
		{"NUL byte", "ports_to_controls = [22]\x00\nopening_sequence = [1,2,3,4,5]\n", []string{"1: bad TOML: "}},
		{"all errors collected", "ports_to_controls = [0]\nopening_sequence = [1,1,2,3,4]\nmax_knocker_live_time = 0\nfoo = 1\n",
			[]string{"1: ports_to_controls element 1 is 0", "2: opening_sequence has port 1 twice in a row", "3: max_knocker_live_time is 0", `4: unknown key "foo"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParsePortKnocker("k.toml", []byte(tt.in))
			if err == nil {
				t.Fatalf("ParsePortKnocker succeeded, want errors\n%s", dump(c))
			}
			errs := wantErrors(t, err, "k.toml", tt.want)
			for _, e := range errs {
				if e.Pos.File != "k.toml" || !strings.Contains(e.Msg, "expected") {
					t.Errorf("error %q lacks the file or what was expected", e.Error())
				}
				if e.Pos.Line < 1 && !strings.HasPrefix(e.Msg, "missing ") {
					t.Errorf("error %q lacks a line (only a missing key has none)", e.Error())
				}
			}
		})
	}
}

func TestDetectFormatPortKnocker(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, want string }{
		{"port-knocking-doors' help example", mustRead(t, "testdata/port_knocker-doc.toml"), FormatPortKnocker},
		{"minimal file", PortKnockerMinimal, FormatPortKnocker},
		{"TOML with comments first", "# doors\n\n  # opening_sequence = [1]\nports_to_controls=[22] # ssh\nopening_sequence = [\n 1,2,3,4,5, # knocks\n]\n", FormatPortKnocker},
		{"TOML starting with an optional key", "max_knocker_live_time = 30\nports_to_controls = [22]\n", FormatPortKnocker},
		{"TOML with a quoted key", "\"opening_sequence\" = [1,2,3,4,5]\n", FormatPortKnocker},
		{"TOML with a misspelt key", "port_to_control = [22]\nopening_sequense = 1\n", FormatPortKnocker},
		{"TOML with a misspelt key and no array", "max_knocker_lifetime = 3\n", FormatPortKnocker},
		{"TOML with a table after its keys", "ports_to_controls = [22]\n[extra]\n", FormatPortKnocker},
		{"unknown key with an array value", "ports = [22]\n", FormatPortKnocker},
		{"CRLF TOML", "ports_to_controls = [22]\r\nopening_sequence = [1,2,3,4,5]\r\n", FormatPortKnocker},
		{"knockd.conf", mustRead(t, "testdata/magazine.conf"), FormatKnockd},
		{"knockd.conf with Sequence and comments", "# knockd.conf\n# opening_sequence = [1,2,3,4,5] was port-knocking-doors'\n\n[openSSH]\n    Sequence = 7000,8000,9000 # ports\n    # ports_to_controls = [22]\n    Command = /bin/true\n", FormatKnockd},
		{"knockd.conf with a directive before its first section", "Sequence = 7000,8000\n[openSSH]\nsequence = 1\n", FormatKnockd},
		{"knockd.conf of sesame's directives", "[ssh]\nOpen = tcp:22\nopening_sequence = [1]\n", FormatKnockd},
		{"knockd.conf's UseSyslog first", "UseSyslog\n[options]\n", FormatKnockd},
		{"a stray knockd directive only", "Sequence = 7000\n", FormatKnockd},
		{"tportknockd", mustRead(t, "testdata/tportknockd-doc.conf"), FormatTportknockd},
		{"tportknockd after a comment", "# opening_sequence = [1]\n<SSH>\nsequence = tcp:1\n</SSH>\n", FormatTportknockd},
		{"empty", "", FormatKnockd},
	} {
		if got := DetectFormat([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: DetectFormat = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPrintPortKnockerGolden compares PrintPortKnocker's output for
// port-knocking-doors' own example with its golden file, and checks that
// it is detected, parses back to the same meaning, and prints the same
// again.
func TestPrintPortKnockerGolden(t *testing.T) {
	const path = "testdata/port_knocker-doc.toml"
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintPortKnocker(&out, c); err != nil {
		t.Fatalf("PrintPortKnocker: %v", err)
	}
	golden := "testdata/port_knocker-doc.golden"
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checkDiff(t, golden, mustRead(t, golden), out.String())
	checkPortKnockerRoundTrip(t, c, out.Bytes())
}

func checkPortKnockerRoundTrip(t *testing.T, c *Config, printed []byte) {
	t.Helper()
	if got := DetectFormat(printed); got != FormatPortKnocker {
		t.Fatalf("printed form detected as %q\n%s", got, printed)
	}
	back, err := Parse("printed", printed)
	if err != nil {
		t.Fatalf("printed form does not parse:\n%v\n%s", err, printed)
	}
	if back.Format != FormatPortKnocker {
		t.Errorf("printed form read as %q", back.Format)
	}
	checkDiff(t, "round trip", dump(strip(c)), dump(strip(back)))
	back.Source = c.Source
	var again bytes.Buffer
	if err := PrintPortKnocker(&again, back); err != nil {
		t.Fatal(err)
	}
	checkDiff(t, "printed twice", string(printed), again.String())
}

func TestPrintPortKnockerRoundTrips(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"ports_to_controls = [22, 80]\nopening_sequence = [9, 8, 9, 8, 9]\nignoring_period_after_knock_error = 0\nmax_knocker_live_time = 1\nmax_opened_door_duration = 2147483647\n",
		"ports_to_controls = [1]\nopening_sequence = [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]\n",
	} {
		c, err := ParsePortKnocker("k.toml", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := PrintPortKnocker(&out, c); err != nil {
			t.Fatal(err)
		}
		checkPortKnockerRoundTrip(t, c, out.Bytes())
	}
	// Configurations from -m/--ports print as the file that means the same.
	c, err := PortKnockerFromLists("10001,10002,10003,10004,10005", "22,80", "command line (-m/--magic-seq, --ports)")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintPortKnocker(&out, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "configuration read from command line (-m/--magic-seq, --ports) (port-knocking-doors format)") {
		t.Errorf("header does not name the source:\n%s", out.String())
	}
	checkPortKnockerRoundTrip(t, c, out.Bytes())
}

func TestPrintPortKnockerRejectsWhatItCannotSay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mod  func(c *Config)
	}{
		{"two events", func(c *Config) { c.Events = append(c.Events, c.Events[0]) }},
		{"no event", func(c *Config) { c.Events = nil }},
		{"another name", func(c *Config) { c.Events[0].Name = "ssh" }},
		{"a TCP knock", func(c *Config) { c.Events[0].Sequence[2].Proto = packet.TCP }},
		{"four knocks", func(c *Config) { c.Events[0].Sequence = c.Events[0].Sequence[:4] }},
		{"a repeated knock", func(c *Config) { c.Events[0].Sequence[1] = c.Events[0].Sequence[0] }},
		{"another payload", func(c *Config) { c.Events[0].Payload = "open sesame" }},
		{"no payload", func(c *Config) { c.Events[0].Payload = "" }},
		{"a command", func(c *Config) { c.Events[0].StartCommand = "true" }},
		{"a UDP door", func(c *Config) { c.Events[0].Open[0].Proto = packet.UDP }},
		{"no door", func(c *Config) { c.Events[0].Open = nil }},
		{"a firewall", func(c *Config) { c.Events[0].Firewall = FirewallFirewalld }},
		{"sub-second door", func(c *Config) { c.Events[0].OpenTimeout = 1500 * time.Millisecond }},
		{"no live time", func(c *Config) { c.Events[0].SeqTimeout = 0 }},
		{"capture option", func(c *Config) { c.Options.Capture = []Capture{{Kind: CaptureUDP}} }},
		{"scan guard off", func(c *Config) { c.Options.ScanGuard = false }},
		{"TCPFlags", func(c *Config) { c.Events[0].Flags.Set = packet.SYN }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := PortKnockerFromLists("1,2,3,4,5", "22", "x")
			if err != nil {
				t.Fatal(err)
			}
			tt.mod(c)
			if err := PrintPortKnocker(&bytes.Buffer{}, c); err == nil || !strings.Contains(err.Error(), "cannot be written as port-knocking-doors' TOML") {
				t.Errorf("PrintPortKnocker: %v, want an error", err)
			}
		})
	}
}

// The file --set-configuration-file-in-home writes is one sesamed reads,
// with port-knocking-doors' defaults, and it says so in --check.
func TestPortKnockerMinimal(t *testing.T) {
	t.Parallel()
	if DetectFormat([]byte(PortKnockerMinimal)) != FormatPortKnocker {
		t.Fatal("minimal file not detected as port-knocking-doors' TOML")
	}
	c, err := Parse("~/.port_knocker.toml", []byte(PortKnockerMinimal))
	if err != nil {
		t.Fatalf("minimal file does not parse: %v", err)
	}
	want := &Config{Options: defaultOptions(), Events: []Event{pkEvent(exampleSeq, 22)}}
	checkDiff(t, "config", dump(strip(want)), dump(strip(c)))
	for _, s := range []string{"ports_to_controls = [22]\n", "opening_sequence = [16001,16002,16003,16004,16005]\n",
		"# ignoring_period_after_knock_error = 5\n", "# max_knocker_live_time = 30\n", "# max_opened_door_duration = 10\n",
		"# firewall_rules_check_periode_seconds = 10", "# doors_cleanup_periode = 10"} {
		if !strings.Contains(PortKnockerMinimal, s) {
			t.Errorf("minimal file lacks %q", s)
		}
	}
	// Its only warning: the example ports are public.
	checkDiff(t, "warnings", "~/.port_knocker.toml:5: opening_sequence [16001, 16002, 16003, 16004, 16005] is the example of port-knocking-doors' help: anyone who has read it can knock; choose your own ports",
		strings.Join(c.Warnings(), "\n"))
}

func TestPortKnockerHelp(t *testing.T) {
	t.Parallel()
	for _, k := range pkKeys {
		if !strings.Contains(PortKnockerHelp, "\n  "+k+" = ") {
			t.Errorf("help does not explain %s", k)
		}
	}
	for _, s := range []string{"Not needed by sesame", "KNOCKER_SEQ", "KNOCKER_PORTS", "~/.port_knocker.toml", "/etc/port_knocker.toml", `"knock\n"`, "0 means no lockout", "5 to 20 UDP ports"} {
		if !strings.Contains(PortKnockerHelp, s) {
			t.Errorf("help lacks %q", s)
		}
	}
	// The two keys sesame does not need say so, each in its own entry.
	for _, k := range []string{pkCheckPeriod, pkCleanup} {
		entry := PortKnockerHelp[strings.Index(PortKnockerHelp, "\n  "+k+" = "):]
		entry = entry[:strings.Index(entry[1:], "\n\n")+1]
		if !strings.Contains(entry, "Not needed by sesame") {
			t.Errorf("help entry of %s does not say sesame does not need it:\n%s", k, entry)
		}
	}
}

func TestPortKnockerFromLists(t *testing.T) {
	t.Parallel()
	c, err := PortKnockerFromLists(" 10001, 10002,10003,10004,10005 ", "22,80,22", "environment (KNOCKER_SEQ/KNOCKER_PORTS)")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Options: defaultOptions(), Events: []Event{pkEvent([]uint16{10001, 10002, 10003, 10004, 10005}, 22, 80)}}
	checkDiff(t, "config", dump(strip(want)), dump(strip(c)))
	if c.Source != "environment (KNOCKER_SEQ/KNOCKER_PORTS)" || c.Format != FormatPortKnocker || c.Events[0].Pos.File != c.Source {
		t.Errorf("Source %q, Format %q, Pos %v", c.Source, c.Format, c.Events[0].Pos)
	}
	for _, tt := range []struct{ seq, ports, want string }{
		{"1,2,3,4", "22", `magic sequence "1,2,3,4" has 4 ports, expected 5 to 20 UDP ports`},
		{"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21", "22", "has 21 ports, expected 5 to 20"},
		{"1,2,3,3,4", "22", "has port 3 twice in a row (knocks 3 and 4)"},
		{"1,2,3,4,70000", "22", `magic sequence "1,2,3,4,70000": item 5: port 70000 out of range, expected 1-65535`},
		{"1,2,,4,5", "22", `magic sequence "1,2,,4,5": item 3 is empty (a doubled or trailing comma?)`},
		{"1,2,3,4,5:udp", "22", `item 5 "5:udp": expected a plain UDP port number (every port here is UDP)`},
		{"", "22", "empty magic sequence, expected UDP port numbers separated by commas such as 10001,10002,10003,10004,10005"},
		{"1,2,3,4,5", "", "empty ports to control, expected TCP port numbers separated by commas such as 22,80"},
		{"1,2,3,4,5", "ssh", `ports to control "ssh": item 1: port "ssh" is not a number, expected 1-65535`},
		{"1,2,3,4,5", "tcp:22", `item 1 "tcp:22": expected a plain TCP port number`},
	} {
		_, err := PortKnockerFromLists(tt.seq, tt.ports, "x")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("PortKnockerFromLists(%q, %q) = %v, want an error with %q", tt.seq, tt.ports, err, tt.want)
		}
	}
}

func TestQuickStart(t *testing.T) {
	t.Parallel()
	c, err := QuickStart("7000,8000:udp, 9000:TCP", "tcp:22,1194:udp,443")
	if err != nil {
		t.Fatal(err)
	}
	ev := event(QuickStartEvent, tcp(7000), udp(8000), tcp(9000))
	ev.Open = []Port{{packet.TCP, 22}, {packet.UDP, 1194}, {packet.TCP, 443}}
	ev.OpenTimeout = DefaultOpenTimeout
	want := &Config{Options: defaultOptions(), Events: []Event{ev}}
	checkDiff(t, "config", dump(strip(want)), dump(strip(c)))
	if c.Format != FormatKnockd || c.Source != "command line (--sequence/--open)" || c.Events[0].Payload != "" || c.Events[0].Lockout != 0 {
		t.Errorf("Format %q, Source %q, Payload %q, Lockout %v", c.Format, c.Source, c.Events[0].Payload, c.Events[0].Lockout)
	}
	// It prints as knockd.conf that reads back the same.
	var out bytes.Buffer
	if err := Print(&out, c); err != nil {
		t.Fatal(err)
	}
	back, err := Parse("printed", out.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	checkDiff(t, "round trip", dump(strip(c)), dump(strip(back)))

	for _, tt := range []struct{ seq, open, want string }{
		{"7000,,9000", "22", `bad --sequence "7000,,9000": element 2 "": empty element`},
		{"7000:icmp", "22", `bad --sequence "7000:icmp": element 1 "7000:icmp": unknown protocol "icmp", expected tcp or udp`},
		{"7000", "ssh", `bad --open "ssh": item 1 "ssh": port "ssh" is not a number`},
		{"7000", "", `bad --open "": empty port list`},
	} {
		_, err := QuickStart(tt.seq, tt.open)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("QuickStart(%q, %q) = %v, want an error with %q", tt.seq, tt.open, err, tt.want)
		}
	}
}

// Every message of the TOML parser is one line, whatever the keys hold.
func TestParsePortKnockerMessagesAreOneLine(t *testing.T) {
	t.Parallel()
	_, err := ParsePortKnocker("k.toml", []byte("[\"a\\nb\"]\n\"c\\nd\" = 1\n\"e\\rf\".g = 2\n"))
	errs, ok := err.(Errors)
	if !ok || len(errs) != 3 {
		t.Fatalf("errors %v", err)
	}
	for _, e := range errs {
		if strings.ContainsAny(e.Msg, "\r\n") {
			t.Errorf("message on several lines: %q", e.Msg)
		}
	}
}
