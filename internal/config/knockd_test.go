package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesame-knock/sesame/internal/packet"
)

const (
	iptA = "/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"
	iptD = "/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"
)

// withCmd sets the IPv4 start command and, as knockd does when no _6
// variant is given, the IPv6 one.
func withCmd(ev Event, start string) Event {
	ev.StartCommand, ev.StartCommand6 = start, start
	return ev
}

func withTimeouts(ev Event, seq, cmd int) Event {
	ev.SeqTimeout, ev.CmdTimeout = secs2d(seq), secs2d(cmd)
	return ev
}

func withFlags(ev Event, set, clear packet.TCPFlags) Event {
	ev.Flags = FlagRule{Set: set, Clear: clear}
	return ev
}

// TestFixtures checks that real-world knockd.conf files load with knockd's
// meaning.
func TestFixtures(t *testing.T) {
	t.Parallel()
	syn := packet.SYN
	logOpts := defaultOptions()
	logOpts.LogFile = "/var/log/knockd.log"
	sshPair := func(timeout int, open, close string) []Event {
		return []Event{
			withFlags(withTimeouts(withCmd(event("openSSH", tcp(7000), tcp(8000), tcp(9000)), open), timeout, 10), syn, 0),
			withFlags(withTimeouts(withCmd(event("closeSSH", tcp(9000), tcp(8000), tcp(7000)), close), timeout, 10), syn, 0),
		}
	}
	smtp := Event{
		Name: "opencloseSMTP", OneTimeFile: "/etc/knockd/smtp_sequences",
		SeqTimeout: secs2d(15), CmdTimeout: secs2d(5),
		Flags:         FlagRule{Set: packet.FIN, Clear: packet.ACK},
		StartCommand:  "/usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 25 -j ACCEPT",
		StartCommand6: "/usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 25 -j ACCEPT",
		StopCommand:   "/usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 25 -j ACCEPT",
		StopCommand6:  "/usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 25 -j ACCEPT",
	}
	smtp6 := smtp
	smtp6.StartCommand6 = "/usr/sbin/ip6tables -A INPUT -s %IP% -p tcp --dport 25 -j ACCEPT"
	smtp6.StopCommand6 = "/usr/sbin/ip6tables -D INPUT -s %IP% -p tcp --dport 25 -j ACCEPT"
	ssh2 := Event{
		Name: "opencloseSSH", Sequence: []Element{udp(2222), tcp(3333), udp(4444)},
		SeqTimeout: secs2d(15), CmdTimeout: secs2d(5), Flags: FlagRule{Set: packet.SYN | packet.ACK},
		StartCommand:  "/usr/sbin/iptables -A INPUT -s %IP% -p tcp --syn -j ACCEPT",
		StartCommand6: "/usr/sbin/iptables -A INPUT -s %IP% -p tcp --syn -j ACCEPT",
		StopCommand:   "/usr/sbin/iptables -D INPUT -s %IP% -p tcp --syn -j ACCEPT",
		StopCommand6:  "/usr/sbin/iptables -D INPUT -s %IP% -p tcp --syn -j ACCEPT",
	}
	debOpts := defaultOptions()
	debOpts.UseSyslog = true
	web := Event{
		Name: "web", Sequence: []Element{udp(1111), tcp(2222), tcp(3333)},
		SeqTimeout: secs2d(20), CmdTimeout: 0,
		Flags:        FlagRule{Set: packet.SYN, Clear: packet.ACK | packet.RST},
		Target:       netip.MustParseAddr("192.0.2.10"),
		StartCommand: `/usr/sbin/nft add element inet f allow { %IP% } ; logger "knock; done # ok"`,
		StopCommand:  "logger closed %IP%", StopCommand6: "logger closed %IP%",
	}
	allOpts := Options{UseSyslog: true, LogFile: "/var/log/knockd.log", PidFile: "/run/knockd.pid",
		Interfaces: []string{"eth0", "wg0"}, ScanGuard: false, MaxAttempts: 1000}

	tests := []struct {
		file string
		want *Config
	}{
		{"debian.conf", &Config{Options: debOpts, Events: append(sshPair(5, iptA, iptD),
			withFlags(withTimeouts(withCmd(event("openHTTPS", tcp(12345), tcp(54321), tcp(24680), tcp(13579)),
				"/usr/local/sbin/knock_add -i -c INPUT -p tcp -d 443 -f %IP%"), 5, 10), syn, 0))}},
		{"magazine.conf", &Config{Options: logOpts, Events: sshPair(5, iptA, iptD)}},
		{"manpage1.conf", &Config{Options: logOpts, Events: sshPair(10,
			"/sbin/iptables -A INPUT -s %IP% --dport 22 -j ACCEPT", "/sbin/iptables -D INPUT -s %IP% --dport 22 -j ACCEPT")}},
		{"manpage2.conf", &Config{Options: logOpts, Events: []Event{ssh2}}},
		{"manpage3.conf", &Config{Options: logOpts, Events: []Event{smtp}}},
		{"manpage4.conf", &Config{Options: logOpts, Events: []Event{smtp6}}},
		{"all.conf", &Config{Options: allOpts, Events: []Event{web, event("web", tcp(4444))}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", tt.file)
			got, err := Load(path)
			if err != nil {
				t.Fatalf("Load(%s): %v", path, err)
			}
			if got.Source != path {
				t.Errorf("Source = %q, want %q", got.Source, path)
			}
			checkDiff(t, "config", dump(strip(tt.want)), dump(strip(got)))
		})
	}
}

func TestEventPos(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/debian.conf")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range c.Events {
		got = append(got, ev.Pos.String())
	}
	want := "testdata/debian.conf:4 testdata/debian.conf:10 testdata/debian.conf:16"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("event positions = %q, want %q", g, want)
	}
}

// TestDirectives covers each directive and each grammar rule.
func TestDirectives(t *testing.T) {
	t.Parallel()
	one := func(mod func(*Event)) *Config {
		ev := event("e", tcp(1))
		mod(&ev)
		return &Config{Options: defaultOptions(), Events: []Event{ev}}
	}
	opts := func(mod func(*Options)) *Config {
		o := defaultOptions()
		mod(&o)
		return &Config{Options: o, Events: []Event{event("e", tcp(1))}}
	}
	const ev = "\n[e]\nsequence = 1\n"
	tests := []struct {
		name string
		in   string
		want *Config
	}{
		{"defaults", "[e]\nsequence=1", one(func(*Event) {})},
		{"no events", "[options]\n", &Config{Options: defaultOptions()}},
		{"empty file", "", &Config{Options: defaultOptions()}},
		{"UseSyslog", "[options]\nUseSyslog" + ev, opts(func(o *Options) { o.UseSyslog = true })},
		{"usesyslog lower case, blanks", "[options]\n \t usesyslog \t" + ev, opts(func(o *Options) { o.UseSyslog = true })},
		{"UseSyslog in an event section sets the option", "[e]\nsequence=1\nUseSyslog", opts(func(o *Options) { o.UseSyslog = true })},
		{"LogFile", "[options]\nLogFile = /var/log/k.log" + ev, opts(func(o *Options) { o.LogFile = "/var/log/k.log" })},
		{"LogFile empty means none", "[options]\nLogFile =" + ev, opts(func(o *Options) {})},
		{"PidFile", "[options]\npidfile=/run/k.pid" + ev, opts(func(o *Options) { o.PidFile = "/run/k.pid" })},
		{"Interface", "[options]\nInterface = eth0" + ev, opts(func(o *Options) { o.Interfaces = []string{"eth0"} })},
		{"Interface list", "[options]\nInterface = eth0 , wg0" + ev, opts(func(o *Options) { o.Interfaces = []string{"eth0", "wg0"} })},
		{"ScanGuard off", "[options]\nScanGuard = off" + ev, opts(func(o *Options) { o.ScanGuard = false })},
		{"ScanGuard no", "[options]\nscanguard=NO" + ev, opts(func(o *Options) { o.ScanGuard = false })},
		{"ScanGuard false", "[options]\nScanGuard = false" + ev, opts(func(o *Options) { o.ScanGuard = false })},
		{"ScanGuard on", "[options]\nScanGuard = On" + ev, opts(func(o *Options) {})},
		{"ScanGuard yes", "[options]\nScanGuard = yes" + ev, opts(func(o *Options) {})},
		{"ScanGuard true", "[options]\nScanGuard = true" + ev, opts(func(o *Options) {})},
		{"MaxAttempts", "[options]\nMaxAttempts = 500" + ev, opts(func(o *Options) { o.MaxAttempts = 500 })},
		{"options twice merge", "[options]\nLogFile=/a\n[options]\nPidFile=/b" + ev, opts(func(o *Options) { o.LogFile, o.PidFile = "/a", "/b" })},

		{"Sequence protocols", "[e]\nSequence = 1:udp,2:TCP, 3 ,4: Udp", one(func(e *Event) { e.Sequence = []Element{udp(1), tcp(2), tcp(3), udp(4)} })},
		{"Sequence 32 elements", "[e]\nsequence=" + strings.Repeat("9,", 31) + "9", one(func(e *Event) {
			e.Sequence = nil
			for range 32 {
				e.Sequence = append(e.Sequence, tcp(9))
			}
		})},
		{"Sequence trailing comment", "[e]\nsequence = 1,2 # ssh", one(func(e *Event) { e.Sequence = []Element{tcp(1), tcp(2)} })},
		{"Sequence port 65535", "[e]\nsequence = 65535:udp", one(func(e *Event) { e.Sequence = []Element{udp(65535)} })},
		{"One_Time_Sequences", "[e]\nOne_Time_Sequences = /etc/k/seq", one(func(e *Event) { e.Sequence, e.OneTimeFile = nil, "/etc/k/seq" })},
		{"Seq_Timeout", "[e]\nsequence=1\nSeq_Timeout = 7", one(func(e *Event) { e.SeqTimeout = secs2d(7) })},
		{"Timeout alias", "[e]\nsequence=1\ntimeout=8", one(func(e *Event) { e.SeqTimeout = secs2d(8) })},
		{"Seq_Timeout trailing comment", "[e]\nsequence=1\nseq_timeout = 9 # seconds", one(func(e *Event) { e.SeqTimeout = secs2d(9) })},
		{"TCPFlags", "[e]\nsequence=1\nTCPFlags = syn,!ack", one(func(e *Event) { e.Flags = FlagRule{Set: packet.SYN, Clear: packet.ACK} })},
		{"TCPFlags all six", "[e]\nsequence=1\ntcpflags=FIN,syn,Rst,psh,!ack,!urg", one(func(e *Event) {
			e.Flags = FlagRule{Set: packet.FIN | packet.SYN | packet.RST | packet.PSH, Clear: packet.ACK | packet.URG}
		})},
		{"TCPFlags lines add up", "[e]\nsequence=1\ntcpflags=syn\ntcpflags=!ack", one(func(e *Event) { e.Flags = FlagRule{Set: packet.SYN, Clear: packet.ACK} })},
		{"TCPFlags blanks", "[e]\nsequence=1\ntcpflags = syn , ! ack", one(func(e *Event) { e.Flags = FlagRule{Set: packet.SYN, Clear: packet.ACK} })},
		{"Start_Command", "[e]\nsequence=1\nStart_Command = a; b # c", one(func(e *Event) { e.StartCommand, e.StartCommand6 = "a; b # c", "a; b # c" })},
		{"Command alias", "[e]\nsequence=1\ncommand=x=y", one(func(e *Event) { e.StartCommand, e.StartCommand6 = "x=y", "x=y" })},
		{"Start_Command_6", "[e]\nsequence=1\ncommand=four\nStart_Command_6=six", one(func(e *Event) { e.StartCommand, e.StartCommand6 = "four", "six" })},
		{"Command_6 alias", "[e]\nsequence=1\nCommand_6 = six", one(func(e *Event) { e.StartCommand6 = "six" })},
		{"empty Command_6 runs nothing for IPv6", "[e]\nsequence=1\ncommand=four\ncommand_6=", one(func(e *Event) { e.StartCommand = "four" })},
		{"Cmd_Timeout", "[e]\nsequence=1\nCmd_Timeout = 30", one(func(e *Event) { e.CmdTimeout = secs2d(30) })},
		{"Cmd_Timeout 0", "[e]\nsequence=1\nCmd_Timeout = 0", one(func(e *Event) { e.CmdTimeout = 0 })},
		{"Stop_Command", "[e]\nsequence=1\nStop_Command = s", one(func(e *Event) { e.StopCommand, e.StopCommand6 = "s", "s" })},
		{"Stop_Command_6", "[e]\nsequence=1\nStop_Command=s\nStop_Command_6 = s6", one(func(e *Event) { e.StopCommand, e.StopCommand6 = "s", "s6" })},
		{"Target IPv4", "[e]\nsequence=1\nTarget = 192.0.2.1", one(func(e *Event) { e.Target = netip.MustParseAddr("192.0.2.1") })},
		{"Target IPv6", "[e]\nsequence=1\nTarget = 2001:db8::1", one(func(e *Event) { e.Target = netip.MustParseAddr("2001:db8::1") })},

		{"keys any case, blanks around =", "[e]\n\tSEQUENCE\t=\t1\t\n sEq_TiMeOuT=3", one(func(e *Event) { e.SeqTimeout = secs2d(3) })},
		{"comment lines", "# c\n  # indented\n[e]\n\t#sequence = 5\nsequence=1", one(func(*Event) {})},
		{"CRLF", "[e]\r\nsequence = 1\r\ncommand = x\r\n", one(func(e *Event) { e.StartCommand, e.StartCommand6 = "x", "x" })},
		{"value keeps ; and #", "[e]\nsequence=1\ncommand = a ;b#c ; # d", one(func(e *Event) { e.StartCommand, e.StartCommand6 = "a ;b#c ; # d", "a ;b#c ; # d" })},
		{"[Options] is an event (knockd compares exactly)", "[Options]\nsequence=1", &Config{Options: defaultOptions(), Events: []Event{event("Options", tcp(1))}}},
		{"section name kept verbatim", "[ my door ]\nsequence=1", &Config{Options: defaultOptions(), Events: []Event{event(" my door ", tcp(1))}}},
		{"repeated section name is a second event", "[e]\nsequence=1\n[e]\nsequence=2:udp",
			&Config{Options: defaultOptions(), Events: []Event{event("e", tcp(1)), event("e", udp(2))}}},
		{"no final newline", "[e]\nsequence=1", one(func(*Event) {})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKnockd("k.conf", []byte(tt.in))
			if err != nil {
				t.Fatalf("ParseKnockd: %v", err)
			}
			checkDiff(t, "config", dump(strip(tt.want)), dump(strip(got)))
		})
	}
}

// TestErrors covers each error: what knockd rejects, and what knockd
// accepts silently although it is nonsense.
func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"unknown directive with suggestion", "[e]\nsequence=1\nSequnce = 1",
			`k.conf:3: unknown directive "Sequnce" (did you mean "Sequence"?)`},
		{"unknown option with suggestion", "[options]\nLogfil = x\n[e]\nsequence=1",
			`k.conf:2: unknown directive "Logfil" (did you mean "LogFile"?)`},
		{"unknown alias suggestion", "[e]\nsequence=1\ncomand = x",
			`k.conf:3: unknown directive "comand" (did you mean "Command"?)`},
		{"unknown directive without suggestion", "[options]\nFoo = 1",
			`k.conf:2: unknown directive "Foo", expected one of UseSyslog, LogFile, PidFile, Interface, ScanGuard, MaxAttempts, Capture, StateDir`},
		{"word without =", "[e]\nsequence=1\nbogus",
			`k.conf:3: unknown directive "bogus", expected one of Sequence, One_Time_Sequences, Seq_Timeout, TCPFlags, Start_Command, Start_Command_6, Cmd_Timeout, Stop_Command, Stop_Command_6, Target, Open, Open_Timeout, Firewall, Nft_Table, Firewalld_Zone, UDP_Payload, Lockout, TOTP_Secret_File, TOTP_Ports, TOTP_Length, TOTP_Step, TOTP_Skew, Cipher_Key_File, Cipher_Ports, Cipher_Max_Age`},
		{"known directive without value", "[e]\nsequence",
			"k.conf:2: Sequence needs a value, expected \"Sequence = ...\"\nk.conf:1: event [e] has no Sequence, expected Sequence = port[:tcp|udp],... or a file: One_Time_Sequences, TOTP_Secret_File or Cipher_Key_File = FILE"},
		{"UseSyslog with value", "[options]\nUseSyslog = yes",
			"k.conf:2: UseSyslog takes no value, expected the word UseSyslog alone on its line"},
		{"missing key", "[e]\nsequence=1\n= 5",
			"k.conf:3: missing directive name before '=', expected Key = value"},
		{"directive outside any section", "sequence = 1\n[e]\nsequence=1",
			`k.conf:1: "sequence = 1" is outside any section, expected a [name] or [options] line first`},
		{"empty section name", "[]\nsequence=1\n[e]\nsequence=1",
			"k.conf:1: empty section name, expected [name] or [options]"},
		{"malformed section", "[e\nsequence=1",
			"k.conf:1: malformed section header \"[e\", expected [name] alone on the line\nk.conf:2: \"sequence=1\" is outside any section, expected a [name] or [options] line first"},
		{"event without sequence", "[e]\ncommand = x",
			"k.conf:1: event [e] has no Sequence, expected Sequence = port[:tcp|udp],... or a file: One_Time_Sequences, TOTP_Secret_File or Cipher_Key_File = FILE"},
		{"event directive in options", "[options]\nSequence = 1",
			"k.conf:2: Sequence belongs in an event section, not in [options]"},
		{"option in event", "[e]\nsequence=1\nLogFile = /x",
			"k.conf:3: LogFile belongs in [options], not in event [e]"},
		{"option in [Options]", "[Options]\nLogFile = /x\nsequence=1",
			"k.conf:2: LogFile belongs in [options], not in event [Options] (the global section is spelled exactly [options]; [Options] is an event, as in knockd)"},
		{"Sequence and One_Time_Sequences", "[e]\nsequence=1\none_time_sequences=/f",
			"k.conf:3: One_Time_Sequences and Sequence (line 2) both given, expected one of them"},
		{"One_Time_Sequences and Sequence", "[e]\none_time_sequences=/f\nsequence=1",
			"k.conf:3: Sequence and One_Time_Sequences (line 2) both given, expected one of them"},
		{"Sequence and TOTP", "[e]\nsequence=1\ntotp_secret_file=/f",
			"k.conf:1: event [e] has Sequence and TOTP_Secret_File, expected exactly one sequence source"},
		{"TOTP and cipher", "[e]\ncipher_key_file=/k\ntotp_secret_file=/f",
			"k.conf:1: event [e] has TOTP_Secret_File and Cipher_Key_File, expected exactly one sequence source"},
		{"TOTP tuning without secret file", "[e]\nsequence=1\nTOTP_Length = 5",
			"k.conf:3: TOTP_Length without TOTP_Secret_File in event [e], expected TOTP_Secret_File = FILE"},
		{"cipher tuning without key file", "[e]\nsequence=1\nCipher_Ports = 1000",
			"k.conf:3: Cipher_Ports without Cipher_Key_File in event [e], expected Cipher_Key_File = FILE"},
		{"TOTP range too small", "[e]\ntotp_secret_file=/f\nTOTP_Ports = 100-106",
			"k.conf:3: TOTP_Ports 100-106:tcp holds 7 ports, too few for 4 distinct knocks: expected at least 8 (twice TOTP_Length)"},
		{"TOTP range backwards", "[e]\ntotp_secret_file=/f\nTOTP_Ports = 200-100",
			`k.conf:3: bad TOTP_Ports: "200-100" is not a port range, expected LO-HI[:tcp|udp] with 1 <= LO <= HI <= 65535, e.g. 40000-49999`},
		{"TOTP range bad protocol", "[e]\ntotp_secret_file=/f\nTOTP_Ports = 100-200:icmp",
			`k.conf:3: bad TOTP_Ports: protocol "icmp" in "100-200:icmp", expected tcp or udp`},
		{"TOTP length too long", "[e]\ntotp_secret_file=/f\nTOTP_Length = 33",
			`k.conf:3: TOTP_Length "33", expected a whole number of knocks 1-32`},
		{"TOTP skew too wide", "[e]\ntotp_secret_file=/f\nTOTP_Skew = 11",
			`k.conf:3: TOTP_Skew "11", expected a whole number of steps 0-10`},
		{"TOTP step zero", "[e]\ntotp_secret_file=/f\nTOTP_Step = 0",
			"k.conf:3: TOTP_Step 0 is too short, expected at least 1 second"},
		{"TOTP step over a day", "[e]\ntotp_secret_file=/f\nTOTP_Step = 86401",
			"k.conf:3: bad TOTP parameters: time step 24h0m1s is invalid, expected whole seconds from 1s to 24h0m0s"},
		{"TOTP event name twice", "[a]\nsequence=1\n[a]\ntotp_secret_file=/f",
			"k.conf:3: event [a] already defined on line 1; a TOTP or cipher event needs a name of its own (enrolment and the replay cache go by name)"},
		{"cipher window past 65535", "[e]\ncipher_key_file=/k\nCipher_Ports = 65281",
			`k.conf:3: bad Cipher_Ports: "65281" is not a window base, expected a port 1-65280 (the window is BASE-BASE+255), e.g. 61000:udp`},
		{"relative StateDir", "[options]\nStateDir = state\n[e]\nsequence=1",
			`k.conf:2: StateDir "state", expected an absolute directory path such as /var/lib/sesame`},
		{"empty One_Time_Sequences", "[e]\none_time_sequences=",
			"k.conf:2: empty One_Time_Sequences, expected the path of a file of sequences"},
		{"port out of range", "[e]\nsequence = 1,70000",
			`k.conf:2: bad Sequence: element 2 "70000": port 70000 out of range, expected 1-65535`},
		{"port 0", "[e]\nsequence = 0",
			`k.conf:2: bad Sequence: element 1 "0": port 0 out of range, expected 1-65535`},
		{"negative port", "[e]\nsequence = -1",
			`k.conf:2: bad Sequence: element 1 "-1": port "-1" is not a number, expected 1-65535`},
		{"bad protocol", "[e]\nsequence = 1:icmp",
			`k.conf:2: bad Sequence: element 1 "1:icmp": unknown protocol "icmp", expected tcp or udp`},
		{"empty protocol", "[e]\nsequence = 1:",
			`k.conf:2: bad Sequence: element 1 "1:": unknown protocol "", expected tcp or udp`},
		{"too many fields", "[e]\nsequence = 1:tcp:syn",
			`k.conf:2: bad Sequence: element 1 "1:tcp:syn": too many ':' fields, expected port[:tcp|udp]`},
		{"trailing comma", "[e]\nsequence = 1,2,",
			`k.conf:2: bad Sequence: element 3 "": empty element (a doubled or trailing comma?), expected port[:tcp|udp]`},
		{"empty sequence", "[e]\nsequence =",
			"k.conf:2: bad Sequence: empty sequence, expected port[:tcp|udp],... e.g. 7000,8000,9000"},
		{"33 elements", "[e]\nsequence=" + strings.Repeat("9,", 32) + "9",
			"k.conf:2: bad Sequence: 33 elements in sequence, knockd allows at most 32"},
		{"Seq_Timeout soon", "[e]\nsequence=1\nSeq_Timeout = soon",
			`k.conf:3: Seq_Timeout "soon" is not a whole number of seconds (knockd would read 0), expected e.g. 25`},
		{"Seq_Timeout 5s", "[e]\nsequence=1\nSeq_Timeout = 5s",
			`k.conf:3: Seq_Timeout "5s" is not a whole number of seconds (knockd would read 5), expected e.g. 25`},
		{"Seq_Timeout 0", "[e]\nsequence=1\nSeq_Timeout = 0",
			"k.conf:3: Seq_Timeout 0 is too short, expected at least 1 second (with 0 knockd drops every attempt at its next packet)"},
		{"Seq_Timeout huge", "[e]\nsequence=1\nSeq_Timeout = 99999999999999999999999",
			"k.conf:3: Seq_Timeout 9223372036854775807 is too large, expected at most 2147483647 seconds"},
		{"Cmd_Timeout negative", "[e]\nsequence=1\nCmd_Timeout = -5",
			`k.conf:3: Cmd_Timeout "-5" is not a whole number of seconds (knockd would read -5), expected e.g. 25`},
		{"unknown flag", "[e]\nsequence=1\nTCPFlags = syn,push",
			`k.conf:3: bad TCPFlags: unknown TCP flag "push", expected fin, syn, rst, psh, ack or urg, each optionally with a leading '!'`},
		{"empty flag", "[e]\nsequence=1\nTCPFlags = syn,",
			`k.conf:3: bad TCPFlags: unknown TCP flag "", expected fin, syn, rst, psh, ack or urg, each optionally with a leading '!'`},
		{"contradicting flags", "[e]\nsequence=1\nTCPFlags = syn,!syn",
			"k.conf:3: bad TCPFlags: TCP flag syn both required and excluded"},
		{"contradicting flags across lines", "[e]\nsequence=1\nTCPFlags = ack\nTCPFlags = !ack",
			"k.conf:4: bad TCPFlags: TCP flag ack both required and excluded across TCPFlags lines"},
		{"bad Target", "[e]\nsequence=1\nTarget = myhost",
			`k.conf:3: Target "myhost" is not an IP address, expected one such as 192.0.2.10 or 2001:db8::10`},
		{"Target with zone", "[e]\nsequence=1\nTarget = fe80::1%eth0",
			`k.conf:3: Target "fe80::1%eth0" has a zone, expected an address without %zone`},
		{"Target v4-mapped", "[e]\nsequence=1\nTarget = ::ffff:192.0.2.1",
			`k.conf:3: Target "::ffff:192.0.2.1" is an IPv4-mapped address, expected 192.0.2.1`},
		{"bad Interface", "[options]\nInterface = /dev/eth0",
			`k.conf:2: "/dev/eth0" is not an interface name, expected a name such as eth0 (not a path)`},
		{"empty Interface", "[options]\nInterface =",
			"k.conf:2: empty Interface, expected an interface name such as eth0"},
		{"empty Interface list entry", "[options]\nInterface = eth0,,eth1",
			"k.conf:2: empty name in Interface list, expected names separated by commas such as eth0,wg0"},
		{"empty PidFile", "[options]\nPidFile =",
			"k.conf:2: empty PidFile, expected a path such as /var/run/knockd.pid"},
		{"bad ScanGuard", "[options]\nScanGuard = maybe",
			`k.conf:2: ScanGuard "maybe", expected on or off (yes/no, true/false)`},
		{"bad MaxAttempts", "[options]\nMaxAttempts = 0",
			`k.conf:2: MaxAttempts "0", expected a whole number 1-16777216`},
		{"NUL byte", "[e]\nsequence=1\x00",
			"k.conf:2: NUL byte in line, expected text\nk.conf:1: event [e] has no Sequence, expected Sequence = port[:tcp|udp],... or a file: One_Time_Sequences, TOTP_Secret_File or Cipher_Key_File = FILE"},
		{"all errors collected, sorted by line", "[options]\nFoo=1\n[a]\nsequence=1,99999\nseq_timeout=x\n[b]\ncommand=y",
			"k.conf:2: unknown directive \"Foo\", expected one of UseSyslog, LogFile, PidFile, Interface, ScanGuard, MaxAttempts, Capture, StateDir\n" +
				"k.conf:4: bad Sequence: element 2 \"99999\": port 99999 out of range, expected 1-65535\n" +
				"k.conf:5: Seq_Timeout \"x\" is not a whole number of seconds (knockd would read 0), expected e.g. 25\n" +
				"k.conf:6: event [b] has no Sequence, expected Sequence = port[:tcp|udp],... or a file: One_Time_Sequences, TOTP_Secret_File or Cipher_Key_File = FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseKnockd("k.conf", []byte(tt.in))
			if err == nil {
				t.Fatalf("ParseKnockd succeeded, want error\n%s", dump(c))
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors", err)
			}
			// The NUL case is sorted, so the order in want is by line.
			checkDiff(t, "error", sortLines(tt.want), err.Error())
		})
	}
}

// sortLines orders "file:line: msg" lines by line number, as Errors does.
func sortLines(s string) string {
	var es Errors
	for _, l := range strings.Split(s, "\n") {
		var line int
		rest := strings.TrimPrefix(l, "k.conf:")
		n, msg, _ := strings.Cut(rest, ": ")
		for _, c := range n {
			line = line*10 + int(c-'0')
		}
		es = append(es, Error{Pos{"k.conf", line}, msg})
	}
	return es.Error()
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.conf"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "failed to read configuration: ") {
		t.Errorf("Load(missing) = %v, want a wrapped ErrNotExist", err)
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"clean", "[e]\nsequence=7000,8000,9000\ncommand=x", nil},
		{"default TOTP is strong enough", "[e]\nTOTP_Secret_File = /f\ncommand=x", nil},
		{"weak TOTP", "[e]\nTOTP_Secret_File = /f\nTOTP_Ports = 100-199\nTOTP_Length = 3\ncommand=x",
			[]string{"k.conf:1: event [e]: TOTP sequences of 3 knocks in 100 ports hold only 20 bits: a scanner guesses one in 2^20 tries; expected at least 32 bits (a longer TOTP_Length or a wider TOTP_Ports)"}},
		{"duplicate directive: the last wins", "[e]\nsequence=1000,2000\nSequence = 7000,8000\ncommand=x",
			[]string{"k.conf:3: Sequence already set on line 2 in [e]: this later value wins, as in knockd"}},
		{"duplicate via alias", "[e]\nsequence=7000,8000\nCommand=a\nStart_Command=b",
			[]string{"k.conf:4: Start_Command already set on line 3 in [e]: this later value wins, as in knockd"}},
		{"duplicate Interface: the first wins", "[options]\nInterface=eth0\nInterface=eth1\n[e]\nsequence=7000,8000\ncommand=x",
			[]string{"k.conf:3: Interface already set on line 2: ignored, the first value wins, as in knockd"}},
		{"consecutive ascending", "[e]\nsequence=7000,7001,7002\ncommand=x",
			[]string{"k.conf:1: event [e]: sequence 7000:tcp,7001:tcp,7002:tcp is consecutive ascending ports: a sequential port scan walks it"}},
		{"consecutive but mixed protocols", "[e]\nsequence=7000,7001:udp,7002\ncommand=x", nil},
		{"descending consecutive", "[e]\nsequence=7002,7001,7000\ncommand=x", nil},
		{"one port", "[e]\nsequence=22\ncommand=x",
			[]string{"k.conf:1: event [e]: a one-port sequence (22:tcp) is opened by any scan that touches that port"}},
		{"ascending without scan guard", "[options]\nScanGuard=off\n[e]\nsequence=7000,8000,9000\ncommand=x",
			[]string{"k.conf:3: event [e]: sequence 7000:tcp,8000:tcp,9000:tcp is ascending and ScanGuard is off: a sequential port scan walks it"}},
		{"no command", "[e]\nsequence=1,3",
			[]string{"k.conf:1: event [e] has no Start_Command and no Open: a successful knock does nothing"}},
		{"no events", "", []string{"k.conf: no events: nothing will ever be opened"}},
		{"UseSyslog in event", "[e]\nsequence=1,3\ncommand=x\nUseSyslog",
			[]string{"k.conf:4: UseSyslog in event [e] sets the global option (as in knockd); it belongs in [options]"}},
		{"Target not canonical", "[e]\nsequence=1,3\ncommand=x\nTarget=2001:DB8::1",
			[]string{`k.conf:4: Target "2001:DB8::1": knockd compares it as text and would only match it written as 2001:db8::1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseKnockd("k.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			checkDiff(t, "warnings", strings.Join(tt.want, "\n"), strings.Join(c.Warnings(), "\n"))
		})
	}
}

// A repeated directive loads with knockd's meaning.
func TestRepeatedDirectiveMeaning(t *testing.T) {
	t.Parallel()
	cfg, err := ParseKnockd("k.conf", []byte("[options]\nInterface=eth0\nInterface=eth1\nLogFile=/a\nLogFile=/b\n[e]\nsequence=1000,2000\nSequence = 7000,8000\nCommand=a\nStart_Command=b\n"))
	if err != nil {
		t.Fatal(err)
	}
	ev := cfg.Events[0]
	if got := FormatSequence(ev.Sequence); got != "7000:tcp,8000:tcp" || ev.StartCommand != "b" {
		t.Errorf("event: Sequence %s, Start_Command %q; want the last values 7000:tcp,8000:tcp and b", got, ev.StartCommand)
	}
	if len(cfg.Options.Interfaces) != 1 || cfg.Options.Interfaces[0] != "eth0" || cfg.Options.LogFile != "/b" {
		t.Errorf("options: Interface %v, LogFile %q; want [eth0] (first) and /b (last)", cfg.Options.Interfaces, cfg.Options.LogFile)
	}
}
