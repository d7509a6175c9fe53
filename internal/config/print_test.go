package config

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func fixtures(t *testing.T) []string {
	t.Helper()
	all, err := filepath.Glob("testdata/*.conf")
	var files []string
	for _, f := range all {
		if !strings.HasPrefix(filepath.Base(f), "tportknockd") { // see tportknockd_test.go
			files = append(files, f)
		}
	}
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	return files
}

// TestPrintGolden compares Print's output for each fixture with
// testdata/NAME.golden and checks that reading it back means the same.
func TestPrintGolden(t *testing.T) {
	for _, path := range fixtures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := Print(&out, c); err != nil {
				t.Fatalf("Print: %v", err)
			}
			golden := strings.TrimSuffix(path, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestPrintGolden -update to create it)", err)
			}
			checkDiff(t, golden, string(want), out.String())

			back, err := ParseKnockd("printed", out.Bytes())
			if err != nil {
				t.Fatalf("printed form does not parse:\n%v\n%s", err, out.String())
			}
			checkDiff(t, "round trip", dump(strip(c)), dump(strip(back)))
		})
	}
}

func TestPrintRejectsWhatKnockdConfCannotSay(t *testing.T) {
	t.Parallel()
	base := func() *Config {
		return &Config{Options: defaultOptions(), Events: []Event{event("e", tcp(1))}}
	}
	tests := []struct {
		name string
		mod  func(c *Config)
	}{
		{"exact element flags", func(c *Config) { c.Events[0].Sequence[0].Flags.Exact = true }},
		{"sub-second timeout", func(c *Config) { c.Events[0].SeqTimeout = 1500 * time.Millisecond }},
		{"newline in command", func(c *Config) { c.Events[0].StartCommand = "a\nb" }},
		{"event named options", func(c *Config) { c.Events[0].Name = "options" }},
		{"empty event name", func(c *Config) { c.Events[0].Name = "" }},
		{"interface with a blank", func(c *Config) { c.Options.Interfaces = []string{"a b"} }},
		{"log file with a leading blank", func(c *Config) { c.Options.LogFile = " /x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			tt.mod(c)
			if err := Print(&bytes.Buffer{}, c); err == nil {
				t.Error("Print succeeded, want an error")
			}
		})
	}
}

// TestKnockdReadsPrint feeds Print's output for each knockd fixture to the
// real knockd 0.8 (when installed): the normalised form must stay a file
// knockd accepts. knockd parses its configuration before it opens the
// capture interface, so a missing interface makes it exit right after.
func TestKnockdReadsPrint(t *testing.T) {
	knockd, err := exec.LookPath("knockd")
	if err != nil {
		if knockd, err = exec.LookPath("/usr/sbin/knockd"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("knockd not installed")
			}
			t.Skip("knockd not installed")
		}
	}
	dir := t.TempDir()
	oneTime := filepath.Join(dir, "seqs")
	if err := os.WriteFile(oneTime, []byte(" 1000,2000,3000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range fixtures(t) {
		if b := filepath.Base(path); b == "all.conf" || b == "replayproof.conf" { // use sesame's own directives
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Events {
				if c.Events[i].OneTimeFile != "" {
					c.Events[i].OneTimeFile = oneTime
				}
			}
			c.Options.LogFile = "" // knockd would append to it
			var out bytes.Buffer
			if err := Print(&out, c); err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(dir, filepath.Base(path))
			if err := os.WriteFile(conf, out.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, knockd, "-D", "-c", conf, "-i", "sesame-none0")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			_ = cmd.Run() // exits 1: the interface does not exist
			all := stdout.String() + stderr.String()
			if strings.Contains(all, "config: line") || strings.Contains(all, "error:") || !strings.Contains(all, "could not open sesame-none0") {
				t.Errorf("knockd rejected the printed form:\n%s\n--- input:\n%s", all, out.String())
			}
		})
	}
}
