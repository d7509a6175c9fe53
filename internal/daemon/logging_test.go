package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoggerWritesLogFileAndHonoursLevels(t *testing.T) {
	tests := []struct {
		name           string
		opts           LogOptions
		verbose, debug bool // which lines must appear
	}{
		{name: "default", opts: LogOptions{}},
		{name: "verbose", opts: LogOptions{Verbose: true}, verbose: true},
		{name: "debug", opts: LogOptions{Debug: true}, verbose: true, debug: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sesamed.log")
			o := tt.opts
			o.File = path
			log, closer, err := newLogger(o)
			if err != nil {
				t.Fatal(err)
			}
			log.Info("OPEN SESAME", "src", "198.18.0.2")
			log.Log(t.Context(), levelVerbose, "stage 1/3", "src", "198.18.0.2")
			log.Debug("hit", "src", "198.18.0.2")
			closer.Close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if !strings.Contains(got, `level=INFO msg="OPEN SESAME" src=198.18.0.2`) {
				t.Errorf("log file lacks the info line:\n%s", got)
			}
			if strings.Contains(got, "level=VERBOSE") != tt.verbose {
				t.Errorf("verbose line present = %v, want %v:\n%s", !tt.verbose, tt.verbose, got)
			}
			if strings.Contains(got, "msg=hit") != tt.debug {
				t.Errorf("debug line present = %v, want %v:\n%s", !tt.debug, tt.debug, got)
			}
		})
	}
}

func TestLoggerJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sesamed.log")
	log, closer, err := newLogger(LogOptions{File: path, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("OPEN SESAME", "src", "198.18.0.2", "event", "openSSH")
	closer.Close()
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"msg":"OPEN SESAME","src":"198.18.0.2","event":"openSSH"`) {
		t.Fatalf("JSON line: %s", b)
	}
}

func TestLoggerBadLogFileIsAnError(t *testing.T) {
	if _, _, err := newLogger(LogOptions{File: "/nonexistent/dir/sesamed.log"}); err == nil || !strings.Contains(err.Error(), "failed to open log file") {
		t.Fatalf("err = %v", err)
	}
}
