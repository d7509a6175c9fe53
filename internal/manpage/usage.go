package manpage

import (
	"fmt"
	"regexp"
	"strings"
)

// Usage is a --help text, parsed.
type Usage struct {
	// Synopsis holds the forms of the "Usage:" block, one per line, as
	// written ("sesamed [options]").
	Synopsis []string
	// Intro is the prose before the first option group.
	Intro []Block
	// Groups are the option groups, in order.
	Groups []Group
	// Examples is the "Examples:" block, if any.
	Examples *Examples
	// Epilogue is the prose after the examples.
	Epilogue []Block
}

// BlockKind says how a Block is laid out.
type BlockKind int

const (
	// Para is filled text: Lines are its words, line breaks are spaces.
	Para BlockKind = iota
	// Verbatim is text kept line by line, relative indentation included.
	Verbatim
	// List is a numbered or bulleted list: Items.
	List
)

// Block is a piece of prose.
type Block struct {
	Kind  BlockKind
	Lines []string
	Items []Item
}

// Item is one entry of a List block: its mark ("1.", "-") and its text.
type Item struct {
	Mark  string
	Lines []string
}

// Group is an option group: an optional heading ("Options:"), its
// options and notes in order, and the prose that follows it.
type Group struct {
	Heading []string
	Entries []Entry
	After   []Block
}

// Entry is an option or, when Option is nil, a note written among the
// options at their indentation ("-d, -4 and -v override the profile").
type Entry struct {
	Option *Option
	Note   []string
}

// Option is one documented option.
type Option struct {
	Short string   // "c", or "" for a long option alone
	Long  string   // "config", or "" for a short option alone
	Arg   string   // the value as written: "FILE", "[FILE]", or ""
	Desc  []string // the description's lines, trimmed
	Line  int      // 1-based line of the usage text
}

// Optional reports whether the option's value may be left out ("[FILE]").
func (o Option) Optional() bool {
	return len(o.Arg) > 2 && o.Arg[0] == '[' && o.Arg[len(o.Arg)-1] == ']'
}

// Metavar is the value's placeholder without brackets: "FILE".
func (o Option) Metavar() string {
	if o.Optional() {
		return o.Arg[1 : len(o.Arg)-1]
	}
	return o.Arg
}

// Name is the option as a user would write it: "--config", or "-c".
func (o Option) Name() string {
	if o.Long != "" {
		return "--" + o.Long
	}
	return "-" + o.Short
}

// Examples is an "Examples:" block in one of two layouts: a table of
// commands and what they do (Items), or prose with indented code
// (Blocks, Para and Verbatim).
type Examples struct {
	Items  []Example
	Blocks []Block
}

// Example is a row of a table of examples.
type Example struct {
	Command string
	Desc    []string
}

// Options lists every option of every group, in order.
func (u *Usage) Options() []Option {
	var opts []Option
	for _, g := range u.Groups {
		for _, e := range g.Entries {
			if e.Option != nil {
				opts = append(opts, *e.Option)
			}
		}
	}
	return opts
}

// Error is a usage text, or a page source, that cannot be read; Line is
// 1-based.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

type line struct {
	n      int    // 1-based
	indent int    // leading spaces
	text   string // without indentation and trailing blanks
}

func (l line) blank() bool { return l.text == "" }

var (
	// -c, --config FILE   description
	longOption = regexp.MustCompile(`^(?:-([A-Za-z0-9]), )?--([A-Za-z0-9][A-Za-z0-9-]*)(?: (\S+))?(?: {2,}(\S.*))?$`)
	// -c FILE   description
	shortOption = regexp.MustCompile(`^-([A-Za-z0-9])(?: (\S+))?(?: {2,}(\S.*))?$`)
	// 1. item, - item, * item
	listMark = regexp.MustCompile(`^(\d{1,3}\.|[-*]) +\S`)
)

// ParseUsage parses a --help text laid out as the package comment says.
func ParseUsage(text string) (*Usage, error) {
	lines, err := splitLines(text)
	if err != nil {
		return nil, err
	}
	u := &Usage{}
	for _, c := range chunks(lines) {
		switch first := c[0]; {
		case first.indent > 0:
			return nil, &Error{first.n, "indented text before any paragraph"}
		case strings.HasPrefix(first.text, "Usage:"):
			if u.Synopsis != nil {
				return nil, &Error{first.n, "a second Usage: block"}
			}
			if err := u.parseSynopsis(c); err != nil {
				return nil, err
			}
		case first.text == "Examples:" || first.text == "Example:":
			if u.Examples != nil {
				return nil, &Error{first.n, "a second Examples: block"}
			}
			ex, err := parseExamples(c[1:])
			if err != nil {
				return nil, err
			}
			if ex == nil {
				return nil, &Error{first.n, "an Examples: block without examples"}
			}
			u.Examples = ex
		case hasOption(c):
			if u.Examples != nil {
				return nil, &Error{first.n, "options after the Examples: block"}
			}
			g, err := parseGroup(c)
			if err != nil {
				return nil, err
			}
			u.Groups = append(u.Groups, g)
		default:
			if err := u.addProse(c); err != nil {
				return nil, err
			}
		}
	}
	if len(u.Groups) == 0 {
		return nil, &Error{len(lines), "no options found"}
	}
	return u, nil
}

// addProse adds a chunk of prose where it belongs.
func (u *Usage) addProse(c []line) error {
	blocks, err := parseProse(c)
	if err != nil {
		return err
	}
	switch {
	case u.Examples != nil:
		u.Epilogue = append(u.Epilogue, blocks...)
	case len(u.Groups) > 0:
		g := &u.Groups[len(u.Groups)-1]
		g.After = append(g.After, blocks...)
	default:
		u.Intro = append(u.Intro, blocks...)
	}
	return nil
}

// hasOption reports whether a chunk is an option group: an option line
// at the least indentation of its indented lines, or 4 deeper.
func hasOption(c []line) bool {
	base := -1
	for _, l := range c {
		if l.indent > 0 && (base < 0 || l.indent < base) {
			base = l.indent
		}
	}
	for _, l := range c {
		if (l.indent == base || l.indent == base+4) && parseOption(l) != nil {
			return true
		}
	}
	return false
}

func splitLines(text string) ([]line, error) {
	raw := strings.Split(strings.TrimRight(text, "\n"), "\n")
	lines := make([]line, len(raw))
	for i, s := range raw {
		if strings.ContainsAny(s, "\t\r") {
			return nil, &Error{i + 1, "a tab or carriage return: the layout is read from spaces"}
		}
		s = strings.TrimRight(s, " ")
		t := strings.TrimLeft(s, " ")
		lines[i] = line{n: i + 1, indent: len(s) - len(t), text: t}
	}
	return lines, nil
}

// chunks splits lines where a blank line is followed by a line at column
// 0: a paragraph and whatever is indented under it, blank lines between
// indented lines included. Blank lines at either end are dropped.
func chunks(lines []line) [][]line {
	var out [][]line
	var cur []line
	for i, l := range lines {
		if !l.blank() && l.indent == 0 && i > 0 && lines[i-1].blank() && len(cur) > 0 {
			out = append(out, trimBlank(cur))
			cur = nil
		}
		if len(cur) == 0 && l.blank() {
			continue
		}
		cur = append(cur, l)
	}
	if len(cur) > 0 {
		out = append(out, trimBlank(cur))
	}
	return out
}

func trimBlank(ls []line) []line {
	for len(ls) > 0 && ls[len(ls)-1].blank() {
		ls = ls[:len(ls)-1]
	}
	return ls
}

func (u *Usage) parseSynopsis(c []line) error {
	if rest := strings.TrimSpace(strings.TrimPrefix(c[0].text, "Usage:")); rest != "" {
		u.Synopsis = append(u.Synopsis, rest)
	}
	for _, l := range c[1:] {
		switch {
		case l.blank():
		case l.indent == 0:
			return &Error{l.n, "text at column 0 in the Usage: block; end it with a blank line"}
		default:
			u.Synopsis = append(u.Synopsis, l.text)
		}
	}
	if len(u.Synopsis) == 0 {
		return &Error{c[0].n, "a Usage: block without a synopsis"}
	}
	return nil
}

// parseOption reads an option line, or returns nil.
func parseOption(l line) *Option {
	if m := longOption.FindStringSubmatch(l.text); m != nil {
		return &Option{Short: m[1], Long: m[2], Arg: m[3], Desc: nonEmpty(m[4]), Line: l.n}
	}
	if m := shortOption.FindStringSubmatch(l.text); m != nil {
		return &Option{Short: m[1], Arg: m[2], Desc: nonEmpty(m[3]), Line: l.n}
	}
	return nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// parseGroup reads a heading and its option lines. The options are at
// the body's least indentation, or 4 columns deeper (a long option lined
// up under the long options of "-c, --config"); deeper lines continue the
// entry above; other lines at the least indentation are notes.
func parseGroup(c []line) (Group, error) {
	var g Group
	i := 0
	for ; i < len(c) && c[i].indent == 0 && !c[i].blank(); i++ {
		g.Heading = append(g.Heading, c[i].text)
	}
	body := c[i:]
	base := -1
	for _, l := range body {
		if l.indent > 0 && (base < 0 || l.indent < base) {
			base = l.indent
		}
	}
	var cur *Entry // the entry deeper lines continue
	for _, l := range body {
		var o *Option
		if l.indent == base || l.indent == base+4 {
			o = parseOption(l)
		}
		switch {
		case l.blank():
			cur = nil
		case l.indent == 0:
			return g, &Error{l.n, "text at column 0 among options; separate it with a blank line"}
		case o != nil:
			g.Entries = append(g.Entries, Entry{Option: o})
			cur = &g.Entries[len(g.Entries)-1]
		case l.indent == base && (cur == nil || cur.Option != nil):
			g.Entries = append(g.Entries, Entry{Note: []string{l.text}})
			cur = &g.Entries[len(g.Entries)-1]
		case cur == nil:
			return g, &Error{l.n, "indented text that continues no option"}
		case cur.Option != nil:
			cur.Option.Desc = append(cur.Option.Desc, l.text)
		default:
			cur.Note = append(cur.Note, l.text)
		}
	}
	for _, e := range g.Entries {
		if o := e.Option; o != nil && len(o.Desc) == 0 {
			return g, &Error{o.Line, fmt.Sprintf("option %s has no description", o.Name())}
		}
	}
	return g, nil
}

// parseProse reads paragraphs at column 0 and what is indented among
// them: a list when its first line starts with a mark, else verbatim.
func parseProse(c []line) ([]Block, error) {
	var blocks []Block
	for i := 0; i < len(c); {
		if c[i].indent == 0 {
			var p Block
			for ; i < len(c) && c[i].indent == 0 && !c[i].blank(); i++ {
				p.Lines = append(p.Lines, c[i].text)
			}
			blocks = append(blocks, p)
			for ; i < len(c) && c[i].blank(); i++ {
			}
			continue
		}
		j := i
		for j < len(c) && (c[j].indent > 0 || c[j].blank()) {
			j++
		}
		b, err := indented(trimBlank(c[i:j]))
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, b)
		i = j
	}
	return blocks, nil
}

// indented reads a run of indented lines (blank lines among them).
func indented(ls []line) (Block, error) {
	base := ls[0].indent
	for _, l := range ls {
		if !l.blank() && l.indent < base {
			base = l.indent
		}
	}
	if ls[0].indent == base && listMark.MatchString(ls[0].text) {
		var b Block
		b.Kind = List
		for _, l := range ls {
			switch {
			case l.blank():
			case l.indent == base && listMark.MatchString(l.text):
				mark, rest, _ := strings.Cut(l.text, " ")
				b.Items = append(b.Items, Item{Mark: mark, Lines: []string{strings.TrimLeft(rest, " ")}})
			case l.indent > base:
				it := &b.Items[len(b.Items)-1]
				it.Lines = append(it.Lines, l.text)
			default:
				return b, &Error{l.n, "a list line that is neither an item (1. or -) nor indented under one"}
			}
		}
		return b, nil
	}
	return Block{Kind: Verbatim, Lines: dedent(ls, base)}, nil
}

func dedent(ls []line, base int) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		if !l.blank() {
			out[i] = strings.Repeat(" ", l.indent-base) + l.text
		}
	}
	return out
}

// parseExamples reads the lines under "Examples:": a table when a line at
// the examples' indentation has a gap of two spaces (command, then what
// it does), else prose at that indentation with deeper-indented code.
func parseExamples(ls []line) (*Examples, error) {
	ls = trimBlank(ls)
	if len(ls) == 0 {
		return nil, nil
	}
	base := -1
	for _, l := range ls {
		if l.indent == 0 && !l.blank() {
			return nil, &Error{l.n, "text at column 0 in the Examples: block"}
		}
		if !l.blank() && (base < 0 || l.indent < base) {
			base = l.indent
		}
	}
	table := false
	for _, l := range ls {
		if l.indent == base && strings.Contains(l.text, "  ") {
			table = true
		}
	}
	ex := &Examples{}
	if table {
		var cur *Example
		for _, l := range ls {
			switch {
			case l.blank():
				cur = nil
			case l.indent == base:
				cmd, desc, _ := strings.Cut(l.text, "  ")
				ex.Items = append(ex.Items, Example{Command: cmd, Desc: nonEmpty(strings.TrimLeft(desc, " "))})
				cur = &ex.Items[len(ex.Items)-1]
			case cur == nil:
				return nil, &Error{l.n, "indented text that continues no example"}
			default:
				cur.Desc = append(cur.Desc, l.text)
			}
		}
		return ex, nil
	}
	for i := 0; i < len(ls); {
		switch {
		case ls[i].blank():
			i++
		case ls[i].indent == base:
			var p Block
			for ; i < len(ls) && ls[i].indent == base && !ls[i].blank(); i++ {
				p.Lines = append(p.Lines, ls[i].text)
			}
			ex.Blocks = append(ex.Blocks, p)
		default:
			j := i
			for j < len(ls) && ls[j].indent > base && !ls[j].blank() {
				j++
			}
			code := ls[i:j]
			in := code[0].indent
			for _, l := range code {
				in = min(in, l.indent)
			}
			ex.Blocks = append(ex.Blocks, Block{Kind: Verbatim, Lines: dedent(code, in)})
			i = j
		}
	}
	return ex, nil
}
