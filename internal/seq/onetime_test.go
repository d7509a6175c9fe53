package seq

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesame-knock/sesame/internal/config"
)

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seqs")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func current(t *testing.T, o *OneTime) string {
	t.Helper()
	s, ok := o.Current()
	if !ok {
		return "<none>"
	}
	return config.FormatSequence(s)
}

// step is one use of the file: the sequence expected before marking, and
// the file content after.
type step struct {
	seq  string
	file string
}

func TestOneTimeMarking(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		steps   []step
		invalid []string
	}{
		{
			name: "leading blank, as knockd's manual recommends",
			file: " 1000,2000,3000\n 4000:udp,5000\n",
			steps: []step{
				{"1000:tcp,2000:tcp,3000:tcp", "#1000,2000,3000\n 4000:udp,5000\n"},
				{"4000:udp,5000:tcp", "#1000,2000,3000\n#4000:udp,5000\n"},
			},
		},
		{
			name: "no leading blank: the '#' eats the first digit",
			file: "1000,2000\n3000,4000\n",
			steps: []step{
				{"1000:tcp,2000:tcp", "#000,2000\n3000,4000\n"},
				{"3000:tcp,4000:tcp", "#000,2000\n#000,4000\n"},
			},
		},
		{
			name: "CRLF lines",
			file: " 1,2\r\n 3,4\r\n",
			steps: []step{
				{"1:tcp,2:tcp", "#1,2\r\n 3,4\r\n"},
				{"3:tcp,4:tcp", "#1,2\r\n#3,4\r\n"},
			},
		},
		{
			name: "comments, blank lines, tabs, no final newline",
			file: "# my sequences\n\n\t# indented comment\n\t7,8\n   \n 9,10",
			steps: []step{
				{"7:tcp,8:tcp", "# my sequences\n\n\t# indented comment\n#7,8\n   \n 9,10"},
				{"9:tcp,10:tcp", "# my sequences\n\n\t# indented comment\n#7,8\n   \n#9,10"},
			},
		},
		{
			// knockd would write the '#' over " bad" (the offset of the last
			// line it skipped) and leave " 5,6" usable for ever.
			name: "invalid lines are skipped and never marked",
			file: "# c\n bad\n 70000\n 5,6\n 7,8\n",
			steps: []step{
				{"5:tcp,6:tcp", "# c\n bad\n 70000\n#5,6\n 7,8\n"},
				{"7:tcp,8:tcp", "# c\n bad\n 70000\n#5,6\n#7,8\n"},
			},
			invalid: []string{
				`seqs:2: bad one-time sequence, skipped: element 1 "bad": port "bad" is not a number, expected 1-65535`,
				`seqs:3: bad one-time sequence, skipped: element 1 "70000": port 70000 out of range, expected 1-65535`,
			},
		},
		{
			name: "trailing comment on a line",
			file: " 11,12 # for alice\n",
			steps: []step{
				{"11:tcp,12:tcp", "#11,12 # for alice\n"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeTemp(t, tt.file)
			o, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			var inv []string
			for _, e := range o.Invalid() {
				inv = append(inv, strings.Replace(e.Error(), path, "seqs", 1))
			}
			if got, want := strings.Join(inv, "\n"), strings.Join(tt.invalid, "\n"); got != want {
				t.Errorf("Invalid() (-want +got):\n-%s\n+%s", want, got)
			}
			for i, s := range tt.steps {
				if got := current(t, o); got != s.seq {
					t.Fatalf("step %d: Current() = %s, want %s", i, got, s.seq)
				}
				before := readFile(t, path)
				if err := o.MarkUsed(); err != nil {
					t.Fatalf("step %d: MarkUsed: %v", i, err)
				}
				after := readFile(t, path)
				if after != s.file {
					t.Fatalf("step %d: file after MarkUsed (-want +got):\n-%q\n+%q", i, s.file, after)
				}
				if n := bytesChanged(before, after); n != 1 {
					t.Errorf("step %d: MarkUsed changed %d bytes, want 1", i, n)
				}
			}
			if got := current(t, o); got != "<none>" {
				t.Errorf("after the last step Current() = %s, want none", got)
			}
			if err := o.MarkUsed(); !errors.Is(err, ErrExhausted) {
				t.Errorf("MarkUsed on an exhausted file = %v, want ErrExhausted", err)
			}
			if _, err := Open(path); !errors.Is(err, ErrExhausted) {
				t.Errorf("Open(exhausted file) = %v, want ErrExhausted", err)
			}
		})
	}
}

func bytesChanged(a, b string) int {
	if len(a) != len(b) {
		return -1
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestOneTimeOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	for _, content := range []string{"", "# only comments\n\n", "#1,2\n#3,4\n", " bad\n"} {
		if _, err := Open(writeTemp(t, content)); !errors.Is(err, ErrExhausted) {
			t.Errorf("Open(%q) = %v, want ErrExhausted", content, err)
		}
	}
}

// The file changes under the daemon (an administrator prepends lines, or
// replaces the line in use with one that shares its first ports): the
// whole sequence decides which line is marked.
func TestOneTimeFileChanged(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, " 1,2,3,4\n 9,9\n")
	o, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if got := current(t, o); got != "1:tcp,2:tcp,3:tcp,4:tcp" {
		t.Fatalf("Current() = %s", got)
	}
	// Same inode, new content: the line at the old offset now holds a
	// sequence with the same first half (what knockd's memcmp compares).
	if err := os.WriteFile(path, []byte(" 1,2,5,6\n 1,2,3,4\n 9,9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkUsed(); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path), " 1,2,5,6\n#1,2,3,4\n 9,9\n"; got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	if got := current(t, o); got != "1:tcp,2:tcp,5:tcp,6:tcp" {
		t.Errorf("Current() after MarkUsed = %s, want the new first line", got)
	}
	if p := o.Pos(); p.Line != 1 || o.Remaining() != 2 {
		t.Errorf("Pos() = %v, Remaining() = %d, want line 1 and 2 left", p, o.Remaining())
	}

	// The used sequence disappears entirely: nothing is marked.
	if err := os.WriteFile(path, []byte(" 7,7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkUsed(); err == nil || !strings.Contains(err.Error(), "no longer in the file") {
		t.Errorf("MarkUsed after the sequence vanished = %v, want an error", err)
	}
	if got := readFile(t, path); got != " 7,7\n" {
		t.Errorf("file = %q, want it untouched", got)
	}
}

func TestAllListsEveryUnusedSequenceCurrentFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ots")
	if err := os.WriteFile(path, []byte(" 1000,2000\n# used\n 3000:udp,4000\nbad line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var got []string
	for _, s := range o.All() {
		got = append(got, config.FormatSequence(s))
	}
	if want := "1000:tcp,2000:tcp|3000:udp,4000:tcp"; strings.Join(got, "|") != want {
		t.Fatalf("All() = %q, want %q", strings.Join(got, "|"), want)
	}
	if err := o.MarkUsed(); err != nil {
		t.Fatal(err)
	}
	if n := len(o.All()); n != 1 {
		t.Fatalf("after one use All() has %d sequences, want 1", n)
	}
}

// A sequence that was used but cannot be marked (the disk refuses) is
// not handed out again: fail closed.
func TestOneTimeMarkFailureFailsClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seqs")
	if err := os.WriteFile(path, []byte(" 1000,2000\n 3000,4000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	o.f.Close() // every read and write now fails
	if err := o.MarkUsed(); err == nil {
		t.Fatal("marking on a closed file succeeded")
	}
	if cur, ok := o.Current(); ok && config.FormatSequence(cur) == "1000:tcp,2000:tcp" {
		t.Fatalf("the used sequence is still current after a failed mark")
	}
}

// Reopen follows a list replaced under the same name (new inode) and a
// list edited in place, and keeps its lines when the file is gone.
func TestOneTimeReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ot")
	if err := os.WriteFile(path, []byte(" 1000,2000\n 3000,4000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	current := func() string {
		seq, ok := o.Current()
		if !ok {
			return "none"
		}
		return config.FormatSequence(seq)
	}
	// Replaced: a new file renamed over the old one.
	tmp := filepath.Join(dir, "ot.new")
	if err := os.WriteFile(tmp, []byte(" 5000,6000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if got := current(); got != "1000:tcp,2000:tcp" {
		t.Fatalf("before Reopen: %s", got)
	}
	if err := o.Reopen(); err != nil {
		t.Fatal(err)
	}
	if got := current(); got != "5000:tcp,6000:tcp" {
		t.Fatalf("after the file was replaced: %s, want 5000,6000", got)
	}
	// Marking uses the new file.
	if err := o.MarkUsed(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "#5000,6000\n" {
		t.Fatalf("file after MarkUsed: %q", b)
	}
	// Gone: the sequencer keeps what it had.
	if err := os.WriteFile(path, []byte(" 7000,8000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := o.Reopen(); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	if err := o.Reopen(); err == nil {
		t.Fatal("Reopen of a removed file succeeded")
	}
	if got := current(); got != "7000:tcp,8000:tcp" {
		t.Fatalf("after a failed Reopen: %s, want the lines it had", got)
	}
}
