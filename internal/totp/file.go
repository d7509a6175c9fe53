package totp

// The secrets file holds one line per client of an event:
//
//	# comment
//	alice JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
//
// It is the daemon's copy of every client's secret, so it is guarded like
// an ssh private key: LoadSecrets refuses it when group or others may read
// or write it, and AddClient replaces it atomically with mode 0600.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// MaxNameLen is the longest client name.
const MaxNameLen = 64

// maxFileSize bounds what LoadSecrets reads: some 50,000 clients.
const maxFileSize = 4 << 20

// Client is one line of a secrets file.
type Client struct {
	Name   string
	Secret []byte
	Line   int // 1-based line in the file, for messages
}

// LineError is one problem in a secrets file: where, and what is wrong
// and what was expected.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// LineErrors is every problem found in a secrets file, in line order, so
// that an administrator can fix the file in one pass.
type LineErrors []*LineError

// Error lists the problems one per line.
func (es LineErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find a single *LineError.
func (es LineErrors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// LoadSecrets reads and parses the secrets file at path (see ParseSecrets).
// It refuses a file that is not a regular file or that group or others may
// read or write (not checked on Windows, whose permission bits mean
// nothing here).
func LoadSecrets(path string) ([]Client, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open secrets file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to open secrets file: %w", err)
	}
	if err := checkMode(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read secrets file: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: file is larger than %d MiB, expected a secrets file", path, maxFileSize>>20)
	}
	return ParseSecrets(path, data)
}

func checkMode(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file, expected a secrets file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return fmt.Errorf("%s: permissions %04o are too open, expected 0600 (chmod 600 %s)", path, perm, path)
	}
	return nil
}

// ParseSecrets parses the contents of a secrets file; file names it in
// messages. Each line is blank, a comment whose first non-blank character
// is '#', or a client: "NAME SECRET", two fields separated by spaces or
// tabs. NAME is 1 to 64 characters from [A-Za-z0-9._@-], unique ignoring
// case; SECRET is base32 as DecodeSecret reads it, without blanks inside,
// and unique too (a client per secret is what keeps one client's knock
// from using up another's step). A file without clients is valid.
//
// On any error ParseSecrets returns no clients and LineErrors listing every
// bad line. Messages never quote a secret.
func ParseSecrets(file string, data []byte) ([]Client, error) {
	var (
		clients []Client
		errs    LineErrors
		names   = map[string]int{} // lower-case name → line
		secrets = map[string]int{} // secret → line
	)
	bad := func(line int, format string, args ...any) {
		errs = append(errs, &LineError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	for num := 1; len(data) > 0; num++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		line = bytes.Trim(line, " \t")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		fields := bytes.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(fields) != 2 {
			bad(num, "line has %d fields, expected NAME SECRET", len(fields))
			continue
		}
		name := string(fields[0])
		if msg := checkName(name); msg != "" {
			bad(num, "%s", msg)
			continue
		}
		secret, err := DecodeSecret(string(fields[1]))
		if err != nil {
			bad(num, "client %q: %v", name, err)
			continue
		}
		key := strings.ToLower(name)
		if prev, ok := names[key]; ok {
			bad(num, "client %q is already on line %d, expected unique names (ignoring case)", name, prev)
			continue
		}
		names[key] = num
		if prev, ok := secrets[string(secret)]; ok {
			bad(num, "client %q has the same secret as line %d, expected a secret of its own per client", name, prev)
			continue
		}
		secrets[string(secret)] = num
		clients = append(clients, Client{Name: name, Secret: secret, Line: num})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return clients, nil
}

// checkName returns what is wrong with a client name, or "".
func checkName(name string) string {
	if name == "" {
		return "client name is empty, expected 1 to 64 characters from A-Z a-z 0-9 . _ @ -"
	}
	if len(name) > MaxNameLen {
		return fmt.Sprintf("client name is %d bytes long, expected at most %d", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return fmt.Sprintf("client name %q has an invalid character, expected only A-Z a-z 0-9 . _ @ -", name)
		}
	}
	return ""
}

func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '@' || c == '-'
}

// AddClient appends a client to the secrets file at path, atomically: it
// reads the file (a missing file is an empty one; its directory must
// exist), refuses a file with errors, a name already there (ignoring case)
// or a secret already there, and replaces the file by a new one written
// beside it with mode 0600, synced before and after the rename, so that a
// crash leaves either the old file or the new one. If path is a symbolic
// link, the file it points to is replaced. On Unix the new file keeps the
// old file's owner and group.
//
// AddClient does not lock: concurrent calls on one file may lose a client.
// Enrolment is an administrator's command; run one at a time.
func AddClient(path, name string, secret []byte) error {
	if msg := checkName(name); msg != "" {
		return errors.New(msg)
	}
	if len(secret) < MinSecretBytes || len(secret) > MaxSecretBytes {
		return fmt.Errorf("secret is %d bytes, expected %d to %d", len(secret), MinSecretBytes, MaxSecretBytes)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return fmt.Errorf("failed to follow secrets file link: %w", err)
		}
		path = target
	}

	data, err := os.ReadFile(path)
	var old fs.FileInfo
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = nil
	case err != nil:
		return fmt.Errorf("failed to read secrets file: %w", err)
	default:
		if old, err = os.Stat(path); err != nil {
			return fmt.Errorf("failed to read secrets file: %w", err)
		}
		if !old.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file, expected a secrets file", path)
		}
	}
	clients, err := ParseSecrets(path, data)
	if err != nil {
		return err // LineErrors: fix the file first
	}
	for _, c := range clients {
		if strings.EqualFold(c.Name, name) {
			return fmt.Errorf("%s:%d: client %q already exists, expected a new name", path, c.Line, c.Name)
		}
		if bytes.Equal(c.Secret, secret) {
			return fmt.Errorf("%s:%d: client %q has the same secret, expected a new secret", path, c.Line, c.Name)
		}
	}

	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	data = append(data, name+" "+EncodeSecret(secret)+"\n"...)
	return replaceFile(path, data, old)
}

// replaceFile writes data to a new file beside path, mode 0600, and renames
// it over path, syncing the file and the directory.
func replaceFile(path string, data []byte, old fs.FileInfo) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("failed to create secrets file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("failed to create secrets file: %w", err)
	}
	if old != nil {
		if err := keepOwner(tmp, old); err != nil {
			return fmt.Errorf("failed to keep the owner of %s: %w", path, err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("failed to write secrets file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("failed to write secrets file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to write secrets file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to replace secrets file: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot sync a directory,
// and its renames need none.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("failed to sync directory: %w", err)
	}
	return nil
}
