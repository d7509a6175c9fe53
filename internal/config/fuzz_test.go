package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseKnockd: the parser never panics, and whatever it accepts
// survives Print and a second parse unchanged.
func FuzzParseKnockd(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.conf")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"[e]\nsequence=1:udp,2\ntcpflags=syn,!ack\ncommand_6=\n",
		"[Options]\nsequence=1\n[ x ]\nsequence=2 # c\nseq_timeout=3 # s\n",
		"[e]\nsequence=1\ntarget=2001:db8::1\nstop_command=a\nstop_command_6=\n",
		"[options]\nUseSyslog\nInterface=a,b\nScanGuard=no\nMaxAttempts=7\n",
	} {
		f.Add([]byte(s))
	}
	for _, s := range fuzzRegressions {
		f.Add([]byte(s.in))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkRoundTrip(t, src)
	})
}

// fuzzRegressions are inputs the fuzzers once found; they run as plain
// test cases too.
var fuzzRegressions = []struct{ name, in string }{
	// Print refused names with blanks at their ends, which are legal
	// between the brackets (knockd keeps them too).
	{"event name with blanks inside brackets", "[ x ]\nsequence=1\n"},
}

func TestFuzzRegressions(t *testing.T) {
	t.Parallel()
	for _, tt := range fuzzRegressions {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkRoundTrip(t, []byte(tt.in))
		})
	}
}

func checkRoundTrip(t *testing.T, src []byte) {
	c, err := ParseKnockd("fuzz.conf", src)
	if err != nil {
		if _, ok := err.(Errors); !ok {
			t.Fatalf("error is %T, want Errors", err)
		}
		return
	}
	_ = c.Warnings()
	var out bytes.Buffer
	if err := Print(&out, c); err != nil {
		t.Fatalf("Print of a parsed config: %v\ninput: %q", err, src)
	}
	back, err := ParseKnockd("printed", out.Bytes())
	if err != nil {
		t.Fatalf("printed form does not parse: %v\ninput: %q\nprinted:\n%s", err, src, out.String())
	}
	if !sameMeaning(c, back) {
		t.Fatalf("round trip changed the config (-want +got):\n%s\ninput: %q", diff(dump(strip(c)), dump(strip(back))), src)
	}
}

// FuzzParseSequence: never panics; what parses formats back to itself.
func FuzzParseSequence(f *testing.F) {
	for _, s := range []string{"7000,8000,9000", "1:udp, 2:TCP ,3", "1,2 # c", "", ",", "1:", "0", "65536", "1:tcp:x", "-1", " 1 : udp "} {
		f.Add(s)
	}
	for _, s := range sequenceRegressions {
		f.Add(s.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkSequence(t, s)
	})
}

var sequenceRegressions = []struct{ name, in string }{}

func checkSequence(t *testing.T, s string) {
	seq, err := ParseSequence(s)
	if err != nil {
		return
	}
	if len(seq) == 0 || len(seq) > MaxSequence {
		t.Fatalf("ParseSequence(%q) = %d elements", s, len(seq))
	}
	text := FormatSequence(seq)
	back, err := ParseSequence(text)
	if err != nil || !EqualSequence(seq, back) {
		t.Fatalf("ParseSequence(%q) -> %q -> %v, %v", s, text, back, err)
	}
	for _, e := range seq {
		if e.Port == 0 {
			t.Fatalf("ParseSequence(%q) accepted port 0", s)
		}
	}
}
