// Command sesame sends port knocks. It takes knockd's knock command line
// unchanged, and tportknockd's PROTO:PORT frames; it also knocks the
// replay-proof sequences (one-time, TOTP, cipher knocks), from options or
// from a named profile of the user's profiles file ("sesame work").
//
// Exit status: 0 when every knock was sent, 1 when something failed while
// knocking (a host that does not resolve, a knock that cannot be sent, an
// interrupt, a one-time sequence that cannot be crossed out, raw TCP flag
// knocks without root or CAP_NET_RAW), 2 for a command line, profile, key
// or sequence file that sesame cannot use (raw TCP flag knocks on Windows
// are one).
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
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/totp"
)

const usage = `Usage:
    sesame [options] HOST [HOST...] PORT[:PROTO] [PORT[:PROTO]...]
    sesame [options] HOST [HOST...] PROTO:PORT[:FLAGS] [PROTO:PORT[:FLAGS]...]
    sesame [options] SEQUENCE-SOURCE HOST [HOST...]
    sesame [options] PROFILE

sesame knocks on a server's ports, in order, so that its port-knock daemon
(sesamed or knockd) opens a door for you. A TCP knock is a single SYN and a
UDP knock a single datagram; no root is needed (except for raw TCP flag
knocks, below). With several hosts, each one gets the whole sequence, one
host after the other.

PORT is a number from 1 to 65535 and PROTO is tcp or udp. A port without a
protocol is a TCP knock (UDP with -u).

FLAGS make a TCP frame a raw TCP flag knock, as tportknockd's flag knocking
expects: one TCP segment with exactly those flags. FLAGS is any of f s r p a
u (FIN SYN RST PSH ACK URG; tcp:110:up is URG+PSH), or one of x (all six), n
(none: a NULL segment) and i (flags ignored: a plain SYN, like tcp:110).
Raw knocks need root, or on Linux CAP_NET_RAW:
    sudo setcap cap_net_raw+ep $(command -v sesame)
They are not available on Windows (exit status 2).

Options:
    -u, --udp            Knock with UDP on ports that name no protocol.
    -d, --delay MS       Wait MS milliseconds between knocks (default 0).
    -4, --ipv4           Use IPv4 only.
    -6, --ipv6           Use IPv6 only.
        --source ADDR    Send the knocks from ADDR, an address of this host.
    -v, --verbose        Print each knock as it is sent.
    -V, --version        Print the version and exit.
    -h, --help           Print this help and exit.

Sequence sources, for knocks an eavesdropper cannot replay. Give one of
them instead of the ports; every argument is then a host.
        --one-time FILE  Knock the first unused line of FILE (knockd's
                         One_Time_Sequences), then cross it out with '#'.
        --totp-secret BASE32
                         Knock the TOTP sequence of the current time step,
                         or the next step's if sesame used this one already.
        --totp-uri URI   The same, secret and settings from an otpauth://
                         key URI (sesamed --enroll prints one).
        --totp           The same, the secret or URI taken from
                         $SESAME_TOTP_SECRET (which, unlike an option,
                         other users cannot see with ps).
        --totp-ports LO-HI[:PROTO]
                         The TOTP port range (default 40000-49999:tcp).
        --totp-length N  Knocks per TOTP sequence (default 4).
        --totp-step SECONDS
                         Seconds per TOTP time step (default 30).
        --cipher-key FILE
                         Send a cipher knock sealed with the key in FILE
                         ("key = BASE64" or "passphrase = TEXT", mode 0600).
        --passphrase     The same, with a passphrase read from the terminal
                         (or one line of standard input).
        --event NAME     The server's event, [NAME] in its knockd.conf;
                         required for cipher knocks.
        --cipher-ports BASE[:PROTO]
                         Cipher window BASE to BASE+255 (default 61000:tcp).

Profiles:
        --profile NAME   Knock as profile NAME says. "sesame NAME" does the
                         same when NAME has no ports after it.
        --profiles FILE  Read the profiles from FILE (default:
                         $SESAME_PROFILES, else sesame/profiles.conf in the
                         user's configuration directory, ~/.config on Linux).
    -d, -4, -6, --source and -v override what the profile says.

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

    Flag knocking on a single port (tportknockd's tcp:110:x tcp:110:up ...):
        $ sudo sesame -v myserver.example.com tcp:110:x tcp:110:up tcp:110:n
        hitting tcp 198.51.100.7:110 (flags UAPRSF)
        hitting tcp 198.51.100.7:110 (flags UP)
        hitting tcp 198.51.100.7:110 (flags none)

    UDP knocks 200 ms apart (for routers that take a fast sequence for a scan):
        $ sesame -u -d 200 myserver.example.com 8284 4721 18592 42912

    Two servers at once, over IPv6:
        $ sesame -6 web1.example.com web2.example.com 7000 8000 9000

    The next unused sequence of a one-time list, crossed out once sent:
        $ sesame --one-time ~/.config/sesame/work.otp myserver.example.com

    The current TOTP sequence, the secret kept out of ps:
        $ export SESAME_TOTP_SECRET=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
        $ sesame --totp myserver.example.com

    A cipher knock for the server's event [vpn], with a key file or with a
    passphrase typed on the terminal:
        $ sesame --cipher-key vpn.key --event vpn vpn.example.com
        $ sesame --passphrase --event vpn vpn.example.com

    A profile: paste what sesamed --enroll prints, or write your own, into
    ~/.config/sesame/profiles.conf (chmod 600 when it holds a secret):
        [work]
            Host        = myserver.example.com
            TOTP_Secret = JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
            Delay       = 100
    then knock and log in with:
        $ sesame work && ssh myserver.example.com

sesame cannot tell whether a door opened: a knock that left can still be
lost or refused. Exit status: 0 when every knock was sent, 1 when one could
not be, 2 for a command line, profile or key that sesame cannot use.
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

// usageError is a command line, profile or key that sesame cannot use
// (exit status 2).
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	r, err := parse(args, stdout)
	if err == nil && r == nil {
		return 0 // --help or --version
	}
	var o *client.Options
	if err == nil {
		var done func()
		o, done, err = r.options(ctx, stderr)
		if done != nil {
			defer done()
		}
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
	if err == nil {
		err = client.Run(ctx, *o)
	}
	if err != nil {
		if ctx.Err() != nil {
			printError(stderr, "interrupted", "")
		} else {
			printError(stderr, err.Error(), hint(err))
		}
		return 1
	}
	return 0
}

// printError writes msg, one "sesame: error:" line for each of its lines
// (a profiles file with several mistakes), and the hint.
func printError(w io.Writer, msg, hint string) {
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(w, "sesame: error: %s\n", line)
	}
	if hint != "" {
		fmt.Fprintf(w, "sesame: hint: %s\n", hint)
	}
}

const helpHint = `run "sesame --help" for the options and examples`

// request is the command line, checked but not acted on: parse reads no
// file and no environment, so that every example of the help parses.
type request struct {
	o client.Options // hosts, knocks, delay, family, source, verbose

	udp                            bool
	delaySet, familySet, sourceSet bool

	// from is the option that gives the sequence ("--totp-secret"), ""
	// with ports on the command line or a profile.
	from string

	profile      string // --profile NAME
	maybeProfile string // sesame NAME: a profile, or a host without ports
	profilesFile string // --profiles FILE

	oneTime string // --one-time FILE

	totp    *client.TOTP // --totp-secret, --totp-uri, --totp
	totpEnv bool         // --totp: the secret is in $SESAME_TOTP_SECRET
	// The TOTP tuning options given (zero when not); they override a
	// key URI's settings.
	totpPorts  *portRange
	totpLength int
	totpStep   time.Duration

	cipher     *client.Cipher // --cipher-key or --passphrase, with --event and --cipher-ports
	cipherKey  string         // --cipher-key FILE
	passphrase bool           // --passphrase
	// cipherInline: the key is the profile's Cipher_Key.
	cipherInline bool
}

// portRange is a --totp-ports value.
type portRange struct {
	proto  packet.Proto
	lo, hi uint16
}

// flagSetHook, when set (by tests), sees the flag set once every flag is
// defined: the man page and completions are checked against it.
var flagSetHook func(*pflag.FlagSet)

// parse reads the command line. It returns a nil request and no error
// when it printed the help or the version.
func parse(args []string, stdout io.Writer) (*request, error) {
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

	oneTime := fs.String("one-time", "", "")
	totpSecret := fs.String("totp-secret", "", "")
	totpURI := fs.String("totp-uri", "", "")
	totpFlag := fs.Bool("totp", false, "")
	// The tuning options are read by parseTOTP and parseCipher.
	fs.String("totp-ports", "", "")
	fs.String("totp-length", "", "")
	fs.String("totp-step", "", "")
	cipherKey := fs.String("cipher-key", "", "")
	passphrase := fs.Bool("passphrase", false, "")
	fs.String("event", "", "")
	fs.String("cipher-ports", "", "")
	profile := fs.String("profile", "", "")
	profiles := fs.String("profiles", "", "")
	if flagSetHook != nil {
		flagSetHook(fs)
	}

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
	for _, name := range []string{"one-time", "totp-secret", "totp-uri", "totp-ports", "totp-length", "totp-step",
		"cipher-key", "event", "cipher-ports", "profile", "profiles"} {
		if f := fs.Lookup(name); f.Changed && f.Value.String() == "" {
			return nil, &usageError{msg: "option --" + name + " needs a value", hint: helpHint}
		}
	}

	r := &request{udp: *udp, delaySet: fs.Changed("delay"), familySet: *ipv4 || *ipv6, sourceSet: *source != ""}
	o := &r.o
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

	// The sequence source: at most one.
	var sources []string
	add := func(ok bool, name string) {
		if ok {
			sources = append(sources, name)
		}
	}
	add(*oneTime != "", "--one-time")
	add(*totpSecret != "", "--totp-secret")
	add(*totpURI != "", "--totp-uri")
	add(*totpFlag, "--totp")
	add(*cipherKey != "", "--cipher-key")
	add(*passphrase, "--passphrase")
	add(*profile != "", "--profile")
	if len(sources) > 1 {
		ue := &usageError{msg: fmt.Sprintf("%s and %s cannot be used together", sources[0], sources[1]), hint: "give one sequence source"}
		switch {
		case sources[0] == "--totp-secret" && sources[1] == "--totp-uri":
			ue.hint = "the key URI holds the secret: give only --totp-uri"
		case sources[1] == "--totp" && (sources[0] == "--totp-secret" || sources[0] == "--totp-uri"):
			ue.hint = "--totp takes the secret from $SESAME_TOTP_SECRET: give one of them"
		case sources[0] == "--cipher-key" && sources[1] == "--passphrase":
			ue.hint = "a key file can hold the passphrase: passphrase = TEXT"
		}
		return nil, ue
	}
	if len(sources) == 1 {
		r.from = sources[0]
	}
	isTOTP := r.from == "--totp-secret" || r.from == "--totp-uri" || r.from == "--totp"
	isCipher := r.from == "--cipher-key" || r.from == "--passphrase"
	for _, f := range []string{"totp-ports", "totp-length", "totp-step"} {
		if fs.Changed(f) && !isTOTP {
			return nil, &usageError{msg: "--" + f + " needs --totp-secret, --totp-uri or --totp", hint: tuningHint(r.from)}
		}
	}
	for _, f := range []string{"event", "cipher-ports"} {
		if fs.Changed(f) && !isCipher {
			return nil, &usageError{msg: "--" + f + " needs --cipher-key or --passphrase", hint: tuningHint(r.from)}
		}
	}
	if r.udp && r.from != "" {
		return nil, &usageError{msg: "-u is for ports on the command line, not for " + r.from, hint: udpHint(r.from)}
	}

	switch {
	case r.from == "--one-time":
		r.oneTime = *oneTime
	case isTOTP:
		err = r.parseTOTP(fs)
	case isCipher:
		err = r.parseCipher(fs)
	case r.from == "--profile":
		r.profile = *profile
	}
	if err != nil {
		return nil, err
	}
	r.profilesFile = *profiles
	if err := r.parseArgs(fs.Args()); err != nil {
		return nil, err
	}
	return r, nil
}

// parseTOTP reads --totp-secret, --totp-uri or --totp, and the tuning
// options.
func (r *request) parseTOTP(fs *pflag.FlagSet) error {
	value := func(name string) string { return fs.Lookup(name).Value.String() }
	r.totp = &client.TOTP{Proto: packet.TCP, Lo: config.DefaultTOTPLo, Hi: config.DefaultTOTPHi,
		Length: config.DefaultTOTPLength, Step: config.DefaultTOTPStep}
	switch r.from {
	case "--totp-secret":
		secret, err := totp.DecodeSecret(value("totp-secret"))
		if err != nil {
			return &usageError{msg: "invalid --totp-secret: " + err.Error(), hint: "give the base32 secret that sesamed --enroll printed"}
		}
		r.totp.Secret = secret
	case "--totp-uri":
		if err := r.setTOTPURI(value("totp-uri")); err != nil {
			return &usageError{msg: "invalid --totp-uri: " + err.Error()}
		}
	case "--totp":
		r.totpEnv = true
	}
	if fs.Changed("totp-ports") {
		proto, lo, hi, err := config.ParsePortRange(value("totp-ports"))
		if err != nil {
			return &usageError{msg: "invalid --totp-ports: " + err.Error()}
		}
		r.totpPorts = &portRange{proto, lo, hi}
	}
	if v := value("totp-length"); fs.Changed("totp-length") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > totp.MaxLength {
			return &usageError{msg: fmt.Sprintf("invalid --totp-length %q: want a whole number of knocks from 1 to %d", v, totp.MaxLength)}
		}
		r.totpLength = n
	}
	if v := value("totp-step"); fs.Changed("totp-step") {
		n, err := strconv.ParseInt(v, 10, 64)
		if maxStep := int64(totp.MaxStep / time.Second); err != nil || n < 1 || n > maxStep {
			return &usageError{msg: fmt.Sprintf("invalid --totp-step %q: want a whole number of seconds from 1 to %d", v, maxStep)}
		}
		r.totpStep = time.Duration(n) * time.Second
	}
	if r.totpEnv {
		return nil // options reads the environment, then tunes
	}
	return r.tuneTOTP()
}

// parseCipher reads --cipher-key or --passphrase, --event and
// --cipher-ports.
func (r *request) parseCipher(fs *pflag.FlagSet) error {
	value := func(name string) string { return fs.Lookup(name).Value.String() }
	event := value("event")
	if event == "" {
		why := "it is sealed into the knock"
		if r.from == "--passphrase" {
			why += " and salts the passphrase"
		}
		return &usageError{msg: r.from + " needs --event NAME, the server's event", hint: "NAME is the event's [NAME] in the server's knockd.conf: " + why}
	}
	r.cipher = &client.Cipher{Event: event, Proto: packet.TCP, Base: config.DefaultCipherBase}
	if fs.Changed("cipher-ports") {
		proto, base, err := config.ParseCipherPorts(value("cipher-ports"))
		if err != nil {
			return &usageError{msg: "invalid --cipher-ports: " + err.Error()}
		}
		r.cipher.Proto, r.cipher.Base = proto, base
	}
	r.cipherKey, r.passphrase = value("cipher-key"), r.from == "--passphrase"
	return nil
}

// parseArgs reads the positional arguments: hosts and ports, hosts alone
// after a sequence source, nothing after --profile, or the one word of
// "sesame NAME".
func (r *request) parseArgs(args []string) error {
	o := &r.o
	switch {
	case r.from == "--profile":
		if len(args) > 0 {
			return &usageError{msg: fmt.Sprintf("unexpected %q: --profile gives the hosts and the sequence", args[0]),
				hint: "to knock other hosts, give them with their ports or sequence source: sesame HOST... PORT..."}
		}
	case r.from != "":
		for _, a := range args {
			if client.IsPortSpec(a) {
				return &usageError{msg: fmt.Sprintf("unexpected port %q: %s gives the sequence, so every argument is a host", a, r.from),
					hint: "leave out the ports, or " + r.from}
			}
			if a == "" {
				return &usageError{msg: "empty host name"}
			}
		}
		if len(args) == 0 {
			return &usageError{msg: "missing host to knock", hint: "write the hosts after the options: sesame " + r.from + " ... HOST..."}
		}
		o.Hosts = args
	case len(args) == 1 && args[0] != "" && !client.IsPortSpec(args[0]):
		// A profile, or a host without ports: options will tell.
		r.maybeProfile = args[0]
	default:
		proto := packet.TCP
		if r.udp {
			proto = packet.UDP
		}
		var err error
		if o.Hosts, o.Knocks, err = client.ParseArgs(args, proto); err != nil {
			return argsError(err)
		}
		if !client.RawFlagKnocks {
			for _, k := range o.Knocks {
				if k.Raw {
					return &usageError{msg: fmt.Sprintf("%s: %v", k, client.ErrRawUnsupported),
						hint: fmt.Sprintf("knock from Linux, macOS or a BSD, or use plain SYN knocks (tcp:%d) if the server accepts them", k.Port)}
				}
			}
		}
	}
	return nil
}

// argsError is a usage error for client.ParseArgs's error.
func argsError(err error) *usageError {
	ue := &usageError{msg: err.Error()}
	switch msg := err.Error(); {
	case strings.HasPrefix(msg, "missing host"), strings.HasPrefix(msg, "unexpected"), strings.HasPrefix(msg, "no ports"):
		ue.hint = "write the hosts first, then the ports: sesame HOST... PORT[:PROTO]..."
	}
	return ue
}

func tuningHint(from string) string {
	if from == "--profile" {
		return "a profile's settings go in the profiles file"
	}
	return helpHint
}

func udpHint(from string) string {
	switch from {
	case "--totp-secret", "--totp-uri", "--totp":
		return "the protocol of TOTP knocks is in --totp-ports LO-HI:udp"
	case "--cipher-key", "--passphrase":
		return "the protocol of cipher knocks is in --cipher-ports BASE:udp"
	case "--one-time":
		return "the file gives each knock's protocol: 7000:udp"
	}
	return "the profile gives the protocols"
}

// setTOTPURI takes the secret and the parameters of a key URI.
func (r *request) setTOTPURI(uri string) error {
	k, err := totp.ParseURI(uri)
	if err != nil {
		return err
	}
	r.totp.Secret, r.totp.Lo, r.totp.Hi, r.totp.Length, r.totp.Step = k.Secret, k.Lo, k.Hi, k.Length, k.Step
	return nil
}

// tuneTOTP applies --totp-ports, --totp-length and --totp-step, which
// override a key URI's settings, and checks the result.
func (r *request) tuneTOTP() error {
	t := r.totp
	if p := r.totpPorts; p != nil {
		t.Proto, t.Lo, t.Hi = p.proto, p.lo, p.hi
	}
	if r.totpLength != 0 {
		t.Length = r.totpLength
	}
	if r.totpStep != 0 {
		t.Step = r.totpStep
	}
	if err := totp.CheckParams(t.Lo, t.Hi, t.Length, t.Step); err != nil {
		return &usageError{msg: "invalid TOTP settings: " + err.Error()}
	}
	return nil
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
	var perm *client.RawPermissionError
	if errors.As(err, &perm) {
		return rawHint(runtime.GOOS)
	}
	return ""
}

// rawHint is the way to the privilege raw TCP flag knocks need.
func rawHint(goos string) string {
	if goos == "linux" {
		return "run sesame as root, or allow it raw sockets once: sudo setcap cap_net_raw+ep $(command -v sesame)"
	}
	return "run sesame as root: sudo sesame ..."
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
