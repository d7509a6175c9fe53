package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/totp"
)

// The sequence sources and profiles, tested as text like the rest of the
// CLI. What goes on the wire is checked without root: the knocks are UDP,
// to sockets of the test's on the loopback, which see every datagram; -v
// says in which order they were sent.

const (
	secret     = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	otherB32   = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	keyBase64  = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	sourceHint = "sesame: hint: give one sequence source\n"
)

func TestHelpTextSources(t *testing.T) {
	t.Parallel()
	for _, opt := range []string{"--one-time FILE", "--totp-secret BASE32", "--totp-uri URI", "--totp ", "$SESAME_TOTP_SECRET",
		"--totp-ports LO-HI[:PROTO]", "--totp-length N", "--totp-step SECONDS", "--cipher-key FILE", "--passphrase",
		"--event NAME", "--cipher-ports BASE[:PROTO]", "--profile NAME", "--profiles FILE", "$SESAME_PROFILES"} {
		if !strings.Contains(usage, opt) {
			t.Errorf("help does not describe %s", opt)
		}
	}
	for _, ex := range []string{"$ sesame --one-time ", "$ sesame --totp ", "$ sesame --cipher-key ", "$ sesame --passphrase ", "$ sesame work "} {
		if !strings.Contains(usage, ex) {
			t.Errorf("help has no example %q", ex)
		}
	}
}

// fixture is a directory of files for a test; paths in expected output
// are written $DIR.
type fixture struct {
	t   *testing.T
	dir string
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, dir: t.TempDir()}
}

func (f *fixture) write(name, content string, perm os.FileMode) string {
	f.t.Helper()
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		f.t.Fatal(err)
	}
	return path
}

func (f *fixture) expand(s string) string { return strings.ReplaceAll(s, "$DIR", f.dir) }

func TestSourceMisuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write("key600", "key = "+keyBase64+"\n", 0o600)
	f.write("key644", "key = "+keyBase64+"\n", 0o644)
	f.write("used.otp", "#1,2\n", 0o600)
	f.write("bad.key", "kee = x\n", 0o600)
	tests := []struct {
		args   string
		env    []string
		stdin  string
		stderr string
	}{
		// The sources and their options.
		{args: "--one-time", stderr: "sesame: error: option --one-time needs a value\n" + helpHintLine},
		{args: "--one-time= myserver", stderr: "sesame: error: option --one-time needs a value\n" + helpHintLine},
		{args: "--event= --cipher-key k myserver", stderr: "sesame: error: option --event needs a value\n" + helpHintLine},
		{args: "--totp-secret " + secret + " --one-time f myserver", stderr: "sesame: error: --one-time and --totp-secret cannot be used together\n" + sourceHint},
		{args: "--totp-secret " + secret + " --totp-uri otpauth://totp/x myserver", stderr: "sesame: error: --totp-secret and --totp-uri cannot be used together\nsesame: hint: the key URI holds the secret: give only --totp-uri\n"},
		{args: "--totp --totp-secret " + secret + " myserver", stderr: "sesame: error: --totp-secret and --totp cannot be used together\nsesame: hint: --totp takes the secret from $SESAME_TOTP_SECRET: give one of them\n"},
		{args: "--totp-uri otpauth://totp/x --totp myserver", env: []string{"SESAME_TOTP_SECRET=" + secret}, stderr: "sesame: error: --totp-uri and --totp cannot be used together\nsesame: hint: --totp takes the secret from $SESAME_TOTP_SECRET: give one of them\n"},
		{args: "--totp --totp-secret " + secret + " --totp-uri otpauth://totp/x myserver", stderr: "sesame: error: --totp-secret and --totp-uri cannot be used together\nsesame: hint: the key URI holds the secret: give only --totp-uri\n"},
		{args: "--totp --one-time f myserver", stderr: "sesame: error: --one-time and --totp cannot be used together\n" + sourceHint},
		{args: "--cipher-key k --passphrase --event e myserver", stderr: "sesame: error: --cipher-key and --passphrase cannot be used together\nsesame: hint: a key file can hold the passphrase: passphrase = TEXT\n"},
		{args: "--totp --cipher-key k --event e myserver", stderr: "sesame: error: --totp and --cipher-key cannot be used together\n" + sourceHint},
		{args: "--profile work --totp-secret " + secret, stderr: "sesame: error: --totp-secret and --profile cannot be used together\n" + sourceHint},
		{args: "--totp-secret " + secret + " myserver 7000", stderr: "sesame: error: unexpected port \"7000\": --totp-secret gives the sequence, so every argument is a host\nsesame: hint: leave out the ports, or --totp-secret\n"},
		{args: "--one-time f myserver tcp:7000", stderr: "sesame: error: unexpected port \"tcp:7000\": --one-time gives the sequence, so every argument is a host\nsesame: hint: leave out the ports, or --one-time\n"},
		{args: "--totp-secret " + secret, stderr: "sesame: error: missing host to knock\nsesame: hint: write the hosts after the options: sesame --totp-secret ... HOST...\n"},
		{args: "--cipher-key k myserver", stderr: "sesame: error: --cipher-key needs --event NAME, the server's event\nsesame: hint: NAME is the event's [NAME] in the server's knockd.conf: it is sealed into the knock\n"},
		{args: "--passphrase myserver", stderr: "sesame: error: --passphrase needs --event NAME, the server's event\nsesame: hint: NAME is the event's [NAME] in the server's knockd.conf: it is sealed into the knock and salts the passphrase\n"},
		{args: "--totp-secret JBSWY3DPEHPK3PXP1BSWY3DPEHPK3PXP myserver", stderr: "sesame: error: invalid --totp-secret: secret has an invalid character at position 17, expected base32 (letters A-Z, digits 2-7)\nsesame: hint: give the base32 secret that sesamed --enroll printed\n"},
		{args: "--totp-secret JBSWY3DP myserver", stderr: "sesame: error: invalid --totp-secret: secret is 5 bytes (40 bits), expected at least 16 bytes (128 bits, RFC 4226)\nsesame: hint: give the base32 secret that sesamed --enroll printed\n"},
		{args: "--totp-secret " + secret + " --totp-ports 5-1 myserver", stderr: "sesame: error: invalid --totp-ports: \"5-1\" is not a port range, expected LO-HI[:tcp|udp] with 1 <= LO <= HI <= 65535, e.g. 40000-49999\n"},
		{args: "--totp-secret " + secret + " --totp-ports 1-100:icmp myserver", stderr: "sesame: error: invalid --totp-ports: protocol \"icmp\" in \"1-100:icmp\", expected tcp or udp\n"},
		{args: "--totp-secret " + secret + " --totp-ports 1-7 myserver", stderr: "sesame: error: invalid TOTP settings: port range 1-7 has 7 ports, expected at least 8 (twice the length 4)\n"},
		{args: "--totp-secret " + secret + " --totp-length 0 myserver", stderr: "sesame: error: invalid --totp-length \"0\": want a whole number of knocks from 1 to 32\n"},
		{args: "--totp-secret " + secret + " --totp-step 1m myserver", stderr: "sesame: error: invalid --totp-step \"1m\": want a whole number of seconds from 1 to 86400\n"},
		{args: "--totp-uri http://example.com/ myserver", stderr: "sesame: error: invalid --totp-uri: key uri has scheme \"http\", expected otpauth://totp/ISSUER:ACCOUNT?secret=...\n"},
		{args: "--totp-uri otpauth://totp/a:b?secret=" + secret + "&ports=40000-49999 myserver", stderr: "sesame: error: invalid --totp-uri: key uri has no length parameter, expected length=N\n"},
		{args: "--totp-ports 1-100 myserver 7000", stderr: "sesame: error: --totp-ports needs --totp-secret, --totp-uri or --totp\n" + helpHintLine},
		{args: "--totp-length 5 --one-time f myserver", stderr: "sesame: error: --totp-length needs --totp-secret, --totp-uri or --totp\n" + helpHintLine},
		{args: "--totp-step 60 --profile work", stderr: "sesame: error: --totp-step needs --totp-secret, --totp-uri or --totp\nsesame: hint: a profile's settings go in the profiles file\n"},
		{args: "--event e myserver 7000", stderr: "sesame: error: --event needs --cipher-key or --passphrase\n" + helpHintLine},
		{args: "--cipher-ports 62000 --totp-secret " + secret + " myserver", stderr: "sesame: error: --cipher-ports needs --cipher-key or --passphrase\n" + helpHintLine},
		{args: "--cipher-key k --event e --cipher-ports 65300 myserver", stderr: "sesame: error: invalid --cipher-ports: \"65300\" is not a window base, expected a port 1-65280 (the window is BASE-BASE+255), e.g. 61000:udp\n"},
		{args: "-u --totp-secret " + secret + " myserver", stderr: "sesame: error: -u is for ports on the command line, not for --totp-secret\nsesame: hint: the protocol of TOTP knocks is in --totp-ports LO-HI:udp\n"},
		{args: "-u --passphrase --event e myserver", stderr: "sesame: error: -u is for ports on the command line, not for --passphrase\nsesame: hint: the protocol of cipher knocks is in --cipher-ports BASE:udp\n"},
		{args: "-u --one-time f myserver", stderr: "sesame: error: -u is for ports on the command line, not for --one-time\nsesame: hint: the file gives each knock's protocol: 7000:udp\n"},
		{args: "--profile work myserver", stderr: "sesame: error: unexpected \"myserver\": --profile gives the hosts and the sequence\nsesame: hint: to knock other hosts, give them with their ports or sequence source: sesame HOST... PORT...\n"},

		// What they read.
		{args: "--totp myserver", stderr: "sesame: error: --totp needs the secret in $SESAME_TOTP_SECRET, which is not set\nsesame: hint: export SESAME_TOTP_SECRET=BASE32 (or an otpauth:// URI), or give --totp-secret or --totp-uri\n"},
		{args: "--totp myserver", env: []string{"SESAME_TOTP_SECRET=secret!"}, stderr: "sesame: error: invalid $SESAME_TOTP_SECRET: secret has an invalid character at position 7, expected base32 (letters A-Z, digits 2-7)\nsesame: hint: give the base32 secret that sesamed --enroll printed, or its otpauth:// URI\n"},
		{args: "--totp myserver", env: []string{"SESAME_TOTP_SECRET=otpauth://hotp/a?secret=" + secret}, stderr: "sesame: error: invalid $SESAME_TOTP_SECRET: key uri is for a counter-based (hotp) key, expected a time-based one, otpauth://totp/\n"},
		{args: "--totp --totp-ports 1-7 myserver", env: []string{"SESAME_TOTP_SECRET=" + secret}, stderr: "sesame: error: invalid TOTP settings: port range 1-7 has 7 ports, expected at least 8 (twice the length 4)\n"},
		{args: "--cipher-key $DIR/none --event e myserver", stderr: "sesame: error: failed to read key file: open $DIR/none: no such file or directory\n"},
		{args: "--cipher-key $DIR/key644 --event e myserver", stderr: "sesame: error: $DIR/key644: permissions 0644 are too open, expected 0600 (chmod 600 $DIR/key644)\n"},
		{args: "--cipher-key $DIR/bad.key --event e myserver", stderr: "sesame: error: $DIR/bad.key:1: unknown directive \"kee\" (did you mean \"key\"?), expected \"key = <base64>\" or \"passphrase = <text>\"\n"},
		{args: "--one-time $DIR/none myserver", stderr: "sesame: error: failed to open one-time sequences: open $DIR/none: no such file or directory\n"},
		{args: "--one-time $DIR/used.otp myserver", stderr: "sesame: error: $DIR/used.otp: no unused sequence left\nsesame: hint: add sequences to $DIR/used.otp, the ones the server's One_Time_Sequences file lists\n"},
		{args: "--passphrase --event e myserver", stderr: "sesame: error: no passphrase on standard input\nsesame: hint: type it on a terminal, or pipe one line: ... | sesame --passphrase ...\n"},
		{args: "--passphrase --event e myserver", stdin: "\n", stderr: "sesame: error: empty passphrase\n"},
		{args: "--passphrase --event e myserver", stdin: strings.Repeat("x", 5000), stderr: "sesame: error: passphrase on standard input is longer than 4096 bytes\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			if strings.Contains(tt.args, "key644") && runtime.GOOS == "windows" {
				t.Skip("no Unix permissions on Windows")
			}
			args := strings.Fields(f.expand(tt.args))
			sesameWith(t, tt.env, tt.stdin, args...).check(t, 2, "", f.expand(tt.stderr))
		})
	}
}

func TestProfileMisuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := f.write("good.conf", "[work]\nHost = myserver\nSequence = 1\n[six]\nHost = ::1\nSequence = 1\nFamily = 6\n[src]\nHost = myserver\nSequence = 1\nSource = 2001:db8::1\n", 0o644)
	f.write("empty.conf", "# nothing yet\n", 0o644)
	f.write("bad.conf", "[a]\nHosts = x\n[b]\nHost = h\nSequence = 1\nTOTP_Secret = "+secret+"\n[a]\n", 0o600)
	f.write("open.conf", "[a]\nHost = h\nCipher_Key = "+keyBase64+"\n", 0o644)
	f.write("writable.conf", "[a]\nHost = h\nSequence = 1\n", 0o666)
	profiles := "SESAME_PROFILES=" + good
	tests := []struct {
		args   string
		env    []string
		stderr string
	}{
		{args: "nope", env: []string{profiles}, stderr: "sesame: error: no ports to knock after host \"nope\", and no profile \"nope\" in $DIR/good.conf\nsesame: hint: give the ports after the host, or a profile name; the profiles are work, six, src\n"},
		{args: "--profile nope", env: []string{profiles}, stderr: "sesame: error: no profile \"nope\" in $DIR/good.conf\nsesame: hint: the profiles are work, six, src\n"},
		{args: "--profiles $DIR/empty.conf --profile work", stderr: "sesame: error: no profile \"work\" in $DIR/empty.conf\nsesame: hint: add a [work] section to $DIR/empty.conf\n"},
		{args: "--profiles $DIR/none.conf --profile work", stderr: "sesame: error: no profiles file $DIR/none.conf, so no profile \"work\"\nsesame: hint: create it with a [work] section (see sesame --help), or name another with --profiles FILE\n"},
		{args: "work", env: []string{"SESAME_PROFILES=$DIR/none.conf"}, stderr: "sesame: error: no ports to knock after host \"work\", and no profiles file $DIR/none.conf\nsesame: hint: create it with a [work] section (see sesame --help), or name another with --profiles FILE\n"},
		{args: "--profile work", stderr: "sesame: error: no profiles file $HOME/sesame/profiles.conf, so no profile \"work\"\nsesame: hint: create it with a [work] section (see sesame --help), or name another with --profiles FILE\n"},
		{args: "--profiles $DIR/bad.conf a", stderr: "sesame: error: $DIR/bad.conf:1: profile [a] has no Host, expected Host = NAME[, NAME...]\n" +
			"sesame: error: $DIR/bad.conf:1: profile [a] has no sequence, expected one of Sequence, One_Time_Sequences, TOTP_Secret, Cipher_Key_File, Cipher_Key\n" +
			"sesame: error: $DIR/bad.conf:2: unknown directive \"Hosts\" (did you mean \"Host\"?)\n" +
			"sesame: error: $DIR/bad.conf:6: TOTP_Secret and Sequence (line 5) both given in profile [b], expected exactly one sequence source\n" +
			"sesame: error: $DIR/bad.conf:7: profile [a] already defined on line 1, expected each name once\n"},
		{args: "--profiles $DIR/open.conf a", stderr: "sesame: error: permissions 0644 for $DIR/open.conf are too open, expected 0600: it holds Cipher_Key on line 3\nsesame: hint: chmod 600 $DIR/open.conf\n"},
		{args: "--profiles $DIR/writable.conf a", stderr: "sesame: error: permissions 0666 for $DIR/writable.conf are too open, expected no write access for group and others (0644 or 0600)\nsesame: hint: chmod go-w $DIR/writable.conf\n"},
		{args: "-u work", env: []string{profiles}, stderr: "sesame: error: -u is for ports on the command line, not for profile [work]\nsesame: hint: the profile gives the protocols\n"},
		{args: "--source 127.0.0.1 six", env: []string{profiles}, stderr: "sesame: error: --source 127.0.0.1 is not an IPv6 address, as profile [six] asks with Family = 6\nsesame: hint: give -4 too\n"},
		{args: "-4 src", env: []string{profiles}, stderr: "sesame: error: profile [src] has Source = 2001:db8::1, not an IPv4 address as -4 asks\nsesame: hint: give --source with an address of that family too\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			if strings.Contains(tt.args, ".conf a") && runtime.GOOS == "windows" {
				t.Skip("no Unix permissions on Windows")
			}
			var env []string
			for _, kv := range tt.env {
				env = append(env, f.expand(kv))
			}
			stderr := strings.ReplaceAll(f.expand(tt.stderr), "$HOME", emptyHome)
			sesameWith(t, env, "", strings.Fields(f.expand(tt.args))...).check(t, 2, "", stderr)
		})
	}
}

// udpPorts binds n consecutive UDP ports on addr (the cipher window needs
// 256 in a row), retrying elsewhere when one is taken.
func udpPorts(t *testing.T, addr string, n int) (base uint16, conns []*net.UDPConn) {
	t.Helper()
	ip := netip.MustParseAddr(addr)
	for try := 0; try < 20; try++ {
		base := uint16(20000 + rand.IntN(10000))
		var cs []*net.UDPConn
		for i := 0; i < n; i++ {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, base+uint16(i))))
			if err != nil {
				break
			}
			cs = append(cs, c)
		}
		if len(cs) == n {
			t.Cleanup(func() {
				for _, c := range cs {
					c.Close()
				}
			})
			return base, cs
		}
		for _, c := range cs {
			c.Close()
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("found no %d free UDP ports in a row on %s", n, addr)
	}
	t.Skipf("found no %d free UDP ports in a row on %s", n, addr)
	return 0, nil
}

var hitting = regexp.MustCompile(`^hitting udp ([0-9a-f.:]+):([0-9]+)$`)

// sentPorts reads the -v output: the notes (every line that is not a
// knock) and the ports knocked, in order, all to host.
func sentPorts(t *testing.T, stdout, host string) (notes []string, ports []uint16) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		m := hitting.FindStringSubmatch(sc.Text())
		if m == nil {
			notes = append(notes, sc.Text())
			continue
		}
		if m[1] != host {
			t.Errorf("knock to %s, want %s", m[1], host)
		}
		p, _ := strconv.ParseUint(m[2], 10, 16)
		ports = append(ports, uint16(p))
	}
	return notes, ports
}

// checkArrived checks that the sockets (for ports base, base+1, ...)
// received exactly one zero-byte datagram per knock in ports. The
// datagrams were queued before sesame exited (loopback delivery happens
// within sendto), so the bounded wait only guards against a hang.
func checkArrived(t *testing.T, base uint16, conns []*net.UDPConn, ports []uint16) {
	t.Helper()
	want := map[uint16]int{}
	for _, p := range ports {
		want[p]++
	}
	buf := make([]byte, 16)
	for i, c := range conns {
		port := base + uint16(i)
		for n := 0; n < want[port]; n++ {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if m, _, err := c.ReadFrom(buf); err != nil || m != 1 || buf[0] != 0 {
				t.Errorf("port %d: knock %d of %d did not arrive as one zero byte: %x, %v", port, n+1, want[port], buf[:m], err)
			}
		}
		// Nothing more: a datagram would already be queued.
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, _, err := c.ReadFrom(buf); err == nil {
			t.Errorf("port %d received a knock too many", port)
		}
	}
}

// TestTOTPOnTheWire: --totp-secret, --totp-uri, $SESAME_TOTP_SECRET and a
// profile all send exactly totp.Ports of the current step.
func TestTOTPOnTheWire(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const host = "127.0.0.1"
	base, conns := udpPorts(t, host, 8) // the smallest range for 4 knocks
	ports := fmt.Sprintf("%d-%d:udp", base, base+7)
	uri := fmt.Sprintf("otpauth://totp/example.com:alice?secret=%s&ports=%d-%d&length=4&period=60", otherB32, base, base+7)
	f.write("p.conf", fmt.Sprintf("[work]\nHost = %s\nTOTP_Secret = %s\nTOTP_Ports = %s\nTOTP_Length = 3\n", host, secret, ports), 0o600)
	tests := []struct {
		name   string
		env    []string
		args   []string
		secret string
		length int
		step   time.Duration
	}{
		{"--totp-secret", nil, []string{"--totp-secret", secret, "--totp-ports", ports, host}, secret, 4, 30 * time.Second},
		{"--totp-length --totp-step", nil, []string{"--totp-secret", secret, "--totp-ports", ports, "--totp-length", "2", "--totp-step", "5", host}, secret, 2, 5 * time.Second},
		{"--totp-uri", nil, []string{"--totp-uri", uri, "--totp-ports", ports, host}, otherB32, 4, 60 * time.Second},
		{"$SESAME_TOTP_SECRET", []string{"SESAME_TOTP_SECRET=" + secret}, []string{"--totp", "--totp-ports", ports, host}, secret, 4, 30 * time.Second},
		{"$SESAME_TOTP_SECRET with a URI", []string{"SESAME_TOTP_SECRET=" + uri}, []string{"--totp", "--totp-ports", ports, host}, otherB32, 4, 60 * time.Second},
		{"profile", []string{"SESAME_PROFILES=" + f.dir + "/p.conf"}, []string{"work"}, secret, 3, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the subtests share the sockets.
			key, err := totp.DecodeSecret(tt.secret)
			if err != nil {
				t.Fatal(err)
			}
			before := totp.Step(time.Now(), tt.step)
			r := sesameWith(t, tt.env, "", append([]string{"-v"}, tt.args...)...)
			after := totp.Step(time.Now(), tt.step)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("sesame: %+v", r)
			}
			notes, got := sentPorts(t, r.stdout, host)
			var step uint64
			last := len(notes) - 1
			if last < 0 {
				t.Fatalf("no note in %q", r.stdout)
			}
			if _, err := fmt.Sscanf(notes[last], "TOTP sequence of step %d:", &step); err != nil || step < before || step > after {
				t.Fatalf("note %q: want the TOTP step, %d or %d", notes[last], before, after)
			}
			want := totp.Ports(key, step, base, base+7, tt.length)
			if !slices.Equal(got, want) {
				t.Errorf("knocks %v, want %v (step %d)", got, want, step)
			}
			checkArrived(t, base, conns, got)
		})
	}
}

// TestTOTPStepsRemembered: a second knock within a step sends the next
// step, as the state file in $SESAME_STATE_DIR says; the file holds no
// secret. A state that cannot be read is a warning, not a failure.
func TestTOTPStepsRemembered(t *testing.T) {
	t.Parallel()
	const host = "127.0.0.1"
	base, conns := udpPorts(t, host, 8)
	ports := fmt.Sprintf("%d-%d:udp", base, base+7)
	key, err := totp.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	env := []string{"SESAME_STATE_DIR=" + state}
	knock := func(env []string) (step uint64, stderr string) {
		t.Helper()
		r := sesameWith(t, env, "", "-v", "--totp-secret", secret, "--totp-ports", ports, host)
		if r.code != 0 {
			t.Fatalf("sesame: %+v", r)
		}
		notes, got := sentPorts(t, r.stdout, host)
		if len(notes) != 1 {
			t.Fatalf("notes %q, want one", notes)
		}
		if _, err := fmt.Sscanf(notes[0], "TOTP sequence of step %d:", &step); err != nil {
			t.Fatalf("note %q: %v", notes[0], err)
		}
		if want := totp.Ports(key, step, base, base+7, 4); !slices.Equal(got, want) {
			t.Errorf("knocks %v, want %v (step %d)", got, want, step)
		}
		checkArrived(t, base, conns, got)
		return step, r.stderr
	}
	before := totp.Step(time.Now(), 30*time.Second)
	first, stderr := knock(env)
	if first < before || first > before+1 || stderr != "" {
		t.Fatalf("first knock: step %d, stderr %q; want step %d or %d, no stderr", first, stderr, before, before+1)
	}
	// Within 30 s of the first (a step can only have begun since).
	if second, stderr := knock(env); second != first+1 || stderr != "" {
		t.Errorf("second knock: step %d, stderr %q; want step %d, no stderr", second, stderr, first+1)
	}
	data, err := os.ReadFile(filepath.Join(state, "totp-steps"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToUpper(string(data)), secret) || strings.Contains(string(data), string(key)) ||
		strings.Contains(string(data), fmt.Sprintf("%x", key)) || !strings.Contains(string(data), fmt.Sprintf(" %d\n", first+1)) {
		t.Errorf("state file %q: want step %d and no secret", data, first+1)
	}
	if fi, err := os.Stat(filepath.Join(state, "totp-steps")); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, %v; want mode 0600", fi.Mode(), err)
	}

	// A state file that is a directory cannot be read: the current step,
	// and a warning.
	broken := t.TempDir()
	if err := os.Mkdir(filepath.Join(broken, "totp-steps"), 0o700); err != nil {
		t.Fatal(err)
	}
	before = totp.Step(time.Now(), 30*time.Second)
	step, stderr := knock([]string{"SESAME_STATE_DIR=" + broken})
	if step < before || step > before+1 || !strings.HasPrefix(stderr, "sesame: warning: cannot read the TOTP state: ") ||
		!strings.HasSuffix(stderr, "; knocking with the current step\n") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("unreadable state: step %d, stderr %q; want step %d, one warning", step, stderr, before)
	}
}

// TestCipherOnTheWire: --cipher-key F --event E, --passphrase and a
// profile send 16 knocks in the window whose block opens under the key,
// for event E, sealed about now.
func TestCipherOnTheWire(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const host = "::1"
	base, conns := udpPorts(t, host, cipherknock.Window)
	window := fmt.Sprintf("%d:udp", base)
	key, _ := cipherknock.ParseKey(keyBase64)
	keyFile := f.write("work.key", "# test key\nkey = "+keyBase64+"\n", 0o600)
	passFile := f.write("pass.key", "passphrase = correct horse\n", 0o600)
	profiles := f.write("p.conf", fmt.Sprintf("[vpn]\nHost = %s\nCipher_Key = %s\nCipher_Ports = %s\n[ssh]\nHost = %s\nCipher_Key_File = %s\nCipher_Ports = %s\nCipher_Event = sshd\n",
		host, keyBase64, window, host, passFile, window), 0o600)
	tests := []struct {
		name  string
		args  []string
		stdin string
		key   cipherknock.Key
		event string
	}{
		{"--cipher-key", []string{"--cipher-key", keyFile, "--event", "work", "--cipher-ports", window, host}, "", key, "work"},
		{"--cipher-key with a passphrase", []string{"--cipher-key", passFile, "--event", "work", "--cipher-ports", window, host}, "",
			cipherknock.DeriveKey([]byte("correct horse"), "work"), "work"},
		{"--passphrase", []string{"--passphrase", "--event", "web", "--cipher-ports", window, host}, "open sesame\r\nmore\n",
			cipherknock.DeriveKey([]byte("open sesame"), "web"), "web"},
		{"profile with a key", []string{"--profiles", profiles, "vpn"}, "", key, "vpn"},
		{"profile with a key file and an event", []string{"--profiles", profiles, "--profile", "ssh"}, "",
			cipherknock.DeriveKey([]byte("correct horse"), "sshd"), "sshd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the subtests share the sockets.
			r := sesameWith(t, nil, tt.stdin, append([]string{"-v"}, tt.args...)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("sesame: %+v", r)
			}
			notes, got := sentPorts(t, r.stdout, host)
			b, ok := cipherknock.BlockFromPorts(got, base)
			if !ok {
				t.Fatalf("knocks %v: want 16 in %d-%d", got, base, base+255)
			}
			if want := fmt.Sprintf("cipher knock for event %q in ports %d-%d:udp: block %s", tt.event, base, base+255, b); notes[len(notes)-1] != want {
				t.Errorf("note %q, want %q", notes[len(notes)-1], want)
			}
			if _, err := cipherknock.NewCipher(tt.key).Verify(b, cipherknock.EventID(tt.event), time.Now(), cipherknock.DefaultMaxAge); err != nil {
				t.Errorf("block %s: %v", b, err)
			}
			checkArrived(t, base, conns, got)
		})
	}
}

// TestOneTimeOnTheWire: --one-time F (and a profile's One_Time_Sequences)
// sends the first unused line, then leaves F as knockd's daemon would.
func TestOneTimeOnTheWire(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const host = "127.0.0.1"
	base, conns := udpPorts(t, host, 4)
	content := fmt.Sprintf("# sequences\n#%d:udp\n %d:udp,%d:udp,%d:udp\n\t%d:udp,%d:udp\n%d:udp\n", base, base+1, base, base+3, base+2, base, base+3)
	otp := f.write("work.otp", content, 0o600)
	f.write("p.conf", "[work]\nHost = "+host+"\nOne_Time_Sequences = "+otp+"\n", 0o600)
	steps := []struct {
		args  []string
		line  int
		ports []uint16
		left  string
	}{
		{[]string{"--one-time", otp, host}, 3, []uint16{base + 1, base, base + 3}, "2 unused left"},
		{[]string{"--profiles", f.dir + "/p.conf", "work"}, 4, []uint16{base + 2, base}, "1 unused left"},
		{[]string{"--one-time", otp, host}, 5, []uint16{base + 3}, "none left: add sequences to " + otp + " (and to the server's) before the next knock"},
	}
	want := []byte(content)
	for _, st := range steps {
		r := sesameWith(t, nil, "", append([]string{"-v"}, st.args...)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("sesame %q: %+v", st.args, r)
		}
		notes, got := sentPorts(t, r.stdout, host)
		if !slices.Equal(got, st.ports) {
			t.Errorf("sesame %q: knocks %v, want %v (line %d)", st.args, got, st.ports, st.line)
		}
		wantNotes := []string{
			fmt.Sprintf("one-time sequence %s:%d: %s", otp, st.line, formatUDP(st.ports)),
			fmt.Sprintf("marked %s:%d used, %s", otp, st.line, st.left),
		}
		if len(st.args) == 3 && st.args[2] == "work" {
			wantNotes = append([]string{"profile [work] from " + f.dir + "/p.conf:1"}, wantNotes...)
		}
		if !slices.Equal(notes, wantNotes) {
			t.Errorf("sesame %q: notes (-want +got):\n-%q\n+%q", st.args, wantNotes, notes)
		}
		checkArrived(t, base, conns, got)
		// knockd's mark: '#' over the first byte of the used line.
		want[lineOffset(content, st.line)] = '#'
		b, err := os.ReadFile(otp)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(want) {
			t.Errorf("file after line %d (-want +got):\n-%q\n+%q", st.line, want, b)
		}
	}
	sesame(t, "--one-time", otp, host).check(t, 2, "", "sesame: error: "+otp+": no unused sequence left\n"+
		"sesame: hint: add sequences to "+otp+", the ones the server's One_Time_Sequences file lists\n")
}

func formatUDP(ports []uint16) string {
	var s []string
	for _, p := range ports {
		s = append(s, fmt.Sprintf("%d:udp", p))
	}
	return strings.Join(s, ",")
}

// lineOffset is the offset of line n (1-based) of s.
func lineOffset(s string, n int) int {
	off := 0
	for i := 1; i < n; i++ {
		off += strings.IndexByte(s[off:], '\n') + 1
	}
	return off
}

// TestProfileOverrides: a profile's settings, and the command line over
// them.
func TestProfileOverrides(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, port := udpPort(t, "127.0.0.1")
	// Two knocks 60 s apart, over IPv6 only.
	conf := f.write("p.conf", fmt.Sprintf("[lo]\nHost = localhost\nSequence = %d:udp,%d:udp\nFamily = 6\nDelay = 60000\n", port, port), 0o644)
	env := []string{"SESAME_PROFILES=" + conf}
	// -4, --source and -d win: the knocks go to 127.0.0.1 at once (with
	// the profile's delay, sesame would outlive the test's timeout).
	sesameWith(t, env, "", "--profile", "lo", "--source", "127.0.0.1", "-4", "-v", "-d", "0").check(t, 0,
		fmt.Sprintf("profile [lo] from %s:1\nhitting udp 127.0.0.1:%d\nhitting udp 127.0.0.1:%d\n", conf, port, port), "")
	for i := 0; i < 2; i++ {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ReadFrom(make([]byte, 16)); err != nil {
			t.Errorf("knock %d did not arrive: %v", i+1, err)
		}
	}
	// Without -4 the profile's Family = 6 holds: localhost is ::1 then
	// (where the host has it), never 127.0.0.1.
	if r := sesameWith(t, env, "", "-v", "-d", "0", "lo"); strings.Contains(r.stdout+r.stderr, "127.0.0.1") {
		t.Errorf("profile's Family = 6 ignored: %+v", r)
	}
}

// TestHostWithoutPortsStill: without a profiles file, "sesame HOST" is the
// mistake it always was.
func TestHostWithoutPortsStill(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	conf := f.write("p.conf", "[other]\nHost = h\nSequence = 1\n", 0o644)
	sesameWith(t, []string{"SESAME_PROFILES=" + conf}, "", "myserver", "7000").check(t, 1, "",
		"sesame: error: failed to resolve \"myserver\": no such host\nsesame: hint: check the host name, or give its IP address\n")
}
