package manpage

import (
	"strings"
	"testing"
)

// pagePlacingAll places every part of a usage text.
const pagePlacingAll = "name: p\nsection: 1\nsummary: s\n\n# SYNOPSIS\n@usage synopsis\n# DESCRIPTION\n@usage intro\n# OPTIONS\n@usage options\n# EXAMPLES\n@usage examples\n@usage epilogue\n"

// FuzzParseUsage: any usage text that parses renders to a safe page and
// to completion scripts, whatever its characters.
func FuzzParseUsage(f *testing.F) {
	for _, s := range []string{
		daemonUsage, clientUsage,
		"Options:\n  -a  x\n",
		"Usage: p [-x]\n\nOptions:\n  -x, --ex [FILE]  .x '\\n\n\nExamples:\n  p -x  ^~`\n",
		"Options:\n  -a  x\n    deeper\n  a note\n\n  1. list\n",
		"Intro \xff\xfe é —:\n  - item\n    more\n\nOptions:\n      --long-only VALUE\n                  desc\n",
	} {
		f.Add(s)
	}
	page, err := ParsePage(pagePlacingAll)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		u, err := ParseUsage(text)
		if err != nil {
			return
		}
		out, err := Render(page, u)
		if err != nil {
			t.Fatalf("Render of a parsed usage text: %v", err)
		}
		if err := checkRoff(out); err != nil {
			t.Fatalf("unsafe roff for %q: %v\n%s", text, err, out)
		}
		opts := u.Options()
		if len(opts) == 0 {
			t.Fatal("a parsed usage text without options")
		}
		c := &Completion{Prog: "p", Options: opts}
		bash := string(Bash(c))
		Zsh(c)
		Fish(c)
		for _, o := range opts {
			if !strings.Contains(bash, o.Name()) {
				t.Fatalf("the bash script does not offer %s", o.Name())
			}
		}
	})
}

// FuzzParsePage: any page source that parses renders to a safe page.
func FuzzParsePage(f *testing.F) {
	for _, s := range []string{
		pageSource,
		pagePlacingAll,
		"name: p\nsection: 1\nsummary: s \\ . '\n\n.TH x\n'x\n# A \"B\"\n## é\nterm\n: def `-x` *i* **b**\n  more\n- item\n```\n.x\n\\y\n\n```\n",
	} {
		f.Add(s)
	}
	u, err := ParseUsage(daemonUsage)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := ParsePage(src)
		if err != nil {
			return
		}
		out, err := Render(p, u)
		if err != nil {
			return // a part not placed, or placed twice
		}
		if err := checkRoff(out); err != nil {
			t.Fatalf("unsafe roff for %q: %v\n%s", src, err, out)
		}
	})
}
