// Command sesamed is the sesame port-knock daemon, a drop-in replacement
// for knockd: it reads knockd.conf unchanged and takes knockd's flags.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/control"
	"github.com/sesame-knock/sesame/internal/daemon"
	"github.com/sesame-knock/sesame/internal/enroll"
	"github.com/sesame-knock/sesame/internal/metrics"
	"github.com/sesame-knock/sesame/internal/seq"
)

const usage = `Usage: sesamed [options]
       sesamed --sequence LIST --open LIST [options]
       sesamed -m LIST --ports LIST [options]

sesamed watches the traffic reaching this host for secret knocks and, when
a source completes one, opens a door for it: the firewall admits that
address alone for a while, or a command of yours runs. It reads knockd.conf,
tportknockd's and port-knocking-doors' configurations unchanged and takes
knockd's options.

Where the configuration comes from, first match wins (--check says which):
  1. --sequence LIST --open LIST, or -m LIST --ports LIST
  2. -c FILE
  3. the environment: KNOCKER_SEQ and KNOCKER_PORTS (each also stands in
     for an absent -m or --ports)
  4. the first of /etc/knockd.conf, /etc/sesame/sesame.conf,
     ~/.port_knocker.toml, /etc/port_knocker.toml that exists

Options:
  -c, --config FILE       configuration: knockd.conf, tportknockd's blocks or
                          port-knocking-doors' TOML, told apart by content
      --sequence LIST     a door without a file: the knock, in knockd's
                          syntax (7000,8000:udp,9000; a port is TCP unless
                          it says :udp), to complete within 25 seconds
      --open LIST         the ports --sequence opens for 30 seconds
                          (tcp:22,udp:1194; a bare port is TCP)
  -m, --magic-seq LIST    port-knocking-doors' knock: 5 to 20 UDP ports
                          (10001,10002,10003,10004,10005), each knocked
                          with the datagram "knock\n" (default: $KNOCKER_SEQ)
      --ports LIST        the TCP ports -m opens, e.g. 22,80 (default:
                          $KNOCKER_PORTS); not -p, which is --pidfile
      --capture LIST      where knocks are seen, overriding Capture:
                          afpacket (default), udp, nflog:GROUP, pcap:FILE
  -i, --interface IF      interface to listen on; repeat for several, or
                          'all' for every interface, as they come and go
                          (default: the interface of the default route)
  -d, --daemon            detach and run in the background
  -D, --debug             log every packet seen (very noisy)
  -v, --verbose           log every stage of every knock
  -l, --lookup            add reverse DNS names to log lines (off the
                          capture path; see SECURITY in sesamed(8))
  -4, --only-ip-v4        ignore IPv6 knocks
  -p, --pidfile FILE      write the process id to FILE
  -g, --logfile FILE      also log to FILE (overrides LogFile)
      --log-format FMT    text (default) or json
  -C, --check [FILE]      check FILE, or without FILE what sesamed would
                          run; print the source used and every event
                          normalised in the syntax it was read in, then exit
      --cleanup           remove everything sesame put in the firewalls the
                          configuration uses (native doors), then exit
      --list-interfaces   list the interfaces sesamed can listen on
      --status            ask the running daemon for its counters (hits,
                          attempts in progress, doors open, failures by
                          reason, capture drops), print them and exit
      --control-socket PATH
                          the running daemon's control socket, for --status
                          (default: /run/sesamed/control.sock)
      --metrics ADDR      serve counters for Prometheus on ADDR/metrics
                          (a sesamed built with -tags prometheus)
  -r, --refresh SEC       accepted for tportknockd; not needed: address
                          changes are followed as they happen (netlink)
      --enroll CLIENT     enrol CLIENT for --event EVENT (a TOTP or cipher
                          event): create its secret, print its profile,
                          key URI and QR code, then exit
      --event EVENT       the event to enrol in (its [section] name)
      --host HOST         the server's name as the client knocks it
                          (default: this host's name)
      --no-qr             print no QR code when enrolling
      --set-configuration-file-in-home
                          write a minimal ~/.port_knocker.toml (never over
                          an existing one), print its path, exit
      --show-configuration-file-help
                          explain the keys of port-knocking-doors' TOML file
  -V, --version           print the version
  -h, --help              show this help

Where tportknockd's or port-knocking-doors' options clash with knockd's,
knockd's meaning wins: -l is --lookup (tportknockd's -l is
--list-interfaces), -d runs in the background and -D logs debug lines
(tportknockd's -D and -d), -p is the pid file (port-knocking-doors' -p is
--ports here). port-knocking-doors' --conf FILE is accepted as -c FILE.

Examples:
  sesamed --check                       show what sesamed would run, and
                                        where it comes from
  sesamed --check /etc/knockd.conf      validate a file before (re)starting
  sesamed -i eth0 -v                    run in the foreground, verbose
  sesamed -d                            run in the background (pid file
                                        /var/run/knockd.pid, as knockd)
  sesamed --sequence 7000,8000,9000 --open tcp:22
                                        open SSH to whoever knocks 7000,
                                        8000, 9000 (TCP), no file needed
  sesamed -m 10001,10002,10003,10004,10005 --ports 22
                                        port-knocking-doors' door on SSH
  KNOCKER_SEQ=10001,10002,10003,10004,10005 KNOCKER_PORTS=22 sesamed
                                        the same, from the environment
  sesamed --set-configuration-file-in-home && sesamed --check
                                        start a ~/.port_knocker.toml
  sesamed --enroll alice --event ssh --host ssh.example.com
                                        give alice her own TOTP secret
`

const prog = "sesamed"

// flagSetHook, when set (by tests), sees the flag set once every flag is
// defined: the man page and completions are checked against it.
var flagSetHook func(*pflag.FlagSet)

// daemonEnv marks the re-executed child of -d.
const daemonEnv = "SESAMED_DAEMON_CHILD"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return runWith(config.Sources{}, args, stdout, stderr)
}

// checkBare is --check's value when no FILE is attached to it (pflag's
// NoOptDefVal): a NUL byte, which no path holds.
const checkBare = "\x00"

// runWith is run with the environment, home directory and default files of
// env (its flag fields are ignored), so that tests need not touch the
// process's own.
func runWith(env config.Sources, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet(prog, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var (
		cfgPath     = fs.StringP("config", "c", "", "")
		confAlias   = fs.String("conf", "", "") // port-knocking-doors' spelling
		sequence    = fs.String("sequence", "", "")
		open        = fs.String("open", "", "")
		magicSeq    = fs.StringP("magic-seq", "m", "", "")
		ports       = fs.String("ports", "", "")
		captureArg  = fs.String("capture", "", "")
		ifaces      = fs.StringArrayP("interface", "i", nil, "")
		background  = fs.BoolP("daemon", "d", false, "")
		debugOn     = fs.BoolP("debug", "D", false, "")
		verbose     = fs.BoolP("verbose", "v", false, "")
		lookup      = fs.BoolP("lookup", "l", false, "")
		ipv4        = fs.BoolP("only-ip-v4", "4", false, "")
		pidFile     = fs.StringP("pidfile", "p", "", "")
		logFile     = fs.StringP("logfile", "g", "", "")
		logFormat   = fs.String("log-format", "text", "")
		check       = fs.StringP("check", "C", "", "")
		listIfaces  = fs.Bool("list-interfaces", false, "")
		cleanup     = fs.Bool("cleanup", false, "")
		version     = fs.BoolP("version", "V", false, "")
		help        = fs.BoolP("help", "h", false, "")
		enrollName  = fs.String("enroll", "", "")
		event       = fs.String("event", "", "")
		host        = fs.String("host", "", "")
		noQR        = fs.Bool("no-qr", false, "")
		refresh     = fs.StringP("refresh", "r", "", "")
		setHome     = fs.Bool("set-configuration-file-in-home", false, "")
		fileHelp    = fs.Bool("show-configuration-file-help", false, "")
		status      = fs.Bool("status", false, "")
		ctlSocket   = fs.String("control-socket", "", "")
		metricsAddr = fs.String("metrics", "", "")
	)
	if flagSetHook != nil {
		flagSetHook(fs)
	}
	fs.Lookup("check").NoOptDefVal = checkBare
	if err := fs.Parse(attachCheckFile(fs, args)); err != nil {
		return usageError(stderr, err.Error())
	}
	if *help {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if *version {
		fmt.Fprintf(stdout, "%s %s\n", prog, versionString())
		return 0
	}
	// A bare -C/--check takes the argument right after it as its FILE.
	checking := fs.Changed("check")
	checkFile := *check
	positional := fs.Args()
	if checking && checkFile == checkBare {
		checkFile = ""
		if len(positional) == 1 && followsCheck(args, positional[0]) {
			checkFile, positional = positional[0], nil
		}
	}
	if checking && *check == "" {
		return usageError(stderr, "--check= names no file: give --check FILE, or --check alone to check what sesamed would run")
	}
	for _, name := range []string{"config", "conf", "sequence", "open", "magic-seq", "ports", "capture"} {
		if f := fs.Lookup(name); f.Changed && f.Value.String() == "" {
			return usageError(stderr, fmt.Sprintf("--%s needs a value, not an empty one", name))
		}
	}
	if fs.Changed("conf") {
		if fs.Changed("config") && *cfgPath != *confAlias {
			return usageError(stderr, "-c/--config and --conf (port-knocking-doors' spelling) name different files, expected one")
		}
		*cfgPath = *confAlias
	}
	var captures []config.Capture
	if *captureArg != "" {
		var err error
		if captures, err = config.ParseCapture(*captureArg); err != nil {
			return usageError(stderr, fmt.Sprintf("bad --capture: %v", err))
		}
	}
	doorFlags := *sequence != "" || *open != "" || *magicSeq != "" || *ports != ""
	switch {
	case len(positional) > 0:
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", positional[0]))
	case *logFormat != "text" && *logFormat != "json":
		return usageError(stderr, fmt.Sprintf("--log-format must be text or json, not %q", *logFormat))
	case *refresh != "" && !allDigits(*refresh):
		return usageError(stderr, fmt.Sprintf("-r/--refresh takes whole seconds (tportknockd's address refresh), not %q", *refresh))
	case *enrollName != "" && (checking || *cleanup || *listIfaces || *background || *setHome || *fileHelp):
		return usageError(stderr, "--enroll does one thing and exits: give it without --check, --cleanup, --list-interfaces, --set-configuration-file-in-home, --show-configuration-file-help or -d")
	case *enrollName != "" && *event == "":
		return usageError(stderr, "--enroll needs --event EVENT, the [section] of the TOTP or cipher event")
	case *enrollName == "" && (*event != "" || *host != "" || *noQR):
		return usageError(stderr, "--event, --host and --no-qr are for --enroll CLIENT")
	case checkFile != "" && (doorFlags || *cfgPath != ""):
		return usageError(stderr, "--check FILE checks that file, so -c, --sequence/--open and -m/--ports have nothing to do; to check what those say, give --check without FILE")
	}
	if *metricsAddr != "" && !metrics.Prometheus {
		return usageError(stderr, "--metrics: "+metrics.ErrNoPrometheus.Error())
	}
	if msg := oneAction(map[string]bool{
		"--check": checking, "--cleanup": *cleanup, "--list-interfaces": *listIfaces, "--status": *status,
		"--set-configuration-file-in-home": *setHome, "--show-configuration-file-help": *fileHelp,
	}); msg != "" {
		return usageError(stderr, msg)
	}
	switch {
	case *fileHelp:
		fmt.Fprint(stdout, config.PortKnockerHelp)
		return 0
	case *setHome:
		return writeHomeFile(env.Home, stdout, stderr)
	case *listIfaces:
		return listInterfaces(stdout, stderr)
	case *status:
		return printStatus(*ctlSocket, stdout, stderr)
	}

	src := env
	src.Sequence, src.Open, src.MagicSeq, src.Ports, src.File = *sequence, *open, *magicSeq, *ports, *cfgPath
	var (
		cfg  *config.Config
		desc string
		err  error
	)
	if checkFile != "" {
		if cfg, err = config.Load(checkFile); err == nil {
			desc = fmt.Sprintf("%s (given to --check; %s format)", checkFile, formatOf(cfg))
		}
	} else {
		cfg, desc, err = src.Load()
	}
	if err != nil {
		var fe *config.FlagError
		if errors.As(err, &fe) {
			return usageError(stderr, fe.Msg)
		}
		if checking {
			return failCheck(stderr, err)
		}
		return failConfig(stderr, err)
	}
	if captures != nil {
		cfg.Options.Capture = captures
		if msg := config.CheckCaptures(cfg); msg != "" {
			return usageError(stderr, "--capture "+*captureArg+": "+msg)
		}
		desc += "; Capture from --capture"
	}
	if checking {
		return checkConfig(cfg, desc, stdout, stderr)
	}

	if *enrollName != "" {
		r := enroll.Request{Event: *event, Client: *enrollName, Host: *host, QR: !*noQR}
		if r.Host == "" {
			if r.Host, err = os.Hostname(); err != nil {
				return fail(stderr, fmt.Errorf("no --host given and %w", err))
			}
		}
		if err := enroll.Enroll(cfg, r, stdout); err != nil {
			return fail(stderr, err)
		}
		return 0
	}

	if *cleanup {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := daemon.Cleanup(ctx, cfg); err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintf(stdout, "%s: removed sesame's firewall objects for %s\n", prog, cfg.Source)
		return 0
	}

	if *background && os.Getenv(daemonEnv) == "" {
		return detach(args, stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads (Go's default would kill the daemon and lose the
	// pending stop commands).
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	defer signal.Stop(hangup)
	// SIGHUP reads the configuration again from where it came from, with
	// the same command-line overrides.
	reload := func() (*config.Config, error) {
		c, _, err := src.Load()
		if err != nil {
			return nil, err
		}
		if captures != nil {
			c.Options.Capture = captures
			if msg := config.CheckCaptures(c); msg != "" {
				return nil, errors.New("--capture " + *captureArg + ": " + msg)
			}
		}
		return c, nil
	}
	opts := daemon.Options{
		Hangup: hangup, Reload: reload,
		ControlSocket: *ctlSocket, MetricsListen: *metricsAddr, Version: versionString(),
		Interfaces: *ifaces, Verbose: *verbose, Debug: *debugOn, Lookup: *lookup, IPv4Only: *ipv4,
		PidFile: *pidFile, LogFile: *logFile, JSON: *logFormat == "json", Stderr: stderr,
	}
	var ready *os.File
	if os.Getenv(daemonEnv) != "" {
		ready = os.NewFile(3, "ready")
		opts.Stderr = nil
		if opts.PidFile == "" && cfg.Options.PidFile == "" {
			opts.PidFile = config.DefaultPidFile // knockd's, so its init scripts find us
		}
		opts.Ready = func() { ready.WriteString("ok\n"); ready.Close() }
	}
	if err := daemon.Run(ctx, cfg, opts); err != nil {
		if ready != nil {
			fmt.Fprintf(ready, "%v\n", err)
			ready.Close()
		}
		return fail(stderr, err)
	}
	return 0
}

// attachCheckFile rewrites -CFILE as -C=FILE: with an optional value,
// pflag would read -CFILE as -C followed by the short flags F, I, L, E.
// Values of other flags ("-c -Cx" names the file -Cx) are left alone.
func attachCheckFile(fs *pflag.FlagSet, args []string) []string {
	out := append([]string(nil), args...)
	takesValue := func(f *pflag.Flag) bool {
		return f != nil && f.NoOptDefVal == "" && f.Value.Type() != "bool"
	}
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		switch {
		case strings.HasPrefix(a, "--"):
			if name, _, hasValue := strings.Cut(a[2:], "="); !hasValue && takesValue(fs.Lookup(name)) {
				i++ // its value
			}
		case strings.HasPrefix(a, "-C") && len(a) > 2 && a[2] != '=':
			out[i] = "-C=" + a[2:]
		case len(a) == 2 && a[0] == '-' && takesValue(fs.ShorthandLookup(a[1:])):
			i++ // its value
		}
	}
	return out
}

// valueShorts are the short flags that take a value: in a cluster before
// C, they would take the rest of it as their value.
const valueShorts = "cigpCrm"

// followsCheck reports whether arg comes right after a bare -C or --check
// in args (also at the end of a cluster of short flags, -vC).
func followsCheck(args []string, arg string) bool {
	for i := 0; i+1 < len(args); i++ {
		a := args[i]
		if a == "--" {
			return false
		}
		bare := a == "--check" || (len(a) >= 2 && a[0] == '-' && a[1] != '-' && strings.HasSuffix(a, "C") && !strings.ContainsAny(a[1:len(a)-1], valueShorts))
		if bare && args[i+1] == arg {
			return true
		}
	}
	return false
}

// oneAction says what is wrong when more than one of the flags that do one
// thing and exit is given, or "".
func oneAction(given map[string]bool) string {
	var names []string
	for n, on := range given {
		if on {
			names = append(names, n)
		}
	}
	if len(names) < 2 {
		return ""
	}
	sort.Strings(names)
	return fmt.Sprintf("%s each do one thing and exit, expected one of them", strings.Join(names, " and "))
}

// writeHomeFile writes port-knocking-doors' minimal file in the home
// directory, never over an existing one.
func writeHomeFile(home string, stdout, stderr io.Writer) int {
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return fail(stderr, fmt.Errorf("cannot tell the home directory: %w", err))
		}
	}
	path := filepath.Join(home, config.PortKnockerHomeFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, iofs.ErrExist) {
		return fail(stderr, fmt.Errorf("%s already exists, not overwritten: edit it, or remove it and run --set-configuration-file-in-home again", path))
	}
	if err != nil {
		return fail(stderr, fmt.Errorf("failed to write %s: %w", path, err))
	}
	_, err = f.WriteString(config.PortKnockerMinimal)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fail(stderr, fmt.Errorf("failed to write %s: %w", path, err))
	}
	fmt.Fprintf(stdout, "%s\n", path)
	fmt.Fprintf(stdout, "%s: choose your own opening_sequence in it, then check it with 'sesamed --check'\n", prog)
	return 0
}

// printStatus asks the running daemon for its counters (sesamed --status).
func printStatus(socket string, stdout, stderr io.Writer) int {
	if socket == "" {
		socket = control.DefaultSocket
	}
	ctx, cancel := context.WithTimeout(context.Background(), control.DefaultTimeout)
	defer cancel()
	snap, err := control.Status(ctx, socket)
	if err != nil {
		return fail(stderr, err)
	}
	if err := metrics.WriteText(stdout, snap); err != nil {
		return fail(stderr, err)
	}
	return 0
}

func formatOf(c *config.Config) string {
	if c.Format == "" {
		return config.FormatKnockd
	}
	return c.Format
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// failCheck prints the errors of a configuration --check could not load:
// each file:line error on its own line, as tportknockd's -C does.
func failCheck(w io.Writer, err error) int {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		return 1
	}
	return fail(w, err)
}

// checkConfig is --check: warnings on stderr, then on stdout a "# source:"
// line and the configuration written back in the syntax it was read in
// (knockd.conf when that syntax cannot say all of it, e.g. after
// --capture).
func checkConfig(cfg *config.Config, desc string, stdout, stderr io.Writer) int {
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", prog, w)
	}
	// knockd refuses to start without a usable one-time file; say so now.
	failed := false
	for _, ev := range cfg.Events {
		if ev.OneTimeFile == "" {
			continue
		}
		ot, err := seq.Open(ev.OneTimeFile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: event [%s]: %v\n", ev.Pos, ev.Name, err)
			failed = true
			continue
		}
		for _, e := range ot.Invalid() {
			fmt.Fprintf(stderr, "%s: warning: %s (line skipped, as knockd does)\n", prog, e.Error())
		}
		ot.Close()
	}
	// So do unreadable TOTP secrets and cipher keys.
	if _, err := daemon.LoadKeys(cfg); err != nil {
		for _, l := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, l)
		}
		failed = true
	}
	if failed {
		return 1
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# source: %s\n", oneLine(desc))
	printed := false
	switch cfg.Format { // answer in the syntax it was read in
	case config.FormatTportknockd:
		printed = config.PrintTportknockd(&out, cfg) == nil
	case config.FormatPortKnocker:
		printed = config.PrintPortKnocker(&out, cfg) == nil
	}
	if !printed {
		out.Truncate(strings.IndexByte(out.String(), '\n') + 1)
		if err := config.Print(&out, cfg); err != nil {
			return fail(stderr, err)
		}
	}
	stdout.Write(out.Bytes())
	return 0
}

// oneLine keeps a description on its comment line.
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n\x00") {
		return strconv.Quote(s)
	}
	return s
}

func listInterfaces(stdout, stderr io.Writer) int {
	list, err := capture.List()
	if err != nil {
		return fail(stderr, err)
	}
	def, _ := capture.DefaultRouteInterface()
	for _, in := range list {
		state := "down"
		if in.Up {
			state = "up"
		}
		mark := ""
		if in.Name == def {
			mark = " (default route)"
		}
		if in.LinkErr != nil {
			mark += " (cannot capture: " + in.LinkErr.Error() + ")"
		}
		addrs := make([]string, len(in.Addrs))
		for i, a := range in.Addrs {
			addrs[i] = a.String()
		}
		fmt.Fprintf(stdout, "%-16s %-4s %-8s %s%s\n", in.Name, state, in.Link.String(), strings.Join(addrs, " "), mark)
	}
	return 0
}

// detach re-executes sesamed in a new session (Go cannot fork) and waits
// until the child says it is ready, so `sesamed -d` fails loudly, in the
// foreground, when the daemon cannot start.
func detach(args []string, stderr io.Writer) int {
	r, w, err := os.Pipe()
	if err != nil {
		return fail(stderr, err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail(stderr, err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fail(stderr, err)
	}
	attr := &os.ProcAttr{
		Env:   append(os.Environ(), daemonEnv+"=1"),
		Files: []*os.File{null, null, null, w},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	p, err := os.StartProcess(self, append([]string{self}, args...), attr)
	w.Close()
	null.Close()
	if err != nil {
		return fail(stderr, fmt.Errorf("failed to start the daemon: %w", err))
	}
	msg, _ := io.ReadAll(r)
	if s := strings.TrimSpace(string(msg)); s != "ok" {
		if s == "" {
			s = "the daemon exited before it was ready"
		}
		p.Wait()
		return fail(stderr, errors.New(s))
	}
	p.Release()
	return 0
}

// version is the release, set by the package build (-ldflags "-X
// main.version=…"); a module version recorded by go install wins.
var version = "0.1.0-dev"

func versionString() string {
	v := version
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = strings.TrimPrefix(bi.Main.Version, "v")
	}
	return v + " (" + bi.GoVersion + ")"
}

func fail(w io.Writer, err error) int {
	fmt.Fprintf(w, "%s: error: %v\n", prog, err)
	if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) {
		fmt.Fprintf(w, "%s: hint: capturing needs root or CAP_NET_RAW\n", prog)
	}
	return 1
}

// failConfig prints every configuration error on its own line.
func failConfig(w io.Writer, err error) int {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintf(w, "%s: error: %s\n", prog, e.Error())
		}
		return 1
	}
	return fail(w, err)
}

func usageError(w io.Writer, msg string) int {
	fmt.Fprintf(w, "%s: error: %s\n%s: hint: run 'sesamed --help' for usage\n", prog, msg, prog)
	return 2
}
