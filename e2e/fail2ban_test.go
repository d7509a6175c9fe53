//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sesame-knock/sesame/internal/netlab"
)

// fail2banFilter is the filter sesame ships, from the module root.
const fail2banFilter = "packaging/fail2ban/filter.d/sesamed.conf"

// TestFail2ban: what fail2ban makes of a real sesamed's log. sesamed runs in
// a lab with a log file, in each of its formats; knockers fail in every way
// a knocker can (a wrong port mid-sequence, a sequence abandoned after two
// knocks), one opens the door, and some send a lone first knock. Then
// fail2ban-regex, with the shipped filter, must find exactly the failures,
// each with its knocker's address, and nothing else: not the door opening,
// not the progress lines, not the lone knocks' VERBOSE timeouts.
func TestFail2ban(t *testing.T) {
	t.Parallel()
	regex := fail2banRegex(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			lab := netlab.New(t, netlab.Config{ExtraClientAddrs: 4})
			door := lab.Server.Protect(t, doorPort)
			ev := doorEvent(door, "7000,8000,9000")
			ev.SeqTimeout = 2
			dir := t.TempDir()
			conf := filepath.Join(dir, "knockd.conf")
			text := "[options]\n\tInterface = " + lab.Server.IfName + "\n\n" + ev.String()
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			logFile := logPath(t, dir, "sesamed-logfile")
			// -v: the VERBOSE lines the filter must pass over are in the file.
			p := lab.Server.Start(t, logPath(t, dir, "sesamed"), bin(t, "sesamed"),
				"-c", conf, "-i", lab.Server.IfName, "-v", "-g", logFile, "--log-format", format)
			ready := "msg=ready"
			if format == "json" {
				ready = `"msg":"ready"`
			}
			if _, err := p.WaitLog(ready, 10*time.Second); err != nil {
				t.Fatalf("sesamed did not get ready: %v", err)
			}

			c := lab.Client(0)
			v4, v6 := lab.Server.V4, lab.Server.V6
			knocks := []struct {
				srcs []netip.Addr
				dst  netip.Addr
				seq  string
			}{
				// Opens: not a failure.
				{[]netip.Addr{c.V4}, v4, "7000,8000,9000"},
				{[]netip.Addr{c.V6}, v6, "7000,8000,9000"},
				// A probe of another port mid-sequence (the scan guard).
				{[]netip.Addr{c.Extra4[0]}, v4, "7000,8000,7777"},
				// The right port, the wrong protocol, after two knocks.
				{[]netip.Addr{c.Extra6[0]}, v6, "7000,8000,9000:udp"},
				// Wrong after the first knock only: no more than a lone
				// first knock (a scan crossing the port), at VERBOSE.
				{[]netip.Addr{c.Extra4[3]}, v4, "7000,9000"},
				// Abandoned after two knocks: "timeout" at INFO.
				{[]netip.Addr{c.Extra4[1]}, v4, "7000,8000"},
				{[]netip.Addr{c.Extra6[1]}, v6, "7000,8000"},
				// A lone first knock: "timeout" at VERBOSE, no attack.
				{[]netip.Addr{c.Extra4[2]}, v4, "7000"},
				{[]netip.Addr{c.Extra6[2]}, v6, "7000"},
			}
			for _, k := range knocks {
				if err := c.KnockFrom(k.srcs, k.dst, mustKnocks(t, k.seq), 20*time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			failed := []netip.Addr{c.Extra4[0], c.Extra6[0], c.Extra4[1], c.Extra6[1]}
			slices.SortFunc(failed, netip.Addr.Compare)

			// Wait for the log to tell every outcome: 2 opens, 3 wrong
			// ports (2 at INFO, 1 at VERBOSE), 4 timeouts (2 at INFO, 2
			// at VERBOSE).
			want := map[string]int{"INFO OPEN SESAME": 2, "INFO failed: wrong port": 2, "VERBOSE failed: wrong port": 1, "INFO timeout": 2, "VERBOSE timeout": 2}
			var lines []logLine
			err := p.WaitLogFunc(func(string) bool {
				lines = readLogLines(t, logFile, format)
				got := map[string]int{}
				for _, l := range lines {
					got[l.level+" "+l.msg]++
				}
				for k, n := range want {
					if got[k] < n {
						return false
					}
				}
				return true
			}, 15*time.Second)
			if err != nil {
				t.Fatalf("the log file does not tell every knock's outcome (%v):\n%s", err, readFile(t, logFile))
			}
			// Stop the daemon, so the file fail2ban reads is the one
			// checked here (stop commands still log as doors close).
			if err := p.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := p.Wait(10 * time.Second); err != nil {
				t.Fatalf("sesamed did not stop cleanly: %v", err)
			}
			lines = readLogLines(t, logFile, format)
			// The lines the filter must pass over are there to pass over.
			for _, l := range []struct{ level, msg string }{{"INFO", "OPEN SESAME"}, {"VERBOSE", "timeout"}, {"VERBOSE", "stage 1/3"}, {"VERBOSE", "stage 2/3"}} {
				if !slices.ContainsFunc(lines, func(x logLine) bool { return x.level == l.level && x.msg == l.msg }) {
					t.Errorf("no %s %q line in the log file: the test proves nothing about it", l.level, l.msg)
				}
			}

			matched, total := runFail2banRegex(t, regex, logFile)
			if total != len(lines) {
				t.Errorf("fail2ban-regex read %d lines, the log file has %d", total, len(lines))
			}
			if diff := cmp.Diff(addrStrings(failed), addrStrings(matched)); diff != "" {
				t.Errorf("addresses fail2ban found (-want +got):\n%s\nlog file:\n%s", diff, readFile(t, logFile))
			}
		})
	}
}

// TestFail2banFilterLines runs the filter over lines written by hand: the
// syslog forms the lab does not produce, every failure message, and lines
// crafted to fool it.
func TestFail2banFilterLines(t *testing.T) {
	t.Parallel()
	regex := fail2banRegex(t)
	const ts, tsj = "2026-11-21T12:16:50.713Z", "2026-11-21T13:16:50.713294558+01:00"
	tests := []struct {
		line string
		want string // the address fail2ban must find; "" for none
	}{
		{`time=` + ts + ` level=INFO msg="failed: wrong port" src=192.0.2.1 event=ssh stage=2/3 hit=tcp:7777`, "192.0.2.1"},
		{`time=` + ts + ` level=INFO msg="failed: wrong port" src=192.0.2.2 event=ssh stage=1/3 hit=udp:9000 lockout=1m0s`, "192.0.2.2"},
		{`time=` + ts + ` level=INFO msg="failed: wrong port or payload" src=2001:db8::3 event=ssh stage=1/3 hit=udp:7000`, "2001:db8::3"},
		{`time=` + ts + ` level=INFO msg=timeout src=192.0.2.4 event=ssh stage=2/3 host=knocker.example`, "192.0.2.4"},
		{`time=` + ts + ` level=INFO msg="failed: replayed knock" src=192.0.2.5 event=totp stage=3/3 client=alice step=59000000`, "192.0.2.5"},
		{`time=` + ts + ` level=INFO msg="failed: stale cipher knock" src=192.0.2.6 event=c stage=16/16 sent=2026-11-21T12:00:00.000Z`, "192.0.2.6"},
		{`time=` + ts + ` level=INFO msg="failed: forged or damaged cipher knock" src=2001:db8::7 event=c stage=16/16`, "2001:db8::7"},
		{`{"time":"` + tsj + `","level":"INFO","msg":"failed: wrong port","src":"2001:db8::8","event":"ssh","stage":"2/3","hit":"tcp:7777"}`, "2001:db8::8"},
		{`{"time":"2026-11-21T12:16:50Z","level":"INFO","msg":"timeout","src":"192.0.2.9","event":"ssh","stage":"2/3"}`, "192.0.2.9"},
		// Syslog: a traditional date, and rsyslog's RFC 3339 one.
		{`Nov 21 12:16:50 gate sesamed[812]: time=` + ts + ` level=INFO msg=timeout src=192.0.2.10 event=ssh stage=2/3`, "192.0.2.10"},
		{`2026-11-21T12:16:50.713555+00:00 gate sesamed[812]: time=` + ts + ` level=INFO msg="failed: wrong port" src=2001:db8::11 event=ssh stage=2/3 hit=tcp:1`, "2001:db8::11"},
		{`gate sesamed: time=` + ts + ` level=INFO msg=timeout src=192.0.2.12 event=ssh stage=2/3`, "192.0.2.12"},

		// Not failures.
		{`time=` + ts + ` level=INFO msg="OPEN SESAME" src=192.0.2.20 event=ssh stage=3/3`, ""},
		{`{"time":"` + tsj + `","level":"INFO","msg":"OPEN SESAME","src":"192.0.2.21","event":"ssh","stage":"3/3"}`, ""},
		{`time=` + ts + ` level=VERBOSE msg="stage 1/3" src=192.0.2.22 event=ssh stage=1/3`, ""},
		{`time=` + ts + ` level=VERBOSE msg=timeout src=192.0.2.23 event=ssh stage=1/3`, ""},
		{`{"time":"` + tsj + `","level":"VERBOSE","msg":"timeout","src":"192.0.2.24","event":"ssh","stage":"1/3"}`, ""},
		{`time=` + ts + ` level=VERBOSE msg="failed: wrong port" src=192.0.2.25 event=totp stage=1/3 hit=tcp:40001`, ""},
		{`time=` + ts + ` level=VERBOSE msg="failed: TOTP step outside the window" src=192.0.2.26 event=totp stage=3/3`, ""},
		{`time=` + ts + ` level=VERBOSE msg="failed: cipher knock for another event" src=192.0.2.27 event=c stage=16/16`, ""},
		{`time=` + ts + ` level=DEBUG msg="evicted: attempt table full" src=192.0.2.28 event=ssh stage=1/3`, ""},
		{`time=` + ts + ` level=ERROR msg="refused a knock: the replay cache cannot record it" src=192.0.2.29 event=c err="disk full"`, ""},
		{`time=` + ts + ` level=ERROR msg="door not opened: firewall queue full" event=ssh src=192.0.2.30 stage=open`, ""},
		{`time=` + ts + ` level=INFO msg="capture stats" capture=eth0 packets=1 drops=0 undecodable=0`, ""},
		// Crafted: a failure line's text inside a value must not count, nor
		// a line from another program.
		{`time=` + ts + ` level=INFO msg="OPEN SESAME" src=192.0.2.31 event=ssh stage=3/3 host="x level=INFO msg=timeout src=198.51.100.1"`, ""},
		{`{"time":"` + tsj + `","level":"INFO","msg":"OPEN SESAME","src":"192.0.2.32","host":"\",\"level\":\"INFO\",\"msg\":\"timeout\",\"src\":\"198.51.100.2\""}`, ""},
		{`Nov 21 12:16:50 gate other[1]: time=` + ts + ` level=INFO msg=timeout src=198.51.100.3 event=ssh stage=2/3`, ""},
		{`time=` + ts + ` level=INFO msg="failed: wrong port" src=somehost.example event=ssh stage=2/3`, ""},
	}
	var log strings.Builder
	var want []netip.Addr
	for _, tc := range tests {
		log.WriteString(tc.line + "\n")
		if tc.want != "" {
			want = append(want, netip.MustParseAddr(tc.want))
		}
	}
	path := filepath.Join(t.TempDir(), "sesamed.log")
	if err := os.WriteFile(path, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, total := runFail2banRegex(t, regex, path)
	slices.SortFunc(want, netip.Addr.Compare)
	if diff := cmp.Diff(addrStrings(want), addrStrings(got)); diff != "" {
		t.Errorf("addresses fail2ban found (-want +got):\n%s", diff)
	}
	if total != len(tests) {
		t.Errorf("fail2ban-regex read %d lines, want %d", total, len(tests))
	}
}

// fail2banRegex finds fail2ban-regex, or skips the test (fails it under
// CI=true).
func fail2banRegex(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		skipOrFail(t, "fail2ban-regex is not installed (apt-get install fail2ban): %v", err)
	}
	return p
}

var f2bSummary = regexp.MustCompile(`(?m)^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`)

// runFail2banRegex runs the shipped filter over logFile and returns the
// addresses of the failures it found, sorted, and the lines it read. It
// checks that the summary's count of matched lines agrees.
func runFail2banRegex(t *testing.T, regex, logFile string) ([]netip.Addr, int) {
	t.Helper()
	filter, err := filepath.Abs(filepath.Join("..", fail2banFilter))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, regex, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("fail2ban-regex %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return string(out)
	}
	var addrs []netip.Addr
	for _, f := range strings.Fields(run("-o", "ip", logFile, filter)) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			t.Fatalf("fail2ban-regex -o ip printed %q, not an address", f)
		}
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)

	summary := run("--print-no-missed", logFile, filter)
	m := f2bSummary.FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no summary line in fail2ban-regex's output:\n%s", summary)
	}
	total, _ := strconv.Atoi(m[1])
	matched, _ := strconv.Atoi(m[3])
	if matched != len(addrs) {
		t.Errorf("fail2ban-regex matched %d lines but printed %d addresses:\n%s", matched, len(addrs), summary)
	}
	if !strings.Contains(summary, "Date template hits:") || strings.Contains(summary, "[0] Year-Month-Day") {
		t.Errorf("the filter's datepattern found no dates:\n%s", summary)
	}
	return addrs, total
}

// logLine is what the test needs of one of sesamed's log lines.
type logLine struct{ level, msg, src string }

var textLine = regexp.MustCompile(`^time=\S+ level=(\S+) msg=("(?:[^"\\]|\\.)*"|\S+)(?: src=(\S+))?`)

// readLogLines parses sesamed's log file, in either format.
func readLogLines(t *testing.T, path, format string) []logLine {
	t.Helper()
	var out []logLine
	lines := strings.Split(readFile(t, path), "\n")
	for _, s := range lines[:len(lines)-1] { // the last is unfinished, or empty
		if s == "" {
			continue
		}
		var l logLine
		switch format {
		case "json":
			var v struct{ Level, Msg, Src string }
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				t.Fatalf("log line is not JSON: %v\n%s", err, s)
			}
			l = logLine{v.Level, v.Msg, v.Src}
		default:
			m := textLine.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("log line is not slog's text: %q", s)
			}
			msg := m[2]
			if u, err := strconv.Unquote(msg); err == nil {
				msg = u
			}
			l = logLine{m[1], msg, m[3]}
		}
		out = append(out, l)
	}
	return out
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(fmt.Errorf("reading the log file: %w", err))
	}
	return string(b)
}
