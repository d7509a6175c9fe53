// Command sesamed is the sesame port-knock daemon, a drop-in replacement
// for knockd: it reads knockd.conf unchanged and takes knockd's flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/sesame-knock/sesame/internal/capture"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/daemon"
	"github.com/sesame-knock/sesame/internal/enroll"
	"github.com/sesame-knock/sesame/internal/seq"
)

const usage = `Usage: sesamed [options]

sesamed watches the traffic reaching this host for secret knocks and runs
the configured command when a source completes one. It reads knockd.conf
unchanged and takes knockd's options.

Options:
  -c, --config FILE       configuration (default /etc/knockd.conf, then
                          /etc/sesame/sesame.conf)
  -i, --interface IF      interface to listen on; repeat for several
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
  -C, --check FILE        check FILE, print every event normalised, exit
      --cleanup           remove everything sesame put in the firewalls the
                          configuration uses (native doors), then exit
      --list-interfaces   list the interfaces sesamed can listen on
  -r, --refresh SEC       accepted for tportknockd; not needed: address
                          changes are followed as they happen (netlink)
      --enroll CLIENT     enrol CLIENT for --event EVENT (a TOTP or cipher
                          event): create its secret, print its profile,
                          key URI and QR code, then exit
      --event EVENT       the event to enrol in (its [section] name)
      --host HOST         the server's name as the client knocks it
                          (default: this host's name)
      --no-qr             print no QR code when enrolling
  -V, --version           print the version
  -h, --help              show this help

Where tportknockd's options clash with knockd's, knockd's meaning wins:
-l is --lookup (tportknockd's -l is --list-interfaces), -d runs in the
background and -D logs debug lines (tportknockd's -D and -d).

Examples:
  sesamed --check /etc/knockd.conf      validate before (re)starting
  sesamed -i eth0 -v                    run in the foreground, verbose
  sesamed -d                            run in the background (pid file
                                        /var/run/knockd.pid, as knockd)
  sesamed --enroll alice --event ssh --host ssh.example.com
                                        give alice her own TOTP secret
`

const prog = "sesamed"

// daemonEnv marks the re-executed child of -d.
const daemonEnv = "SESAMED_DAEMON_CHILD"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet(prog, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var (
		cfgPath    = fs.StringP("config", "c", "", "")
		ifaces     = fs.StringArrayP("interface", "i", nil, "")
		background = fs.BoolP("daemon", "d", false, "")
		debugOn    = fs.BoolP("debug", "D", false, "")
		verbose    = fs.BoolP("verbose", "v", false, "")
		lookup     = fs.BoolP("lookup", "l", false, "")
		ipv4       = fs.BoolP("only-ip-v4", "4", false, "")
		pidFile    = fs.StringP("pidfile", "p", "", "")
		logFile    = fs.StringP("logfile", "g", "", "")
		logFormat  = fs.String("log-format", "text", "")
		check      = fs.StringP("check", "C", "", "")
		listIfaces = fs.Bool("list-interfaces", false, "")
		cleanup    = fs.Bool("cleanup", false, "")
		version    = fs.BoolP("version", "V", false, "")
		help       = fs.BoolP("help", "h", false, "")
		enrollName = fs.String("enroll", "", "")
		event      = fs.String("event", "", "")
		host       = fs.String("host", "", "")
		noQR       = fs.Bool("no-qr", false, "")
		refresh    = fs.StringP("refresh", "r", "", "")
	)
	if err := fs.Parse(args); err != nil {
		return usageError(stderr, err.Error())
	}
	switch {
	case *help:
		fmt.Fprint(stdout, usage)
		return 0
	case *version:
		fmt.Fprintf(stdout, "%s %s\n", prog, versionString())
		return 0
	case fs.NArg() > 0:
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *logFormat != "text" && *logFormat != "json":
		return usageError(stderr, fmt.Sprintf("--log-format must be text or json, not %q", *logFormat))
	case *refresh != "" && !allDigits(*refresh):
		return usageError(stderr, fmt.Sprintf("-r/--refresh takes whole seconds (tportknockd's address refresh), not %q", *refresh))
	case *enrollName != "" && (*check != "" || *cleanup || *listIfaces || *background):
		return usageError(stderr, "--enroll does one thing and exits: give it without --check, --cleanup, --list-interfaces or -d")
	case *listIfaces:
		return listInterfaces(stdout, stderr)
	case *check != "":
		return checkConfig(*check, stdout, stderr)
	case *enrollName != "" && *event == "":
		return usageError(stderr, "--enroll needs --event EVENT, the [section] of the TOTP or cipher event")
	case *enrollName == "" && (*event != "" || *host != "" || *noQR):
		return usageError(stderr, "--event, --host and --no-qr are for --enroll CLIENT")
	}

	path, err := configPath(*cfgPath)
	if err != nil {
		return fail(stderr, err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return failConfig(stderr, err)
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
		fmt.Fprintf(stdout, "%s: removed sesame's firewall objects for %s\n", prog, path)
		return 0
	}

	if *background && os.Getenv(daemonEnv) == "" {
		return detach(args, stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP must not kill the daemon (Go's default), which would lose
	// the pending stop commands; the daemon says what it does with it.
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	defer signal.Stop(hangup)
	opts := daemon.Options{
		Hangup:     hangup,
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

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// configPath applies knockd's default and sesame's fallback.
func configPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	for _, p := range []string{"/etc/knockd.conf", "/etc/sesame/sesame.conf"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no configuration: /etc/knockd.conf and /etc/sesame/sesame.conf do not exist (use -c FILE)")
}

func checkConfig(path string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(stderr, e.Error())
			}
			return 1
		}
		return fail(stderr, err)
	}
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
	printConfig := config.Print
	if cfg.Format == config.FormatTportknockd {
		printConfig = config.PrintTportknockd // answer in the syntax it was read in
	}
	if err := printConfig(stdout, cfg); err != nil {
		return fail(stderr, err)
	}
	return 0
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

func versionString() string {
	v := "0.1.0-dev"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
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
