package config

import (
	"fmt"
	"sort"
	"strings"
)

// String formats a position as "file:line", the prefix of every message
// about a configuration file.
func (p Pos) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Error is one problem in a configuration file: where, and what is wrong
// and what was expected.
type Error struct {
	Pos Pos
	Msg string
}

func (e Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors is every problem found in a file. Parsers collect them all so that
// an administrator can fix a configuration in one pass.
type Errors []Error

// Error lists the problems one per line, "file:line: msg", in file order.
func (es Errors) Error() string {
	sorted := es.sorted()
	var b strings.Builder
	for i, e := range sorted {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es Errors) sorted() Errors {
	s := make(Errors, len(es))
	copy(s, es)
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Pos.File != s[j].Pos.File {
			return s[i].Pos.File < s[j].Pos.File
		}
		return s[i].Pos.Line < s[j].Pos.Line
	})
	return s
}

// errOrNil returns the sorted list, or nil when it is empty, so that a nil
// Errors never reaches a caller as a non-nil error.
func (es Errors) errOrNil() error {
	if len(es) == 0 {
		return nil
	}
	return es.sorted()
}

// diagnostics collects what a parser finds wrong, each with file:line:
// errors (the file is refused) and warnings (it loads, but looks wrong).
// Every format's parser embeds it, so all report alike.
type diagnostics struct {
	file  string
	errs  Errors
	warns Errors
}

func (d *diagnostics) errorf(line int, format string, args ...any) {
	d.errs = append(d.errs, Error{Pos{d.file, line}, fmt.Sprintf(format, args...)})
}

func (d *diagnostics) warnf(line int, format string, args ...any) {
	d.warns = append(d.warns, Error{Pos{d.file, line}, fmt.Sprintf(format, args...)})
}

// text returns line n trimmed as knockd trims it, or false for a blank
// line, a comment (first non-blank character '#') or a line holding a NUL
// byte (reported).
func (d *diagnostics) text(n int, raw string) (string, bool) {
	if strings.IndexByte(raw, 0) >= 0 {
		d.errorf(n, "NUL byte in line, expected text")
		return "", false
	}
	t := trimBlank(raw)
	return t, t != "" && t[0] != '#'
}
