package manpage

import (
	"fmt"
	"strings"
)

// Page is a man page source: its header and its body.
type Page struct {
	Name    string // "sesamed"
	Section string // "8"
	Summary string // the NAME line after the dash
	Source  string // .TH's fourth field: "sesame"
	Manual  string // .TH's fifth field: "System Manager's Manual"
	Date    string // .TH's third field, may be empty
	Body    []Node
}

// NodeKind says what a Node is.
type NodeKind int

const (
	// SectionNode is "# TITLE" (.SH).
	SectionNode NodeKind = iota
	// SubsectionNode is "## Title" (.SS).
	SubsectionNode
	// ParaNode is a paragraph of text.
	ParaNode
	// CodeNode is a fenced block, kept line by line.
	CodeNode
	// BulletNode is a "- " item.
	BulletNode
	// DefNode is a term and its definition.
	DefNode
	// UsageNode places a part of the usage text: synopsis, intro,
	// options, examples or epilogue.
	UsageNode
)

// Node is one element of a page's body. Text is a paragraph's, an item's
// or a definition's text (lines joined with "\n"), a heading's title or a
// UsageNode's part; Term is a definition's term; Lines a code block's.
type Node struct {
	Kind  NodeKind
	Line  int
	Text  string
	Term  string
	Lines []string
}

// Usage parts a page can place with "@usage PART".
var usageParts = []string{"synopsis", "intro", "options", "examples", "epilogue"}

// ParsePage reads a page source. Its markup, line by line:
//
//	name: sesamed            header fields up to the first blank line:
//	section: 8               name, section and summary are required;
//	summary: what it is      source, manual and date are optional
//
//	% a comment              (any line starting with "%")
//	# SECTION                a section (.SH)
//	## Subsection            a subsection (.SS)
//	@usage options           a part of the usage text (synopsis, intro,
//	                         options, examples, epilogue)
//	Text at column 0         a paragraph, until a blank line
//	- an item                a bulleted item; lines indented by 2 or more
//	  continue it            spaces continue it
//	Term                     a definition: the line before ": " is the
//	: its definition         term; indented lines continue the definition
//	```                      a verbatim block, up to the next ``` line
//
// In text, `code` is literal and bold, *text* italic, **text** bold, and a
// backslash makes the next character literal; options (--config, -c) are
// set bold and references like knockd(1) get a bold name, as in the usage
// text.
func ParsePage(src string) (*Page, error) {
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	p := &Page{}
	i := 0
	for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
		l := lines[i]
		if strings.HasPrefix(l, "%") {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, &Error{i + 1, fmt.Sprintf("header line %q, expected key: value", l)}
		}
		v = strings.TrimSpace(v)
		var field *string
		switch strings.TrimSpace(k) {
		case "name":
			field = &p.Name
		case "section":
			field = &p.Section
		case "summary":
			field = &p.Summary
		case "source":
			field = &p.Source
		case "manual":
			field = &p.Manual
		case "date":
			field = &p.Date
		default:
			return nil, &Error{i + 1, fmt.Sprintf("unknown header field %q (name, section, summary, source, manual, date)", strings.TrimSpace(k))}
		}
		if *field != "" {
			return nil, &Error{i + 1, fmt.Sprintf("header field %q given twice", strings.TrimSpace(k))}
		}
		if v == "" {
			return nil, &Error{i + 1, fmt.Sprintf("empty header field %q", strings.TrimSpace(k))}
		}
		*field = v
	}
	switch {
	case p.Name == "":
		return nil, &Error{1, "no name: header field"}
	case p.Section == "":
		return nil, &Error{1, "no section: header field"}
	case p.Summary == "":
		return nil, &Error{1, "no summary: header field"}
	}
	var (
		para     []string // the paragraph being read
		paraLine int
		cont     *Node // the item or definition indented lines continue
	)
	flush := func() {
		if len(para) > 0 {
			p.Body = append(p.Body, Node{Kind: ParaNode, Line: paraLine, Text: strings.Join(para, "\n")})
		}
		para = nil
	}
	add := func(n Node) *Node {
		p.Body = append(p.Body, n)
		return &p.Body[len(p.Body)-1]
	}
	for ; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t")
		n := i + 1
		if strings.ContainsRune(l, '\t') {
			return nil, &Error{n, "a tab: indent with spaces"}
		}
		switch {
		case l == "":
			flush()
			cont = nil
		case strings.HasPrefix(l, "%"):
		case cont != nil && strings.HasPrefix(l, "  "):
			cont.Text += "\n" + strings.TrimLeft(l, " ")
		case strings.HasPrefix(l, " "):
			return nil, &Error{n, "indented text that continues no item or definition (use ``` for verbatim text)"}
		case l == "```":
			flush()
			cont = nil
			code := Node{Kind: CodeNode, Line: n}
			for i++; i < len(lines) && strings.TrimRight(lines[i], " \t") != "```"; i++ {
				code.Lines = append(code.Lines, strings.TrimRight(lines[i], " \t"))
			}
			if i == len(lines) {
				return nil, &Error{n, "``` block not closed"}
			}
			add(code)
		case strings.HasPrefix(l, "```"):
			return nil, &Error{n, "``` takes no language or text after it"}
		case strings.HasPrefix(l, "#"):
			flush()
			cont = nil
			kind, title := SectionNode, strings.TrimPrefix(l, "# ")
			if strings.HasPrefix(l, "## ") {
				kind, title = SubsectionNode, strings.TrimPrefix(l, "## ")
			}
			if title == l || strings.TrimSpace(title) == "" {
				return nil, &Error{n, fmt.Sprintf("heading %q, expected \"# TITLE\" or \"## Title\"", l)}
			}
			add(Node{Kind: kind, Line: n, Text: strings.TrimSpace(title)})
		case strings.HasPrefix(l, "@"):
			flush()
			cont = nil
			part, ok := strings.CutPrefix(l, "@usage ")
			if !ok || !isUsagePart(part) {
				return nil, &Error{n, fmt.Sprintf("%q, expected @usage and one of %s", l, strings.Join(usageParts, ", "))}
			}
			add(Node{Kind: UsageNode, Line: n, Text: part})
		case strings.HasPrefix(l, "- "):
			flush()
			cont = add(Node{Kind: BulletNode, Line: n, Text: strings.TrimSpace(l[2:])})
		case strings.HasPrefix(l, ": "):
			if len(para) == 0 {
				return nil, &Error{n, "a definition (\": \") without a term on the line above"}
			}
			term := para[len(para)-1]
			para = para[:len(para)-1]
			flush()
			cont = add(Node{Kind: DefNode, Line: n - 1, Term: term, Text: strings.TrimSpace(l[2:])})
		default:
			if cont != nil {
				// A new paragraph line right after an item or a
				// definition: the item is over.
				cont = nil
			}
			if len(para) == 0 {
				paraLine = n
			}
			para = append(para, l)
		}
	}
	flush()
	return p, nil
}

func isUsagePart(s string) bool {
	for _, p := range usageParts {
		if s == p {
			return true
		}
	}
	return false
}
