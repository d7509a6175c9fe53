package totp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	secretA = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	secretB = "AAAQEAYEAUDAOCAJBIFQYDIOB4"       // 00 01 … 0f
	secretC = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := DecodeSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string // "name line", the secrets are checked apart
		wantErr string   // the whole message
	}{
		{"empty", "", nil, ""},
		{"comments only", "# nobody yet\n\n   # indented\n", nil, ""},
		{"one client", "alice " + secretA + "\n", []string{"alice 1"}, ""},
		{"no final newline", "alice " + secretA, []string{"alice 1"}, ""},
		{"crlf, tabs, blanks", "# c\r\n\r\n\talice\t" + secretA + "  \r\nbob.laptop@home " + secretB + "\r\n",
			[]string{"alice 3", "bob.laptop@home 4"}, ""},
		{"lower-case secret", "a_b-c.1 " + strings.ToLower(secretC) + "\n", []string{"a_b-c.1 1"}, ""},
		{"64-character name", strings.Repeat("n", 64) + " " + secretA, []string{strings.Repeat("n", 64) + " 1"}, ""},
		{"one field", "alice\n", nil, "f:1: line has 1 fields, expected NAME SECRET"},
		{"grouped secret", "alice GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ\n", nil, "f:1: line has 9 fields, expected NAME SECRET"},
		{"trailing comment", "alice " + secretA + " # laptop\n", nil, "f:1: line has 4 fields, expected NAME SECRET"},
		{"bad name", "al/ice " + secretA + "\n", nil, `f:1: client name "al/ice" has an invalid character, expected only A-Z a-z 0-9 . _ @ -`},
		{"long name", strings.Repeat("n", 65) + " " + secretA + "\n", nil, "f:1: client name is 65 bytes long, expected at most 64"},
		{"control character in name", "a\x00b " + secretA + "\n", nil, `f:1: client name "a\x00b" has an invalid character, expected only A-Z a-z 0-9 . _ @ -`},
		{"short secret", "alice JBSWY3DPEHPK3PXP\n", nil, `f:1: client "alice": secret is 10 bytes (80 bits), expected at least 16 bytes (128 bits, RFC 4226)`},
		{"bad secret", "alice GEZDGNBVGY3TQOJ1\n", nil, `f:1: client "alice": secret has an invalid character at position 16, expected base32 (letters A-Z, digits 2-7)`},
		{"duplicate name", "alice " + secretA + "\nAlice " + secretB + "\n", nil,
			`f:2: client "Alice" is already on line 1, expected unique names (ignoring case)`},
		{"duplicate secret", "alice " + secretA + "\nbob " + strings.ToLower(secretA) + "\n", nil,
			`f:2: client "bob" has the same secret as line 1, expected a secret of its own per client`},
		{"every error reported", "alice " + secretA + "\nbad\n# ok\nal!ce " + secretB + "\nalice " + secretC + "\nbob xyz1\n", nil,
			"f:2: line has 1 fields, expected NAME SECRET\n" +
				`f:4: client name "al!ce" has an invalid character, expected only A-Z a-z 0-9 . _ @ -` + "\n" +
				`f:5: client "alice" is already on line 1, expected unique names (ignoring case)` + "\n" +
				`f:6: client "bob": secret has an invalid character at position 4, expected base32 (letters A-Z, digits 2-7)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clients, err := ParseSecrets("f", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseSecrets = %v, want error", clients)
				}
				if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
					t.Fatalf("error (-want +got):\n%s", diff)
				}
				if clients != nil {
					t.Errorf("ParseSecrets returned clients %v with an error", clients)
				}
				var le *LineError
				if !errors.As(err, &le) || le.File != "f" || le.Line < 1 {
					t.Errorf("errors.As(*LineError) = %v", le)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecrets: %v", err)
			}
			var got []string
			for _, c := range clients {
				got = append(got, c.Name+" "+strconv.Itoa(c.Line))
				if len(c.Secret) < MinSecretBytes {
					t.Errorf("client %s: secret %x", c.Name, c.Secret)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("clients (-want +got):\n%s", diff)
			}
		})
	}
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func TestLoadSecrets(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions on windows")
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	writeFile(t, good, "# clients\nalice "+secretA+"\n", 0o600)
	readOnly := filepath.Join(dir, "readonly")
	writeFile(t, readOnly, "alice "+secretA+"\n", 0o400)
	open := filepath.Join(dir, "open")
	writeFile(t, open, "alice "+secretA+"\n", 0o644)
	groupWritable := filepath.Join(dir, "gw")
	writeFile(t, groupWritable, "alice "+secretA+"\n", 0o620)
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, "alice\nbob xy\n", 0o600)

	tests := []struct {
		name    string
		path    string
		want    int
		wantErr string
	}{
		{"0600", good, 1, ""},
		{"0400", readOnly, 1, ""},
		{"0644", open, 0, open + ": permissions 0644 are too open, expected 0600 (chmod 600 " + open + ")"},
		{"0620", groupWritable, 0, groupWritable + ": permissions 0620 are too open, expected 0600 (chmod 600 " + groupWritable + ")"},
		{"directory", dir, 0, dir + ": not a regular file, expected a secrets file"},
		{"missing", filepath.Join(dir, "missing"), 0, "failed to open secrets file: open " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{"errors", bad, 0, bad + ":1: line has 1 fields, expected NAME SECRET\n" + bad + `:2: client "bob": secret is 1 bytes (8 bits), expected at least 16 bytes (128 bits, RFC 4226)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clients, err := LoadSecrets(tt.path)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("LoadSecrets = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(clients) != tt.want {
				t.Fatalf("LoadSecrets = %v, %v; want %d clients", clients, err, tt.want)
			}
		})
	}
}

func TestAddClient(t *testing.T) {
	t.Parallel()
	a, b, c := mustDecode(t, secretA), mustDecode(t, secretB), mustDecode(t, secretC)

	t.Run("creates the file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "secrets")
		if err := AddClient(path, "alice", a); err != nil {
			t.Fatal(err)
		}
		if err := AddClient(path, "bob", b); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, "alice "+secretA+"\nbob "+secretB+"\n")
		clients, err := LoadSecrets(path)
		if err != nil || len(clients) != 2 || !bytes.Equal(clients[1].Secret, b) {
			t.Fatalf("LoadSecrets after AddClient = %v, %v", clients, err)
		}
		checkNoLeftovers(t, dir, 1)
	})

	t.Run("keeps the existing text", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "secrets")
		old := "# web servers\r\nalice " + secretA // CRLF, no final newline
		writeFile(t, path, old, 0o644)
		if err := AddClient(path, "bob", b); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, old+"\nbob "+secretB+"\n") // and now 0600
		checkNoLeftovers(t, dir, 1)
	})

	t.Run("follows a symbolic link", func(t *testing.T) {
		t.Parallel()
		if runtime.GOOS == "windows" {
			t.Skip("symbolic links need privileges on windows")
		}
		dir := t.TempDir()
		real := filepath.Join(dir, "real")
		writeFile(t, real, "alice "+secretA+"\n", 0o600)
		link := filepath.Join(dir, "link")
		if err := os.Symlink("real", link); err != nil {
			t.Fatal(err)
		}
		if err := AddClient(link, "bob", b); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("link replaced: %v, %v", fi, err)
		}
		checkFile(t, real, "alice "+secretA+"\nbob "+secretB+"\n")
	})

	refusals := []struct {
		name, old    string
		client       string
		secret       []byte
		wantErr      string // with PATH for the file's path
		missingDir   bool
		noFileBefore bool
	}{
		{name: "duplicate name", old: "alice " + secretA + "\n", client: "ALICE", secret: b,
			wantErr: `PATH:1: client "alice" already exists, expected a new name`},
		{name: "duplicate secret", old: "alice " + secretA + "\n", client: "bob", secret: a,
			wantErr: `PATH:1: client "alice" has the same secret, expected a new secret`},
		{name: "broken file", old: "alice " + secretA + "\nbroken\n", client: "bob", secret: b,
			wantErr: "PATH:2: line has 1 fields, expected NAME SECRET"},
		{name: "bad name", old: "", client: "bob smith", secret: b,
			wantErr: `client name "bob smith" has an invalid character, expected only A-Z a-z 0-9 . _ @ -`},
		{name: "short secret", old: "", client: "bob", secret: c[:10],
			wantErr: "secret is 10 bytes, expected 16 to 64"},
		{name: "missing directory", client: "bob", secret: b, missingDir: true,
			wantErr: "failed to create secrets file: open DIR/nodir/.secrets.tmp"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "secrets")
			if tt.missingDir {
				path = filepath.Join(dir, "nodir", "secrets")
			} else {
				writeFile(t, path, tt.old, 0o600)
			}
			err := AddClient(path, tt.client, tt.secret)
			want := strings.NewReplacer("PATH", path, "DIR/nodir/", filepath.Join(dir, "nodir")+string(filepath.Separator)).Replace(tt.wantErr)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("AddClient = %v, want %q", err, want)
			}
			if !tt.missingDir {
				checkFile(t, path, tt.old)
				checkNoLeftovers(t, dir, 1)
			}
		})
	}
}

// checkFile checks a secrets file's contents and mode.
func checkFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %04o, want 0600", path, fi.Mode().Perm())
	}
}

// checkNoLeftovers checks that no temporary file is left in dir.
func checkNoLeftovers(t *testing.T, dir string, want int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != want {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want %d file(s)", dir, names, want)
	}
}
