// Package seq is where knock sequences come from: the static list of the
// configuration, and the sources that change after every use (knockd's
// one-time sequence files, and later TOTP and cipher knocks). The matcher
// asks a source for the sequence to expect and tells it when one was used;
// keeping that here keeps file I/O and clocks out of the per-packet path.
package seq

// One-time sequences, as knockd 0.8 keeps them (One_Time_Sequences): a
// text file with one sequence per line in the Sequence syntax. Blank lines
// and lines whose first non-blank character is '#' are skipped, and so are
// lines that do not parse. The first remaining line is the sequence in
// use. After a successful knock knockd writes '#' over the first byte of
// that line, in place, then reads the file again from the top. That is why
// its manual recommends starting each line with a blank: the '#' then
// replaces the blank, not the first digit.
//
// knockd finds the line to disable by searching the file again, and gets
// it wrong in two ways: after a line that does not parse it reports the
// offset of that bad line (the used sequence stays valid and can be
// replayed), and it compares sequences with memcmp over seqcount bytes,
// i.e. only the first half of the ports. sesame remembers the offset of the
// line it handed out, checks that the line there still holds the whole
// sequence, and only if the file changed underneath searches for it.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/sesame-knock/sesame/internal/config"
)

// ErrExhausted means a one-time file has no unused sequence left. knockd
// refuses to start with such a file and disables the event when its last
// sequence is used.
var ErrExhausted = errors.New("no unused sequence left")

// OneTime is an open one-time sequence file. It is safe for concurrent use.
type OneTime struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	lines   []line // usable lines, in file order
	invalid config.Errors
}

type line struct {
	off int64 // offset of the line's first byte
	num int   // 1-based line number
	seq []config.Element
}

// Open opens a one-time sequence file for reading and marking. It fails
// when the file cannot be opened read-write or holds no usable sequence.
// Lines that do not parse are skipped, as knockd does; Invalid lists them.
func Open(path string) (*OneTime, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open one-time sequences: %w", err)
	}
	o := &OneTime{path: path, f: f}
	if err := o.load(); err != nil {
		f.Close()
		return nil, err
	}
	if len(o.lines) == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrExhausted)
	}
	return o, nil
}

// Reopen reads the file again from its path, for a daemon reloading its
// configuration: a file replaced since (a new list written beside and
// renamed over it) is opened anew, a file edited in place is read again.
// On error the sequencer keeps the file and lines it had.
func (o *OneTime) Reopen() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	f, err := os.OpenFile(o.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("failed to reopen one-time sequences: %w", err)
	}
	oldF, oldLines, oldInvalid := o.f, o.lines, o.invalid
	o.f = f
	if err := o.load(); err != nil {
		f.Close()
		o.f, o.lines, o.invalid = oldF, oldLines, oldInvalid
		return err
	}
	oldF.Close()
	return nil
}

// Close closes the file.
func (o *OneTime) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.f.Close()
}

// Current returns the sequence in use: the first usable line. It reports
// false when every sequence has been used.
func (o *OneTime) Current() ([]config.Element, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) == 0 {
		return nil, false
	}
	return append([]config.Element(nil), o.lines[0].seq...), true
}

// Pos is the file and line of the current sequence (Line 0 when none).
func (o *OneTime) Pos() config.Pos {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) == 0 {
		return config.Pos{File: o.path}
	}
	return config.Pos{File: o.path, Line: o.lines[0].num}
}

// Remaining is the number of unused sequences.
func (o *OneTime) Remaining() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.lines)
}

// All returns every unused sequence, current first (the capture filter
// admits all of their ports so it need not change as the list moves on).
func (o *OneTime) All() [][]config.Element {
	o.mu.Lock()
	defer o.mu.Unlock()
	all := make([][]config.Element, len(o.lines))
	for i, l := range o.lines {
		all[i] = append([]config.Element(nil), l.seq...)
	}
	return all
}

// Invalid lists the lines that are neither comments nor sequences, as of
// the last read of the file, with file:line.
func (o *OneTime) Invalid() config.Errors {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append(config.Errors(nil), o.invalid...)
}

// MarkUsed disables the current sequence by writing '#' over the first
// byte of its line (one byte, in place, then fsync) and moves on to the
// first usable line of the file as it now reads. When the file has changed
// since the sequence was handed out, the first line holding the same whole
// sequence is marked instead; if there is none, nothing is written and an
// error says so. After the last sequence Current reports false.
func (o *OneTime) MarkUsed() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) == 0 {
		return fmt.Errorf("%s: %w", o.path, ErrExhausted)
	}
	used := o.lines[0]
	if err := o.mark(used); err != nil {
		// Fail closed: the sequence was used, so it is not handed out
		// again even though the file cannot say so (after a restart it
		// would be; the error tells the administrator).
		o.lines = slices.DeleteFunc(o.lines, func(l line) bool { return l.off == used.off })
		return err
	}
	return o.load()
}

// mark writes '#' over the line that holds used.
func (o *OneTime) mark(used line) error {
	if err := o.load(); err != nil {
		return err
	}
	target := -1
	for i, l := range o.lines {
		if l.off == used.off && config.EqualSequence(l.seq, used.seq) {
			target = i
			break
		}
	}
	if target < 0 {
		for i, l := range o.lines {
			if config.EqualSequence(l.seq, used.seq) {
				target = i
				break
			}
		}
	}
	if target < 0 {
		return fmt.Errorf("%s:%d: sequence %s is no longer in the file, nothing marked", o.path, used.num, config.FormatSequence(used.seq))
	}
	if _, err := o.f.WriteAt([]byte{'#'}, o.lines[target].off); err != nil {
		return fmt.Errorf("failed to mark %s:%d used: %w", o.path, o.lines[target].num, err)
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("failed to mark %s:%d used: %w", o.path, o.lines[target].num, err)
	}
	return nil
}

// load reads the whole file and finds its usable lines.
func (o *OneTime) load() error {
	data, err := io.ReadAll(io.NewSectionReader(o.f, 0, 1<<62))
	if err != nil {
		return fmt.Errorf("failed to read one-time sequences %s: %w", o.path, err)
	}
	o.lines, o.invalid = nil, nil
	var off int64
	for num := 1; len(data) > 0; num++ {
		raw := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw = data[:i]
			data = data[i+1:]
		} else {
			data = nil
		}
		start := off
		off += int64(len(raw)) + 1
		t := bytes.TrimFunc(raw, isBlank)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		seq, err := config.ParseSequence(string(t))
		if err != nil {
			o.invalid = append(o.invalid, config.Error{
				Pos: config.Pos{File: o.path, Line: num},
				Msg: "bad one-time sequence, skipped: " + err.Error(),
			})
			continue
		}
		o.lines = append(o.lines, line{off: start, num: num, seq: seq})
	}
	return nil
}

// isBlank is C's isspace, the set knockd trims from each line.
func isBlank(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}
