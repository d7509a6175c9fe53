package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseTportknockd: the parser never panics, and whatever it accepts
// survives PrintTportknockd and a second parse unchanged; a printed file
// with events is detected as tportknockd (one without events means the
// same in either format).
func FuzzParseTportknockd(f *testing.F) {
	files, _ := filepath.Glob("testdata/tportknockd*.conf")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"<a>\nsequence = tcp:1:x udp:2,tcp:3:I\ntimeout = 3 # s\n</a>\n",
		"<a> # c\nSEQUENCE=TCP:1:SA\nstart_command = x # y\nstop_command=\ncommand_delay=0\n</a>\n<b>\nsequence=tcp:1\n</b>\n",
		"<a>\nsequence = tcp:1\n<b>\n</a>\n</b>\n",
		"<a b>\nsequence=tcp:1\n</a b>\n",
		"</a>\n<>\n</>\n",
		" ", // found by the fuzzer: no events, so the printed form has no tag
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkTportRoundTrip(t, src)
	})
}

func checkTportRoundTrip(t *testing.T, src []byte) {
	c, err := ParseTportknockd("fuzz.conf", src)
	if err != nil {
		if _, ok := err.(Errors); !ok {
			t.Fatalf("error is %T, want Errors", err)
		}
		return
	}
	_ = c.Warnings()
	var out bytes.Buffer
	if err := PrintTportknockd(&out, c); err != nil {
		t.Fatalf("PrintTportknockd of a parsed config: %v\ninput: %q", err, src)
	}
	if len(c.Events) > 0 && DetectFormat(out.Bytes()) != FormatTportknockd {
		t.Fatalf("printed form is not detected as tportknockd\ninput: %q\nprinted:\n%s", src, out.String())
	}
	back, err := ParseTportknockd("printed", out.Bytes())
	if err != nil {
		t.Fatalf("printed form does not parse: %v\ninput: %q\nprinted:\n%s", err, src, out.String())
	}
	if !sameMeaning(c, back) {
		t.Fatalf("round trip changed the config (-want +got):\n%s\ninput: %q\nprinted:\n%s", diff(dump(strip(c)), dump(strip(back))), src, out.String())
	}
}
