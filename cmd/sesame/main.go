// Command sesame sends port knocks. It takes knockd's knock command line
// unchanged, and tportknockd's PROTO:PORT frames.
//
// Exit status: 0 when every knock was sent, 1 when something failed while
// knocking (a host that does not resolve, a knock that cannot be sent, an
// interrupt), 2 for a command line that sesame cannot use.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/sesame-knock/sesame/internal/client"
	"github.com/sesame-knock/sesame/internal/packet"
)

const usage = `Usage:
    sesame [options] HOST [HOST...] PORT[:PROTO] [PORT[:PROTO]...]
    sesame [options] HOST [HOST...] PROTO:PORT [PROTO:PORT...]

sesame knocks on a server's ports, in order, so that its port-knock daemon
(sesamed or knockd) opens a door for you. A TCP knock is a single SYN and a
UDP knock a single datagram; no root is needed. With several hosts, each one
gets the whole sequence, one host after the other.

PORT is a number from 1 to 65535 and PROTO is tcp or udp. A port without a
protocol is a TCP knock (UDP with -u).

Options:
    -u, --udp            Knock with UDP on ports that name no protocol.
    -d, --delay MS       Wait MS milliseconds between knocks (default 0).
    -4, --ipv4           Use IPv4 only.
    -6, --ipv6           Use IPv6 only.
        --source ADDR    Send the knocks from ADDR, an address of this host.
    -v, --verbose        Print each knock as it is sent.
    -V, --version        Print the version and exit.
    -h, --help           Print this help and exit.

Examples:
    Knock on TCP ports 7000, 8000 and 9000, then log in:
        $ sesame myserver.example.com 7000 8000 9000 && ssh myserver.example.com

    Mix protocols and show each knock:
        $ sesame -v myserver.example.com 123:tcp 456:udp 789:tcp
        hitting tcp 198.51.100.7:123
        hitting udp 198.51.100.7:456
        hitting tcp 198.51.100.7:789

    The same sequence written as tportknockd frames:
        $ sesame myserver.example.com tcp:123 udp:456 tcp:789

    UDP knocks 200 ms apart (for routers that take a fast sequence for a scan):
        $ sesame -u -d 200 myserver.example.com 8284 4721 18592 42912

    Two servers at once, over IPv6:
        $ sesame -6 web1.example.com web2.example.com 7000 8000 9000

sesame cannot tell whether a door opened: a knock that left can still be
lost or refused. Exit status: 0 when every knock was sent, 1 when one could
not be, 2 for a command line sesame cannot use.
`

// version is the release; a build can set it with
// -ldflags "-X main.version=1.2.3". A module version from the build info
// (go install …@v1.2.3) takes precedence.
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command line that sesame cannot use (exit status 2).
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stdout)
	if err == nil && o == nil {
		return 0 // --help or --version
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if len(args) == 0 {
			fmt.Fprint(stderr, usage)
		} else {
			printError(stderr, ue.msg, ue.hint)
		}
		return 2
	}
	if err = client.Run(ctx, *o); err != nil {
		if ctx.Err() != nil {
			printError(stderr, "interrupted", "")
		} else {
			printError(stderr, err.Error(), hint(err))
		}
		return 1
	}
	return 0
}

func printError(w io.Writer, msg, hint string) {
	fmt.Fprintf(w, "sesame: error: %s\n", msg)
	if hint != "" {
		fmt.Fprintf(w, "sesame: hint: %s\n", hint)
	}
}

const helpHint = `run "sesame --help" for the options and examples`

// parse turns the command line into client options. It returns nil
// options and no error when it printed the help or the version.
func parse(args []string, stdout io.Writer) (*client.Options, error) {
	fs := pflag.NewFlagSet("sesame", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	udp := fs.BoolP("udp", "u", false, "")
	delay := fs.StringP("delay", "d", "0", "")
	ipv4 := fs.BoolP("ipv4", "4", false, "")
	ipv6 := fs.BoolP("ipv6", "6", false, "")
	source := fs.String("source", "", "")
	verbose := fs.BoolP("verbose", "v", false, "")
	showVersion := fs.BoolP("version", "V", false, "")
	help := fs.BoolP("help", "h", false, "")

	if len(args) == 0 {
		return nil, &usageError{msg: "missing host and ports"}
	}
	if err := fs.Parse(args); err != nil {
		return nil, flagError(err)
	}
	switch {
	case *help:
		fmt.Fprint(stdout, usage)
		return nil, nil
	case *showVersion:
		fmt.Fprintf(stdout, "sesame %s (%s)\n", buildVersion(), runtime.Version())
		return nil, nil
	}

	o := &client.Options{}
	proto := packet.TCP
	if *udp {
		proto = packet.UDP
	}
	var err error
	if o.Hosts, o.Knocks, err = client.ParseArgs(fs.Args(), proto); err != nil {
		ue := &usageError{msg: err.Error()}
		switch msg := err.Error(); {
		case strings.HasPrefix(msg, "missing host"), strings.HasPrefix(msg, "unexpected"), strings.HasPrefix(msg, "no ports"):
			ue.hint = "write the hosts first, then the ports: sesame HOST... PORT[:PROTO]..."
		}
		return nil, ue
	}
	ms, err := strconv.ParseInt(*delay, 10, 64)
	switch {
	case err == nil && ms < 0:
		return nil, &usageError{msg: fmt.Sprintf("invalid delay %q: it cannot be negative", *delay)}
	case errors.Is(err, strconv.ErrRange) || ms > math.MaxInt64/int64(time.Millisecond):
		return nil, &usageError{msg: fmt.Sprintf("invalid delay %q: too long", *delay)}
	case err != nil:
		return nil, &usageError{msg: fmt.Sprintf("invalid delay %q: want a whole number of milliseconds, like -d 200", *delay)}
	}
	o.Delay = time.Duration(ms) * time.Millisecond
	switch {
	case *ipv4 && *ipv6:
		return nil, &usageError{msg: "-4 and -6 cannot be used together", hint: "give neither to use whichever family each host resolves to first"}
	case *ipv4:
		o.Family = 4
	case *ipv6:
		o.Family = 6
	}
	if *source != "" {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(*source, "["), "]"))
		if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("invalid --source address %q: want an IP address of this host, like 192.0.2.10", *source)}
		}
		a = a.Unmap()
		if (o.Family == 4 && !a.Is4()) || (o.Family == 6 && !a.Is6()) {
			return nil, &usageError{msg: fmt.Sprintf("--source %s is not an IPv%d address, as -%d asks", *source, o.Family, o.Family)}
		}
		o.Source = a
	}
	if *verbose {
		o.Verbose = stdout
	}
	return o, nil
}

// flagError turns pflag's errors into sesame's words.
func flagError(err error) error {
	var notExist *pflag.NotExistError
	var needsValue *pflag.ValueRequiredError
	switch {
	case errors.As(err, &notExist):
		opt := "--" + notExist.GetSpecifiedName()
		if notExist.GetSpecifiedShortnames() != "" {
			opt = "-" + notExist.GetSpecifiedName()
		}
		ue := &usageError{msg: "unknown option " + opt, hint: helpHint}
		if _, err := strconv.Atoi(strings.TrimLeft(opt, "-")); err == nil && notExist.GetSpecifiedShortnames() != "" {
			ue.hint = "ports are numbers from 1 to 65535, and options come before \"--\""
		}
		return ue
	case errors.As(err, &needsValue):
		opt := "--" + needsValue.GetFlag().Name
		if needsValue.GetSpecifiedShortnames() != "" {
			opt = "-" + needsValue.GetFlag().Shorthand
		}
		return &usageError{msg: "option " + opt + " needs a value", hint: helpHint}
	}
	return &usageError{msg: err.Error(), hint: helpHint}
}

// hint suggests a way out of a failure while knocking.
func hint(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL) && strings.Contains(msg, ": bind "):
		return "--source must be one of this host's addresses (see \"ip address\")"
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
		return "this host has no route there; try -4 or -6, or check the network"
	case strings.HasPrefix(msg, "failed to resolve "):
		return "check the host name, or give its IP address"
	case strings.Contains(msg, " has no IPv"):
		return "leave out -4/-6 (or --source) to use the address family the host has"
	}
	return ""
}

// buildVersion is the module version when the binary was built from a
// tagged module (go install …@v1.2.3), else version.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return strings.TrimPrefix(v, "v")
		}
	}
	return version
}
