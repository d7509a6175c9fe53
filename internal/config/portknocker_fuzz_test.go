package config

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParsePortKnocker: the parser never panics and fails only with
// Errors; whatever it accepts survives PrintPortKnocker, is detected as
// port-knocking-doors' TOML and parses back to the same meaning.
func FuzzParsePortKnocker(f *testing.F) {
	if b, err := os.ReadFile("testdata/port_knocker-doc.toml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		PortKnockerMinimal,
		"ports_to_controls = [22, 0x50]\nopening_sequence = [\n 1_001, # c\n 2, 3, 4, 5,\n]\nignoring_period_after_knock_error = 0\n",
		"'ports_to_controls' = [1]\r\n\"opening_sequence\" = [5,4,3,2,1]\r\nmax_knocker_live_time = +7\r\n",
		"ports_to_controls = [22\nopening_sequence = [1,2,3,4,5\nmax_knocker_live_time = 3s\n[x]\ny = 1\n",
		"ports_to_controls = [[1]]\nopening_sequence = {a = 1}\nmax_opened_door_duration = 1979-05-27\n",
		"a.b.c = 1\n[[t]]\n\"\" = 2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := ParsePortKnocker("fuzz.toml", src)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error is %T, want Errors", err)
			}
			return
		}
		_ = c.Warnings()
		var out bytes.Buffer
		if err := PrintPortKnocker(&out, c); err != nil {
			t.Fatalf("PrintPortKnocker of a parsed config: %v\ninput: %q", err, src)
		}
		if DetectFormat(out.Bytes()) != FormatPortKnocker {
			t.Fatalf("printed form is not detected as port-knocking-doors'\ninput: %q\nprinted:\n%s", src, out.String())
		}
		back, err := ParsePortKnocker("printed", out.Bytes())
		if err != nil {
			t.Fatalf("printed form does not parse: %v\ninput: %q\nprinted:\n%s", err, src, out.String())
		}
		if !sameMeaning(c, back) {
			t.Fatalf("round trip changed the config (-want +got):\n%s\ninput: %q\nprinted:\n%s", diff(dump(strip(c)), dump(strip(back))), src, out.String())
		}
	})
}

// FuzzParse: whatever the content, Parse picks a parser that never
// panics, and a configuration it accepts prints in its own format as text
// that is detected as that format again and means the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		PortKnockerMinimal,
		"[a]\nsequence = 1,2\ncommand = x\n",
		"# c\n<a>\nsequence = tcp:1 udp:2\n</a>\n",
		"Sequence = 1\n[a]\nsequence = 2\n",
		"ports = [22]\n",
		"# opening_sequence = [1]\n[x]\nsequence=1\n",
	} {
		f.Add([]byte(s))
	}
	printers := map[string]func(*bytes.Buffer, *Config) error{
		FormatKnockd:      func(b *bytes.Buffer, c *Config) error { return Print(b, c) },
		FormatTportknockd: func(b *bytes.Buffer, c *Config) error { return PrintTportknockd(b, c) },
		FormatPortKnocker: func(b *bytes.Buffer, c *Config) error { return PrintPortKnocker(b, c) },
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse("fuzz.conf", src)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error is %T, want Errors", err)
			}
			return
		}
		if c.Format != DetectFormat(src) {
			t.Fatalf("Format %q, DetectFormat %q", c.Format, DetectFormat(src))
		}
		var out bytes.Buffer
		if err := printers[c.Format](&out, c); err != nil {
			t.Fatalf("printing a parsed %s config: %v\ninput: %q", c.Format, err, src)
		}
		if len(c.Events) == 0 {
			return // an empty tportknockd file prints without a tag
		}
		back, err := Parse("printed", out.Bytes())
		if err != nil {
			t.Fatalf("printed form does not parse: %v\ninput: %q\nprinted:\n%s", err, src, out.String())
		}
		if back.Format != c.Format || !sameMeaning(c, back) {
			t.Fatalf("round trip changed the %s config into %s (-want +got):\n%s\ninput: %q\nprinted:\n%s", c.Format, back.Format, diff(dump(strip(c)), dump(strip(back))), src, out.String())
		}
	})
}
