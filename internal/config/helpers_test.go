package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// dump renders a Config one field per line, so that a line diff of two
// dumps shows exactly which fields differ.
func dump(c *Config) string {
	if c == nil {
		return "<nil>\n"
	}
	var b strings.Builder
	o := c.Options
	fmt.Fprintf(&b, "Source: %q\n", c.Source)
	fmt.Fprintf(&b, "UseSyslog: %v\nLogFile: %q\nPidFile: %q\nInterfaces: %q\nScanGuard: %v\nMaxAttempts: %d\n",
		o.UseSyslog, o.LogFile, o.PidFile, o.Interfaces, o.ScanGuard, o.MaxAttempts)
	if o.StateDir != "" || len(o.Capture) > 0 {
		fmt.Fprintf(&b, "StateDir: %q\nCapture: %q\n", o.StateDir, FormatCapture(o.Capture))
	}
	for i, ev := range c.Events {
		p := fmt.Sprintf("Events[%d].", i)
		fmt.Fprintf(&b, "%sName: %q\n%sPos: %v\n", p, ev.Name, p, ev.Pos)
		fmt.Fprintf(&b, "%sSequence: %s\n%sOneTimeFile: %q\n", p, FormatSequence(ev.Sequence), p, ev.OneTimeFile)
		for j, e := range ev.Sequence {
			if e.Flags != (FrameFlags{}) {
				fmt.Fprintf(&b, "%sSequence[%d].Flags: %+v\n", p, j, e.Flags)
			}
		}
		fmt.Fprintf(&b, "%sSeqTimeout: %v\n%sFlags: %q\n", p, ev.SeqTimeout, p, ev.Flags.String())
		fmt.Fprintf(&b, "%sStartCommand: %q\n%sStartCommand6: %q\n", p, ev.StartCommand, p, ev.StartCommand6)
		fmt.Fprintf(&b, "%sStopCommand: %q\n%sStopCommand6: %q\n", p, ev.StopCommand, p, ev.StopCommand6)
		fmt.Fprintf(&b, "%sCmdTimeout: %v\n%sTarget: %v\n", p, ev.CmdTimeout, p, ev.Target)
		// sesame's additions, written only when set so that the wants of
		// older tests need not spell them out.
		if ev.Payload != "" || ev.Lockout != 0 {
			fmt.Fprintf(&b, "%sPayload: %q\n%sLockout: %v\n", p, ev.Payload, p, ev.Lockout)
		}
		if len(ev.Open) > 0 || ev.OpenTimeout != 0 || ev.Firewall != "" || ev.NftTable != "" || ev.FirewalldZone != "" {
			fmt.Fprintf(&b, "%sOpen: %s\n%sOpenTimeout: %v\n%sFirewall: %q\n%sNftTable: %q\n%sFirewalldZone: %q\n",
				p, FormatPorts(ev.Open), p, ev.OpenTimeout, p, ev.Firewall, p, ev.NftTable, p, ev.FirewalldZone)
		}
	}
	return b.String()
}

// diff is a line diff of want and got, lines prefixed "-" (only in want)
// and "+" (only in got); "" when equal.
func diff(want, got string) string {
	if want == got {
		return ""
	}
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	// lcs[i][j] = length of the LCS of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out.WriteString("  " + a[i] + "\n")
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + b[j] + "\n")
			j++
		default:
			out.WriteString("- " + a[i] + "\n")
			i++
		}
	}
	return out.String()
}

// sameMeaning reports whether two configs mean the same, ignoring where
// they came from (Source, Pos) and parser notes.
func sameMeaning(a, b *Config) bool {
	return dump(strip(a)) == dump(strip(b))
}

func strip(c *Config) *Config {
	if c == nil {
		return nil
	}
	s := *c
	s.Source = ""
	s.notes = nil
	s.Events = append([]Event(nil), c.Events...)
	for i := range s.Events {
		s.Events[i].Pos = Pos{}
	}
	return &s
}

func checkDiff(t *testing.T, what, want, got string) {
	t.Helper()
	if d := diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// Shorthands for building expected configs.

func tcp(p uint16) Element { return Element{Proto: packet.TCP, Port: p} }
func udp(p uint16) Element { return Element{Proto: packet.UDP, Port: p} }

func defaultOptions() Options {
	return Options{ScanGuard: true, MaxAttempts: DefaultMaxAttempts}
}

// event is an event with knockd's defaults and the given sequence.
func event(name string, seq ...Element) Event {
	return Event{Name: name, Sequence: seq, SeqTimeout: DefaultSeqTimeout, CmdTimeout: DefaultCmdTimeout}
}

func secs2d(n int) time.Duration { return time.Duration(n) * time.Second }

// wantErrors checks that err is an Errors of exactly len(want) entries, and
// that each want ("LINE: message start") appears as FILE:LINE: …; a want
// that starts with ':' is an error of the whole file, without a line. It
// returns the entries for the caller's own checks.
func wantErrors(t *testing.T, err error, file string, want []string) Errors {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want Errors", err)
	}
	if len(errs) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for _, w := range want {
		at := file + ":" + w
		if strings.HasPrefix(w, ":") {
			at = file + w
		}
		if !strings.Contains(err.Error(), at) {
			t.Errorf("errors lack %s:\n%v", at, err)
		}
	}
	return errs
}
