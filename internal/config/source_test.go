package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sourceWorld is a fake host: the files that exist and the environment.
type sourceWorld struct {
	knockd, sesame, home, etcToml bool // which default files exist
	env                           map[string]string
}

func (w sourceWorld) sources(t *testing.T) (Sources, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{
		"knockd":  filepath.Join(dir, "knockd.conf"),
		"sesame":  filepath.Join(dir, "sesame.conf"),
		"home":    filepath.Join(home, PortKnockerHomeFile),
		"etcToml": filepath.Join(dir, "port_knocker.toml"),
		"c":       filepath.Join(dir, "c.conf"),
	}
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if w.knockd {
		write(paths["knockd"], "[knockd]\nsequence = 1001,1002:udp\ncommand = x\n")
	}
	if w.sesame {
		write(paths["sesame"], "<sesame>\nsequence = tcp:2001 tcp:2005\nstart_command = x\n</sesame>\n")
	}
	if w.home {
		write(paths["home"], "ports_to_controls = [22]\nopening_sequence = [3001,3003,3005,3007,3009]\n")
	}
	if w.etcToml {
		write(paths["etcToml"], "ports_to_controls = [80]\nopening_sequence = [4001,4003,4005,4007,4009]\n")
	}
	write(paths["c"], "[c]\nsequence = 5001,5002\ncommand = x\n")
	files := []string{paths["knockd"], paths["sesame"], paths["home"], paths["etcToml"]}
	env := w.env
	return Sources{Getenv: func(k string) string { return env[k] }, Files: files, Home: home}, paths
}

func TestSourcesPrecedence(t *testing.T) {
	t.Parallel()
	const (
		pkSeq  = "10001,10002,10003,10004,10005"
		envSeq = "11001,11002,11003,11004,11005"
	)
	everything := sourceWorld{knockd: true, sesame: true, home: true, etcToml: true, env: map[string]string{EnvSequence: envSeq, EnvPorts: "8080"}}
	tests := []struct {
		name  string
		world sourceWorld
		flags func(s *Sources, paths map[string]string)
		// want: the event's sequence and doors (FormatSequence,
		// FormatPorts), the format, and the description (with <name>
		// standing for a path)
		seq, open, format, desc string
	}{
		{"--sequence/--open win over everything", everything,
			func(s *Sources, p map[string]string) { s.Sequence, s.Open, s.File = "7000,8000:udp", "tcp:22", p["c"] },
			"7000:tcp,8000:udp", "tcp:22", FormatKnockd, "command line (--sequence/--open); ignored: -c <c>, KNOCKER_SEQ, KNOCKER_PORTS"},
		{"-m/--ports win over -c and the environment", everything,
			func(s *Sources, p map[string]string) { s.MagicSeq, s.Ports, s.File = pkSeq, "22,443", p["c"] },
			"10001:udp,10002:udp,10003:udp,10004:udp,10005:udp", "tcp:22,tcp:443", FormatPortKnocker,
			"command line (-m/--magic-seq, --ports); ignored: -c <c>, KNOCKER_SEQ, KNOCKER_PORTS"},
		{"-m with KNOCKER_PORTS is a whole door", everything,
			func(s *Sources, _ map[string]string) { s.MagicSeq = pkSeq },
			"10001:udp,10002:udp,10003:udp,10004:udp,10005:udp", "tcp:8080", FormatPortKnocker,
			"command line (-m/--magic-seq) and environment (KNOCKER_PORTS); ignored: KNOCKER_SEQ"},
		{"--ports with KNOCKER_SEQ is a whole door", everything,
			func(s *Sources, _ map[string]string) { s.Ports = "22" },
			"11001:udp,11002:udp,11003:udp,11004:udp,11005:udp", "tcp:22", FormatPortKnocker,
			"command line (--ports) and environment (KNOCKER_SEQ); ignored: KNOCKER_PORTS"},
		{"-c wins over the environment and the default files", everything,
			func(s *Sources, p map[string]string) { s.File = p["c"] },
			"5001:tcp,5002:tcp", "", FormatKnockd, "-c <c> (knockd.conf format); ignored: KNOCKER_SEQ, KNOCKER_PORTS"},
		{"the environment wins over the default files", everything, nil,
			"11001:udp,11002:udp,11003:udp,11004:udp,11005:udp", "tcp:8080", FormatPortKnocker, "environment (KNOCKER_SEQ/KNOCKER_PORTS)"},
		{"/etc/knockd.conf first", sourceWorld{knockd: true, sesame: true, home: true, etcToml: true}, nil,
			"1001:tcp,1002:udp", "", FormatKnockd, "<knockd> (the first default file found; knockd.conf format)"},
		{"then /etc/sesame/sesame.conf", sourceWorld{sesame: true, home: true, etcToml: true}, nil,
			"2001:tcp,2005:tcp", "", FormatTportknockd, "<sesame> (the first default file found; tportknockd format)"},
		{"then ~/.port_knocker.toml", sourceWorld{home: true, etcToml: true}, nil,
			"3001:udp,3003:udp,3005:udp,3007:udp,3009:udp", "tcp:22", FormatPortKnocker, "<home> (the first default file found; port-knocking-doors format)"},
		{"then /etc/port_knocker.toml", sourceWorld{etcToml: true}, nil,
			"4001:udp,4003:udp,4005:udp,4007:udp,4009:udp", "tcp:80", FormatPortKnocker, "<etcToml> (the first default file found; port-knocking-doors format)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, paths := tt.world.sources(t)
			if tt.flags != nil {
				tt.flags(&s, paths)
			}
			c, desc, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			want := tt.desc
			for k, p := range paths {
				want = strings.ReplaceAll(want, "<"+k+">", p)
			}
			if desc != want {
				t.Errorf("description\n got %q\nwant %q", desc, want)
			}
			if len(c.Events) != 1 {
				t.Fatalf("%d events", len(c.Events))
			}
			ev := c.Events[0]
			if got := FormatSequence(ev.Sequence); got != tt.seq {
				t.Errorf("sequence %s, want %s", got, tt.seq)
			}
			if got := FormatPorts(ev.Open); got != tt.open {
				t.Errorf("doors %s, want %s", got, tt.open)
			}
			if c.Format != tt.format {
				t.Errorf("format %q, want %q", c.Format, tt.format)
			}
			if tt.format == FormatPortKnocker && (ev.Payload != PortKnockerPayload || ev.Lockout != PortKnockerDefaultLockout) {
				t.Errorf("payload %q, lockout %v: want port-knocking-doors' knock", ev.Payload, ev.Lockout)
			}
		})
	}
}

func TestSourcesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		world   sourceWorld
		flags   Sources
		flagErr bool // a *FlagError (the command line is wrong)
		want    string
	}{
		{"--sequence without --open", sourceWorld{}, Sources{Sequence: "1,2"}, true, "--sequence needs --open LIST, the ports the knock opens (e.g. --open tcp:22)"},
		{"--open without --sequence", sourceWorld{}, Sources{Open: "22"}, true, "--open needs --sequence LIST"},
		{"both kinds of door", sourceWorld{}, Sources{Sequence: "1,2", Open: "22", MagicSeq: "1,2,3,4,5"}, true, "--sequence/--open (knockd's door) and -m/--magic-seq/--ports (port-knocking-doors' door) both given, expected one pair"},
		{"--open with --ports", sourceWorld{}, Sources{Open: "22", Ports: "22"}, true, "both given"},
		{"-m without any ports", sourceWorld{env: map[string]string{EnvSequence: "1,2,3,4,5"}}, Sources{MagicSeq: "1,2,3,4,5"}, true,
			"-m/--magic-seq needs the ports it opens: give --ports LIST (e.g. --ports 22) or set KNOCKER_PORTS"},
		{"--ports without any sequence", sourceWorld{}, Sources{Ports: "22"}, true, "--ports needs the knock that opens the ports: give -m/--magic-seq LIST (5 to 20 UDP ports) or set KNOCKER_SEQ"},
		{"bad -m", sourceWorld{}, Sources{MagicSeq: "1,2,3", Ports: "22"}, true, `-m/--magic-seq: magic sequence "1,2,3" has 3 ports, expected 5 to 20 UDP ports`},
		{"bad --ports", sourceWorld{}, Sources{MagicSeq: "1,2,3,4,5", Ports: "22,x"}, true, `--ports: ports to control "22,x": item 2: port "x" is not a number`},
		{"bad --sequence", sourceWorld{}, Sources{Sequence: "1,x", Open: "22"}, true, `bad --sequence "1,x": element 2 "x": port "x" is not a number`},
		{"bad KNOCKER_PORTS with -m", sourceWorld{env: map[string]string{EnvPorts: "0"}}, Sources{MagicSeq: "1,2,3,4,5"}, false, "KNOCKER_PORTS: ports to control \"0\": item 1: port 0 out of range"},
		{"bad KNOCKER_SEQ", sourceWorld{env: map[string]string{EnvSequence: "1,1,2,3,4", EnvPorts: "22"}}, Sources{}, false, "KNOCKER_SEQ: magic sequence \"1,1,2,3,4\" has port 1 twice in a row"},
		{"KNOCKER_PORTS alone is no source", sourceWorld{env: map[string]string{EnvPorts: "22"}}, Sources{}, false, "or KNOCKER_SEQ and KNOCKER_PORTS; ignored: KNOCKER_PORTS (set without KNOCKER_SEQ)"},
		{"no configuration anywhere", sourceWorld{}, Sources{}, false, "no configuration: none of "},
		{"-c of a missing file", sourceWorld{knockd: true}, Sources{File: "/nonexistent/sesame.conf"}, false, "failed to read configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := tt.world.sources(t)
			s.Sequence, s.Open, s.MagicSeq, s.Ports, s.File = tt.flags.Sequence, tt.flags.Open, tt.flags.MagicSeq, tt.flags.Ports, tt.flags.File
			c, _, err := s.Load()
			if err == nil {
				t.Fatalf("Load succeeded, want an error\n%s", dump(c))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
			var fe *FlagError
			if errors.As(err, &fe) != tt.flagErr {
				t.Errorf("error %T %q: FlagError %v, want %v", err, err, !tt.flagErr, tt.flagErr)
			}
		})
	}
	// A bad default file is reported, not skipped for the next one.
	s, paths := sourceWorld{home: true, etcToml: true}.sources(t)
	if err := os.WriteFile(paths["home"], []byte("ports_to_controls = [22]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(); err == nil || !strings.Contains(err.Error(), paths["home"]+": missing opening_sequence") {
		t.Errorf("Load with a bad ~/.port_knocker.toml: %v", err)
	}
}

func TestDefaultFiles(t *testing.T) {
	t.Parallel()
	want := "/etc/knockd.conf /etc/sesame/sesame.conf /home/u/.port_knocker.toml /etc/port_knocker.toml"
	if got := strings.Join(DefaultFiles("/home/u"), " "); got != want {
		t.Errorf("DefaultFiles = %s, want %s", got, want)
	}
	if got := strings.Join(DefaultFiles(""), " "); got != "/etc/knockd.conf /etc/sesame/sesame.conf /etc/port_knocker.toml" {
		t.Errorf("DefaultFiles without a home = %s", got)
	}
	// Files left nil: the defaults under Home.
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, PortKnockerHomeFile), []byte(PortKnockerMinimal), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/etc/knockd.conf"); err == nil {
		t.Skip("this host has /etc/knockd.conf, which comes first")
	}
	if _, err := os.Stat("/etc/sesame/sesame.conf"); err == nil {
		t.Skip("this host has /etc/sesame/sesame.conf, which comes first")
	}
	c, desc, err := Sources{Home: home, Getenv: func(string) string { return "" }}.Load()
	if err != nil || c.Format != FormatPortKnocker || !strings.HasPrefix(desc, filepath.Join(home, PortKnockerHomeFile)) {
		t.Errorf("Load with Home: %v, %q", err, desc)
	}
}

// Half an environment is not a source: the default files still count, and
// the description says what was ignored.
func TestSourcesHalfEnvironmentFallsThrough(t *testing.T) {
	t.Parallel()
	s, _ := sourceWorld{knockd: true, env: map[string]string{EnvSequence: "1,2,3,4,5"}}.sources(t)
	c, desc, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != FormatKnockd || !strings.HasSuffix(desc, "; ignored: KNOCKER_SEQ (set without KNOCKER_PORTS)") {
		t.Errorf("format %s, source %q", c.Format, desc)
	}
}

// A default file someone else could have written is refused, and
// port-knocking-doors' files are read as its TOML only: a knockd.conf
// dropped in ~/.port_knocker.toml must never run its Start_Command.
func TestDefaultFilesAreTrustedTOML(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(home, PortKnockerHomeFile)
	load := func() (string, error) {
		_, desc, err := Sources{Getenv: func(string) string { return "" }, Home: home, Files: []string{file}}.Load()
		return desc, err
	}
	if err := os.WriteFile(file, []byte("[x]\nSequence = 1,2,3\nStart_Command = touch /tmp/pwned-%IP%\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(); err == nil || !strings.Contains(err.Error(), PortKnockerHomeFile+":1:") {
		t.Errorf("a knockd.conf in %s: %v, want a TOML error at line 1", PortKnockerHomeFile, err)
	}
	if err := os.WriteFile(file, []byte("ports_to_controls = [22]\nopening_sequence = [1,2,3,4,5]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(); err != nil {
		t.Fatalf("a good file: %v", err)
	}
	if err := os.Chmod(file, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := load(); err == nil || !strings.Contains(err.Error(), "lets others change it") {
		t.Errorf("a world-writable default file: %v, want it refused", err)
	}
}
