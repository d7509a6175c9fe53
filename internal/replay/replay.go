// Package replay remembers which replay-proof knocks have been used, so
// that each one opens the door at most once, across restarts and crashes
// too. A TOTP knock is keyed by client and time step, a cipher knock by
// its cipher block. A key is kept until it expires, the moment after which
// the knock would be refused anyway, and is then forgotten.
//
// Three choices follow from "at most once".
//
// Fail closed. Add writes the key to disk before it returns. If that
// fails, the key is not kept in memory either and Add returns an error, so
// that the caller refuses the knock: a key we accepted but could lose in a
// crash would let the knock be replayed after a restart. For the same
// reason a file that does not parse makes Open fail rather than start
// empty, because an empty cache accepts every recent knock again. A
// zero-length file counts as corrupt: some filesystems leave one behind
// when a writer crashes before its data reached the disk.
//
// Atomic rename. Every change rewrites the whole file: the entries go to a
// temp file in the same directory, which is fsynced, renamed over the
// cache file, and then the directory is fsynced. So the cache file is
// always either the old or the new content, never a mix, and a rename
// that returned has survived a crash. A crash can leave a temp file
// (".<name>.tmp-<random>") behind; Open never reads those and removes them.
//
// Bounded. At most Options.MaxEntries unexpired keys are kept. When the
// cache is full Add returns ErrFull, refusing the knock, instead of
// evicting a key whose knock could then be replayed. Expired keys are
// dropped on Open and on every Add.
//
// The clock floor. "Expired" is judged by the wall clock, which can be
// wrong: if it runs ahead, keys are dropped early, and once it is set back
// their knocks would be accepted again. So the cache remembers the latest
// expiry of any key it ever dropped, the floor, and stores it in the file.
// Before the floor a dropped key might not have expired yet, so Add
// refuses every key with ErrClockBehind, and writes and drops nothing,
// until the clock reaches the floor again. The floor only rises. It is the
// expiry of a dropped key, not the wrong time itself, so after a jump
// ahead and back Add refuses only until the keys held before the jump
// would have expired (minutes, for knocks).
//
// One writer. A cache file belongs to one Cache in one process at a time:
// two writers would each overwrite the other's keys. Open takes an
// exclusive advisory lock (flock) on a lock file beside the cache file,
// its name plus ".lock", and holds it until Close; a second Open of the
// same file fails while the lock is held, in this process or another. The
// lock file is created if missing and never removed: removing it could let
// two processes each lock a different file of that name. The lock is not
// taken on the cache file itself, which every write replaces. Where flock
// is not available (Windows, which the daemon does not support) there is
// no lock.
//
// # File format
//
// Version 1 is text, so that it can be read and diffed:
//
//	sesame replay cache v1
//	1700000020000000000 #floor
//	1700000090000000000 cipher:3q2+7wAAAAAAAAAAAAAAAA==
//	1700000030000000000 totp:alice:56666667
//
// The first line is the header. Every further line is one entry: the
// expiry in Unix nanoseconds (decimal, no sign, no leading zeros), one
// space, and the key (1 to 200 bytes of printable ASCII, no spaces).
// Entries are sorted by key, bytewise, each key once, and every line ends
// in "\n". Anything else is corrupt, and Open's error names the file and
// line; a hand edit must keep that form.
//
// Keys starting with '#' are reserved for the cache's own records, and
// callers' keys must not start with one. The only one is "#floor", whose
// expiry field holds the clock floor; it sorts with the other keys, and
// is written once a key has been dropped. Files without it (written before
// there was a floor, or before any key was dropped) have no floor. A
// reader that predates it takes it for an ordinary key, which is harmless.
package replay

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultMaxEntries is the bound used when Options.MaxEntries is zero.
const DefaultMaxEntries = 1 << 16

// MaxKeyLen is the longest key, in bytes.
const MaxKeyLen = 200

var (
	// ErrReplay means the key is already recorded and not expired: the
	// knock was used before.
	ErrReplay = errors.New("replayed knock: key already used")
	// ErrFull means MaxEntries unexpired keys are recorded; no key can be
	// added until some expire.
	ErrFull = errors.New("replay cache full")
	// ErrClockBehind means now is before the floor, the latest expiry of
	// a key already dropped: the clock went back after it had run ahead.
	// No key can be added until the clock reaches the floor, since the
	// dropped key's knock might otherwise be replayed.
	ErrClockBehind = errors.New("the clock is behind the replay cache")
)

// Options tune a Cache.
type Options struct {
	// MaxEntries bounds the number of unexpired keys; 0 means
	// DefaultMaxEntries.
	MaxEntries int
}

// Cache is a persistent set of keys with expiry times. It is safe for
// concurrent use.
type Cache struct {
	path string
	max  int

	mu       sync.Mutex
	m        map[string]int64 // key → expiry, Unix nanoseconds
	floor    int64            // latest expiry of a dropped key, if hasFloor
	hasFloor bool
	lock     *os.File // the locked lock file; nil once closed
}

// Open loads the cache stored at path, dropping the entries expired at
// now. A missing file is an empty cache, but the directory must exist. A
// file that does not parse is an error (a *FormatError naming file and
// line), never an empty cache. Open does not write the cache file; the
// next Add does, along with the floor raised by the entries Open dropped.
// A file holding more unexpired keys than opts.MaxEntries (the bound was
// lowered) is loaded whole, and Add returns ErrFull until enough expire:
// dropping keys would let their knocks be replayed.
//
// Open locks path+".lock", creating it (mode 0600) if missing, and fails if
// another Cache holds that lock. Close releases it.
func Open(path string, now time.Time, opts Options) (*Cache, error) {
	limit := opts.MaxEntries
	switch {
	case limit == 0:
		limit = DefaultMaxEntries
	case limit < 0:
		return nil, fmt.Errorf("invalid replay cache bound %d: want a positive number of entries", limit)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open replay cache: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("failed to open replay cache %s: %s is not a directory", path, dir)
	}
	lock, err := acquire(path)
	if err != nil {
		return nil, err
	}
	c := &Cache{path: path, max: limit, m: make(map[string]int64), lock: lock}
	if err := c.load(now); err != nil {
		lock.Close()
		return nil, err
	}
	removeStale(dir, filepath.Base(path))
	return c, nil
}

// load reads the cache file into c, dropping the entries expired at now
// and raising the floor to their expiries.
func (c *Cache) load(now time.Time) error {
	data, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("failed to read replay cache: %w", err)
	}
	entries, err := parse(c.path, data)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch {
		case e.key == floorKey:
			c.raiseFloor(e.exp) // whatever now is: the floor is never dropped
		case live(e.exp, now):
			c.m[e.key] = e.exp
		default:
			c.raiseFloor(e.exp)
		}
	}
	return nil
}

// lockPath is the lock file of the cache file at path.
func lockPath(path string) string { return path + lockSuffix }

// lockSuffix ends a lock file's name. It holds a dot, so that removeStale
// never takes a lock file for a temp file (see isTemp).
const lockSuffix = ".lock"

// errLocked is returned by lockFile when another open file holds the lock.
var errLocked = errors.New("locked")

// acquire opens and locks the lock file of the cache file at path.
func acquire(path string) (*os.File, error) {
	lp := lockPath(path)
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open replay cache lock file: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("failed to open replay cache %s: its lock file %s is locked: another sesamed seems to use this state directory (give each its own StateDir)", path, lp)
		}
		return nil, fmt.Errorf("failed to lock replay cache lock file %s: %w", lp, err)
	}
	return f, nil
}

// Close releases the lock Open took. Add fails from then on; Seen and Len
// keep answering from memory. Closing again does nothing.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		return nil
	}
	err := c.lock.Close() // closing the only descriptor releases the flock
	c.lock = nil
	if err != nil {
		return fmt.Errorf("failed to release replay cache lock: %w", err)
	}
	return nil
}

// Path is the file the cache is stored in.
func (c *Cache) Path() string { return c.path }

// Len is the number of keys held: those unexpired at the last Open or Add,
// and any added since.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Seen reports whether key is recorded and not expired at now.
func (c *Cache) Seen(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[key]
	return ok && live(exp, now)
}

// Add records key until expires (it is unexpired while now is before
// expires), drops the keys expired at now, and writes the cache to disk
// before it returns. If key is recorded and unexpired it returns ErrReplay;
// if MaxEntries keys are, ErrFull; neither writes. If now is before the
// floor (see the package comment) it returns an error wrapping
// ErrClockBehind, and neither drops nor writes anything. If writing fails,
// the error says so and key is not recorded: the caller must refuse the
// knock. After Close, Add fails.
func (c *Cache) Add(key string, expires, now time.Time) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("invalid replay key: %w", err)
	}
	if !expires.After(now) {
		return fmt.Errorf("invalid replay key expiry %s: want after now (%s)", stamp(expires), stamp(now))
	}
	if expires.Before(minExpiry) || expires.After(maxExpiry) {
		return fmt.Errorf("invalid replay key expiry %s: want between %s and %s", stamp(expires), stamp(minExpiry), stamp(maxExpiry))
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		return fmt.Errorf("replay cache %s: %w", c.path, fs.ErrClosed)
	}
	if c.hasFloor && now.Before(time.Unix(0, c.floor)) {
		return fmt.Errorf("%w: now is %s, before %s, the expiry of a key already forgotten; no knock can be recorded until then (was the clock set back?)",
			ErrClockBehind, stamp(now), stamp(time.Unix(0, c.floor)))
	}
	maps.DeleteFunc(c.m, func(_ string, exp int64) bool {
		if live(exp, now) {
			return false
		}
		c.raiseFloor(exp)
		return true
	})
	if _, ok := c.m[key]; ok {
		return ErrReplay
	}
	if len(c.m) >= c.max {
		return ErrFull
	}
	c.m[key] = expires.UnixNano()
	if err := writeFile(c.path, c.sorted()); err != nil {
		delete(c.m, key)
		return fmt.Errorf("failed to persist replay cache, key not recorded: %w", err)
	}
	return nil
}

// raiseFloor records that an entry expiring at exp was dropped. c.mu must
// be held, or c not yet shared.
func (c *Cache) raiseFloor(exp int64) {
	if !c.hasFloor || exp > c.floor {
		c.floor, c.hasFloor = exp, true
	}
}

// sorted returns the entries in file order, the floor's included. c.mu
// must be held.
func (c *Cache) sorted() []entry {
	es := make([]entry, 0, len(c.m)+1)
	for k, exp := range c.m {
		es = append(es, entry{key: k, exp: exp})
	}
	if c.hasFloor {
		es = append(es, entry{key: floorKey, exp: c.floor})
	}
	slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	return es
}

// The expiries a file can hold: Unix nanoseconds that fit an int64 and are
// not negative.
var (
	minExpiry = time.Unix(0, 0)
	maxExpiry = time.Unix(0, math.MaxInt64)
)

// live reports whether an entry expiring at exp is unexpired at now.
// Comparing as time.Time avoids now.UnixNano, which is undefined outside
// the years 1678 to 2262.
func live(exp int64, now time.Time) bool { return now.Before(time.Unix(0, exp)) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// reservedPrefix starts the keys the cache keeps for itself; callers' keys
// must not start with it.
const reservedPrefix = "#"

// floorKey is the reserved entry holding the floor.
const floorKey = reservedPrefix + "floor"

// checkKey reports why key cannot be a caller's key, or nil.
func checkKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return fmt.Errorf("%d bytes, want 1 to %d", len(key), MaxKeyLen)
	}
	for i := range len(key) {
		if b := key[i]; b <= ' ' || b > '~' {
			return fmt.Errorf("byte 0x%02x at offset %d, want printable ASCII without spaces", b, i)
		}
	}
	if strings.HasPrefix(key, reservedPrefix) {
		return fmt.Errorf("%s starts with %q, which is reserved for the cache's own entries", short([]byte(key)), reservedPrefix)
	}
	return nil
}
