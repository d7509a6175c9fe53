package cipherknock

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// KeySize is the size of a cipher knock key: AES-256.
const KeySize = 32

// Key is an AES-256 key. It does not print: fmt and log/slog show
// "[redacted]"; FormatKey gives its text form on purpose.
type Key [KeySize]byte

// Format implements fmt.Formatter so that a key never reaches a log by
// accident, whatever the verb.
func (Key) Format(f fmt.State, _ rune) { io.WriteString(f, "[redacted]") }

// LogValue implements slog.LogValuer, for the same reason.
func (Key) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Argon2id parameters of DeriveKey. They are part of the format: changing
// one changes every passphrase's key.
const (
	Argon2Time    = 3
	Argon2Memory  = 64 * 1024 // KiB: 64 MiB
	Argon2Threads = 4
	// Argon2Salt is the salt's prefix; a zero byte and the event name follow.
	Argon2Salt = "sesame cipher knock v1"
)

// DeriveKey derives the key of an event from a passphrase with Argon2id
// (RFC 9106's second recommended option: t=3, m=64 MiB, p=4), salted with
// "sesame cipher knock v1" || 0x00 || event. The same passphrase thus gives
// each event its own key. It takes about 64 MiB and tens of milliseconds,
// on purpose.
func DeriveKey(passphrase []byte, event string) Key {
	salt := make([]byte, 0, len(Argon2Salt)+1+len(event))
	salt = append(salt, Argon2Salt...)
	salt = append(salt, 0)
	salt = append(salt, event...)
	return Key(argon2.IDKey(passphrase, salt, Argon2Time, Argon2Memory, Argon2Threads, KeySize))
}

// NewKey returns a random key.
func NewKey() Key {
	var k Key
	crand.Read(k[:]) // never fails (crypto/rand crashes the program instead)
	return k
}

// FormatKey returns the text form of k: standard base64 with padding, 44
// characters, as in a key file's "key =" line.
func FormatKey(k Key) string { return base64.StdEncoding.EncodeToString(k[:]) }

// ParseKey parses the text form of a key (FormatKey).
func ParseKey(s string) (Key, error) {
	var k Key
	if err := decodeKey(&k, s); err != nil {
		return Key{}, fmt.Errorf("invalid key: %s", err)
	}
	return k, nil
}

// decodeKey decodes the strict standard base64 of exactly KeySize bytes;
// its error message completes "invalid key: " or "file:line: key ".
func decodeKey(k *Key, s string) error {
	enc := base64.StdEncoding.Strict()
	if enc.DecodedLen(len(s)) > KeySize+2 { // do not decode a novel
		return fmt.Errorf("is %d characters, expected 44 characters of standard base64 (32 bytes)", len(s))
	}
	b, err := enc.DecodeString(s)
	// The decoder skips CR and LF, even in strict mode.
	if err != nil || strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("is not standard base64, expected 44 characters of standard base64 (32 bytes)")
	}
	if len(b) != KeySize {
		return fmt.Errorf("is %d bytes, expected 32 bytes (44 characters of standard base64)", len(b))
	}
	copy(k[:], b)
	return nil
}

// keyFile is a parsed key file: a key, or a passphrase still to derive.
type keyFile struct {
	key        Key
	passphrase []byte // non-nil for a passphrase file
}

// blanks are trimmed around lines, names and values: spaces, tabs, and the
// CR of CR LF line ends.
const blanks = " \t\r"

const keyFileSyntax = `"key = <base64>" or "passphrase = <text>"`

// parseKeyFile parses a key file (see ParseKeyFile for the format). file
// names it in errors.
func parseKeyFile(file string, data []byte) (keyFile, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF")) // a BOM from a Windows editor
	var (
		kf    keyFile
		first int // line of the directive, 0 before it
	)
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		t := bytes.Trim(line, blanks)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		if bare := new(Key); decodeKey(bare, string(t)) == nil {
			return keyFile{}, fmt.Errorf("%s:%d: a key without \"key =\", expected \"key = <base64>\"", file, n)
		}
		name, value, ok := bytes.Cut(t, []byte("="))
		if !ok {
			return keyFile{}, fmt.Errorf("%s:%d: missing \"=\", expected %s", file, n, keyFileSyntax)
		}
		name = bytes.Trim(name, blanks)
		value = bytes.Trim(value, blanks)
		dir := asciiLower(name)
		if dir != "key" && dir != "passphrase" {
			if !isWord(name) {
				// Do not echo it: it may be a secret put on the wrong line.
				return keyFile{}, fmt.Errorf("%s:%d: unknown directive, expected %s", file, n, keyFileSyntax)
			}
			return keyFile{}, fmt.Errorf("%s:%d: unknown directive %q%s, expected %s", file, n, name, suggest(dir), keyFileSyntax)
		}
		if first != 0 {
			return keyFile{}, fmt.Errorf("%s:%d: second key directive (the first is on line %d), expected exactly one of %s", file, n, first, keyFileSyntax)
		}
		first = n
		switch dir {
		case "key":
			if err := decodeKey(&kf.key, string(value)); err != nil {
				return keyFile{}, fmt.Errorf("%s:%d: key %s", file, n, err)
			}
		case "passphrase":
			if len(value) == 0 {
				return keyFile{}, fmt.Errorf("%s:%d: empty passphrase, expected the passphrase after \"=\"", file, n)
			}
			kf.passphrase = bytes.Clone(value)
		}
	}
	if first == 0 {
		return keyFile{}, fmt.Errorf("%s: no key, expected a line %s", file, keyFileSyntax)
	}
	return kf, nil
}

// isWord reports whether a directive name looks like one (up to 16 ASCII
// letters, digits, '-' and '_'), and may thus be quoted in an error.
func isWord(b []byte) bool {
	if len(b) == 0 || len(b) > 16 {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// asciiLower lower-cases ASCII letters only: directive names are ASCII, and
// Unicode folding would let "\u212Aey" (Kelvin sign) pass for "key".
func asciiLower(b []byte) string {
	s := []byte(string(b))
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			s[i] = c + 'a' - 'A'
		}
	}
	return string(s)
}

// suggest returns ` (did you mean "x"?)` for a near miss of a directive.
func suggest(name string) string {
	for _, d := range []string{"key", "passphrase"} {
		if editDistance(name, d) <= max(1, len(d)/3) {
			return fmt.Sprintf(" (did you mean %q?)", d)
		}
	}
	return ""
}

// editDistance is the optimal string alignment distance of two short
// strings: insertions, deletions, substitutions and swaps of neighbours.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b)) // not a typo
	}
	var d [65][65]int
	for i := range len(a) + 1 {
		d[i][0] = i
	}
	for j := range len(b) + 1 {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// ParseKeyFile parses a key file and returns the key for event. file names
// the file in errors.
//
// A key file is text. Blank lines, and lines whose first non-blank
// character is '#', are ignored. Exactly one other line is a directive,
// either "key = <base64>" (the 32-byte key in standard base64) or
// "passphrase = <text>" (the rest of the line; DeriveKey turns it into the
// event's key). Directive names are case-insensitive (ASCII); spaces, tabs
// and CRs around names and values are ignored, so lines may end in CR LF.
func ParseKeyFile(file string, data []byte, event string) (Key, error) {
	kf, err := parseKeyFile(file, data)
	if err != nil {
		return Key{}, err
	}
	if kf.passphrase != nil {
		return DeriveKey(kf.passphrase, event), nil
	}
	return kf.key, nil
}

// maxKeyFile bounds what LoadKeyFile reads: a key file is a few lines.
const maxKeyFile = 64 << 10

// LoadKeyFile reads the key file at path (see ParseKeyFile) and returns
// the key for event. Like ssh with its private keys, it refuses a file that
// its group or others can read or write. (On Windows, where Go reports no
// such permissions, the check is skipped.)
func LoadKeyFile(path, event string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("failed to read key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("failed to read key file: %w", err)
	}
	if err := checkPerm(path, fi.Mode()); err != nil {
		return Key{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return Key{}, fmt.Errorf("failed to read key file: %w", err)
	}
	if len(data) > maxKeyFile {
		return Key{}, fmt.Errorf("%s: key file larger than %d KiB, expected a few lines", path, maxKeyFile>>10)
	}
	return ParseKeyFile(path, data, event)
}

// checkPerm refuses a key file that is not private to its owner.
func checkPerm(path string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if !mode.IsRegular() {
		return fmt.Errorf("%s: not a regular file, expected a key file", path)
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s: permissions %04o are too open, expected 0600 (chmod 600 %s)", path, perm, shellQuote(path))
	}
	return nil
}

// shellQuote quotes path for the chmod hint when the shell would need it.
func shellQuote(path string) string {
	if path != "" && strings.Trim(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@%") == "" {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}

// NewKeyFile writes a key file holding a fresh random key at path, with
// mode 0600, and returns the key. It refuses to overwrite an existing file.
func NewKeyFile(path string) (Key, error) {
	k := NewKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, fmt.Errorf("failed to create key file: %w", err)
	}
	text := "# sesame cipher knock key (version 1): 32 random bytes, base64. Keep it secret.\n" +
		"key = " + FormatKey(k) + "\n"
	_, err = io.WriteString(f, text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return Key{}, fmt.Errorf("failed to write key file: %w", err)
	}
	return k, nil
}
