package manpage

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const pageSource = `name: prog
section: 8
summary: watches for knocks
source: sesame
manual: System Manager's Manual
% a comment in the header

# SYNOPSIS
@usage synopsis

# DESCRIPTION
@usage intro
% a comment in the body
More about **prog**,
over two lines.

- an item
  continued
- another

## Files
/etc/prog.conf
: the configuration,
  over two lines
/run/prog.sock
: the socket

` + "```" + `
[options]
    Capture = udp
` + "```" + `
# OPTIONS
@usage options
`

func TestParsePage(t *testing.T) {
	t.Parallel()
	got, err := ParsePage(pageSource)
	if err != nil {
		t.Fatal(err)
	}
	want := &Page{
		Name: "prog", Section: "8", Summary: "watches for knocks", Source: "sesame", Manual: "System Manager's Manual",
		Body: []Node{
			{Kind: SectionNode, Line: 8, Text: "SYNOPSIS"},
			{Kind: UsageNode, Line: 9, Text: "synopsis"},
			{Kind: SectionNode, Line: 11, Text: "DESCRIPTION"},
			{Kind: UsageNode, Line: 12, Text: "intro"},
			{Kind: ParaNode, Line: 14, Text: "More about **prog**,\nover two lines."},
			{Kind: BulletNode, Line: 17, Text: "an item\ncontinued"},
			{Kind: BulletNode, Line: 19, Text: "another"},
			{Kind: SubsectionNode, Line: 21, Text: "Files"},
			{Kind: DefNode, Line: 22, Term: "/etc/prog.conf", Text: "the configuration,\nover two lines"},
			{Kind: DefNode, Line: 25, Term: "/run/prog.sock", Text: "the socket"},
			{Kind: CodeNode, Line: 28, Lines: []string{"[options]", "    Capture = udp"}},
			{Kind: SectionNode, Line: 32, Text: "OPTIONS"},
			{Kind: UsageNode, Line: 33, Text: "options"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParsePage (-want +got):\n%s", diff)
	}
}

func TestParsePageErrors(t *testing.T) {
	t.Parallel()
	const head = "name: p\nsection: 1\nsummary: s\n\n"
	tests := []struct {
		name, in, want string
	}{
		{"no name", "section: 1\nsummary: s\n", "no name"},
		{"no section", "name: p\nsummary: s\n", "no section"},
		{"no summary", "name: p\nsection: 1\n", "no summary"},
		{"unknown field", "name: p\ncolour: red\n", `line 2: unknown header field "colour"`},
		{"field twice", "name: p\nname: q\n", `line 2: header field "name" given twice`},
		{"empty field", "name:\n", `line 1: empty header field "name"`},
		{"not key: value", "name p\n", "line 1: header line"},
		{"unclosed code", head + "```\ncode\n", "line 5: ``` block not closed"},
		{"code with language", head + "```sh\n```\n", "line 5: ``` takes no language"},
		{"bad usage part", head + "@usage nothing\n", `line 5: "@usage nothing"`},
		{"other directive", head + "@include x\n", `line 5: "@include x"`},
		{"bad heading", head + "#TITLE\n", "line 5: heading"},
		{"empty heading", head + "# \n", "line 5: heading"},
		{"definition without term", head + ": def\n", "line 5: a definition"},
		{"stray indent", head + "text\n\n  indented\n", "line 7: indented text that continues no item"},
		{"tab", head + "a\tb\n", "line 5: a tab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParsePage(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParsePage(%q) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}
