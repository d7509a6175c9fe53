package client

// The TOTP state file: the last time step the client used, per secret and
// settings, so that two knocks within a step use two steps (see TOTP).

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StateDirEnv is the environment variable that names the directory of the
// client's state instead of DefaultStateDir's default.
const StateDirEnv = "SESAME_STATE_DIR"

// StateFile is the name of the TOTP state file in the state directory:
// '#' comment lines, then one line per secret and settings, the most
// recently written first, "KEY STEP": the last time step used, in decimal,
// under stateKey's hash (never the secret). Mode 0600, replaced whole.
const StateFile = "totp-steps"

// Bounds of the state file: the entries kept (the most recently written
// first) and the size read.
const (
	maxStateEntries = 256
	maxStateBytes   = 1 << 20
)

const stateHeader = "# sesame: the last TOTP time step used per secret and settings\n" +
	"# (SHA-256 of secret || lo || hi || length || step seconds, never the secret)\n"

// DefaultStateDir is $SESAME_STATE_DIR, else sesame in the user's cache
// directory (os.UserCacheDir: $XDG_CACHE_HOME or ~/.cache on Linux,
// ~/Library/Caches on macOS, %LocalAppData% on Windows).
func DefaultStateDir() (string, error) {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no directory for the TOTP state (%v; set $%s)", err, StateDirEnv)
	}
	return filepath.Join(d, "sesame"), nil
}

// stateKey names the secret and settings in the state file: the hex
// SHA-256 of secret || lo || hi (uint16 big endian each) || length (one
// byte) || step seconds (uint64 big endian). The secret is at least 16
// random bytes, so the hash does not give it away.
func (t *TOTP) stateKey() string {
	h := sha256.New()
	h.Write(t.Secret)
	var b [13]byte
	binary.BigEndian.PutUint16(b[0:], t.Lo)
	binary.BigEndian.PutUint16(b[2:], t.Hi)
	b[4] = byte(t.Length)
	binary.BigEndian.PutUint64(b[5:], uint64(t.Step/time.Second))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))
}

// stateEntry is a line of the state file: "KEY STEP".
type stateEntry struct {
	key  string
	step uint64
}

// readState reads the entries of the state file in dir, none when it
// does not exist.
func readState(dir string) ([]stateEntry, error) {
	path := filepath.Join(dir, StateFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	if len(data) > maxStateBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxStateBytes)
	}
	var es []stateEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxStateBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		var e stateEntry
		ok := len(fields) == 2 && len(fields[0]) == 2*sha256.Size
		if ok {
			_, herr := hex.DecodeString(fields[0])
			step, serr := strconv.ParseUint(fields[1], 10, 64)
			e, ok = stateEntry{strings.ToLower(fields[0]), step}, herr == nil && serr == nil
		}
		if !ok {
			return nil, fmt.Errorf("%s:%d: malformed line, expected a SHA-256 in hex and a step number", path, n)
		}
		es = append(es, e)
	}
	return es, sc.Err()
}

// readStep returns the last step recorded for key in dir's state file.
func readStep(dir, key string) (step uint64, ok bool, err error) {
	es, err := readState(dir)
	for _, e := range es {
		if e.key == key && (!ok || e.step > step) {
			step, ok = e.step, true
		}
	}
	return step, ok, err
}

// writeStep records step for key in dir's state file, creating dir (mode
// 0700) when needed. It rewrites the whole file, mode 0600, through a
// temporary file renamed over it, so that a reader never sees half of it;
// the entry written goes first, and only the maxStateEntries most recent
// are kept. Entries of a file that cannot be read are lost. Two sesame
// commands that write at once may lose one's entry: the state is a
// convenience, not a lock.
func writeStep(dir, key string, step uint64) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	old, _ := readState(dir)
	var b strings.Builder
	b.WriteString(stateHeader)
	fmt.Fprintf(&b, "%s %d\n", key, step)
	kept := 1
	for _, e := range old {
		if e.key == key || kept >= maxStateEntries {
			continue
		}
		fmt.Fprintf(&b, "%s %d\n", e.key, e.step)
		kept++
	}
	tmp, err := os.CreateTemp(dir, "."+StateFile+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, StateFile))
}
