package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/sesame-knock/sesame/internal/manpage/mantest"
)

// The man page sesame(1) and the completion scripts are generated from
// the usage text above and docs/man/sesame.1.in, and committed. These
// tests fail when they are stale; rewrite them with
//
//	go test ./cmd/sesame -run TestManPage -update

var doc = mantest.Program{
	Name:       "sesame",
	Usage:      usage,
	Root:       "../..",
	Page:       "docs/man/sesame.1",
	Completion: "docs/completion",
	Hosts:      true,
}

// flagSet runs sesame --help and returns its flag set, as parsed.
func flagSet(t *testing.T) *pflag.FlagSet {
	t.Helper()
	var fs *pflag.FlagSet
	flagSetHook = func(f *pflag.FlagSet) { fs = f }
	defer func() { flagSetHook = nil }()
	var out bytes.Buffer
	r, err := parse([]string{"--help"}, &out)
	if r != nil || err != nil || out.String() != usage {
		t.Fatalf("sesame --help: %v, %v; printed the usage text: %v", r, err, out.String() == usage)
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
	for _, want := range []string{"PROFILES", "ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO", "SESAME_TOTP_SECRET"} {
		if !strings.Contains(text, want) {
			t.Errorf("sesame(1) has no %q", want)
		}
	}
}

func TestManPageCompletions(t *testing.T) {
	fs := flagSet(t)
	mantest.CheckFiles(t, doc, fs, func(name string) bool { return name != doc.Page })
	dir := filepath.Join(doc.Root, doc.Completion)

	t.Run("bash", func(t *testing.T) {
		script := filepath.Join(dir, "bash", "sesame")
		tests := []struct {
			words []string
			want  []string
		}{
			{[]string{"sesame", "--totp-"}, []string{"--totp-secret", "--totp-uri", "--totp-ports", "--totp-length", "--totp-step"}},
			{[]string{"sesame", "-"}, []string{"-u", "-4", "--udp", "--profiles"}},
			{[]string{"sesame", "localh"}, []string{"localhost"}},
		}
		for _, tt := range tests {
			got := mantest.BashComplete(t, script, tt.words...)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("completing %q offers %q, want %q among them", tt.words, got, w)
				}
			}
		}
		tmp := t.TempDir()
		if err := os.WriteFile(filepath.Join(tmp, "work.otp"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		got := mantest.BashComplete(t, script, "sesame", "--one-time", tmp+"/wo")
		if !slices.Contains(got, tmp+"/work.otp") {
			t.Errorf("completing --one-time %s/wo offers %q, want the file", tmp, got)
		}
	})
	t.Run("fish", func(t *testing.T) {
		got := mantest.FishComplete(t, filepath.Join(dir, "fish", "sesame.fish"), "sesame --cipher-")
		for _, w := range []string{"--cipher-key", "--cipher-ports"} {
			if !slices.Contains(got, w) {
				t.Errorf("fish completes %q to %q, want %s among them", "sesame --cipher-", got, w)
			}
		}
	})
	t.Run("zsh", func(t *testing.T) {
		mantest.ZshSyntax(t, filepath.Join(dir, "zsh", "_sesame"))
	})
}
