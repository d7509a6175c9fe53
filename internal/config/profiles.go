package config

// Client profiles: the file the sesame client reads so that a user types
// "sesame work" instead of a host, a sequence source and its settings. It
// is knockd.conf's syntax, so that a profile reads like the daemon's event
// it knocks on (and sesamed --enroll prints one to paste):
//
//	# ~/.config/sesame/profiles.conf
//	[work]
//	    Host        = server.example.com, 198.51.100.7   # one or more
//	    TOTP_Secret = JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
//	    TOTP_Ports  = 40000-49999:tcp
//	    Delay       = 100                                # milliseconds
//
//   - Lines are trimmed of blanks; an empty line or one whose first
//     non-blank character is '#' is a comment, and so is the rest of a line
//     from a '#' that follows a blank ("Delay = 100 # ms").
//   - "[name]" starts a profile. Names are unique; blanks around a name
//     are dropped.
//   - A directive is "Key = value"; keys are case-insensitive. Each may
//     appear once per profile.
//   - A profile has at least one Host and exactly one sequence source:
//     Sequence, One_Time_Sequences, TOTP_Secret, Cipher_Key_File or
//     Cipher_Key. The TOTP_ and Cipher_ tuning directives need theirs.
//   - "~/" at the start of a file path is the user's home directory.
//
// Secrets may be written inline (TOTP_Secret, Cipher_Key); LoadProfiles
// then refuses a file that its group or others can read, as ssh refuses a
// private key.

import (
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/totp"
)

// Profile is one [name] section of a client profiles file: where to knock
// and what. Exactly one of Sequence, OneTimeFile, TOTP and Cipher is set.
type Profile struct {
	Name string
	Pos  Pos // where the section starts

	// Hosts are the servers to knock, in order (Host = a, b).
	Hosts []string

	Sequence    []Element      // Sequence = 7000,8000:udp,9000
	OneTimeFile string         // One_Time_Sequences = FILE, "~/" expanded
	TOTP        *ProfileTOTP   // TOTP_Secret and its TOTP_ tuning
	Cipher      *ProfileCipher // Cipher_Key_File or Cipher_Key, and its Cipher_ tuning

	// Delay is the pause between knocks (Delay = MS); DelaySet reports
	// whether the profile gave one.
	Delay    time.Duration
	DelaySet bool
	// Family is 4 or 6 (Family = 4|6), 0 when not given.
	Family int
	// Source, when valid, is the local address to knock from (Source = ADDR).
	Source netip.Addr

	// secret is the line of an inline secret (TOTP_Secret, Cipher_Key), 0
	// when there is none.
	secret     int
	secretName string
}

// ProfileTOTP is a profile's TOTP source. The parameters pass
// totp.CheckParams.
type ProfileTOTP struct {
	Secret []byte
	Proto  packet.Proto
	Lo, Hi uint16
	Length int
	Step   time.Duration
}

// ProfileCipher is a profile's cipher knock source: a key file (whose key
// depends on Event when it holds a passphrase) or an inline key.
type ProfileCipher struct {
	KeyFile string           // "~/" expanded; "" with Key
	Key     *cipherknock.Key // Cipher_Key; nil with KeyFile
	Event   string           // Cipher_Event, default the profile's name
	Proto   packet.Proto
	Base    uint16
}

// Secret returns the directive and line of an inline secret in the
// profile (TOTP_Secret or Cipher_Key), or line 0 when it has none.
func (p *Profile) Secret() (directive string, line int) {
	return p.secretName, p.secret
}

// FindProfile returns the profile called name, or nil.
func FindProfile(profiles []Profile, name string) *Profile {
	for i := range profiles {
		if profiles[i].Name == name {
			return &profiles[i]
		}
	}
	return nil
}

// maxProfilesFile bounds what LoadProfiles reads: a profiles file is a
// few screens of text.
const maxProfilesFile = 1 << 20

// ProfilePermError is a profiles file whose permissions are too open: it
// holds a secret and its group or others may read it, or its group or
// others may change it (and send the knocks, with their fresh replay-proof
// sequences, to a host of theirs).
type ProfilePermError struct {
	Path string
	Perm fs.FileMode
	// Secret names the inline secret and its line ("TOTP_Secret on line
	// 4"); empty when the file is refused for being writable.
	Secret string
}

func (e *ProfilePermError) Error() string {
	if e.Secret != "" {
		return fmt.Sprintf("permissions %04o for %s are too open, expected 0600: it holds %s", e.Perm, e.Path, e.Secret)
	}
	return fmt.Sprintf("permissions %04o for %s are too open, expected no write access for group and others (0644 or 0600)", e.Perm, e.Path)
}

// Fix is the command that repairs the permissions.
func (e *ProfilePermError) Fix() string {
	if e.Secret != "" {
		return "chmod 600 " + shellWord(e.Path)
	}
	return "chmod go-w " + shellWord(e.Path)
}

// shellWord quotes s for a shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// LoadProfiles reads and parses the profiles file at path. Like ssh with
// its configuration and keys, it refuses a file that its group or others
// may write, and a file holding an inline secret (TOTP_Secret, Cipher_Key)
// that its group or others may read (a *ProfilePermError). On Windows,
// where Go reports no such permissions, the checks are skipped.
func LoadProfiles(path string) ([]Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read profiles: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to read profiles: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file, expected a profiles file", path)
	}
	checkPerm := runtime.GOOS != "windows"
	perm := fi.Mode().Perm()
	if checkPerm && perm&0o022 != 0 {
		return nil, &ProfilePermError{Path: path, Perm: perm}
	}
	src, err := io.ReadAll(io.LimitReader(f, maxProfilesFile+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read profiles: %w", err)
	}
	if len(src) > maxProfilesFile {
		return nil, fmt.Errorf("%s is larger than %d KiB, expected a profiles file", path, maxProfilesFile>>10)
	}
	profiles, err := ParseProfiles(path, src)
	if err != nil {
		return nil, err
	}
	if checkPerm && perm&0o044 != 0 {
		for i := range profiles {
			if name, line := profiles[i].Secret(); line != 0 {
				return nil, &ProfilePermError{Path: path, Perm: perm, Secret: fmt.Sprintf("%s on line %d", name, line)}
			}
		}
	}
	return profiles, nil
}

// ExpandHome replaces a leading "~/" (or "~" alone) in path with the
// user's home directory.
func ExpandHome(path string) (string, error) {
	rest, ok := strings.CutPrefix(path, "~")
	if !ok || (rest != "" && rest[0] != '/' && !(runtime.GOOS == "windows" && rest[0] == '\\')) {
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot expand \"~\" in %q: %w", path, err)
	}
	return filepath.Join(home, filepath.FromSlash(rest)), nil
}

// ParseProfiles parses a client profiles file; file names it in messages.
// On failure the error is an Errors listing every problem.
func ParseProfiles(file string, src []byte) ([]Profile, error) {
	p := &profileParser{diagnostics: diagnostics{file: file}, names: map[string]int{}}
	for i, line := range strings.Split(string(src), "\n") {
		p.line(i+1, line)
	}
	p.end()
	if err := p.errs.errOrNil(); err != nil {
		return nil, err
	}
	return p.profiles, nil
}

type profileParser struct {
	diagnostics
	profiles []Profile
	names    map[string]int // profile name → line of its header

	inSection bool
	cur       *profileState // nil before the first section or after a bad header
}

type profileState struct {
	Profile
	seen map[string]int // canonical directive → line
	// totp and cipher collect their tuning before the source is known.
	totp   ProfileTOTP
	cipher ProfileCipher
}

func (p *profileParser) line(n int, raw string) {
	t, ok := p.text(n, raw)
	if !ok {
		return
	}
	if t[0] == '[' {
		end := strings.IndexByte(t, ']')
		if end < 0 || trimBlank(cutProfileComment(t[end+1:])) != "" {
			p.errorf(n, "malformed profile header %q, expected [name] alone on the line", t)
			p.inSection, p.cur = true, nil
			return
		}
		p.section(n, t[1:end])
		return
	}
	if !p.inSection {
		p.errorf(n, "%q is outside any profile, expected a [name] line first", t)
		return
	}
	if p.cur == nil {
		return // the header was bad: its directives say nothing new
	}
	key, val, hasEq := strings.Cut(t, "=")
	key = trimBlank(key)
	val = trimBlank(cutProfileComment(val))
	d := lookupProfileDirective(key)
	switch {
	case !hasEq && d != nil:
		p.errorf(n, "%s needs a value, expected %s = %s", d.name, d.name, d.example)
		return
	case !hasEq:
		p.errorf(n, "missing '=' in %q, expected Key = value", t)
		return
	case key == "":
		p.errorf(n, "missing directive name before '=', expected Key = value")
		return
	case d == nil:
		p.errorf(n, "%s", unknownProfileDirective(key))
		return
	}
	if prev, ok := p.cur.seen[d.name]; ok {
		msg := fmt.Sprintf("%s already given on line %d in profile [%s], expected it once", d.name, prev, p.cur.Name)
		if d.name == "Host" {
			msg += " (list every host on one line: Host = a, b)"
		}
		p.errorf(n, "%s", msg)
		return
	}
	p.cur.seen[d.name] = n
	if val == "" {
		p.errorf(n, "empty %s, expected %s = %s", d.name, d.name, d.example)
		return
	}
	if msg := d.set(p.cur, val); msg != "" {
		p.errorf(n, "%s", msg)
	}
}

// cutProfileComment cuts a comment off a value: from a '#' at its start or
// after a blank to the end. Unlike knockd.conf (cutTrailingComment), a
// comma in the comment does not keep it: profiles are sesame's own format.
func cutProfileComment(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || isBlank(s[i-1])) {
			return s[:i]
		}
	}
	return s
}

func (p *profileParser) section(n int, name string) {
	p.end()
	p.inSection = true
	name = trimBlank(name)
	switch {
	case name == "":
		p.errorf(n, "empty profile name, expected [name]")
		return
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		p.errorf(n, "profile name %q is not printable text, expected a name such as [work]", name)
		return
	case strings.ContainsAny(name, "[]"):
		p.errorf(n, "profile name %q contains a bracket, expected [name] alone on the line", name)
		return
	}
	if prev, ok := p.names[name]; ok {
		p.errorf(n, "profile [%s] already defined on line %d, expected each name once", name, prev)
		return
	}
	p.names[name] = n
	p.cur = &profileState{
		Profile: Profile{Name: name, Pos: Pos{p.file, n}},
		seen:    map[string]int{},
		totp: ProfileTOTP{Proto: packet.TCP, Lo: DefaultTOTPLo, Hi: DefaultTOTPHi,
			Length: DefaultTOTPLength, Step: DefaultTOTPStep},
		cipher: ProfileCipher{Event: name, Proto: packet.TCP, Base: DefaultCipherBase},
	}
}

// profileSources are the directives that give a profile its sequence.
var profileSources = []string{"Sequence", "One_Time_Sequences", "TOTP_Secret", "Cipher_Key_File", "Cipher_Key"}

// end checks the profile being read and keeps it.
func (p *profileParser) end() {
	ps := p.cur
	p.cur = nil
	if ps == nil {
		return
	}
	ok := true
	if _, given := ps.seen["Host"]; !given {
		p.errorf(ps.Pos.Line, "profile [%s] has no Host, expected Host = NAME[, NAME...]", ps.Name)
		ok = false
	}
	first := ""
	for _, d := range profileSources {
		line, seen := ps.seen[d]
		if !seen {
			continue
		}
		if first == "" || line < ps.seen[first] {
			first = d
		}
	}
	if first == "" {
		p.errorf(ps.Pos.Line, "profile [%s] has no sequence, expected one of %s", ps.Name, strings.Join(profileSources, ", "))
		ok = false
	}
	for _, d := range profileSources {
		if line, seen := ps.seen[d]; seen && d != first {
			p.errorf(line, "%s and %s (line %d) both given in profile [%s], expected exactly one sequence source", d, first, ps.seen[first], ps.Name)
			ok = false
		}
	}
	_, isTOTP := ps.seen["TOTP_Secret"]
	_, hasKeyFile := ps.seen["Cipher_Key_File"]
	_, hasKey := ps.seen["Cipher_Key"]
	isCipher := hasKeyFile || hasKey
	for _, d := range []string{"TOTP_Ports", "TOTP_Length", "TOTP_Step"} {
		if line, seen := ps.seen[d]; seen && !isTOTP {
			p.errorf(line, "%s without TOTP_Secret in profile [%s], expected TOTP_Secret = BASE32", d, ps.Name)
			ok = false
		}
	}
	for _, d := range []string{"Cipher_Event", "Cipher_Ports"} {
		if line, seen := ps.seen[d]; seen && !isCipher {
			p.errorf(line, "%s without Cipher_Key_File or Cipher_Key in profile [%s], expected Cipher_Key_File = FILE", d, ps.Name)
			ok = false
		}
	}
	if isTOTP && ps.totp.Secret != nil {
		t := ps.totp
		if err := totp.CheckParams(t.Lo, t.Hi, t.Length, t.Step); err != nil {
			line := ps.seen["TOTP_Ports"]
			if line == 0 {
				line = ps.seen["TOTP_Length"]
			}
			if line == 0 {
				line = ps.seen["TOTP_Secret"]
			}
			p.errorf(line, "TOTP_Ports %d-%d cannot hold TOTP_Length %d: %v", t.Lo, t.Hi, t.Length, err)
			ok = false
		}
		ps.TOTP = &t
	}
	if isCipher && (ps.cipher.KeyFile != "" || ps.cipher.Key != nil) {
		c := ps.cipher
		ps.Cipher = &c
	}
	if s := ps.Source; s.IsValid() && ps.Family != 0 && (ps.Family == 4) != s.Is4() {
		p.errorf(ps.seen["Source"], "Source %s is not an IPv%d address, as Family = %d on line %d asks", s, ps.Family, ps.Family, ps.seen["Family"])
		ok = false
	}
	if ok {
		p.profiles = append(p.profiles, ps.Profile)
	}
}

// profileDirective is one key of a profile.
type profileDirective struct {
	name    string // canonical spelling
	example string // what a value looks like, for messages
	set     func(ps *profileState, val string) string
}

var profileDirectives = []*profileDirective{
	{"Host", "server.example.com[, 198.51.100.7...]", setProfileHost},
	{"Sequence", "7000,8000:udp,9000 or tportknockd frames tcp:110:up tcp:110:x", func(ps *profileState, v string) string {
		parse := ParseSequence
		if frameForm(v) {
			parse = ParseTportSequence // raw TCP flag knocks, sent by sesame from a raw socket
		}
		seq, err := parse(v)
		if err != nil {
			return "bad Sequence: " + err.Error()
		}
		ps.Sequence = seq
		return ""
	}},
	{"One_Time_Sequences", "FILE (knockd's one-time sequences)", func(ps *profileState, v string) string {
		path, msg := profilePath("One_Time_Sequences", v)
		ps.OneTimeFile = path
		return msg
	}},
	{"TOTP_Secret", "BASE32", func(ps *profileState, v string) string {
		secret, err := totp.DecodeSecret(v) // its errors never quote the secret
		if err != nil {
			return "bad TOTP_Secret: " + err.Error()
		}
		ps.totp.Secret = secret
		ps.secret, ps.secretName = ps.seen["TOTP_Secret"], "TOTP_Secret"
		return ""
	}},
	{"TOTP_Ports", "40000-49999:tcp", func(ps *profileState, v string) string {
		proto, lo, hi, err := ParsePortRange(v)
		if err != nil {
			return "bad TOTP_Ports: " + err.Error()
		}
		ps.totp.Proto, ps.totp.Lo, ps.totp.Hi = proto, lo, hi
		return ""
	}},
	{"TOTP_Length", "4", func(ps *profileState, v string) string {
		n, ok := wholeNumber(v)
		if !ok || n < 1 || n > totp.MaxLength {
			return fmt.Sprintf("TOTP_Length %q, expected a whole number of knocks 1-%d", v, totp.MaxLength)
		}
		ps.totp.Length = int(n)
		return ""
	}},
	{"TOTP_Step", "30", func(ps *profileState, v string) string {
		max := uint64(totp.MaxStep / time.Second)
		n, ok := wholeNumber(v)
		if !ok || n < 1 || n > max {
			return fmt.Sprintf("TOTP_Step %q, expected a whole number of seconds 1-%d", v, max)
		}
		ps.totp.Step = time.Duration(n) * time.Second
		return ""
	}},
	{"Cipher_Key_File", "FILE (key = ... or passphrase = ...)", func(ps *profileState, v string) string {
		path, msg := profilePath("Cipher_Key_File", v)
		ps.cipher.KeyFile = path
		return msg
	}},
	{"Cipher_Key", "BASE64 (44 characters)", func(ps *profileState, v string) string {
		k, err := cipherknock.ParseKey(v) // its errors never quote the key
		if err != nil {
			return "bad Cipher_Key: " + err.Error()
		}
		ps.cipher.Key = &k
		ps.secret, ps.secretName = ps.seen["Cipher_Key"], "Cipher_Key"
		return ""
	}},
	{"Cipher_Event", "NAME (the server's event)", func(ps *profileState, v string) string {
		if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return fmt.Sprintf("Cipher_Event %q is not printable text, expected the name of the server's event", v)
		}
		ps.cipher.Event = v
		return ""
	}},
	{"Cipher_Ports", "61000:tcp", func(ps *profileState, v string) string {
		proto, base, err := ParseCipherPorts(v)
		if err != nil {
			return "bad Cipher_Ports: " + err.Error()
		}
		ps.cipher.Proto, ps.cipher.Base = proto, base
		return ""
	}},
	{"Delay", "100 (milliseconds)", func(ps *profileState, v string) string {
		n, ok := wholeNumber(v)
		if !ok || n > math.MaxInt64/uint64(time.Millisecond) {
			return fmt.Sprintf("Delay %q, expected a whole number of milliseconds, e.g. 100", v)
		}
		ps.Delay, ps.DelaySet = time.Duration(n)*time.Millisecond, true
		return ""
	}},
	{"Family", "4 or 6", func(ps *profileState, v string) string {
		switch v {
		case "4":
			ps.Family = 4
		case "6":
			ps.Family = 6
		default:
			return fmt.Sprintf("Family %q, expected 4 (IPv4 only) or 6 (IPv6 only)", v)
		}
		return ""
	}},
	{"Source", "192.0.2.10 (an address of this host)", func(ps *profileState, v string) string {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]"))
		if err != nil {
			return fmt.Sprintf("Source %q is not an IP address, expected an address of this host such as 192.0.2.10", v)
		}
		if a = a.Unmap(); a.IsUnspecified() {
			return fmt.Sprintf("Source %q is the unspecified address, expected an address of this host such as 192.0.2.10", v)
		}
		ps.Source = a
		return ""
	}},
}

func lookupProfileDirective(key string) *profileDirective {
	for _, d := range profileDirectives {
		if strings.EqualFold(key, d.name) {
			return d
		}
	}
	return nil
}

// unknownProfileDirective explains an unknown key: a server directive in
// the client's file, a near miss, or neither.
func unknownProfileDirective(key string) string {
	switch {
	case strings.EqualFold(key, "TOTP_Secret_File"):
		return fmt.Sprintf("unknown directive %q: the server's file of client secrets does not belong in a profile, expected this client's own secret, TOTP_Secret = BASE32", key)
	case lookupDirective(key) != nil:
		return fmt.Sprintf("unknown directive %q: it belongs in the server's knockd.conf, not in a client profile (expected %s)", key, profileDirectiveNames())
	}
	best, bestD := "", max(2, len(key)/3)
	lower := strings.ToLower(key)
	for _, d := range profileDirectives {
		if dist := editDistance(lower, strings.ToLower(d.name)); dist <= bestD {
			best, bestD = d.name, dist-1 // a strictly closer name wins
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown directive %q (did you mean %q?)", key, best)
	}
	return fmt.Sprintf("unknown directive %q, expected one of %s", key, profileDirectiveNames())
}

func profileDirectiveNames() string {
	names := make([]string, len(profileDirectives))
	for i, d := range profileDirectives {
		names[i] = d.name
	}
	return strings.Join(names, ", ")
}

// setProfileHost reads "Host = a, b, ...".
func setProfileHost(ps *profileState, v string) string {
	for _, h := range strings.Split(v, ",") {
		h = trimBlank(h)
		if msg := checkProfileHost(h); msg != "" {
			return msg
		}
		ps.Hosts = append(ps.Hosts, h)
	}
	return ""
}

// checkProfileHost accepts a host name or an IP address (IPv6 with or
// without brackets, with a zone): what the sesame command takes as a host.
func checkProfileHost(h string) string {
	if h == "" {
		return "empty host in Host (a doubled or trailing comma?), expected names or addresses separated by commas"
	}
	if strings.ContainsAny(h, ":[]") {
		if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err != nil {
			return fmt.Sprintf("host %q is neither a host name nor an IP address, expected e.g. server.example.com or 2001:db8::7 (without a port: the knocks are the ports)", h)
		}
		return ""
	}
	if _, ok := wholeNumber(h); ok {
		return fmt.Sprintf("host %q is a number, expected a host name or an IP address (the ports go in the sequence)", h)
	}
	if len(h) > 253 {
		return fmt.Sprintf("host name is %d characters long, expected at most 253", len(h))
	}
	for _, r := range h {
		if !(r == '.' || r == '-' || r == '_' || r < utf8.RuneSelf && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')) {
			return fmt.Sprintf("host %q contains %q, expected a host name (letters, digits, '-' and '.') or an IP address, several separated by commas", h, r)
		}
	}
	return ""
}

// profilePath checks a file path and expands a leading "~/".
func profilePath(name, v string) (string, string) {
	if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return "", fmt.Sprintf("%s %q is not printable text, expected a file path", name, v)
	}
	path, err := ExpandHome(v)
	if err != nil {
		return "", fmt.Sprintf("bad %s: %v, expected a file path", name, err)
	}
	return path, ""
}

// frameForm reports whether a sequence is written in tportknockd's frame
// form (proto:port[:flags]) rather than knockd's (port[:proto]): its first
// field is a protocol name.
func frameForm(v string) bool {
	first, _, _ := strings.Cut(trimBlank(v), ":")
	first = strings.ToLower(trimBlank(first))
	return first == "tcp" || first == "udp"
}
