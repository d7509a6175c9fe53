package control

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseRequest feeds the request parser arbitrary lines. It must not
// panic; what it accepts is a known request, sent as that request's line;
// what it refuses gets a one-line, valid UTF-8 message that does not echo
// more than a short printable request.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		"status\n", "status\r\n", "status", "\n", "", "STATUS\n", "status \n",
		" status\n", "status\n\n", "reload\n", "\x00\n", "\xff\xfe\n",
		"\"quoted\"\n", strings.Repeat("a", 40) + "\n", "status\r\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := parseRequest(line)
		if err != nil {
			msg := err.Error()
			if req != "" {
				t.Errorf("parseRequest(%q) = %q and an error", line, req)
			}
			if strings.ContainsAny(msg, "\n\r") || !utf8.ValidString(msg) || len(msg) > 100 {
				t.Errorf("parseRequest(%q): message %q is not one short line", line, msg)
			}
			return
		}
		if req != reqStatus {
			t.Errorf("parseRequest(%q) = %q, not a known request", line, req)
		}
		if !bytes.Equal(line, []byte(req+"\n")) && !bytes.Equal(line, []byte(req+"\r\n")) {
			t.Errorf("parseRequest(%q) accepted something other than %q", line, req+"\n")
		}
	})
}
