package replay

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds parse arbitrary files. It must not panic, must report
// every rejection as a *FormatError, and what it accepts must be the
// canonical form: writing the entries back gives the same bytes, which
// parse accepts again. The only reserved key it accepts is the floor's.
func FuzzParse(f *testing.F) {
	const h = "sesame replay cache v1\n"
	for _, seed := range []string{
		"",
		h,
		h + "1700000020000000000 cipher:AAAA\n1700000030000000000 totp:alice:1\n",
		h + "0 a\n9223372036854775807 b\n",
		h + "9223372036854775808 a\n",
		h + "01 a\n",
		h + "1 b\n1 a\n",
		h + "1 a\n1 a\n",
		h + "1 a\r\n",
		h + "1  a\n",
		h + "1 a",
		"sesame replay cache v1",
		"sesame replay cache v2\n",
		h + "1700000030000000000 #floor\n1700000060000000000 totp:bob:2\n",
		h + "1 !a\n1 \"b\n0 #floor\n1 $c\n",
		h + "1 #floor\n",
		h + "1 #floor\n1 #floor\n",
		h + "1 #other\n",
		h + "1 #\n",
		h + "1 a\n1 #floor\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := parse("fuzz", data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Line < 1 {
				t.Fatalf("parse error %#v is not a *FormatError with a line", err)
			}
			if bytes.ContainsAny([]byte(err.Error()), "\n\r") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		for _, e := range es {
			if strings.HasPrefix(e.key, reservedPrefix) && e.key != floorKey {
				t.Fatalf("accepted reserved key %q", e.key)
			}
		}
		var buf bytes.Buffer
		if err := writeEntries(&buf, es); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("accepted %q but writes it back as %q", data, buf.Bytes())
		}
		es2, err := parse("fuzz", buf.Bytes())
		if err != nil {
			t.Fatalf("rejects its own output %q: %v", buf.Bytes(), err)
		}
		if len(es2) != len(es) {
			t.Fatalf("reparse gives %d entries, want %d", len(es2), len(es))
		}
		for i := range es {
			if es[i] != es2[i] {
				t.Fatalf("reparse entry %d = %v, want %v", i, es2[i], es[i])
			}
		}
	})
}
