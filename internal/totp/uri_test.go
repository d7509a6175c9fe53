package totp

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestURI(t *testing.T) {
	t.Parallel()
	rfc := []byte("12345678901234567890")
	tests := []struct {
		name            string
		issuer, account string
		secret          []byte
		step            time.Duration
		lo, hi          uint16
		length          int
		want, wantErr   string
	}{
		{name: "defaults", issuer: "gw.example.org", account: "alice", secret: rfc,
			step: DefaultStep, lo: DefaultLo, hi: DefaultHi, length: DefaultLength,
			want: "otpauth://totp/gw.example.org:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=gw.example.org&algorithm=SHA256&digits=6&period=30&ports=40000-49999&length=4&sesame=1"},
		{name: "escaping", issuer: "ACME Co & Sons/β", account: "bob@home?#%+", secret: rfc,
			step: time.Minute, lo: 1, hi: 2, length: 1,
			want: "otpauth://totp/ACME%20Co%20&%20Sons%2F%CE%B2:bob@home%3F%23%25+?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co%20%26%20Sons%2F%CE%B2&algorithm=SHA256&digits=6&period=60&ports=1-2&length=1&sesame=1"},
		{name: "colon in issuer", issuer: "a:b", account: "alice", secret: rfc, step: DefaultStep, lo: DefaultLo, hi: DefaultHi, length: 4,
			wantErr: `issuer "a:b" contains ':', expected a name without ':' (it separates issuer and account)`},
		{name: "empty account", issuer: "gw", account: "", secret: rfc, step: DefaultStep, lo: DefaultLo, hi: DefaultHi, length: 4,
			wantErr: "account is empty, expected a name"},
		{name: "control character", issuer: "gw", account: "a\nb", secret: rfc, step: DefaultStep, lo: DefaultLo, hi: DefaultHi, length: 4,
			wantErr: `account "a\nb" contains a control character, expected printable text`},
		{name: "leading blank", issuer: "gw", account: " alice", secret: rfc, step: DefaultStep, lo: DefaultLo, hi: DefaultHi, length: 4,
			wantErr: `account " alice" has blanks at its ends, expected none`},
		{name: "invalid UTF-8", issuer: "gw\xff", account: "a", secret: rfc, step: DefaultStep, lo: DefaultLo, hi: DefaultHi, length: 4,
			wantErr: "issuer is not valid UTF-8, expected text"},
		{name: "long issuer", issuer: strings.Repeat("x", 256), account: "a", secret: rfc, step: DefaultStep, lo: DefaultLo, hi: DefaultHi, length: 4,
			wantErr: "issuer is 256 bytes long, expected at most 255"},
		{name: "short secret", issuer: "gw", account: "a", secret: rfc[:15], step: DefaultStep, lo: DefaultLo, hi: DefaultHi, length: 4,
			wantErr: "secret is 15 bytes, expected 16 to 64"},
		{name: "bad params", issuer: "gw", account: "a", secret: rfc, step: DefaultStep, lo: 100, hi: 102, length: 4,
			wantErr: "port range 100-102 has 3 ports, expected at least 8 (twice the length 4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := URI(tt.issuer, tt.account, tt.secret, tt.step, tt.lo, tt.hi, tt.length)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("URI = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("URI (-want +got):\n%s", diff)
			}
			k, err := ParseURI(got)
			if err != nil {
				t.Fatalf("ParseURI(URI) = %v", err)
			}
			want := KeyURI{tt.issuer, tt.account, tt.secret, tt.step, tt.lo, tt.hi, tt.length}
			if diff := cmp.Diff(want, k); diff != "" {
				t.Fatalf("ParseURI(URI) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseURI(t *testing.T) {
	t.Parallel()
	const sec = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	rfc := []byte("12345678901234567890")
	def := KeyURI{Issuer: "gw", Account: "alice", Secret: rfc, Step: DefaultStep, Lo: DefaultLo, Hi: DefaultHi, Length: DefaultLength}
	with := func(f func(*KeyURI)) KeyURI { k := def; f(&k); return k }
	tests := []struct {
		name    string
		in      string
		want    KeyURI
		wantErr string
	}{
		{"minimal", "otpauth://totp/gw:alice?secret=" + sec + "&ports=40000-49999&length=4", def, ""},
		{"full", "otpauth://totp/gw:alice?secret=" + sec + "&issuer=gw&algorithm=SHA256&digits=6&period=30&ports=40000-49999&length=4&sesame=1", def, ""},
		{"encoded colon and blank", "otpauth://totp/gw%3A%20alice?secret=" + sec + "&ports=40000-49999&length=4", def, ""},
		{"issuer only in query", "otpauth://totp/alice?issuer=gw&secret=" + sec + "&ports=40000-49999&length=4", def, ""},
		{"plus for space", "otpauth://totp/alice?issuer=My+Gw&secret=" + sec + "&ports=40000-49999&length=4",
			with(func(k *KeyURI) { k.Issuer = "My Gw" }), ""},
		{"upper case scheme and type", "OTPAUTH://TOTP/gw:alice?secret=" + strings.ToLower(sec) + "&algorithm=sha256&ports=40000-49999&length=4", def, ""},
		{"unknown parameter", "otpauth://totp/gw:alice?image=https%3A%2F%2Fx&secret=" + sec + "&ports=40000-49999&length=4", def, ""},
		{"other params", "otpauth://totp/gw:alice?secret=" + sec + "&period=60&ports=1-65535&length=32",
			with(func(k *KeyURI) { k.Step, k.Lo, k.Hi, k.Length = time.Minute, 1, 65535, 32 }), ""},

		{"not a uri", "otpauth://totp/%zz", KeyURI{}, `key uri does not parse (invalid URL escape "%zz"), expected otpauth://totp/ISSUER:ACCOUNT?secret=...`},
		{"https", "https://totp/gw:alice?secret=" + sec, KeyURI{}, `key uri has scheme "https", expected otpauth://totp/ISSUER:ACCOUNT?secret=...`},
		{"no scheme", "gw:alice", KeyURI{}, `key uri has scheme "gw", expected`},
		{"opaque", "otpauth:totp/gw:alice?secret=" + sec, KeyURI{}, "key uri is malformed, expected otpauth://totp/ISSUER:ACCOUNT?secret=..."},
		{"hotp", "otpauth://hotp/gw:alice?secret=" + sec + "&counter=1", KeyURI{}, "key uri is for a counter-based (hotp) key, expected a time-based one, otpauth://totp/"},
		{"other type", "otpauth://steam/gw:alice?secret=" + sec, KeyURI{}, `key uri has type "steam", expected otpauth://totp/`},
		{"user info", "otpauth://x@totp/gw:alice?secret=" + sec, KeyURI{}, "key uri is malformed"},
		{"fragment", "otpauth://totp/gw:alice?secret=" + sec + "&ports=40000-49999&length=4#x", KeyURI{}, "key uri has a fragment (#...), expected none"},
		{"no label", "otpauth://totp/?secret=" + sec, KeyURI{}, "key uri has no label, expected otpauth://totp/ISSUER:ACCOUNT?..."},
		{"two colons", "otpauth://totp/a:b:c?secret=" + sec, KeyURI{}, "key uri label has more than one ':', expected ISSUER:ACCOUNT"},
		{"no secret", "otpauth://totp/gw:alice?ports=40000-49999&length=4", KeyURI{}, "key uri has no secret parameter, expected secret=BASE32"},
		{"short secret", "otpauth://totp/gw:alice?secret=JBSWY3DPEHPK3PXP&ports=40000-49999&length=4", KeyURI{},
			"key uri parameter secret: secret is 10 bytes (80 bits), expected at least 16 bytes (128 bits, RFC 4226)"},
		{"secret twice", "otpauth://totp/gw:alice?secret=" + sec + "&secret=" + sec, KeyURI{}, "key uri has parameter secret 2 times, expected it once"},
		{"semicolon", "otpauth://totp/gw:alice?secret=" + sec + ";ports=1-2", KeyURI{}, "key uri query does not parse (invalid semicolon separator in query), expected name=value pairs joined by '&'"},
		{"issuer mismatch", "otpauth://totp/gw:alice?secret=" + sec + "&issuer=other", KeyURI{}, `key uri has issuer "gw" in the label and "other" in the query, expected the same`},
		{"no issuer", "otpauth://totp/alice?secret=" + sec + "&ports=40000-49999&length=4", KeyURI{}, "key uri issuer is empty, expected a name"},
		{"blank after issuer", "otpauth://totp/gw%20:alice?secret=" + sec + "&ports=40000-49999&length=4", KeyURI{}, `key uri issuer "gw " has blanks at its ends, expected none`},
		{"empty account", "otpauth://totp/gw:?secret=" + sec + "&ports=40000-49999&length=4", KeyURI{}, "key uri account is empty, expected a name"},
		{"SHA1", "otpauth://totp/gw:alice?secret=" + sec + "&algorithm=SHA1&ports=40000-49999&length=4", KeyURI{}, `key uri has algorithm "SHA1", expected SHA256`},
		{"8 digits", "otpauth://totp/gw:alice?secret=" + sec + "&digits=8&ports=40000-49999&length=4", KeyURI{}, `key uri has digits "8", expected 6`},
		{"version 2", "otpauth://totp/gw:alice?secret=" + sec + "&sesame=2&ports=40000-49999&length=4", KeyURI{}, `key uri is for sesame derivation version "2", expected 1 (upgrade sesame?)`},
		{"period 0", "otpauth://totp/gw:alice?secret=" + sec + "&period=0&ports=40000-49999&length=4", KeyURI{}, `key uri has period "0", expected whole seconds from 1 to 86400`},
		{"period long", "otpauth://totp/gw:alice?secret=" + sec + "&period=86401&ports=40000-49999&length=4", KeyURI{}, `key uri has period "86401"`},
		{"period text", "otpauth://totp/gw:alice?secret=" + sec + "&period=30s&ports=40000-49999&length=4", KeyURI{}, `key uri has period "30s"`},
		{"no ports", "otpauth://totp/gw:alice?secret=" + sec + "&length=4", KeyURI{}, "key uri has no ports parameter, expected ports=LO-HI"},
		{"one port", "otpauth://totp/gw:alice?secret=" + sec + "&ports=40000&length=4", KeyURI{}, `key uri has ports "40000", expected LO-HI, two ports from 1 to 65535`},
		{"port too big", "otpauth://totp/gw:alice?secret=" + sec + "&ports=40000-65536&length=4", KeyURI{}, `key uri has ports "40000-65536"`},
		{"no length", "otpauth://totp/gw:alice?secret=" + sec + "&ports=40000-49999", KeyURI{}, "key uri has no length parameter, expected length=N"},
		{"length text", "otpauth://totp/gw:alice?secret=" + sec + "&ports=40000-49999&length=four", KeyURI{}, `key uri has length "four", expected 1 to 32`},
		{"length 33", "otpauth://totp/gw:alice?secret=" + sec + "&ports=1-65535&length=33", KeyURI{}, "key uri: knock length 33 is out of range, expected 1 to 32"},
		{"port 0", "otpauth://totp/gw:alice?secret=" + sec + "&ports=0-9&length=4", KeyURI{}, "key uri: port range 0-9 includes port 0"},
		{"range too small", "otpauth://totp/gw:alice?secret=" + sec + "&ports=10-16&length=4", KeyURI{}, "key uri: port range 10-16 has 7 ports, expected at least 8 (twice the length 4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseURI(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ParseURI = %+v, %v; want error %q", got, err, tt.wantErr)
				}
				if diff := cmp.Diff(KeyURI{}, got); diff != "" {
					t.Errorf("ParseURI returned a value with an error (-want +got):\n%s", diff)
				}
				checkMessage(t, err, sec)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("ParseURI (-want +got):\n%s", diff)
			}
			checkURIRoundTrip(t, got)
		})
	}
}

// checkURIRoundTrip checks that what ParseURI returned writes a URI that
// reads back the same and writes again the same.
func checkURIRoundTrip(t *testing.T, k KeyURI) {
	t.Helper()
	u, err := URI(k.Issuer, k.Account, k.Secret, k.Step, k.Lo, k.Hi, k.Length)
	if err != nil {
		t.Fatalf("URI(ParseURI(x)) = %v, for %+v", err, k)
	}
	k2, err := ParseURI(u)
	if err != nil {
		t.Fatalf("ParseURI(%q) = %v", u, err)
	}
	if diff := cmp.Diff(k, k2); diff != "" {
		t.Fatalf("ParseURI(URI(k)) (-k +got):\n%s", diff)
	}
	u2, err := URI(k2.Issuer, k2.Account, k2.Secret, k2.Step, k2.Lo, k2.Hi, k2.Length)
	if err != nil || u2 != u {
		t.Fatalf("URI not stable: %q then %q, %v", u, u2, err)
	}
}
