// Package mantest checks a program's committed man page and completion
// scripts against its --help, for the tests of package main: it
// regenerates them (package manpage) and fails, with a diff, when the
// committed files are stale; with -update it rewrites them instead. It
// also checks that the options --help documents are the options the
// program accepts, that groff reads the page without a warning, and that
// the completion scripts work in the shells installed.
package mantest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/sesame-knock/sesame/internal/manpage"
)

var update = flag.Bool("update", false, "rewrite the generated man pages and completion scripts")

// Program is one program's documentation.
type Program struct {
	Name string // "sesamed"
	// Usage is the program's usage text (its --help).
	Usage string
	// Root is the repository's root, relative to the test's directory.
	Root string
	// Page is the man page, relative to Root ("docs/man/sesamed.8"); its
	// source is Page + ".in".
	Page string
	// Completion is the directory of the completion scripts, relative to
	// Root: bash/NAME, zsh/_NAME and fish/NAME.fish are written in it.
	Completion string
	// Words and Hosts are as in manpage.Completion; Repeatable is taken
	// from the flag set.
	Words map[string][]string
	Hosts bool
}

// Generate renders the page and the completion scripts: file names
// relative to Root, and their contents.
func Generate(p Program, fs *pflag.FlagSet) (map[string][]byte, error) {
	u, err := manpage.ParseUsage(p.Usage)
	if err != nil {
		return nil, fmt.Errorf("%s's usage text: %w", p.Name, err)
	}
	src, err := os.ReadFile(filepath.Join(p.Root, p.Page+".in"))
	if err != nil {
		return nil, err
	}
	page, err := manpage.ParsePage(string(src))
	if err != nil {
		return nil, fmt.Errorf("%s.in: %w", p.Page, err)
	}
	roff, err := manpage.Render(page, u)
	if err != nil {
		return nil, fmt.Errorf("%s.in: %w", p.Page, err)
	}
	c := &manpage.Completion{Prog: p.Name, Options: u.Options(), Words: p.Words, Hosts: p.Hosts, Repeatable: map[string]bool{}}
	if fs != nil {
		fs.VisitAll(func(f *pflag.Flag) {
			if t := f.Value.Type(); strings.HasSuffix(t, "Array") || strings.HasSuffix(t, "Slice") || t == "count" {
				c.Repeatable[f.Name] = true
			}
		})
	}
	return map[string][]byte{
		p.Page: roff,
		filepath.Join(p.Completion, "bash", p.Name):         manpage.Bash(c),
		filepath.Join(p.Completion, "zsh", "_"+p.Name):      manpage.Zsh(c),
		filepath.Join(p.Completion, "fish", p.Name+".fish"): manpage.Fish(c),
	}, nil
}

// CheckFiles compares the generated files with the committed ones, or
// rewrites them with -update. only, if not nil, picks the files to check.
func CheckFiles(t *testing.T, p Program, fs *pflag.FlagSet, only func(name string) bool) {
	t.Helper()
	files, err := Generate(p, fs)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if only == nil || only(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		got := files[name]
		path := filepath.Join(p.Root, name)
		if *update {
			if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, got) {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", name)
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v\nrun: go test ./cmd/%s -run TestManPage -update", name, err, p.Name)
			continue
		}
		if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")); diff != "" {
			t.Errorf("%s is stale (-committed +generated):\n%s\nrun: go test ./cmd/%s -run TestManPage -update", name, diff, p.Name)
		}
	}
}

// CheckFlags checks that the options --help documents are exactly the
// flags fs defines (a flag --help names only in its prose, such as an
// alias, counts as documented), with the same short names and values,
// and that the man page roff has every one of them.
func CheckFlags(t *testing.T, p Program, fs *pflag.FlagSet, roff []byte) {
	t.Helper()
	for _, msg := range FlagErrors(p, fs, roff) {
		t.Error(msg)
	}
}

// FlagErrors is CheckFlags's list of what is wrong.
func FlagErrors(p Program, fs *pflag.FlagSet, roff []byte) []string {
	var errs []string
	errorf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	u, err := manpage.ParseUsage(p.Usage)
	if err != nil {
		return []string{fmt.Sprintf("%s's usage text: %v", p.Name, err)}
	}
	documented := map[string]manpage.Option{}
	var keys []string
	for _, o := range u.Options() {
		key := o.Long
		if key == "" {
			key = "-" + o.Short
		}
		if _, dup := documented[key]; dup {
			errorf("--help documents %s twice", o.Name())
		}
		documented[key] = o
		keys = append(keys, key)
	}
	n := 0
	fs.VisitAll(func(f *pflag.Flag) {
		n++
		o, ok := documented[f.Name]
		if !ok {
			mention := regexp.MustCompile(`(^|[^A-Za-z0-9-])--` + regexp.QuoteMeta(f.Name) + `($|[^A-Za-z0-9-])`)
			if !mention.MatchString(p.Usage) {
				errorf("%s accepts --%s, which --help does not document", p.Name, f.Name)
			}
			return
		}
		if o.Short != f.Shorthand {
			errorf("--help documents %s with short name %q, %s takes %q", o.Name(), o.Short, p.Name, f.Shorthand)
		}
		isBool := f.Value.Type() == "bool"
		switch {
		case isBool && o.Arg != "":
			errorf("--help documents %s %s, but it is a switch that takes no value", o.Name(), o.Arg)
		case !isBool && o.Arg == "":
			errorf("--help documents %s without a value, but it takes one (%s)", o.Name(), f.Value.Type())
		case !isBool && f.NoOptDefVal != "" && !o.Optional():
			errorf("--help documents %s %s, but its value is optional: write [%s]", o.Name(), o.Arg, o.Metavar())
		case !isBool && f.NoOptDefVal == "" && o.Optional():
			errorf("--help documents %s %s, but its value is required", o.Name(), o.Arg)
		}
	})
	if n == 0 {
		return append(errs, "the flag set is empty: was flagSetHook called?")
	}
	for _, key := range keys {
		o := documented[key]
		var f *pflag.Flag
		if o.Long != "" {
			f = fs.Lookup(key)
		} else {
			f = fs.ShorthandLookup(o.Short)
		}
		if f == nil {
			errorf("--help (line %d) documents %s, which %s does not accept", o.Line, o.Name(), p.Name)
		}
		name := `\-` + o.Short
		if o.Long != "" {
			name = `\%\-\-` + strings.ReplaceAll(o.Long, "-", `\-`)
		}
		if roff != nil && !bytes.Contains(roff, []byte(`\fB`+name+`\fR`)) {
			errorf("the man page does not document %s", o.Name())
		}
	}
	return errs
}

// tool finds a program the checks need, or skips the test on a
// developer's machine; CI installs them (groff-base, bash-completion,
// fish, zsh), so there a missing one fails the test.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "%s is not installed (apt-get install %s)", name, pkg)
	}
	return path
}

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, so not skipping: "+format, args...)
	}
	t.Skipf(format, args...)
}

func run(t *testing.T, cmd *exec.Cmd) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Dir, c.Env, c.Stdin = cmd.Dir, cmd.Env, cmd.Stdin
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	if err := c.Run(); err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(cmd.Args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String()
}

// Groff formats the page with every warning on; any warning fails the
// test. It returns the formatted text.
func Groff(t *testing.T, path string) string {
	t.Helper()
	groff := tool(t, "groff", "groff-base")
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-P-cbou", path)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	out, errs := run(t, cmd)
	if errs != "" {
		t.Errorf("groff -man -Tutf8 -ww %s warns:\n%s", path, errs)
	}
	if !strings.Contains(out, "SYNOPSIS") {
		t.Errorf("groff printed no SYNOPSIS:\n%s", out)
	}
	return out
}

const bashCompletion = "/usr/share/bash-completion/bash_completion"

// BashComplete sources bash-completion and script in a bash that is not
// interactive, completes the last of words as bash would at a prompt,
// and returns the offers.
func BashComplete(t *testing.T, script string, words ...string) []string {
	t.Helper()
	bash := tool(t, "bash", "bash")
	if _, err := os.Stat(bashCompletion); err != nil {
		skipOrFail(t, "%s is missing (apt-get install bash-completion)", bashCompletion)
	}
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	const driver = `source "$1" && source "$2" || exit 1
shift 2
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
fn=$(complete -p "$1" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ -n "$fn" ] || { echo "no completion function for $1" >&2; exit 1; }
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
`
	args := append([]string{bash, "--norc", "--noprofile", "-c", driver, "bash", bashCompletion, abs}, words...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	out, errs := run(t, cmd)
	if errs != "" {
		t.Errorf("bash completion of %q printed on stderr:\n%s", words, errs)
	}
	return strings.Fields(out)
}

// FishComplete asks fish (if installed) to complete line with script
// loaded, and returns the offers (without their descriptions).
func FishComplete(t *testing.T, script, line string) []string {
	t.Helper()
	fish := tool(t, "fish", "fish")
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fish, "--no-config", "-c", `source $argv[1]; and complete -C $argv[2]`, abs, line)
	out, errs := run(t, cmd)
	if errs != "" {
		t.Errorf("fish completion of %q printed on stderr:\n%s", line, errs)
	}
	var offers []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if w, _, _ := strings.Cut(l, "\t"); w != "" {
			offers = append(offers, w)
		}
	}
	return offers
}

// ZshSyntax checks that zsh (if installed) parses script.
func ZshSyntax(t *testing.T, script string) {
	t.Helper()
	zsh := tool(t, "zsh", "zsh")
	run(t, exec.Command(zsh, "-n", script))
}
