package replay

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

const header = "sesame replay cache v1"

// entry is one line of the file.
type entry struct {
	key string
	exp int64 // Unix nanoseconds
}

// FormatError is a cache file that does not parse: where, and what was
// expected there.
type FormatError struct {
	File string
	Line int
	Msg  string
}

func (e *FormatError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// parse reads a cache file. It accepts exactly what writeEntries writes, so
// that any damage is reported instead of silently losing keys. name is
// used in errors. The floor, if any, is returned as the entry keyed
// floorKey, in its sorted place.
func parse(name string, data []byte) ([]entry, error) {
	fail := func(line int, format string, args ...any) ([]entry, error) {
		return nil, &FormatError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) == 0 {
		return fail(1, "empty file, want header %q", header)
	}
	var entries []entry
	rest := data
	for n := 1; len(rest) > 0; n++ {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return fail(n, "line does not end in a newline, want every line to (truncated file?)")
		}
		line := rest[:i]
		rest = rest[i+1:]
		if n == 1 {
			if string(line) != header {
				return fail(n, "got %s, want header %q", short(line), header)
			}
			continue
		}
		e, err := parseEntry(line)
		if err != nil {
			return fail(n, "%v", err)
		}
		if k := len(entries); k > 0 && e.key <= entries[k-1].key {
			return fail(n, "key not after the previous line's, want entries sorted by key, each key once")
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func parseEntry(line []byte) (entry, error) {
	num, key, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return entry{}, fmt.Errorf("got %s, want \"<expiry> <key>\"", short(line))
	}
	exp, ok := parseExpiry(num)
	if !ok {
		return entry{}, fmt.Errorf("invalid expiry %s, want Unix nanoseconds: decimal, no sign or leading zeros, at most %d", short(num), int64(math.MaxInt64))
	}
	if string(key) != floorKey { // the one reserved key; checkKey refuses the others
		if err := checkKey(string(key)); err != nil {
			return entry{}, fmt.Errorf("invalid key: %w", err)
		}
	}
	return entry{key: string(key), exp: exp}, nil
}

// parseExpiry accepts the canonical decimal form of a non-negative int64
// and nothing else, so that a parsed file re-serialises to itself.
func parseExpiry(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// short quotes b for an error message, cut to a length that keeps the
// message readable.
func short(b []byte) string {
	const limit = 40
	if len(b) > limit {
		return strconv.Quote(string(b[:limit])) + "..."
	}
	return strconv.Quote(string(b))
}

// writeEntries writes a cache file holding entries, which must be sorted
// by key.
func writeEntries(w io.Writer, entries []entry) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(header)
	bw.WriteByte('\n')
	var num [20]byte
	for _, e := range entries {
		bw.Write(strconv.AppendInt(num[:0], e.exp, 10))
		bw.WriteByte(' ')
		bw.WriteString(e.key)
		bw.WriteByte('\n')
	}
	return bw.Flush() // bufio keeps the first write error
}

// tempPrefix starts the name of every temp file written for the cache
// file named base. os.CreateTemp appends a random number.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// isTemp reports whether name is a temp file of the cache file named
// base. The rest must hold no dot, so that a temp file of a cache named
// "x.tmp-y" (".x.tmp-y.tmp-123") is not taken for one of "x".
func isTemp(name, base string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix(base))
	return ok && rest != "" && !strings.Contains(rest, ".")
}

// writeFile replaces path with a file holding entries, atomically and
// durably: temp file in the same directory, fsync, rename, fsync the
// directory. On failure the temp file is removed and path is either
// untouched or, if only the directory fsync failed, already replaced.
func writeFile(path string, entries []entry) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	f, err := os.CreateTemp(dir, tempPrefix(base)+"*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = writeEntries(f, entries)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be fsynced there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeStale removes the temp files that writers of the cache file named
// base left in dir when they crashed. It is best effort: a file it leaves
// is never read. It never removes a lock file: a lock file's name ends in
// lockSuffix, which holds a dot, and isTemp refuses names with a dot after
// the prefix.
func removeStale(dir, base string) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if de.Type().IsRegular() && isTemp(de.Name(), base) {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}
