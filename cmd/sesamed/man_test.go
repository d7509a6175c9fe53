package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/sesame-knock/sesame/internal/manpage/mantest"
)

// The man page sesamed(8) and the completion scripts are generated from
// the usage text above and docs/man/sesamed.8.in, and committed. These
// tests fail when they are stale; rewrite them with
//
//	go test ./cmd/sesamed -run TestManPage -update

var doc = mantest.Program{
	Name:       prog,
	Usage:      usage,
	Root:       "../..",
	Page:       "docs/man/sesamed.8",
	Completion: "docs/completion",
	Words: map[string][]string{
		"log-format": {"text", "json"},
		"capture":    {"afpacket", "udp", "nflog:", "pcap:"},
	},
}

// flagSet runs sesamed --help and returns its flag set, as parsed.
func flagSet(t *testing.T) *pflag.FlagSet {
	t.Helper()
	var fs *pflag.FlagSet
	flagSetHook = func(f *pflag.FlagSet) { fs = f }
	defer func() { flagSetHook = nil }()
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 || out.String() != usage {
		t.Fatalf("sesamed --help: exit status %d, stderr %q; printed the usage text: %v", code, errb.String(), out.String() == usage)
	}
	if fs == nil {
		t.Fatal("flagSetHook was not called")
	}
	return fs
}

func TestManPage(t *testing.T) {
	fs := flagSet(t)
	mantest.CheckFiles(t, doc, fs, func(name string) bool { return name == doc.Page })
	roff, err := os.ReadFile(filepath.Join(doc.Root, doc.Page))
	if err != nil {
		t.Fatal(err)
	}
	mantest.CheckFlags(t, doc, fs, roff)
	text := mantest.Groff(t, filepath.Join(doc.Root, doc.Page))
	for _, want := range []string{"CONFIGURATION", "SIGNALS", "FILES", "SECURITY", "EXIT STATUS", "SEE ALSO", "/run/sesamed/control.sock"} {
		if !strings.Contains(text, want) {
			t.Errorf("sesamed(8) has no %q", want)
		}
	}
}

// TestManPageDirectives checks that sesamed(8) explains every directive
// internal/config reads (its tables of {name: "Directive", ...}).
func TestManPageDirectives(t *testing.T) {
	roff, err := os.ReadFile(filepath.Join(doc.Root, doc.Page))
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := filepath.Glob(filepath.Join(doc.Root, "internal/config/*.go"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\{name: "([A-Za-z0-9_]+)"`)
	var names []string
	for _, f := range srcs {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			names = append(names, string(m[1]))
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d directives in internal/config (%v): has the table's layout changed?", len(names), names)
	}
	word := regexp.MustCompile(`[A-Za-z0-9_]+`)
	fonts := regexp.MustCompile(`\\f[BIRP]|\\%`)
	documented := word.FindAllString(fonts.ReplaceAllString(string(roff), " "), -1)
	for _, n := range names {
		if !slices.Contains(documented, n) {
			t.Errorf("sesamed(8) does not explain the directive %s: add it to CONFIGURATION in docs/man/sesamed.8.in", n)
		}
	}
}

func TestManPageCompletions(t *testing.T) {
	fs := flagSet(t)
	mantest.CheckFiles(t, doc, fs, func(name string) bool { return name != doc.Page })
	dir := filepath.Join(doc.Root, doc.Completion)

	t.Run("bash", func(t *testing.T) {
		script := filepath.Join(dir, "bash", prog)
		tests := []struct {
			words []string
			want  []string
		}{
			{[]string{prog, "--con"}, []string{"--config", "--control-socket"}},
			{[]string{prog, "--log-format", ""}, []string{"text", "json"}},
			{[]string{prog, "--capture", "nf"}, []string{"nflog:"}},
			{[]string{prog, "-i", "l"}, []string{"lo"}},
			{[]string{prog, "-i", "a"}, []string{"all"}},
		}
		for _, tt := range tests {
			got := mantest.BashComplete(t, script, tt.words...)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("completing %q offers %q, want %q among them", tt.words, got, w)
				}
			}
		}
		// A FILE completes to files.
		tmp := t.TempDir()
		if err := os.WriteFile(filepath.Join(tmp, "knockd.conf"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		got := mantest.BashComplete(t, script, prog, "-c", tmp+"/kn")
		if !slices.Contains(got, tmp+"/knockd.conf") {
			t.Errorf("completing -c %s/kn offers %q, want the file", tmp, got)
		}
	})
	t.Run("fish", func(t *testing.T) {
		got := mantest.FishComplete(t, filepath.Join(dir, "fish", prog+".fish"), prog+" --con")
		if !slices.Contains(got, "--config") {
			t.Errorf("fish completes %q to %q, want --config among them", prog+" --con", got)
		}
	})
	t.Run("zsh", func(t *testing.T) {
		mantest.ZshSyntax(t, filepath.Join(dir, "zsh", "_"+prog))
	})
}
