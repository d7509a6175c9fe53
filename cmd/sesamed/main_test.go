package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesame-knock/sesame/internal/config"
)

func writeConf(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "knockd.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConf = `[options]
	logfile = /var/log/knockd.log
[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 5
	command     = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	tcpflags    = syn
`

const badConf = `[openSSH]
	Sequnce = 7000,8000
	Seq_Timeout = soon
	Sequence = 7000,70000
`

// cliCase is one run of sesamed: its arguments, its exit code, and
// substrings its stdout and stderr must hold.
type cliCase struct {
	name       string
	args       []string
	code       int
	stdout     []string
	stderr     []string
	emptyError bool
}

func TestCLI(t *testing.T) {
	good := writeConf(t, goodConf)
	bad := writeConf(t, badConf)
	tests := []cliCase{
		{name: "help", args: []string{"--help"}, code: 0, stdout: []string{"Usage: sesamed [options]", "-C, --check [FILE]", "Examples:"}, emptyError: true},
		{name: "short help", args: []string{"-h"}, code: 0, stdout: []string{"Usage: sesamed"}},
		{name: "version", args: []string{"-V"}, code: 0, stdout: []string{"sesamed 0.1.0-dev (go"}},
		{name: "unknown flag", args: []string{"--bogus"}, code: 2, stderr: []string{"sesamed: error: unknown flag: --bogus\n", "sesamed: hint: run 'sesamed --help'"}},
		{name: "stray argument", args: []string{"-c", good, "eth0"}, code: 2, stderr: []string{`sesamed: error: unexpected argument "eth0"`}},
		{name: "bad log format", args: []string{"--log-format", "xml"}, code: 2, stderr: []string{`--log-format must be text or json, not "xml"`}},
		{name: "check good", args: []string{"--check", good}, code: 0,
			stdout: []string{"configuration read from " + good, "[openSSH]", "Sequence           = 7000:tcp,8000:tcp,9000:tcp", "TCPFlags           = syn", "Seq_Timeout        = 5"}, emptyError: true},
		{name: "check short flag", args: []string{"-C", good}, code: 0, stdout: []string{"[openSSH]"}},
		{name: "check bad lists every error with file:line", args: []string{"-C", bad}, code: 1,
			stderr: []string{bad + `:2: unknown directive "Sequnce" (did you mean "Sequence"?)`, bad + ":3: ", bad + ":4: "}},
		{name: "missing config", args: []string{"-c", "/nonexistent/knockd.conf"}, code: 1, stderr: []string{"sesamed: error: failed to read configuration"}},
		{name: "bad config at start", args: []string{"-c", bad}, code: 1, stderr: []string{"sesamed: error: " + bad + ":2: unknown directive"}},
	}
	otsFile := filepath.Join(t.TempDir(), "ots")
	if err := os.WriteFile(otsFile, []byte("#1000,2000\n 3000,4000\nnot a sequence\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oneTime := writeConf(t, "[ot]\n\tOne_Time_Sequences = "+otsFile+"\n\tStart_Command = true\n")
	oneTimeMissing := writeConf(t, "[ot]\n\tOne_Time_Sequences = /nonexistent/ots\n\tStart_Command = true\n")
	totpDir := t.TempDir()
	totpConf := writeConf(t, "[ssh]\n\tTOTP_Secret_File = "+filepath.Join(totpDir, "ssh.totp")+"\n\tStart_Command = true\n")
	openKey := filepath.Join(totpDir, "open.key")
	if err := os.WriteFile(openKey, []byte("passphrase = x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	openKeyConf := writeConf(t, "[vpn]\n\tCipher_Key_File = "+openKey+"\n\tStart_Command = true\n")
	tests = append(tests,
		cliCase{name: "enroll without event", args: []string{"-c", totpConf, "--enroll", "alice"}, code: 2, stderr: []string{"sesamed: error: --enroll needs --event EVENT"}},
		cliCase{name: "tportknockd refresh is accepted", args: []string{"-r", "60", "-C", good}, code: 0, stdout: []string{"[openSSH]"}},
		cliCase{name: "bad refresh", args: []string{"-r", "soon", "-C", good}, code: 2, stderr: []string{"sesamed: error: -r/--refresh takes whole seconds"}},
		cliCase{name: "enroll with cleanup", args: []string{"-c", totpConf, "--enroll", "alice", "--event", "ssh", "--cleanup"}, code: 2, stderr: []string{"sesamed: error: --enroll does one thing and exits"}},
		cliCase{name: "event without enroll", args: []string{"-c", totpConf, "--event", "ssh"}, code: 2, stderr: []string{"sesamed: error: --event, --host and --no-qr are for --enroll CLIENT"}},
		cliCase{name: "enroll a TOTP client", args: []string{"-c", totpConf, "--enroll", "alice", "--event", "ssh", "--host", "ssh.example.com"}, code: 0,
			stdout: []string{"Enrolled client alice for event [ssh]", "[ssh]\n\tHost         = ssh.example.com\n\tTOTP_Secret  = ", "otpauth://totp/ssh.example.com:alice?secret=", "█"}, emptyError: true},
		cliCase{name: "enroll twice", args: []string{"-c", totpConf, "--enroll", "alice", "--event", "ssh", "--host", "h"}, code: 1, stderr: []string{`client "alice" already exists`}},
		cliCase{name: "enroll in an unknown event", args: []string{"-c", totpConf, "--enroll", "bob", "--event", "web", "--host", "h"}, code: 1, stderr: []string{"sesamed: error: no event [web] in " + totpConf + ", expected one of: [ssh]"}},
		cliCase{name: "check refuses a key file others can read", args: []string{"-C", openKeyConf}, code: 1, stderr: []string{openKeyConf + ":1: event [vpn]: ", "permissions 0644"}},
		cliCase{name: "check opens one-time files", args: []string{"-C", oneTime}, code: 0, stdout: []string{"One_Time_Sequences = " + otsFile},
			stderr: []string{"sesamed: warning: " + otsFile + ":3: "}},
		cliCase{name: "check fails on a missing one-time file", args: []string{"-C", oneTimeMissing}, code: 1, stderr: []string{oneTimeMissing + ":1: event [ot]: failed to open one-time sequences"}},
	)
	// tportknockd's configuration is detected by content and checked in
	// its own syntax, flags normalised.
	tport := writeConf(t, "# flag knocking\n<SSH2>\n sequence      = tcp:110:x tcp:110:up udp:53 tcp:110:I\n timeout       = 10\n start_command = echo %IP%\n</SSH2>\n")
	tportBad := writeConf(t, "<SSH2>\n sequence = tcp:110:xs\n</SSH3>\n")
	tests = append(tests,
		cliCase{name: "check a tportknockd file", args: []string{"-C", tport}, code: 0, emptyError: true,
			stdout: []string{"configuration read from " + tport + " (tportknockd format)", "\n<SSH2>\n", " sequence      = tcp:110:x tcp:110:pu udp:53 tcp:110:i\n", " timeout       = 10\n", " command_delay = 10\n", "</SSH2>\n"}},
		cliCase{name: "check a bad tportknockd file", args: []string{"-C", tportBad}, code: 1,
			stderr: []string{tportBad + `:2: bad sequence: frame 1 "tcp:110:xs": flag 'x' combined with others`, tportBad + ":3: </SSH3> does not match <SSH2> (line 1), expected </SSH2>"}},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runCase(t, noEnv(t), tt, bad, oneTimeMissing, openKeyConf, tportBad)
		})
	}
}

// noEnv is a world without configuration: an empty environment, a home
// of its own and no default files, so that the host's own (a real
// /etc/knockd.conf, KNOCKER_SEQ) cannot leak into a test.
func noEnv(t *testing.T) config.Sources {
	return config.Sources{Getenv: func(string) string { return "" }, Home: t.TempDir(), Files: []string{}}
}

// runCase runs sesamed in env and checks its exit code and output; files
// are the configurations whose file:line errors may start a stderr line.
func runCase(t *testing.T, env config.Sources, tt cliCase, files ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runWith(env, tt.args, &out, &errOut)
	stdout, stderr = out.String(), errOut.String()
	if code != tt.code {
		t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.code, stderr)
	}
	for _, s := range tt.stdout {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
	for _, s := range tt.stderr {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
	if tt.emptyError && stderr != "" {
		t.Errorf("stderr not empty: %s", stderr)
	}
	// Every line on stderr is one clear line with the program's prefix
	// or a file:line position; a usage error (exit 2) is one error line
	// and one hint.
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
lines:
	for _, l := range lines {
		if l == "" || strings.HasPrefix(l, "sesamed: ") {
			continue
		}
		for _, f := range files {
			if strings.HasPrefix(l, f+":") {
				continue lines
			}
		}
		t.Errorf("stderr line without prefix or position: %q", l)
	}
	if code == 2 && (len(lines) != 2 || !strings.HasPrefix(lines[0], "sesamed: error: ") || lines[1] != "sesamed: hint: run 'sesamed --help' for usage") {
		t.Errorf("usage error is not one error line and one hint:\n%s", stderr)
	}
	return stdout, stderr
}

// The daemon refuses to start rather than half-start when an interface
// cannot be opened.
func TestNoHalfStartOnBadInterface(t *testing.T) {
	conf := writeConf(t, strings.Replace(goodConf, "logfile = /var/log/knockd.log", "", 1))
	var stdout, stderr bytes.Buffer
	code := run([]string{"-c", conf, "-i", "sesame-no-such-if0"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "sesame-no-such-if0") {
		t.Fatalf("exit %d, stderr %q; want 1 and an error naming the interface", code, stderr.String())
	}
}

// world is a host for sesamed: default files that may exist, a home and an
// environment, all injected.
type world struct {
	env   map[string]string
	files []string // default files, in order (most do not exist)
	home  string
}

func newWorld(t *testing.T, env map[string]string) *world {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	return &world{env: env, home: home, files: []string{
		filepath.Join(dir, "knockd.conf"), filepath.Join(dir, "sesame.conf"),
		filepath.Join(home, config.PortKnockerHomeFile), filepath.Join(dir, "port_knocker.toml"),
	}}
}

func (w *world) sources() config.Sources {
	return config.Sources{Getenv: func(k string) string { return w.env[k] }, Home: w.home, Files: w.files}
}

func (w *world) write(t *testing.T, i int, body string) string {
	t.Helper()
	if err := os.WriteFile(w.files[i], []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return w.files[i]
}

const (
	pkEnvSeq = "11001,11003,11005,11007,11009"
	magic    = "10001,10003,10005,10007,10009"
)

// Where the configuration comes from, told by --check's first line.
func TestCLISourcePrecedence(t *testing.T) {
	t.Parallel()
	env := map[string]string{config.EnvSequence: pkEnvSeq, config.EnvPorts: "8080"}
	fileConf := writeConf(t, goodConf)
	tests := []struct {
		name    string
		env     map[string]string
		files   map[int]string // default files that exist
		args    []string
		source  string // the whole "# source:" line, <0>... standing for default files
		stdout  []string
		noFiles bool
	}{
		{name: "--sequence/--open beat everything", env: env, files: map[int]string{0: goodConf},
			args:   []string{"--sequence", "7000,8000:udp,9000", "--open", "tcp:22,udp:1194", "--check", "-c", fileConf},
			source: "# source: command line (--sequence/--open); ignored: -c " + fileConf + ", KNOCKER_SEQ, KNOCKER_PORTS",
			stdout: []string{"configuration read from command line (--sequence/--open) (knockd.conf format)", "[command-line]",
				"Sequence           = 7000:tcp,8000:udp,9000:tcp", "Seq_Timeout        = 25", "Open               = tcp:22,udp:1194", "Open_Timeout       = 30"}},
		{name: "a bare port in --sequence is TCP", args: []string{"--check", "--sequence", "7000,8000,9000", "--open", "22"},
			source: "# source: command line (--sequence/--open)", stdout: []string{"Sequence           = 7000:tcp,8000:tcp,9000:tcp", "Open               = tcp:22"}},
		{name: "-m/--ports beat -c and the environment", env: env,
			args:   []string{"-m", magic, "--ports", "22,80", "-C", "-c", fileConf},
			source: "# source: command line (-m/--magic-seq, --ports); ignored: -c " + fileConf + ", KNOCKER_SEQ, KNOCKER_PORTS",
			stdout: []string{"(port-knocking-doors format)", "\nports_to_controls = [22, 80]\n", "\nopening_sequence = [10001, 10003, 10005, 10007, 10009]", "\nignoring_period_after_knock_error = 5\n", "\nmax_knocker_live_time = 30\n", "\nmax_opened_door_duration = 10\n"}},
		{name: "-m takes its ports from KNOCKER_PORTS", env: map[string]string{config.EnvPorts: "2222"},
			args:   []string{"--magic-seq", magic, "--check"},
			source: "# source: command line (-m/--magic-seq) and environment (KNOCKER_PORTS)",
			stdout: []string{"\nports_to_controls = [2222]\n", "\nopening_sequence = [10001, 10003, 10005, 10007, 10009]"}},
		{name: "--ports takes its sequence from KNOCKER_SEQ", env: env,
			args:   []string{"--ports", "22", "--check"},
			source: "# source: command line (--ports) and environment (KNOCKER_SEQ); ignored: KNOCKER_PORTS",
			stdout: []string{"\nports_to_controls = [22]\n", "\nopening_sequence = [11001, 11003, 11005, 11007, 11009]"}},
		{name: "-c beats the environment", env: env, files: map[int]string{0: goodConf},
			args:   []string{"-c", fileConf, "--check"},
			source: "# source: -c " + fileConf + " (knockd.conf format); ignored: KNOCKER_SEQ, KNOCKER_PORTS",
			stdout: []string{"[openSSH]"}},
		{name: "port-knocking-doors' --conf is -c", args: []string{"--conf", fileConf, "--check"},
			source: "# source: -c " + fileConf + " (knockd.conf format)", stdout: []string{"[openSSH]"}},
		{name: "the environment beats the default files", env: env, files: map[int]string{0: goodConf, 2: config.PortKnockerMinimal},
			args:   []string{"--check"},
			source: "# source: environment (KNOCKER_SEQ/KNOCKER_PORTS)",
			stdout: []string{"\nports_to_controls = [8080]\n", "\nopening_sequence = [11001, 11003, 11005, 11007, 11009]"}},
		{name: "/etc/knockd.conf is the first default", files: map[int]string{0: goodConf, 1: "[other]\nsequence=1,3\ncommand=x\n", 2: config.PortKnockerMinimal},
			args: []string{"--check"}, source: "# source: <0> (the first default file found; knockd.conf format)", stdout: []string{"[openSSH]"}},
		{name: "then /etc/sesame/sesame.conf", files: map[int]string{1: "<tport>\nsequence = tcp:1 tcp:3\nstart_command = x\n</tport>\n", 3: config.PortKnockerMinimal},
			args: []string{"-C"}, source: "# source: <1> (the first default file found; tportknockd format)", stdout: []string{"\n<tport>\n"}},
		{name: "then ~/.port_knocker.toml", files: map[int]string{2: "ports_to_controls = [22]\nopening_sequence = [1,3,5,7,9]\n", 3: config.PortKnockerMinimal},
			args: []string{"--check"}, source: "# source: <2> (the first default file found; port-knocking-doors format)", stdout: []string{"\nopening_sequence = [1, 3, 5, 7, 9]"}},
		{name: "then /etc/port_knocker.toml", files: map[int]string{3: "ports_to_controls = [443]\nopening_sequence = [1,3,5,7,9]\n"},
			args: []string{"--check"}, source: "# source: <3> (the first default file found; port-knocking-doors format)", stdout: []string{"\nports_to_controls = [443]\n"}},
		{name: "--check FILE checks that file", env: env, files: map[int]string{0: "[x]\nsequence=1,3\ncommand=y\n"},
			args: []string{"--check", fileConf}, source: "# source: " + fileConf + " (given to --check; knockd.conf format)", stdout: []string{"[openSSH]"}},
		{name: "--check=FILE", args: []string{"--check=" + fileConf}, source: "# source: " + fileConf + " (given to --check; knockd.conf format)"},
		{name: "-CFILE", args: []string{"-C" + fileConf}, source: "# source: " + fileConf + " (given to --check; knockd.conf format)"},
		{name: "-vC FILE", args: []string{"-vC", fileConf}, source: "# source: " + fileConf + " (given to --check; knockd.conf format)"},
		{name: "--capture is applied and printed", args: []string{"-m", magic, "--ports", "22", "--capture", "udp", "--check"},
			source: "# source: command line (-m/--magic-seq, --ports); Capture from --capture",
			// port-knocking-doors' TOML cannot say Capture: knockd.conf can.
			stdout: []string{"(knockd.conf format)", "Capture            = udp", "[port-knocking-doors]", "Sequence           = 10001:udp,10003:udp,10005:udp,10007:udp,10009:udp", "UDP_Payload        = knock\\n", "Lockout            = 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tt.env)
			for i, body := range tt.files {
				w.write(t, i, body)
			}
			want := tt.source
			for i, f := range w.files {
				want = strings.ReplaceAll(want, "<"+string(rune('0'+i))+">", f)
			}
			stdout, _ := runCase(t, w.sources(), cliCase{args: tt.args, code: 0, stdout: tt.stdout}, fileConf)
			if first, _, _ := strings.Cut(stdout, "\n"); first != want {
				t.Errorf("first line\n got %q\nwant %q", first, want)
			}
			// The output reads back as the configuration it shows.
			if _, err := config.Parse("printed", []byte(stdout)); err != nil {
				t.Errorf("--check output does not parse: %v\n%s", err, stdout)
			}
		})
	}
}

func TestCLISourceErrors(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, goodConf)
	tcpConf := writeConf(t, "[e]\nsequence = 7000,8000\ncommand = x\n")
	tests := []struct {
		name string
		env  map[string]string
		cliCase
	}{
		{name: "--sequence without --open", cliCase: cliCase{args: []string{"--sequence", "7000,8000"}, code: 2,
			stderr: []string{"sesamed: error: --sequence needs --open LIST, the ports the knock opens (e.g. --open tcp:22)\n"}}},
		{name: "--open without --sequence", cliCase: cliCase{args: []string{"--open", "22", "--check"}, code: 2,
			stderr: []string{"sesamed: error: --open needs --sequence LIST"}}},
		{name: "both kinds of door", cliCase: cliCase{args: []string{"--sequence", "1,2", "--open", "22", "-m", magic, "--ports", "22"}, code: 2,
			stderr: []string{"sesamed: error: --sequence/--open (knockd's door) and -m/--magic-seq/--ports (port-knocking-doors' door) both given, expected one pair"}}},
		{name: "-m without ports", env: map[string]string{config.EnvSequence: pkEnvSeq}, cliCase: cliCase{args: []string{"-m", magic}, code: 2,
			stderr: []string{"sesamed: error: -m/--magic-seq needs the ports it opens: give --ports LIST (e.g. --ports 22) or set KNOCKER_PORTS"}}},
		{name: "--ports without a sequence", cliCase: cliCase{args: []string{"--ports", "22", "--check"}, code: 2,
			stderr: []string{"sesamed: error: --ports needs the knock that opens the ports"}}},
		{name: "bad -m", cliCase: cliCase{args: []string{"-m", "1,2,3", "--ports", "22"}, code: 2,
			stderr: []string{`sesamed: error: -m/--magic-seq: magic sequence "1,2,3" has 3 ports, expected 5 to 20 UDP ports`}}},
		{name: "bad --sequence", cliCase: cliCase{args: []string{"--sequence", "7000,x", "--open", "22"}, code: 2,
			stderr: []string{`sesamed: error: bad --sequence "7000,x": element 2 "x": port "x" is not a number, expected 1-65535`}}},
		{name: "empty --sequence", cliCase: cliCase{args: []string{"--sequence=", "--open", "22"}, code: 2,
			stderr: []string{"sesamed: error: --sequence needs a value, not an empty one"}}},
		{name: "--check= without a file", cliCase: cliCase{args: []string{"--check="}, code: 2,
			stderr: []string{"sesamed: error: --check= names no file: give --check FILE, or --check alone to check what sesamed would run"}}},
		{name: "bad KNOCKER_SEQ is a bad configuration", env: map[string]string{config.EnvSequence: "1,2", config.EnvPorts: "22"}, cliCase: cliCase{args: []string{"--check"}, code: 1,
			stderr: []string{`sesamed: error: KNOCKER_SEQ: magic sequence "1,2" has 2 ports, expected 5 to 20 UDP ports`}}},
		{name: "half an environment is no source", env: map[string]string{config.EnvPorts: "22"}, cliCase: cliCase{args: []string{}, code: 1,
			stderr: []string{"sesamed: error: no configuration: ", "; ignored: KNOCKER_PORTS (set without KNOCKER_SEQ)"}}},
		{name: "no configuration anywhere", cliCase: cliCase{args: []string{"--check"}, code: 1,
			stderr: []string{"sesamed: error: no configuration: none of ", "exists, expected -c FILE, --sequence LIST --open LIST, -m LIST --ports LIST, or KNOCKER_SEQ and KNOCKER_PORTS"}}},
		{name: "--check FILE with door flags", cliCase: cliCase{args: []string{"-C", conf, "--sequence", "1,2", "--open", "22"}, code: 2,
			stderr: []string{"sesamed: error: --check FILE checks that file, so -c, --sequence/--open and -m/--ports have nothing to do; to check what those say, give --check without FILE"}}},
		{name: "--check FILE with -c", cliCase: cliCase{args: []string{"--check", conf, "-c", conf}, code: 2, stderr: []string{"--check FILE checks that file"}}},
		{name: "two files after --check", cliCase: cliCase{args: []string{"--check", conf, conf}, code: 2, stderr: []string{`sesamed: error: unexpected argument "` + conf + `"`}}},
		{name: "-c and --conf disagree", cliCase: cliCase{args: []string{"-c", conf, "--conf", tcpConf}, code: 2, stderr: []string{"-c/--config and --conf (port-knocking-doors' spelling) name different files"}}},
		{name: "bad --capture", cliCase: cliCase{args: []string{"--capture", "pcap", "-c", conf}, code: 2,
			stderr: []string{`sesamed: error: bad --capture: item 1 "pcap": expected pcap:FILE`}}},
		{name: "--capture udp cannot see TCP knocks", cliCase: cliCase{args: []string{"--capture", "udp", "-c", tcpConf, "--check"}, code: 2,
			stderr: []string{"sesamed: error: --capture udp: event [e] knocks 7000:tcp, but Capture = udp sees only UDP datagrams"}}},
		{name: "-c takes -CFILE as its value", cliCase: cliCase{args: []string{"--check", "-c", "-C" + conf}, code: 1,
			stderr: []string{"sesamed: error: failed to read configuration: open -C" + conf}}},
		{name: "two actions", cliCase: cliCase{args: []string{"--check", "--show-configuration-file-help"}, code: 2,
			stderr: []string{"sesamed: error: --check and --show-configuration-file-help each do one thing and exit, expected one of them"}}},
		{name: "-p is the pid file, not --ports", cliCase: cliCase{args: []string{"-m", magic, "-p", "22"}, code: 2,
			stderr: []string{"-m/--magic-seq needs the ports it opens"}}},
		{name: "a bad port-knocking-doors file", cliCase: cliCase{args: []string{"-C", writeConf(t, "ports_to_controls = [22]\nopening_sequence = [1,2,3,4,5]\nmax_knocker_live_time = 0\n")}, code: 1,
			stderr: []string{":3: max_knocker_live_time is 0, expected at least 1 second"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tt.env)
			_, stderr := runCase(t, w.sources(), tt.cliCase, tt.cliCase.args...)
			if tt.code == 1 && strings.Contains(stderr, "hint:") {
				t.Errorf("a bad configuration is not a usage error, no hint expected:\n%s", stderr)
			}
		})
	}
}

func TestCLIPortKnockerFiles(t *testing.T) {
	t.Parallel()
	help := cliCase{args: []string{"--show-configuration-file-help"}, code: 0, emptyError: true,
		stdout: []string{"ports_to_controls = [22]", "opening_sequence = [16001,16002,16003,16004,16005]", "max_knocker_live_time = 30", "Not needed by sesame"}}
	runCase(t, noEnv(t), help)

	// --set-configuration-file-in-home writes ~/.port_knocker.toml, which
	// sesamed then reads by default, and never overwrites it.
	w := newWorld(t, nil)
	path := filepath.Join(w.home, config.PortKnockerHomeFile)
	stdout, _ := runCase(t, w.sources(), cliCase{args: []string{"--set-configuration-file-in-home"}, code: 0, emptyError: true})
	if first, _, _ := strings.Cut(stdout, "\n"); first != path {
		t.Errorf("first line %q, want the path %s", first, path)
	}
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(written) != config.PortKnockerMinimal {
		t.Errorf("wrote:\n%s", written)
	}
	c, err := config.ParsePortKnocker(path, written)
	if err != nil {
		t.Fatalf("the TOML parser refuses the file it wrote: %v", err)
	}
	if len(c.Events) != 1 || config.FormatPorts(c.Events[0].Open) != "tcp:22" {
		t.Errorf("the written file means %+v", c.Events)
	}
	runCase(t, w.sources(), cliCase{args: []string{"--check"}, code: 0,
		stdout: []string{"# source: " + path + " (the first default file found; port-knocking-doors format)\n", "\nports_to_controls = [22]\n"},
		stderr: []string{"sesamed: warning: " + path + ":5: opening_sequence [16001, 16002, 16003, 16004, 16005] is the example of port-knocking-doors' help"}})
	if err := os.WriteFile(path, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runCase(t, w.sources(), cliCase{args: []string{"--set-configuration-file-in-home"}, code: 1,
		stderr: []string{"sesamed: error: " + path + " already exists, not overwritten: edit it, or remove it and run --set-configuration-file-in-home again\n"}})
	if b, _ := os.ReadFile(path); string(b) != "# mine\n" {
		t.Errorf("existing file overwritten: %q", b)
	}
}

// --check of a port-knocking-doors file, as a whole: the source, the file
// in its own syntax, and warnings in its own words.
func TestCLICheckPortKnockerExact(t *testing.T) {
	t.Parallel()
	p := writeConf(t, "ports_to_controls = [22,80]\nopening_sequence = [4001,4003,4002,4005,4004] # mine\ndoors_cleanup_periode = 5\nignoring_period_after_knock_error = 0\n")
	stdout, stderr := runCase(t, noEnv(t), cliCase{args: []string{"-C", p}, code: 0})
	want := "# source: " + p + " (given to --check; port-knocking-doors format)\n" +
		"# sesame: configuration read from " + p + " (port-knocking-doors format), normalised\n" +
		"ports_to_controls = [22, 80]\n" +
		"opening_sequence = [4001, 4003, 4002, 4005, 4004]  # UDP knocks carrying \"knock\\n\"\n" +
		"ignoring_period_after_knock_error = 0  # no lockout\n" +
		"max_knocker_live_time = 30\n" +
		"max_opened_door_duration = 10\n" +
		"# firewall_rules_check_periode_seconds: not needed by sesame\n" +
		"# doors_cleanup_periode: not needed by sesame\n" +
		"# doors: sesame's default firewall (nftables where the kernel has it, else iptables)\n"
	if stdout != want {
		t.Errorf("stdout\n%s\nwant\n%s", stdout, want)
	}
	wantErr := "sesamed: warning: " + p + ":3: doors_cleanup_periode is not needed by sesame: every door closes when its own max_opened_door_duration ends (a kernel timeout with nftables), so no clean-up runs; the value is checked and ignored\n"
	if stderr != wantErr {
		t.Errorf("stderr\n%s\nwant\n%s", stderr, wantErr)
	}
}

// The example configurations of the seed documents check cleanly, each in
// its own syntax.
func TestCLICheckSeedExamples(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ file, format string }{
		{"tportknockd-doc.conf", "tportknockd format"},
		{"port_knocker-doc.toml", "port-knocking-doors format"},
		{"magazine.conf", "knockd.conf format"},
	} {
		path := filepath.Join("..", "..", "internal", "config", "testdata", tt.file)
		stdout, _ := runCase(t, noEnv(t), cliCase{args: []string{"--check", path}, code: 0,
			stdout: []string{"# source: " + path + " (given to --check; " + strings.TrimSuffix(tt.format, " format") + " format)\n", "(" + tt.format + "), normalised"}})
		if _, err := config.Parse("printed", []byte(stdout)); err != nil {
			t.Errorf("%s: --check output does not parse: %v", tt.file, err)
		}
	}
}

func TestCLIHelpSaysPortsIsNotP(t *testing.T) {
	t.Parallel()
	stdout, _ := runCase(t, noEnv(t), cliCase{args: []string{"--help"}, code: 0, emptyError: true, stdout: []string{
		"-m, --magic-seq LIST", "--ports LIST", "not -p, which is --pidfile", "-p is the pid file (port-knocking-doors' -p is\n--ports here)",
		"--sequence LIST", "--open LIST", "--capture LIST", "--set-configuration-file-in-home", "--show-configuration-file-help",
		"KNOCKER_SEQ and KNOCKER_PORTS", "~/.port_knocker.toml, /etc/port_knocker.toml", "sesamed --sequence 7000,8000,9000 --open tcp:22",
	}})
	for i, l := range strings.Split(stdout, "\n") {
		if len(l) > 80 {
			t.Errorf("help line %d longer than 80 columns: %q", i+1, l)
		}
	}
}
