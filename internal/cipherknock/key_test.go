package cipherknock

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testKeyText = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func TestFormatParseKey(t *testing.T) {
	t.Parallel()
	if got := FormatKey(testKey); got != testKeyText {
		t.Errorf("FormatKey = %q, want %q", got, testKeyText)
	}
	tests := []struct {
		in      string
		wantErr string
	}{
		{testKeyText, ""},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", "invalid key: is not standard base64, expected 44 characters of standard base64 (32 bytes)"}, // padding bits set
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "invalid key: is not standard base64, expected 44 characters of standard base64 (32 bytes)"},  // no padding
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8_", "invalid key: is not standard base64, expected 44 characters of standard base64 (32 bytes)"}, // URL alphabet
		{strings.Repeat("A", 38) + "==", "invalid key: is 28 bytes, expected 32 bytes (44 characters of standard base64)"},
		// Fuzz crasher: base64 decoders skip newlines, so this decoded.
		{"0000000000000000000000000000000000000\n000000=", "invalid key: is not standard base64, expected 44 characters of standard base64 (32 bytes)"},
		{testKeyText[:20] + "\r\n" + testKeyText[20:], "invalid key: is not standard base64, expected 44 characters of standard base64 (32 bytes)"},
		{"", "invalid key: is 0 bytes, expected 32 bytes (44 characters of standard base64)"},
		{strings.Repeat("A", 48), "invalid key: is 48 characters, expected 44 characters of standard base64 (32 bytes)"},
	}
	for _, tt := range tests {
		k, err := ParseKey(tt.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("ParseKey(%q) = %q, want %q", tt.in, got, tt.wantErr)
		}
		if err == nil && k != testKey {
			t.Errorf("ParseKey(%q) = %x, want %x", tt.in, k[:], testKey[:])
		}
	}
}

func TestParseKeyFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		key     Key
		pass    string
		wantErr string
	}{
		{name: "key", in: "key = " + testKeyText + "\n", key: testKey},
		{name: "no spaces, no newline", in: "key=" + testKeyText, key: testKey},
		{name: "upper case", in: "KEY = " + testKeyText, key: testKey},
		{name: "comments and blanks", in: "# a comment\n\n  \t\n   # indented comment\n\tKey\t=\t" + testKeyText + "\t\n# after\n", key: testKey},
		{name: "CR LF", in: "# x\r\nkey = " + testKeyText + "\r\n\r\n", key: testKey},
		{name: "BOM", in: "\uFEFFkey = " + testKeyText, key: testKey},
		{name: "passphrase", in: "passphrase = correct horse battery staple\n", pass: "correct horse battery staple"},
		{name: "passphrase case", in: "PassPhrase=x", pass: "x"},
		{name: "passphrase with # and =", in: "passphrase =  a#b = c # d  \n", pass: "a#b = c # d"},
		{name: "passphrase UTF-8", in: "passphrase = Grüße aus Köln ✓\r\n", pass: "Grüße aus Köln ✓"},

		{name: "empty", in: "", wantErr: `k: no key, expected a line "key = <base64>" or "passphrase = <text>"`},
		{name: "only comments", in: "# key = " + testKeyText + "\n\n", wantErr: `k: no key, expected a line "key = <base64>" or "passphrase = <text>"`},
		{name: "no =", in: "# x\nhello world\n", wantErr: `k:2: missing "=", expected "key = <base64>" or "passphrase = <text>"`},
		{name: "bare key", in: "# x\n" + testKeyText + "\n", wantErr: `k:2: a key without "key =", expected "key = <base64>"`},
		{name: "unknown", in: "secret = x\n", wantErr: `k:1: unknown directive "secret", expected "key = <base64>" or "passphrase = <text>"`},
		{name: "typo key", in: "kye = x\n", wantErr: `k:1: unknown directive "kye" (did you mean "key"?), expected "key = <base64>" or "passphrase = <text>"`},
		{name: "typo passphrase", in: "\n\nPasphrase = x\n", wantErr: `k:3: unknown directive "Pasphrase" (did you mean "passphrase"?), expected "key = <base64>" or "passphrase = <text>"`},
		{name: "empty name", in: "= x\n", wantErr: `k:1: unknown directive, expected "key = <base64>" or "passphrase = <text>"`},
		{name: "Kelvin sign", in: "\u212Aey = " + testKeyText, wantErr: `k:1: unknown directive, expected "key = <base64>" or "passphrase = <text>"`},
		{name: "secret not echoed", in: "correct horse battery = staple\n", wantErr: `k:1: unknown directive, expected "key = <base64>" or "passphrase = <text>"`},
		{name: "pass", in: "pass = x\n", wantErr: `k:1: unknown directive "pass", expected "key = <base64>" or "passphrase = <text>"`},
		{name: "two keys", in: "key = " + testKeyText + "\n# x\nkey = " + testKeyText + "\n", wantErr: `k:3: second key directive (the first is on line 1), expected exactly one of "key = <base64>" or "passphrase = <text>"`},
		{name: "key and passphrase", in: "passphrase = x\nkey = " + testKeyText + "\n", wantErr: `k:2: second key directive (the first is on line 1), expected exactly one of "key = <base64>" or "passphrase = <text>"`},
		{name: "bad base64", in: "key = hunter2\n", wantErr: "k:1: key is not standard base64, expected 44 characters of standard base64 (32 bytes)"},
		{name: "short key", in: "key = AAAA\n", wantErr: "k:1: key is 3 bytes, expected 32 bytes (44 characters of standard base64)"},
		{name: "empty key", in: "key =\n", wantErr: "k:1: key is 0 bytes, expected 32 bytes (44 characters of standard base64)"},
		{name: "empty passphrase", in: "passphrase = \t \n", wantErr: `k:1: empty passphrase, expected the passphrase after "="`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kf, err := parseKeyFile("k", []byte(tt.in))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("error = %q, want %q", got, tt.wantErr)
			}
			if err != nil {
				return
			}
			if kf.key != tt.key || string(kf.passphrase) != tt.pass || (kf.passphrase != nil) != (tt.pass != "") {
				t.Errorf("parsed %x %q, want %x %q", kf.key[:], kf.passphrase, tt.key[:], tt.pass)
			}
			if tt.pass == "" {
				k, err := ParseKeyFile("k", []byte(tt.in), "ssh")
				if err != nil || k != tt.key {
					t.Errorf("ParseKeyFile = %x, %v", k[:], err)
				}
			}
		})
	}
}

func TestParseKeyFilePassphrase(t *testing.T) {
	t.Parallel()
	k, err := ParseKeyFile("k", []byte("passphrase = correct horse battery staple\n"), "web")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := FormatKey(k), "zC2k89+kOam3EGkpgirOMYvHJK97gFLJT3/8FeHGOEU="; got != want {
		t.Errorf("key = %s, want %s (vector 2)", got, want)
	}
}

func TestLoadKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string, perm fs.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "key = " + testKeyText + "\n"
	ok600 := write("ok600", good, 0o600)
	ok400 := write("ok400", good, 0o400)
	open644 := write("open644", good, 0o644)
	open620 := write("open620", good, 0o620)
	open604 := write("open 604", good, 0o604)
	big := write("big", good+strings.Repeat("#\n", 40<<10), 0o600)
	bad := write("bad", "key = x\n", 0o600)
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		path    string
		wantErr string
	}{
		{ok600, ""},
		{ok400, ""},
		{open644, open644 + ": permissions 0644 are too open, expected 0600 (chmod 600 " + open644 + ")"},
		{open620, open620 + ": permissions 0620 are too open, expected 0600 (chmod 600 " + open620 + ")"},
		{open604, open604 + ": permissions 0604 are too open, expected 0600 (chmod 600 '" + open604 + "')"},
		{big, big + ": key file larger than 64 KiB, expected a few lines"},
		{bad, bad + ":1: key is not standard base64, expected 44 characters of standard base64 (32 bytes)"},
		{missing, "failed to read key file: open " + missing + ": no such file or directory"},
		{dir, dir + ": not a regular file, expected a key file"},
	}
	for _, tt := range tests {
		if runtime.GOOS == "windows" && strings.Contains(tt.wantErr, "permissions") {
			continue
		}
		k, err := LoadKeyFile(tt.path, "ssh")
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("LoadKeyFile(%s):\n got %q\nwant %q", filepath.Base(tt.path), got, tt.wantErr)
		}
		if err == nil && k != testKey {
			t.Errorf("LoadKeyFile(%s) = %x", filepath.Base(tt.path), k[:])
		}
	}
}

func TestNewKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "knock.key")
	k, err := NewKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k == (Key{}) {
		t.Error("NewKeyFile returned the zero key")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# sesame cipher knock key (version 1): 32 random bytes, base64. Keep it secret.\nkey = " + FormatKey(k) + "\n"
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("key file (-want +got):\n%s", diff)
	}
	// The specification shows the same text (with the test key).
	spec, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	if ex := strings.Replace(want, FormatKey(k), testKeyText, 1); !strings.Contains(string(spec), "```\n"+ex+"```\n") {
		t.Errorf("%s does not show the key file NewKeyFile writes:\n%s", specFile, ex)
	}
	if got, err := LoadKeyFile(path, "ssh"); err != nil || got != k {
		t.Errorf("LoadKeyFile = %v, want the new key", err)
	}

	// It never overwrites.
	if _, err := NewKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("NewKeyFile over an existing file = %v, want fs.ErrExist", err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Error("NewKeyFile changed an existing file")
	}

	// Two keys differ.
	k2, err := NewKeyFile(path + "2")
	if err != nil || k2 == k {
		t.Errorf("second NewKeyFile = %v, equal keys %v", err, k2 == k)
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"key", "key", 0},
		{"kye", "key", 1},
		{"ke", "key", 1},
		{"keys", "key", 1},
		{"foo", "key", 3},
		{"passfrase", "passphrase", 2},
		{strings.Repeat("x", 100), "key", 100},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
