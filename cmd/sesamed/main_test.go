package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{name: "help", args: []string{"--help"}, code: 0, stdout: []string{"Usage: sesamed [options]", "-C, --check FILE", "Examples:"}, emptyError: true},
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
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.code, stderr.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if tt.emptyError && stderr.Len() != 0 {
				t.Errorf("stderr not empty: %s", stderr.String())
			}
			// Every line on stderr is one clear line with the program's prefix
			// or a file:line position.
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if l != "" && !strings.HasPrefix(l, "sesamed: ") && !strings.HasPrefix(l, bad+":") && !strings.HasPrefix(l, oneTimeMissing+":") && !strings.HasPrefix(l, openKeyConf+":") && !strings.HasPrefix(l, tportBad+":") {
					t.Errorf("stderr line without prefix or position: %q", l)
				}
			}
		})
	}
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
