package totp

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseSecrets: the parser never panics, returns clients or errors,
// never both, every client it accepts is valid, and writing the clients
// back out gives a file that parses to the same clients.
func FuzzParseSecrets(f *testing.F) {
	for _, s := range []string{
		"",
		"# comment\n\nalice " + secretA + "\n",
		"alice " + secretA + "\r\nbob\t" + strings.ToLower(secretB) + "\n",
		"alice " + secretA + "\nALICE " + secretB + "\n",
		"alice " + secretA + "\nbob " + secretA + "\n",
		"a b c\n\x00 " + secretC + "\nx JBSWY3DPEHPK3PXP====\n",
		"alice AAAQEAYEAUDAOCAJBIFQYDIOB4======",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		clients, err := ParseSecrets("f", data)
		if err != nil {
			if clients != nil {
				t.Fatalf("clients %v with error %v", clients, err)
			}
			es, ok := err.(LineErrors)
			if !ok || len(es) == 0 {
				t.Fatalf("error %T %v, want LineErrors", err, err)
			}
			for _, e := range es {
				if e.Line < 1 || strings.Contains(e.Msg, "\n") {
					t.Fatalf("bad line error %q", e.Error())
				}
			}
			return
		}
		var out bytes.Buffer
		for _, c := range clients {
			if checkName(c.Name) != "" || len(c.Secret) < MinSecretBytes || len(c.Secret) > MaxSecretBytes || c.Line < 1 {
				t.Fatalf("accepted invalid client %+v", c)
			}
			out.WriteString(c.Name + " " + EncodeSecret(c.Secret) + "\n")
		}
		again, err := ParseSecrets("f", out.Bytes())
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		if len(again) != len(clients) {
			t.Fatalf("rewritten file has %d clients, want %d", len(again), len(clients))
		}
		for i := range again {
			if again[i].Name != clients[i].Name || !bytes.Equal(again[i].Secret, clients[i].Secret) {
				t.Fatalf("client %d: %+v, want %+v", i, again[i], clients[i])
			}
		}
	})
}

// FuzzDecodeSecret: never panics; what it accepts has a valid length and
// survives EncodeSecret; errors are one line and never quote the input.
func FuzzDecodeSecret(f *testing.F) {
	for _, s := range []string{
		secretA, strings.ToLower(secretB), "gezd gnbv-gy3t\tqojq gezd gnbv gy3t qojq",
		"AAAQEAYEAUDAOCAJBIFQYDIOB4======", "AAAQEAYEAUDAOCAJBIFQYDIOB4==AA", "", "=", "A",
		strings.Repeat("A", 103), strings.Repeat("A", 104), "GEZDGNBVGY3TQOJé",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeSecret(s)
		if err != nil {
			if b != nil {
				t.Fatalf("bytes %x with error %v", b, err)
			}
			checkMessage(t, err, s)
			return
		}
		if len(b) < MinSecretBytes || len(b) > MaxSecretBytes {
			t.Fatalf("accepted a %d-byte secret", len(b))
		}
		enc := EncodeSecret(b)
		again, err := DecodeSecret(enc)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("DecodeSecret(EncodeSecret(%x)) = %x, %v", b, again, err)
		}
		// The canonical form is the input without blanks, dashes and
		// padding, in upper case, unless unused trailing bits were set.
		canon := strings.ToUpper(strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '-' || r == '=' {
				return -1
			}
			return r
		}, s))
		if len(canon) != len(enc) {
			t.Fatalf("%q decodes to %d bytes, encoded as %d characters", s, len(b), len(enc))
		}
	})
}

// FuzzParseURI: never panics, and what it accepts round-trips through URI
// to the same key and a stable text.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"otpauth://totp/gw.example.org:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=gw.example.org&algorithm=SHA256&digits=6&period=30&ports=40000-49999&length=4&sesame=1",
		"otpauth://totp/ACME%20Co%20&%20Sons%2F%CE%B2:bob@home%3F%23%25+?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co%20%26%20Sons%2F%CE%B2&period=60&ports=1-2&length=1",
		"otpauth://totp/gw%3A%20alice?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojq&ports=1-65535&length=32",
		"otpauth://totp/alice?issuer=My+Gw&secret=AAAQEAYEAUDAOCAJBIFQYDIOB4&ports=10-17&length=4",
		"otpauth://hotp/gw:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=1",
		"otpauth://totp/a:b:c?secret=x", "otpauth:totp/x", "otpauth://totp/%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseURI(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("message %q spans lines", err)
			}
			return
		}
		if !utf8.ValidString(k.Issuer) || !utf8.ValidString(k.Account) {
			t.Fatalf("accepted invalid UTF-8: %+v", k)
		}
		checkURIRoundTrip(t, k)
	})
}

// FuzzPorts: never panics; for valid parameters the sequence has the
// right length, distinct ports in range, and equals the reference
// derivation on crypto/hmac; for invalid ones there is no sequence.
func FuzzPorts(f *testing.F) {
	f.Add([]byte("12345678901234567890"), uint64(0), uint16(40000), uint16(49999), 4)
	f.Add([]byte("12345678901234567890"), ^uint64(0), uint16(1), uint16(65535), 32)
	f.Add([]byte{}, uint64(59), uint16(1), uint16(2), 1)
	f.Add(bytes.Repeat([]byte{7}, 100), uint64(12345), uint16(60000), uint16(60063), 32)
	f.Add([]byte("k"), uint64(1), uint16(1), uint16(32769), 8)
	f.Add([]byte("k"), uint64(1), uint16(0), uint16(10), 4)
	f.Add([]byte("k"), uint64(1), uint16(9), uint16(1), -4)
	f.Fuzz(func(t *testing.T, secret []byte, n uint64, lo, hi uint16, length int) {
		got := Ports(secret, n, lo, hi, length)
		app := AppendPorts([]uint16{9}, secret, n, lo, hi, length)
		if !slices.Equal(app[1:], got) || app[0] != 9 {
			t.Fatalf("AppendPorts = %v, Ports = %v", app, got)
		}
		if !validPorts(lo, hi, length) {
			if got != nil {
				t.Fatalf("invalid parameters gave %v", got)
			}
			return
		}
		checkSequence(t, got, lo, hi, length)
		if want := refPorts(secret, n, lo, hi, length).ports; !slices.Equal(got, want) {
			t.Fatalf("Ports = %v, reference %v", got, want)
		}
	})
}
