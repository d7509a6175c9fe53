package manpage

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Render writes page as roff for man(7), with u's parts where the page
// places them. Every part u has must be placed, so that nothing --help
// says is missing from the man page.
func Render(page *Page, u *Usage) ([]byte, error) {
	w := &roff{}
	placed := map[string]bool{}
	w.comment(fmt.Sprintf("Generated from %s's usage text and docs/man/%s.%s.in (make man); do not edit.", page.Name, page.Name, page.Section))
	w.macro("TH", strings.ToUpper(page.Name), page.Section, page.Date, page.Source, page.Manual)
	// Options and paths are long words: do not stretch the spaces
	// around them (options are never hyphenated: see inline).
	w.macro("ad", "l")
	w.macro("SH", "NAME")
	w.line(escapeText(page.Name) + ` \- ` + inline(page.Summary, true))
	w.para = true
	for _, n := range page.Body {
		switch n.Kind {
		case SectionNode:
			w.macro("SH", n.Text)
			w.para = false
		case SubsectionNode:
			w.macro("SS", n.Text)
			w.para = false
		case ParaNode:
			w.paragraph(inline(n.Text, true))
		case CodeNode:
			w.verbatim(n.Lines)
		case BulletNode:
			w.b.WriteString(".IP \\(bu 2\n")
			w.text(inline(n.Text, true))
			w.para = true
		case DefNode:
			w.macro("TP")
			w.text(inline(n.Term, true))
			w.text(inline(n.Text, true))
			w.para = true
		case UsageNode:
			if placed[n.Text] {
				return nil, &Error{n.Line, fmt.Sprintf("@usage %s placed twice", n.Text)}
			}
			placed[n.Text] = true
			w.usage(n.Text, u)
		}
	}
	for _, part := range usageParts {
		if !placed[part] && u.has(part) {
			return nil, fmt.Errorf("the usage text has %s that the page does not place: add \"@usage %s\"", part, part)
		}
	}
	return []byte(w.b.String()), nil
}

func (u *Usage) has(part string) bool {
	switch part {
	case "synopsis":
		return len(u.Synopsis) > 0
	case "intro":
		return len(u.Intro) > 0
	case "options":
		return len(u.Groups) > 0
	case "examples":
		return u.Examples != nil
	case "epilogue":
		return len(u.Epilogue) > 0
	}
	return false
}

// roff accumulates man(7) source.
type roff struct {
	b strings.Builder
	// para: text was written since the last heading, so the next
	// paragraph needs a .PP.
	para bool
}

func (w *roff) comment(s string) { w.b.WriteString(`.\" ` + s + "\n") }

// macro writes a request; its arguments are plain text, quoted.
func (w *roff) macro(name string, args ...string) {
	w.b.WriteString("." + name)
	// Trailing empty arguments are left out, inner ones kept as "".
	for len(args) > 0 && args[len(args)-1] == "" {
		args = args[:len(args)-1]
	}
	for _, a := range args {
		if a != "" && !strings.ContainsAny(a, " \"\\~^") && isASCII(a) {
			w.b.WriteString(" " + a)
			continue
		}
		w.b.WriteString(` "` + strings.ReplaceAll(escapeText(a), `"`, `\(dq`) + `"`)
	}
	w.b.WriteString("\n")
}

// isASCII reports whether s is printable ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x7f || s[i] < ' ' {
			return false
		}
	}
	return true
}

// line writes one line of roff text, made safe at its start.
func (w *roff) line(s string) {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	w.b.WriteString(s + "\n")
}

// text writes rendered text, one input line per line of s.
func (w *roff) text(s string) {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			w.line(l)
		}
	}
}

func (w *roff) paragraph(s string) {
	if w.para {
		w.macro("PP")
	}
	w.text(s)
	w.para = true
}

// verbatim writes lines as they are, indented, in a fixed-width layout.
func (w *roff) verbatim(lines []string) {
	if w.para {
		w.macro("PP")
	}
	w.macro("RS", "4")
	w.macro("nf")
	for _, l := range lines {
		if l == "" {
			w.line(`\&`)
			continue
		}
		w.line(escapeCode(l))
	}
	w.macro("fi")
	w.macro("RE")
	w.para = true
}

func (w *roff) blocks(bs []Block) {
	for _, b := range bs {
		switch b.Kind {
		case Para:
			w.paragraph(inline(strings.Join(b.Lines, "\n"), false))
		case Verbatim:
			w.verbatim(b.Lines)
		case List:
			width := 2
			for _, it := range b.Items {
				width = max(width, len(it.Mark)+1)
			}
			for _, it := range b.Items {
				if it.Mark == "-" || it.Mark == "*" {
					fmt.Fprintf(&w.b, ".IP \\(bu %d\n", width)
				} else {
					w.macro("IP", it.Mark, fmt.Sprint(width))
				}
				w.text(inline(strings.Join(it.Lines, "\n"), false))
			}
			w.para = true
		}
	}
}

func (w *roff) usage(part string, u *Usage) {
	switch part {
	case "synopsis":
		for _, form := range u.Synopsis {
			prog, rest, _ := strings.Cut(form, " ")
			w.macro("SY", prog)
			if rest != "" {
				w.line(placeholders(rest))
			}
			w.macro("YS")
		}
		w.para = true
	case "intro":
		w.blocks(u.Intro)
	case "options":
		for i, g := range u.Groups {
			switch {
			case len(g.Heading) == 0 || (i == 0 && len(g.Heading) == 1 && g.Heading[0] == "Options:"):
			case len(g.Heading) == 1 && strings.HasSuffix(g.Heading[0], ":") && len(g.Heading[0]) <= 40:
				w.macro("SS", strings.TrimSuffix(g.Heading[0], ":"))
				w.para = false
			default:
				w.paragraph(inline(strings.Join(g.Heading, "\n"), false))
			}
			for _, e := range g.Entries {
				if e.Option == nil {
					w.paragraph(inline(strings.Join(e.Note, "\n"), false))
					continue
				}
				o := e.Option
				w.macro("TP")
				w.line(optionTag(*o))
				w.text(optionDesc(*o))
				w.para = true
			}
			w.blocks(g.After)
		}
	case "examples":
		ex := u.Examples
		if ex == nil {
			return
		}
		for _, it := range ex.Items {
			w.macro("TP")
			w.line(`\fB` + escapeCode(it.Command) + `\fR`)
			w.text(inline(strings.Join(it.Desc, "\n"), false))
			w.para = true
		}
		w.blocks(ex.Blocks)
	case "epilogue":
		w.blocks(u.Epilogue)
	}
}

// optionTag is "\fB\-c\fR, \fB\-\-config\fR \fIFILE\fR".
func optionTag(o Option) string {
	var parts []string
	if o.Short != "" {
		parts = append(parts, `\fB\-`+escapeCode(o.Short)+`\fR`)
	}
	if o.Long != "" {
		parts = append(parts, `\fB\%\-\-`+escapeCode(o.Long)+`\fR`)
	}
	tag := strings.Join(parts, ", ")
	if o.Arg != "" {
		tag += " " + placeholders(o.Arg)
	}
	return tag
}

// optionDesc renders an option's description with its placeholder in
// italics.
func optionDesc(o Option) string {
	s := inline(strings.Join(o.Desc, "\n"), false)
	if mv := o.Metavar(); mv != "" && isPlaceholder(mv) {
		re := regexp.MustCompile(`(^|[^\\A-Za-z0-9_$])` + regexp.QuoteMeta(escapeText(mv)) + `($|[^A-Za-z0-9_])`)
		// Twice, for adjacent matches sharing a separator.
		for range 2 {
			s = re.ReplaceAllString(s, `${1}\fI`+escapeText(mv)+`\fR${2}`)
		}
	}
	return s
}

func isPlaceholder(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return s != ""
}

// placeholders renders a synopsis or an option's value: words starting
// with "-" bold, the first word of a synopsis form too, other words
// italic, punctuation ([ ] ... | : ,) roman.
func placeholders(s string) string {
	var b strings.Builder
	word := func(r byte) bool {
		return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-'
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '-' && (i == 0 || !word(s[i-1])):
			j := i
			for j < len(s) && (word(s[j]) || s[j] == '=') && !(s[j] == '=' && j > i && s[j-1] == '=') {
				j++
			}
			b.WriteString(`\fB` + escapeCode(s[i:j]) + `\fR`)
			i = j
		case word(c):
			j := i
			for j < len(s) && word(s[j]) {
				j++
			}
			b.WriteString(`\fI` + escapeText(s[i:j]) + `\fR`)
			i = j
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			b.WriteString(escapeText(s[i : i+size]))
			i += size
		}
	}
	return b.String()
}

// escapeCode escapes literal text: every character means itself, dashes
// are minus signs (so that options can be copied), quotes are straight.
func escapeCode(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '-':
			b.WriteString(`\-`)
		case '\'':
			b.WriteString(`\(aq`)
		case '`':
			b.WriteString(`\(ga`)
		default:
			b.WriteString(escapeRune(r))
		}
	}
	return b.String()
}

// writeProse writes one rune of prose after prev: a "-" that starts a
// word, or follows such a minus, is a minus sign (it reports that), others
// are hyphens.
func writeProse(b *strings.Builder, r, prev rune, minus bool) bool {
	switch {
	case r == '-' && (minus || opensWord(prev)):
		b.WriteString(`\-`)
		return true
	case r == '`':
		b.WriteString(`\(ga`)
	default:
		b.WriteString(escapeRune(r))
	}
	return false
}

// escapeText escapes prose: a "-" that starts a word (and the dashes
// right after it) is a minus sign, others are hyphens.
func escapeText(s string) string {
	var b strings.Builder
	prev, minus := ' ', false
	for _, r := range s {
		minus = writeProse(&b, r, prev, minus)
		prev = r
	}
	return b.String()
}

func opensWord(r rune) bool {
	return strings.ContainsRune(" \n([{\"'=,/|", r)
}

// escapeRune makes one character safe anywhere in a roff text line (not
// at its start: see roff.line).
func escapeRune(r rune) string {
	switch {
	case r == '\\':
		return `\e`
	case r == '~':
		return `\(ti`
	case r == '^':
		return `\(ha`
	case r == '\n' || r == ' ':
		return string(r)
	case r < ' ' || r == 0x7f:
		return "" // control characters have no place in a page
	case r == utf8.RuneError:
		return `\[uFFFD]`
	case r < utf8.RuneSelf:
		return string(r)
	case r >= 0xD800 && r <= 0xDFFF:
		return `\[uFFFD]`
	case r <= 0xFFFF:
		return fmt.Sprintf(`\[u%04X]`, r)
	default:
		return fmt.Sprintf(`\[u%X]`, r)
	}
}

var (
	optionWord = regexp.MustCompile(`^--?[A-Za-z0-9][A-Za-z0-9-]*`)
	manRef     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.+-]*\([1-9][a-z]*\)`)
)

// inline renders a paragraph of text. With markup, `code`, *italic*,
// **bold** and \x are read; options and name(N) references are set bold
// either way.
func inline(s string, markup bool) string {
	var b strings.Builder
	prev, minus := ' ', false
	for i := 0; i < len(s); {
		rest := s[i:]
		if opensWord(prev) {
			if m := optionWord.FindString(rest); m != "" && endsWord(rest[len(m):]) {
				b.WriteString(`\fB\%` + escapeCode(m) + `\fR`)
				i += len(m)
				prev, minus = '-', false
				continue
			}
			if m := manRef.FindString(rest); m != "" {
				name, sec, _ := strings.Cut(m, "(")
				b.WriteString(`\fB` + escapeText(name) + `\fR(` + escapeText(sec))
				i += len(m)
				prev, minus = ')', false
				continue
			}
		}
		if markup {
			switch {
			case rest[0] == '\\' && len(rest) > 1:
				r, size := utf8.DecodeRuneInString(rest[1:])
				b.WriteString(escapeCode(string(r)))
				i += 1 + size
				prev, minus = r, false
				continue
			case rest[0] == '`':
				if end := strings.IndexByte(rest[1:], '`'); end > 0 {
					b.WriteString(`\fB` + escapeCode(rest[1:1+end]) + `\fR`)
					i += end + 2
					prev, minus = '`', false
					continue
				}
			case strings.HasPrefix(rest, "**"):
				if end := strings.Index(rest[2:], "**"); end > 0 {
					b.WriteString(`\fB` + escapeText(rest[2:2+end]) + `\fR`)
					i += end + 4
					prev, minus = '*', false
					continue
				}
			case rest[0] == '*' && len(rest) > 1 && rest[1] != ' ':
				if end := strings.IndexByte(rest[1:], '*'); end > 0 && rest[end] != ' ' {
					b.WriteString(`\fI` + escapeText(rest[1:1+end]) + `\fR`)
					i += end + 2
					prev, minus = '*', false
					continue
				}
			}
		}
		r, size := utf8.DecodeRuneInString(rest)
		minus = writeProse(&b, r, prev, minus)
		if size == 0 {
			size = 1
		}
		i += size
		prev = r
	}
	return b.String()
}

// endsWord reports whether an option word ends where rest starts.
func endsWord(rest string) bool {
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r >= utf8.RuneSelf)
}
