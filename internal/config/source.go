package config

// Where sesamed's configuration comes from (SPEC §2.4), first match wins:
//
//  1. command-line flags that define a door: --sequence LIST --open LIST
//     (knockd's meanings, QuickStart), or -m/--magic-seq LIST --ports LIST
//     (port-knocking-doors', PortKnockerFromLists);
//  2. -c FILE;
//  3. the environment: KNOCKER_SEQ and KNOCKER_PORTS (port-knocking-doors');
//  4. the first default file that exists: /etc/knockd.conf,
//     /etc/sesame/sesame.conf, ~/.port_knocker.toml, /etc/port_knocker.toml.
//
// port-knocking-doors' own rule joins 1 and 3: KNOCKER_SEQ stands in for an
// absent -m and KNOCKER_PORTS for an absent --ports, so `-m LIST` with
// KNOCKER_PORTS set is a whole door.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The environment variables of port-knocking-doors.
const (
	EnvSequence = "KNOCKER_SEQ"
	EnvPorts    = "KNOCKER_PORTS"
)

// PortKnockerHomeFile is port-knocking-doors' file in the home directory.
const PortKnockerHomeFile = ".port_knocker.toml"

// DefaultFiles are the files sesamed reads when nothing else says where
// its configuration is, in order; home is the home directory ("" leaves
// out ~/.port_knocker.toml).
func DefaultFiles(home string) []string {
	files := []string{"/etc/knockd.conf", "/etc/sesame/sesame.conf"}
	if home != "" {
		files = append(files, filepath.Join(home, PortKnockerHomeFile))
	}
	return append(files, "/etc/port_knocker.toml")
}

// Sources are the places a configuration may come from: the flags sesamed
// was given, and the environment and files, injectable for tests. An empty
// flag value means the flag was not given.
type Sources struct {
	Sequence string // --sequence LIST
	Open     string // --open LIST
	MagicSeq string // -m/--magic-seq LIST
	Ports    string // --ports LIST
	File     string // -c FILE

	// Getenv reads the environment (nil: os.Getenv). An empty value is
	// taken as unset.
	Getenv func(string) string
	// Home is the home directory (""; os.UserHomeDir, and no home file
	// when that fails). Used only when Files is nil.
	Home string
	// Files are the default files, in order (nil: DefaultFiles(Home)).
	Files []string
}

// A FlagError is a mistake in how sesamed was called (a flag without its
// partner, two ways of saying the same thing, a malformed flag value), as
// opposed to a bad configuration: the command line should be fixed.
type FlagError struct{ Msg string }

func (e *FlagError) Error() string { return e.Msg }

func flagErrorf(format string, args ...any) error {
	return &FlagError{fmt.Sprintf(format, args...)}
}

// Load applies the precedence and loads the configuration from the first
// source that is given. It returns the configuration and a one-line
// description of the source used (for `sesamed --check`), which names the
// lower sources that were given but not used. A mistake in the flags is a
// *FlagError; a bad file is an Errors.
func (s Sources) Load() (*Config, string, error) {
	getenv := s.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	envSeq, envPorts := getenv(EnvSequence), getenv(EnvPorts)
	knockd := s.Sequence != "" || s.Open != ""
	pkd := s.MagicSeq != "" || s.Ports != ""

	// ignored names the sources given but not used, lowest last.
	ignored := func(file bool, envVars ...string) string {
		var out []string
		if file && s.File != "" {
			out = append(out, "-c "+s.File)
		}
		for _, v := range envVars {
			if getenv(v) != "" {
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			return ""
		}
		return "; ignored: " + strings.Join(out, ", ")
	}

	switch {
	case knockd && pkd:
		return nil, "", flagErrorf("--sequence/--open (knockd's door) and -m/--magic-seq/--ports (port-knocking-doors' door) both given, expected one pair")
	case knockd && s.Open == "":
		return nil, "", flagErrorf("--sequence needs --open LIST, the ports the knock opens (e.g. --open tcp:22)")
	case knockd && s.Sequence == "":
		return nil, "", flagErrorf("--open needs --sequence LIST, the knock that opens it (e.g. --sequence 7000,8000,9000)")
	case knockd:
		c, err := QuickStart(s.Sequence, s.Open)
		if err != nil {
			return nil, "", &FlagError{err.Error()}
		}
		return c, c.Source + ignored(true, EnvSequence, EnvPorts), nil
	case pkd:
		return s.portKnocker(envSeq, envPorts, ignored)
	case s.File != "":
		c, err := Load(s.File)
		if err != nil {
			return nil, "", err
		}
		return c, fmt.Sprintf("-c %s (%s format)", s.File, formatName(c.Format)) + ignored(false, EnvSequence, EnvPorts), nil
	case envSeq != "" && envPorts != "":
		const source = "environment (" + EnvSequence + "/" + EnvPorts + ")"
		sq, err := ParseMagicSequence(envSeq)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvSequence, err)
		}
		ps, err := ParseControlPorts(envPorts)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvPorts, err)
		}
		return portKnockerConfig(source, sq, ps, PortKnockerDefaultLockout, PortKnockerDefaultLiveTime, PortKnockerDefaultOpen), source, nil
	}
	files := s.Files
	if files == nil {
		home := s.Home
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		files = DefaultFiles(home)
	}
	// One of the two variables alone defines no door: it is not a source
	// (port-knocking-doors uses each only to stand in for its flag).
	halfEnv := ""
	switch {
	case envSeq != "":
		halfEnv = "; ignored: " + EnvSequence + " (set without " + EnvPorts + ")"
	case envPorts != "":
		halfEnv = "; ignored: " + EnvPorts + " (set without " + EnvSequence + ")"
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("failed to read configuration: %w", err)
		}
		if err := checkTrusted(f, fi); err != nil {
			return nil, "", err
		}
		c, err := loadDefault(f)
		if err != nil {
			return nil, "", err
		}
		return c, fmt.Sprintf("%s (the first default file found; %s format)%s", f, formatName(c.Format), halfEnv), nil
	}
	return nil, "", fmt.Errorf("no configuration: none of %s exists, expected -c FILE, --sequence LIST --open LIST, -m LIST --ports LIST, or %s and %s%s", strings.Join(files, ", "), EnvSequence, EnvPorts, halfEnv)
}

// loadDefault reads a default file. port-knocking-doors' files are read as
// its TOML and nothing else: a file in a home directory must not turn into
// a knockd.conf whose commands sesamed runs as root.
func loadDefault(path string) (*Config, error) {
	if !strings.HasSuffix(path, PortKnockerHomeFile) && !strings.HasSuffix(path, "/port_knocker.toml") {
		return Load(path)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read configuration: %w", err)
	}
	return ParsePortKnocker(path, src)
}

// portKnocker builds port-knocking-doors' door from -m/--ports, each
// stood in for by its environment variable when absent.
func (s Sources) portKnocker(envSeq, envPorts string, ignored func(bool, ...string) string) (*Config, string, error) {
	seq, ports := s.MagicSeq, s.Ports
	var used, unused []string
	if seq != "" {
		used = append(used, "-m/--magic-seq")
		unused = append(unused, EnvSequence)
	}
	if ports != "" {
		used = append(used, "--ports")
		unused = append(unused, EnvPorts)
	}
	var fromEnv []string
	if seq == "" {
		if envSeq == "" {
			return nil, "", flagErrorf("--ports needs the knock that opens the ports: give -m/--magic-seq LIST (5 to 20 UDP ports) or set %s", EnvSequence)
		}
		seq = envSeq
		fromEnv = append(fromEnv, EnvSequence)
	}
	if ports == "" {
		if envPorts == "" {
			return nil, "", flagErrorf("-m/--magic-seq needs the ports it opens: give --ports LIST (e.g. --ports 22) or set %s", EnvPorts)
		}
		ports = envPorts
		fromEnv = append(fromEnv, EnvPorts)
	}
	source := "command line (" + strings.Join(used, ", ") + ")"
	if len(fromEnv) > 0 {
		source += " and environment (" + strings.Join(fromEnv, ", ") + ")"
	}
	// A bad value is the command line's mistake if it came from a flag.
	sq, err := ParseMagicSequence(seq)
	if err != nil {
		if s.MagicSeq != "" {
			return nil, "", &FlagError{"-m/--magic-seq: " + err.Error()}
		}
		return nil, "", fmt.Errorf("%s: %w", EnvSequence, err)
	}
	ps, err := ParseControlPorts(ports)
	if err != nil {
		if s.Ports != "" {
			return nil, "", &FlagError{"--ports: " + err.Error()}
		}
		return nil, "", fmt.Errorf("%s: %w", EnvPorts, err)
	}
	c := portKnockerConfig(source, sq, ps, PortKnockerDefaultLockout, PortKnockerDefaultLiveTime, PortKnockerDefaultOpen)
	return c, source + ignored(true, unused...), nil
}

func formatName(f string) string {
	if f == "" {
		return FormatKnockd
	}
	return f
}
