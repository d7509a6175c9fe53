package replay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

// at is t0 plus s seconds: tests use fixed times and never sleep.
func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func cachePath(t *testing.T) string { return filepath.Join(t.TempDir(), "replay.cache") }

// mustOpen opens a cache that the test closes when it ends, unless it did.
func mustOpen(t *testing.T, path string, now time.Time, opts Options) *Cache {
	t.Helper()
	c, err := Open(path, now, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// onDisk parses the cache file as Open would.
func onDisk(t *testing.T, path string) []entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	es, err := parse(path, data)
	if err != nil {
		t.Fatalf("file after Add does not parse: %v", err)
	}
	return es
}

func TestCache(t *testing.T) {
	t.Parallel()
	type step struct {
		op       string // "add", "seen" or "len"
		key      string
		now, exp int    // seconds after t0
		wantErr  error  // add: errors.Is target
		wantText string // add: substring of the error
		want     bool   // seen
		wantLen  int    // len
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"add then seen", 0, []step{
			{op: "seen", key: "a", now: 0, want: false},
			{op: "add", key: "a", now: 0, exp: 30},
			{op: "seen", key: "a", now: 0, want: true},
			{op: "seen", key: "a", now: 29, want: true},
			{op: "seen", key: "b", now: 0, want: false},
			{op: "len", wantLen: 1},
		}},
		{"not seen from expiry on", 0, []step{
			{op: "add", key: "a", now: 0, exp: 30},
			{op: "seen", key: "a", now: 30, want: false},
			{op: "seen", key: "a", now: 3000, want: false},
		}},
		{"add again is a replay", 0, []step{
			{op: "add", key: "a", now: 0, exp: 30},
			{op: "add", key: "a", now: 10, exp: 40, wantErr: ErrReplay},
			{op: "add", key: "a", now: 29, exp: 90, wantErr: ErrReplay},
			{op: "seen", key: "a", now: 35, want: false}, // the replays did not extend it
			{op: "len", wantLen: 1},
		}},
		{"add again after expiry", 0, []step{
			{op: "add", key: "a", now: 0, exp: 30},
			{op: "add", key: "a", now: 30, exp: 60},
			{op: "seen", key: "a", now: 59, want: true},
			{op: "add", key: "a", now: 59, exp: 90, wantErr: ErrReplay},
		}},
		{"add prunes expired", 0, []step{
			{op: "add", key: "a", now: 0, exp: 10},
			{op: "add", key: "b", now: 0, exp: 20},
			{op: "add", key: "c", now: 15, exp: 30},
			{op: "len", wantLen: 2},
		}},
		{"full", 2, []step{
			{op: "add", key: "a", now: 0, exp: 10},
			{op: "add", key: "b", now: 0, exp: 20},
			{op: "add", key: "c", now: 5, exp: 20, wantErr: ErrFull},
			{op: "seen", key: "c", now: 5, want: false},
			{op: "add", key: "a", now: 5, exp: 20, wantErr: ErrReplay}, // replay wins over full
			{op: "add", key: "c", now: 10, exp: 20},                    // a expired
			{op: "seen", key: "c", now: 10, want: true},
			{op: "len", wantLen: 2},
		}},
		{"longest and widest key", 0, []step{
			{op: "add", key: strings.Repeat("~", MaxKeyLen), now: 0, exp: 1},
			{op: "add", key: "!#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~\"", now: 0, exp: 1},
		}},
		{"bad keys", 0, []step{
			{op: "add", key: "", now: 0, exp: 1, wantText: "invalid replay key: 0 bytes, want 1 to 200"},
			{op: "add", key: strings.Repeat("k", MaxKeyLen+1), now: 0, exp: 1, wantText: "invalid replay key: 201 bytes"},
			{op: "add", key: "a b", now: 0, exp: 1, wantText: "invalid replay key: byte 0x20 at offset 1"},
			{op: "add", key: "a\n", now: 0, exp: 1, wantText: "byte 0x0a at offset 1"},
			{op: "add", key: "\x00", now: 0, exp: 1, wantText: "byte 0x00 at offset 0"},
			{op: "add", key: "\x7f", now: 0, exp: 1, wantText: "byte 0x7f"},
			{op: "add", key: "é", now: 0, exp: 1, wantText: "byte 0xc3"},
			{op: "add", key: "#floor", now: 0, exp: 1, wantText: `invalid replay key: "#floor" starts with "#", which is reserved`},
			{op: "add", key: "#", now: 0, exp: 1, wantText: "reserved"},
			{op: "len", wantLen: 0},
			{op: "add", key: "a#", now: 0, exp: 1}, // only the first byte is reserved
			{op: "len", wantLen: 1},
		}},
		{"bad expiries", 0, []step{
			{op: "add", key: "a", now: 10, exp: 10, wantText: "want after now"},
			{op: "add", key: "a", now: 10, exp: 5, wantText: "want after now"},
			{op: "len", wantLen: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := cachePath(t)
			c := mustOpen(t, path, t0, Options{MaxEntries: tt.max})
			for i, s := range tt.steps {
				switch s.op {
				case "add":
					err := c.Add(s.key, at(s.exp), at(s.now))
					switch {
					case s.wantErr != nil && !errors.Is(err, s.wantErr):
						t.Fatalf("step %d: Add(%.20q, %d, %d) = %v, want %v", i, s.key, s.exp, s.now, err, s.wantErr)
					case s.wantText != "" && (err == nil || !strings.Contains(err.Error(), s.wantText)):
						t.Fatalf("step %d: Add(%.20q, %d, %d) = %v, want error containing %q", i, s.key, s.exp, s.now, err, s.wantText)
					case s.wantErr == nil && s.wantText == "" && err != nil:
						t.Fatalf("step %d: Add(%.20q, %d, %d) = %v, want nil", i, s.key, s.exp, s.now, err)
					case err == nil:
						// What was written is what is held.
						c.mu.Lock()
						want := c.sorted()
						c.mu.Unlock()
						if got := onDisk(t, path); !slices.Equal(got, want) {
							t.Fatalf("step %d: file holds %v, cache %v", i, got, want)
						}
					}
				case "seen":
					if got := c.Seen(s.key, at(s.now)); got != s.want {
						t.Fatalf("step %d: Seen(%q, %d) = %v, want %v", i, s.key, s.now, got, s.want)
					}
				case "len":
					if got := c.Len(); got != s.wantLen {
						t.Fatalf("step %d: Len() = %d, want %d", i, got, s.wantLen)
					}
				}
			}
		})
	}
}

func TestExpiryOutOfRange(t *testing.T) {
	t.Parallel()
	c := mustOpen(t, cachePath(t), t0, Options{})
	tests := []struct {
		name         string
		expires, now time.Time
	}{
		{"before 1970", time.Unix(-1, 0), time.Unix(-10, 0)},
		{"after 2262", time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC), t0},
	}
	for _, tt := range tests {
		err := c.Add("k", tt.expires, tt.now)
		if err == nil || !strings.Contains(err.Error(), "want between") {
			t.Errorf("%s: Add = %v, want an out of range error", tt.name, err)
		}
	}
}

func TestPersistence(t *testing.T) {
	t.Parallel()
	path := cachePath(t)
	c := mustOpen(t, path, t0, Options{})
	for _, k := range []struct {
		key string
		exp int
	}{{"totp:bob:1", 10}, {"totp:alice:1", 30}, {"cipher:AAAA", 20}} {
		if err := c.Add(k.key, at(k.exp), at(0)); err != nil {
			t.Fatal(err)
		}
	}
	// Sorted by key, expiries in nanoseconds.
	want := "sesame replay cache v1\n" +
		"1700000020000000000 cipher:AAAA\n" +
		"1700000030000000000 totp:alice:1\n" +
		"1700000010000000000 totp:bob:1\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("Stat = %v, %v; want mode 0600", fi.Mode(), err)
	}

	// A second cache, as after a restart at t0+15s: bob's key expired.
	must(t, c.Close())
	c2 := mustOpen(t, path, at(15), Options{})
	if got := c2.Len(); got != 2 {
		t.Errorf("Len after reopen = %d, want 2 (expired entry dropped)", got)
	}
	for key, want := range map[string]bool{"totp:alice:1": true, "cipher:AAAA": true, "totp:bob:1": false} {
		if got := c2.Seen(key, at(15)); got != want {
			t.Errorf("reopened Seen(%q) = %v, want %v", key, got, want)
		}
	}
	if err := c2.Add("totp:alice:1", at(60), at(15)); !errors.Is(err, ErrReplay) {
		t.Errorf("reopened Add of a used key = %v, want ErrReplay", err)
	}
	if got := readFile(t, path); got != want {
		t.Errorf("Open or a refused Add wrote the file:\n%s", got)
	}
	// The next write drops the expired entries (cipher expired at 20 too),
	// and records the latest expiry dropped, by Open or Add, as the floor.
	if err := c2.Add("totp:bob:2", at(60), at(25)); err != nil {
		t.Fatal(err)
	}
	want = "sesame replay cache v1\n" +
		"1700000020000000000 #floor\n" +
		"1700000030000000000 totp:alice:1\n" +
		"1700000060000000000 totp:bob:2\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("file after next write:\n%s\nwant:\n%s", got, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFailClosed breaks the directory under an open cache: Add must fail,
// say so, and not record the key, and once the directory is repaired the
// same knock must be accepted.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		root           bool // works as root
		break_, repair func(t *testing.T, dir, path string)
	}{
		{
			name: "path is a directory", root: true,
			break_: func(t *testing.T, dir, path string) {
				must(t, os.Remove(path))
				must(t, os.Mkdir(path, 0o700))
			},
			repair: func(t *testing.T, dir, path string) { must(t, os.Remove(path)) },
		},
		{
			name: "directory gone", root: true,
			break_: func(t *testing.T, dir, path string) { must(t, os.RemoveAll(dir)) },
			repair: func(t *testing.T, dir, path string) { must(t, os.Mkdir(dir, 0o700)) },
		},
		{
			name:   "directory read-only",
			break_: func(t *testing.T, dir, path string) { must(t, os.Chmod(dir, 0o500)) },
			repair: func(t *testing.T, dir, path string) { must(t, os.Chmod(dir, 0o700)) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !tt.root && os.Geteuid() == 0 {
				t.Skip("root ignores file permissions")
			}
			dir := filepath.Join(t.TempDir(), "state")
			must(t, os.Mkdir(dir, 0o700))
			path := filepath.Join(dir, "replay.cache")
			c := mustOpen(t, path, t0, Options{})
			if err := c.Add("first", at(60), at(0)); err != nil {
				t.Fatal(err)
			}
			tt.break_(t, dir, path)
			t.Cleanup(func() { os.Chmod(dir, 0o700) }) // let TempDir clean up

			err := c.Add("second", at(60), at(1))
			if err == nil || !strings.Contains(err.Error(), "failed to persist replay cache") {
				t.Fatalf("Add with a broken directory = %v, want a persist error", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if c.Seen("second", at(1)) {
				t.Error("key of a failed Add is Seen: the cache failed open")
			}
			if got := c.Len(); got != 1 {
				t.Errorf("Len = %d, want 1", got)
			}
			if !c.Seen("first", at(1)) {
				t.Error("a failed Add lost an earlier key")
			}

			tt.repair(t, dir, path)
			if err := c.Add("second", at(60), at(2)); err != nil {
				t.Fatalf("Add after repair = %v", err)
			}
			must(t, c.Close())
			c2 := mustOpen(t, path, at(2), Options{})
			if !c2.Seen("first", at(2)) || !c2.Seen("second", at(2)) {
				t.Errorf("after repair the file holds %q", readFile(t, path))
			}
			if got := leftovers(t, dir); len(got) != 0 {
				t.Errorf("temp files left behind: %v", got)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// leftovers lists the files in dir other than the cache and its lock
// file.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if de.Name() != "replay.cache" && de.Name() != "replay.cache.lock" {
			names = append(names, de.Name())
		}
	}
	return names
}

func TestOpen(t *testing.T) {
	t.Parallel()
	t.Run("missing file is empty", func(t *testing.T) {
		t.Parallel()
		path := cachePath(t)
		c := mustOpen(t, path, t0, Options{})
		if c.Len() != 0 || c.Path() != path {
			t.Errorf("Len = %d, Path = %q; want 0, %q", c.Len(), c.Path(), path)
		}
		if _, err := os.Stat(path); err == nil {
			t.Error("Open created the file")
		}
	})
	tests := []struct {
		name string
		path func(dir string) string
		opts Options
		want string
	}{
		{"missing directory", func(dir string) string { return filepath.Join(dir, "nope", "replay.cache") }, Options{}, "failed to open replay cache: stat"},
		{"directory is a file", func(dir string) string {
			must(t, os.WriteFile(filepath.Join(dir, "f"), nil, 0o600))
			return filepath.Join(dir, "f", "replay.cache")
		}, Options{}, "is not a directory"},
		{"path is a directory", func(dir string) string { return dir }, Options{}, "failed to read replay cache"},
		{"negative bound", func(dir string) string { return filepath.Join(dir, "c") }, Options{MaxEntries: -1}, "invalid replay cache bound -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Open(tt.path(t.TempDir()), t0, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, %v; want error containing %q", c, err, tt.want)
			}
		})
	}
}

func TestOpenCorrupt(t *testing.T) {
	t.Parallel()
	const h = "sesame replay cache v1\n"
	tests := []struct {
		name string
		data string
		line int
		want string
	}{
		{"empty", "", 1, `empty file, want header "sesame replay cache v1"`},
		{"other header", "sesame replay cache v2\n", 1, `got "sesame replay cache v2", want header "sesame replay cache v1"`},
		{"header without newline", "sesame replay cache v1", 1, "line does not end in a newline"},
		{"no header", "1700000000000000000 a\n", 1, "want header"},
		{"truncated entry", h + "1700000000000000000 a\n17000", 3, "line does not end in a newline"},
		{"blank line", h + "\n", 2, `got "", want "<expiry> <key>"`},
		{"no space", h + "1700000000000000000\n", 2, `want "<expiry> <key>"`},
		{"expiry not a number", h + "17x 0 a\n", 2, `invalid expiry "17x", want Unix nanoseconds`},
		{"negative expiry", h + "-1 a\n", 2, "invalid expiry"},
		{"plus sign", h + "+1 a\n", 2, "invalid expiry"},
		{"leading zero", h + "01 a\n", 2, "invalid expiry"},
		{"expiry overflows", h + "9223372036854775808 a\n", 2, "invalid expiry"},
		{"empty expiry", h + " a\n", 2, "invalid expiry"},
		{"empty key", h + "1 \n", 2, "invalid key: 0 bytes"},
		{"two spaces", h + "1  a\n", 2, "invalid key: byte 0x20 at offset 0"},
		{"key with space", h + "1 a b\n", 2, "invalid key: byte 0x20 at offset 1"},
		{"crlf", h + "1 a\r\n", 2, "invalid key: byte 0x0d"},
		{"long key", h + "1 " + strings.Repeat("k", 201) + "\n", 2, "invalid key: 201 bytes"},
		{"out of order", h + "1 b\n1 a\n", 3, "want entries sorted by key, each key once"},
		{"duplicate", h + "1 a\n2 b\n3 b\n", 4, "want entries sorted by key"},
		{"zero bytes", h + "1 a\n\x00\x00\x00\n", 3, `got "\x00\x00\x00"`},
		{"unknown reserved key", h + "1 #floor\n1 #other\n", 3, `invalid key: "#other" starts with "#", which is reserved`},
		{"reserved prefix alone", h + "1 #\n", 2, "reserved"},
		{"floor out of order", h + "1 a\n1 #floor\n", 3, "want entries sorted by key"},
		{"floor twice", h + "1 #floor\n2 #floor\n", 3, "want entries sorted by key"},
		{"floor without expiry", h + " #floor\n", 2, "invalid expiry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := cachePath(t)
			must(t, os.WriteFile(path, []byte(tt.data), 0o600))
			c, err := Open(path, t0, Options{})
			if err == nil {
				t.Fatalf("Open of a corrupt file = %d entries, want an error", c.Len())
			}
			prefix := fmt.Sprintf("%s:%d: ", path, tt.line)
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Fatalf("Open error:\n%s\nwant one line starting %q containing %q", msg, prefix, tt.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != path || fe.Line != tt.line {
				t.Errorf("error %#v, want a *FormatError at %s:%d", err, path, tt.line)
			}
		})
	}
}

// TestAtomic checks that a successful Add leaves nothing but the cache
// file, and that a crash-left temp file is neither read nor kept by Open.
func TestAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "replay.cache")
	c := mustOpen(t, path, t0, Options{})
	for i := range 5 {
		if err := c.Add(fmt.Sprintf("k%d", i), at(60), at(0)); err != nil {
			t.Fatal(err)
		}
	}
	if got := leftovers(t, dir); len(got) != 0 {
		t.Fatalf("files besides the cache after successful Adds: %v", got)
	}
	want := readFile(t, path)

	// A writer that crashed before its rename leaves a partial temp file.
	stale := filepath.Join(dir, tempPrefix("replay.cache")+"123456")
	must(t, os.WriteFile(stale, []byte("sesame replay cache v1\n17000"), 0o600))
	// Files that only look alike belong to others and stay.
	others := []string{
		tempPrefix("other.cache") + "1",
		tempPrefix("replay.cache.tmp-x") + "1", // a temp file of a cache named "replay.cache.tmp-x"
		"replay.cache.bak",
	}
	for _, name := range others {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600))
	}

	must(t, c.Close())
	c2 := mustOpen(t, path, at(1), Options{})
	if c2.Len() != 5 {
		t.Errorf("Len after Open = %d, want 5", c2.Len())
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("Open kept the stale temp file")
	}
	if _, err := os.Stat(lockPath(path)); err != nil {
		t.Errorf("the lock file is gone after Open: %v", err)
	}
	slices.Sort(others)
	if got := leftovers(t, dir); !slices.Equal(got, others) {
		t.Errorf("files after Open = %v, want %v", got, others)
	}
	if got := readFile(t, path); got != want {
		t.Errorf("Open changed the file:\n%s", got)
	}
}

// TestReadersSeeWholeFiles reads the file while another goroutine adds
// keys: every read must parse, and hold no fewer keys than the one before.
func TestReadersSeeWholeFiles(t *testing.T) {
	t.Parallel()
	path := cachePath(t)
	c := mustOpen(t, path, t0, Options{})
	if err := c.Add("k000", at(60), at(0)); err != nil {
		t.Fatal(err)
	}
	const n = 100
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		last := 0
		for {
			select {
			case <-done:
				return
			default:
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("read during Add: %v", err)
				return
			}
			es, err := parse(path, data)
			if err != nil {
				t.Errorf("partial file seen: %v", err)
				return
			}
			if len(es) < last {
				t.Errorf("read %d entries after %d", len(es), last)
				return
			}
			last = len(es)
		}
	})
	for i := 1; i < n; i++ {
		if err := c.Add(fmt.Sprintf("k%03d", i), at(60), at(0)); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	if got := len(onDisk(t, path)); got != n {
		t.Errorf("file holds %d entries, want %d", got, n)
	}
}

// TestConcurrentAddOnce races many Adds of one key: exactly one wins.
func TestConcurrentAddOnce(t *testing.T) {
	t.Parallel()
	c := mustOpen(t, cachePath(t), t0, Options{})
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = c.Add("totp:alice:56666667", at(30), at(0))
			c.Seen("totp:alice:56666667", at(0))
			c.Len()
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrReplay):
			t.Errorf("Add = %v, want nil or ErrReplay", err)
		}
	}
	if won != 1 {
		t.Errorf("%d Adds of one key succeeded, want 1", won)
	}
}

// TestOpenOverBound loads a file written under a larger bound: no key is
// dropped, and Add refuses until enough expire.
func TestOpenOverBound(t *testing.T) {
	t.Parallel()
	path := cachePath(t)
	data := "sesame replay cache v1\n" +
		"1700000010000000000 a\n" +
		"1700000020000000000 b\n" +
		"1700000030000000000 c\n"
	must(t, os.WriteFile(path, []byte(data), 0o600))
	c := mustOpen(t, path, t0, Options{MaxEntries: 2})
	if got := c.Len(); got != 3 {
		t.Fatalf("Len = %d, want 3", got)
	}
	for _, s := range []struct {
		now  int
		want error
	}{{0, ErrFull}, {10, ErrFull}, {20, nil}} {
		if err := c.Add("d", at(60), at(s.now)); !errors.Is(err, s.want) {
			t.Errorf("Add at %ds = %v, want %v", s.now, err, s.want)
		}
	}
}

// addOK adds key, failing the test on error.
func addOK(t *testing.T, c *Cache, key string, expires, now time.Time) {
	t.Helper()
	if err := c.Add(key, expires, now); err != nil {
		t.Fatalf("Add(%q, %s, %s) = %v", key, stamp(expires), stamp(now), err)
	}
}

// wantBehind checks that Add(key) at now is refused with ErrClockBehind
// naming now and floor, and that it changed neither the cache nor the file.
func wantBehind(t *testing.T, c *Cache, key string, expires, now, floor time.Time) {
	t.Helper()
	file, n := readFile(t, c.Path()), c.Len()
	err := c.Add(key, expires, now)
	if !errors.Is(err, ErrClockBehind) {
		t.Fatalf("Add(%q) at %s = %v, want ErrClockBehind", key, stamp(now), err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "the clock is behind the replay cache: ") ||
		!strings.Contains(msg, stamp(now)) || !strings.Contains(msg, stamp(floor)) || strings.Contains(msg, "\n") {
		t.Errorf("error %q, want one line naming now (%s) and the floor (%s)", msg, stamp(now), stamp(floor))
	}
	if got := readFile(t, c.Path()); got != file {
		t.Errorf("a refused Add wrote the file:\n%s\nwas:\n%s", got, file)
	}
	if got := c.Len(); got != n {
		t.Errorf("a refused Add changed Len from %d to %d", n, got)
	}
	if c.Seen(key, now) && !strings.Contains(file, " "+key+"\n") {
		t.Errorf("a refused Add recorded %q", key)
	}
}

// TestClockForwardThenBack: a clock ten minutes ahead prunes a key early;
// once it is set back, that key's knock must not be accepted again.
func TestClockForwardThenBack(t *testing.T) {
	t.Parallel()
	path := cachePath(t)
	c := mustOpen(t, path, at(0), Options{})
	addOK(t, c, "A", at(30), at(0))
	addOK(t, c, "B", at(630), at(600)) // clock ahead: A is dropped
	if c.Seen("A", at(0)) {
		t.Fatal("A is still held: the test does not test the floor")
	}
	want := "sesame replay cache v1\n" +
		"1700000030000000000 #floor\n" + // A's expiry
		"1700000630000000000 B\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}

	// The clock is set back to t0: A's knock is within its validity again.
	wantBehind(t, c, "A", at(30), at(0), at(30))
	wantBehind(t, c, "C", at(60), at(0), at(30))
	wantBehind(t, c, "C", at(60), at(30).Add(-time.Nanosecond), at(30))
	if c.Seen("A", at(0)) || !c.Seen("B", at(0)) || c.Len() != 1 {
		t.Errorf("Seen(A), Seen(B), Len = %v, %v, %d; want false, true, 1", c.Seen("A", at(0)), c.Seen("B", at(0)), c.Len())
	}
	// From the floor on, A would have expired anyway.
	addOK(t, c, "C", at(60), at(30))
	addOK(t, c, "D", at(660), at(601))
	want = "sesame replay cache v1\n" +
		"1700000060000000000 #floor\n" + // C's expiry
		"1700000630000000000 B\n" +
		"1700000660000000000 D\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	// Before the floor even a replay gets ErrClockBehind; from it on,
	// ErrReplay.
	wantBehind(t, c, "B", at(700), at(59), at(60))
	if err := c.Add("B", at(700), at(600)); !errors.Is(err, ErrReplay) {
		t.Errorf("Add(B) = %v, want ErrReplay", err)
	}
}

// TestFloorSurvivesReopen: the floor is read back, whatever the time, and
// kept even once the clock has passed it.
func TestFloorSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := cachePath(t)
	c := mustOpen(t, path, at(0), Options{})
	addOK(t, c, "A", at(30), at(0))
	addOK(t, c, "B", at(630), at(600))
	must(t, c.Close())
	file := readFile(t, path)

	// Restarted with the clock set back.
	c = mustOpen(t, path, at(0), Options{})
	if !c.Seen("B", at(0)) || c.Seen("A", at(0)) {
		t.Error("reopened cache lost B or found A")
	}
	wantBehind(t, c, "A", at(30), at(0), at(30))
	must(t, c.Close())
	if got := readFile(t, path); got != file {
		t.Fatalf("file changed:\n%s", got)
	}

	// Restarted after the floor: it is kept, and written again.
	c = mustOpen(t, path, at(40), Options{})
	addOK(t, c, "C", at(100), at(40))
	want := "sesame replay cache v1\n" +
		"1700000030000000000 #floor\n" +
		"1700000630000000000 B\n" +
		"1700000100000000000 C\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	must(t, c.Close())
	c = mustOpen(t, path, at(0), Options{})
	wantBehind(t, c, "D", at(100), at(29), at(30))
}

// TestOpenRaisesFloor: the entries Open drops raise the floor in memory,
// and the next Add writes it.
func TestOpenRaisesFloor(t *testing.T) {
	t.Parallel()
	path := cachePath(t)
	data := "sesame replay cache v1\n" +
		"1700000010000000000 #floor\n" +
		"1700000020000000000 a\n" +
		"1700000100000000000 b\n" +
		"1700000040000000000 c\n"
	must(t, os.WriteFile(path, []byte(data), 0o600))
	c := mustOpen(t, path, at(50), Options{}) // ahead: a and c expired
	if got := readFile(t, path); got != data {
		t.Fatalf("Open wrote the file:\n%s", got)
	}
	if c.Len() != 1 || !c.Seen("b", at(0)) || c.Seen("a", at(0)) || c.Seen("c", at(0)) {
		t.Fatalf("Len = %d, want only b held", c.Len())
	}
	wantBehind(t, c, "a", at(100), at(0), at(40))
	wantBehind(t, c, "c", at(100), at(39), at(40))
	addOK(t, c, "d", at(100), at(40))
	want := "sesame replay cache v1\n" +
		"1700000040000000000 #floor\n" +
		"1700000100000000000 b\n" +
		"1700000100000000000 d\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
}

// TestOldFormat: a file without a floor opens, with no floor, until a key
// is dropped.
func TestOldFormat(t *testing.T) {
	t.Parallel()
	path := cachePath(t)
	data := "sesame replay cache v1\n" +
		"1700000030000000000 cipher:AAAA\n" +
		"1700000030000000000 totp:alice:1\n"
	must(t, os.WriteFile(path, []byte(data), 0o600))
	c := mustOpen(t, path, at(0), Options{})
	if c.Len() != 2 || !c.Seen("cipher:AAAA", at(0)) {
		t.Fatalf("Len = %d, want 2", c.Len())
	}
	addOK(t, c, "totp:bob:1", at(30), at(-100)) // no floor: any time goes
	want := "sesame replay cache v1\n" +
		"1700000030000000000 cipher:AAAA\n" +
		"1700000030000000000 totp:alice:1\n" +
		"1700000030000000000 totp:bob:1\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	addOK(t, c, "totp:bob:2", at(60), at(30))
	want = "sesame replay cache v1\n" +
		"1700000030000000000 #floor\n" +
		"1700000060000000000 totp:bob:2\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
}

// TestFloorSortsWithKeys: keys starting with '!' or '"' sort before the
// floor, and the file still parses.
func TestFloorSortsWithKeys(t *testing.T) {
	t.Parallel()
	path := cachePath(t)
	c := mustOpen(t, path, at(0), Options{})
	addOK(t, c, "x", at(1), at(0))
	for _, k := range []string{"$c", "!a", `"b`} {
		addOK(t, c, k, at(60), at(1))
	}
	want := "sesame replay cache v1\n" +
		"1700000060000000000 !a\n" +
		"1700000060000000000 \"b\n" +
		"1700000001000000000 #floor\n" +
		"1700000060000000000 $c\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	must(t, c.Close())
	c = mustOpen(t, path, at(0), Options{})
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
	wantBehind(t, c, "x", at(1), at(0), at(1))
}

// TestLock: one Cache per file at a time, until Close.
func TestLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "replay.cache")
	c := mustOpen(t, path, t0, Options{})
	addOK(t, c, "a", at(60), at(0)) // replaces the cache file, not the lock
	lp := filepath.Join(dir, "replay.cache.lock")
	fi, err := os.Stat(lp)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, %v; want a regular file, mode 0600", fi, err)
	}

	if locking {
		c2, err := Open(path, t0, Options{})
		if err == nil {
			c2.Close()
			t.Fatal("second Open of a locked cache succeeded")
		}
		msg := err.Error()
		for _, want := range []string{lp, "another sesamed seems to use this state directory", "StateDir"} {
			if !strings.Contains(msg, want) {
				t.Errorf("second Open = %q, want it to contain %q", msg, want)
			}
		}
		if !c.Seen("a", at(0)) {
			t.Error("a failed Open disturbed the first cache")
		}
	}

	must(t, c.Close())
	must(t, c.Close()) // again: nothing
	if err := c.Add("b", at(60), at(0)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Add after Close = %v, want fs.ErrClosed", err)
	}
	if !c.Seen("a", at(0)) || c.Len() != 1 {
		t.Error("Seen or Len stopped working after Close")
	}
	c2 := mustOpen(t, path, at(1), Options{})
	if !c2.Seen("a", at(1)) {
		t.Error("reopened cache lost a")
	}
	addOK(t, c2, "b", at(60), at(1))
	if _, err := os.Stat(lp); err != nil {
		t.Errorf("lock file gone after reopen: %v", err)
	}
}

// TestFailedOpenUnlocks: an Open that fails after locking releases the
// lock.
func TestFailedOpenUnlocks(t *testing.T) {
	t.Parallel()
	path := cachePath(t)
	must(t, os.WriteFile(path, []byte("garbage\n"), 0o600))
	if c, err := Open(path, t0, Options{}); err == nil {
		c.Close()
		t.Fatal("Open of a corrupt file succeeded")
	}
	must(t, os.Remove(path))
	mustOpen(t, path, t0, Options{})
}

// TestLockOtherProcess: the lock holds against another process, not just
// another Cache in this one. It is not parallel: between fork and exec a
// child holds a copy of every descriptor, the lock files' of parallel
// tests too, so their Close-then-Open could find the lock still held.
func TestLockOtherProcess(t *testing.T) {
	if path := os.Getenv("SESAME_REPLAY_LOCK_CHILD"); path != "" {
		c, err := Open(path, t0, Options{})
		if err != nil {
			fmt.Print(err)
			os.Exit(3)
		}
		c.Close()
		os.Exit(0)
	}
	if !locking {
		t.Skip("no file locking on " + runtime.GOOS)
	}
	path := cachePath(t)
	child := func() (string, int) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockOtherProcess$")
		cmd.Env = append(os.Environ(), "SESAME_REPLAY_LOCK_CHILD="+path)
		out, err := cmd.Output()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		}
		t.Fatal(err)
		return "", 0
	}
	c := mustOpen(t, path, t0, Options{})
	if out, code := child(); code != 3 || !strings.Contains(out, "another sesamed") {
		t.Errorf("child Open while locked: exit %d, %q; want exit 3 and the lock error", code, out)
	}
	must(t, c.Close())
	if out, code := child(); code != 0 {
		t.Errorf("child Open after Close: exit %d, %q; want 0", code, out)
	}
}
