package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// dumpProfiles renders profiles one field per line, so that a diff shows
// exactly which fields differ. Secrets are shown, in hex: these are test
// values.
func dumpProfiles(ps []Profile) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "[%s] at %v\n", p.Name, p.Pos)
		fmt.Fprintf(&b, "  Hosts: %q\n", p.Hosts)
		if p.Sequence != nil {
			fmt.Fprintf(&b, "  Sequence: %s\n", FormatSequence(p.Sequence))
		}
		if p.OneTimeFile != "" {
			fmt.Fprintf(&b, "  OneTimeFile: %s\n", p.OneTimeFile)
		}
		if t := p.TOTP; t != nil {
			fmt.Fprintf(&b, "  TOTP: secret %x ports %d-%d:%s length %d step %v\n", t.Secret, t.Lo, t.Hi, t.Proto, t.Length, t.Step)
		}
		if c := p.Cipher; c != nil {
			key := "<none>"
			if c.Key != nil {
				key = base64.StdEncoding.EncodeToString(c.Key[:])
			}
			fmt.Fprintf(&b, "  Cipher: file %q key %s event %q base %d:%s\n", c.KeyFile, key, c.Event, c.Base, c.Proto)
		}
		if p.DelaySet {
			fmt.Fprintf(&b, "  Delay: %v\n", p.Delay)
		}
		if p.Family != 0 {
			fmt.Fprintf(&b, "  Family: %d\n", p.Family)
		}
		if p.Source.IsValid() {
			fmt.Fprintf(&b, "  Source: %s\n", p.Source)
		}
		if name, line := p.Secret(); line != 0 {
			fmt.Fprintf(&b, "  Secret: %s on line %d\n", name, line)
		}
	}
	return b.String()
}

const (
	testSecret    = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" // "Hello!\xde\xad\xbe\xef" twice
	testSecretHex = "48656c6c6f21deadbeef48656c6c6f21deadbeef"
	testKey       = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 0..31
)

func TestParseProfiles(t *testing.T) {
	t.Parallel()
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skipf("no home directory: %v", err)
	}
	tests := []struct {
		name string
		src  string
		want string
	}{
		{
			name: "the documented example",
			src: `# sesame profiles
[work]
    Host               = server.example.com, 198.51.100.7   # required, one or more
    TOTP_Secret        = ` + testSecret + `
    TOTP_Ports = 40000-49999:tcp
    TOTP_Length = 4
    TOTP_Step = 30
    Delay = 100                # milliseconds between knocks
    Family = 4
    Source = 192.0.2.10
`,
			want: `[work] at p.conf:2
  Hosts: ["server.example.com" "198.51.100.7"]
  TOTP: secret ` + testSecretHex + ` ports 40000-49999:tcp length 4 step 30s
  Delay: 100ms
  Family: 4
  Source: 192.0.2.10
  Secret: TOTP_Secret on line 4
`,
		},
		{
			name: "TOTP defaults and tuning",
			src:  "[a]\nHost=h\nTOTP_Secret=" + testSecret + "\n[b]\nHost=h\nTOTP_Secret=" + testSecret + "\nTOTP_Ports=1000-1999:udp\nTOTP_Length=8\nTOTP_Step=60\n",
			want: `[a] at p.conf:1
  Hosts: ["h"]
  TOTP: secret ` + testSecretHex + ` ports 40000-49999:tcp length 4 step 30s
  Secret: TOTP_Secret on line 3
[b] at p.conf:4
  Hosts: ["h"]
  TOTP: secret ` + testSecretHex + ` ports 1000-1999:udp length 8 step 1m0s
  Secret: TOTP_Secret on line 6
`,
		},
		{
			name: "static sequence, a comment with a comma",
			src:  "[s]\nHost = h1,h2\nSequence = 7000,8000:udp,9000 # knock, knock\n",
			want: "[s] at p.conf:1\n  Hosts: [\"h1\" \"h2\"]\n  Sequence: 7000:tcp,8000:udp,9000:tcp\n",
		},
		{
			name: "one-time file, ~/ expanded",
			src:  "[o]\nHost = h\nOne_Time_Sequences = ~/.config/sesame/o.otp\n[p]\nHost = h\nOne_Time_Sequences = /etc/o.otp\n",
			want: "[o] at p.conf:1\n  Hosts: [\"h\"]\n  OneTimeFile: " + filepath.Join(home, ".config", "sesame", "o.otp") +
				"\n[p] at p.conf:4\n  Hosts: [\"h\"]\n  OneTimeFile: /etc/o.otp\n",
		},
		{
			name: "cipher key file: the event defaults to the profile's name",
			src:  "[vpn]\nHost = h\nCipher_Key_File = /k\n",
			want: "[vpn] at p.conf:1\n  Hosts: [\"h\"]\n  Cipher: file \"/k\" key <none> event \"vpn\" base 61000:tcp\n",
		},
		{
			name: "inline cipher key with event and ports",
			src:  "[vpn]\nHost = h\nCipher_Key = " + testKey + "\nCipher_Event = ssh\nCipher_Ports = 62000:udp\n",
			want: "[vpn] at p.conf:1\n  Hosts: [\"h\"]\n  Cipher: file \"\" key " + testKey + " event \"ssh\" base 62000:udp\n  Secret: Cipher_Key on line 3\n",
		},
		{
			name: "case-insensitive keys, CRLF, blanks, header comment",
			src:  "\r\n  # c\r\n[ w ]  # the work server\r\n\tHOST\t=\th\r\n\tsequence = 1\r\n\tdelay = 0\r\n",
			want: "[w] at p.conf:3\n  Hosts: [\"h\"]\n  Sequence: 1:tcp\n  Delay: 0s\n",
		},
		{
			name: "IPv6 hosts and source",
			src:  "[six]\nHost = 2001:db8::7, [2001:db8::8], fe80::1%eth0\nSequence = 1\nFamily = 6\nSource = [2001:db8::1]\n",
			want: "[six] at p.conf:1\n  Hosts: [\"2001:db8::7\" \"[2001:db8::8]\" \"fe80::1%eth0\"]\n  Sequence: 1:tcp\n  Family: 6\n  Source: 2001:db8::1\n",
		},
		{
			name: "mapped source address",
			src:  "[m]\nHost = h\nSequence = 1\nSource = ::ffff:192.0.2.1\nFamily = 4\n",
			want: "[m] at p.conf:1\n  Hosts: [\"h\"]\n  Sequence: 1:tcp\n  Family: 4\n  Source: 192.0.2.1\n",
		},
		{
			name: "names as enrolment prints them",
			src:  "[ssh-totp]\n\tHost         = server.example.com\n\tTOTP_Secret  = " + testSecret + "\n\tTOTP_Ports   = 40000-49999:tcp\n\tTOTP_Length  = 4\n\tTOTP_Step    = 30\n",
			want: "[ssh-totp] at p.conf:1\n  Hosts: [\"server.example.com\"]\n  TOTP: secret " + testSecretHex + " ports 40000-49999:tcp length 4 step 30s\n  Secret: TOTP_Secret on line 3\n",
		},
		{
			name: "empty file",
			src:  "",
			want: "",
		},
		{
			name: "comments only",
			src:  "# nothing\n\n   # yet\n",
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps, err := ParseProfiles("p.conf", []byte(tt.src))
			if err != nil {
				t.Fatalf("ParseProfiles: %v", err)
			}
			if d := diff(tt.want, dumpProfiles(ps)); d != "" {
				t.Errorf("profiles (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseProfilesErrors(t *testing.T) {
	t.Parallel()
	const ok = "Host = h\nSequence = 1\n" // completes a profile
	tests := []struct {
		name string
		src  string
		want string // every error, one per line
	}{
		{"outside a profile", "Host = h\n", `p.conf:1: "Host = h" is outside any profile, expected a [name] line first`},
		{"empty name", "[]\n" + ok, "p.conf:1: empty profile name, expected [name]"},
		{"blank name", "[  ]\n" + ok, "p.conf:1: empty profile name, expected [name]"},
		{"control character in name", "[a\x01b]\n" + ok, `p.conf:1: profile name "a\x01b" is not printable text, expected a name such as [work]`},
		{"bracket in name", "[a[b]\n" + ok, `p.conf:1: profile name "a[b" contains a bracket, expected [name] alone on the line`},
		{"unclosed header", "[work\n" + ok, `p.conf:1: malformed profile header "[work", expected [name] alone on the line`},
		{"text after header", "[work] x\n" + ok, `p.conf:1: malformed profile header "[work] x", expected [name] alone on the line`},
		{"duplicate name", "[a]\n" + ok + "[a]\n" + ok, "p.conf:4: profile [a] already defined on line 1, expected each name once"},
		{"NUL", "[a]\n" + ok + "x\x00\n", "p.conf:4: NUL byte in line, expected text"},
		{"frame with unknown flag", "[a]\nHost = h\nSequence = tcp:110:up tcp:110:q\n", `p.conf:3: bad Sequence: frame 2 "tcp:110:q": unknown flag 'q' in "q", expected letters of fsrpau, or x, n or i alone`},
		{"no '='", "[a]\n" + ok + "Delay 5\n", `p.conf:4: missing '=' in "Delay 5", expected Key = value`},
		{"known key without '='", "[a]\n" + ok + "Delay\n", "p.conf:4: Delay needs a value, expected Delay = 100 (milliseconds)"},
		{"no key", "[a]\n" + ok + "= 5\n", "p.conf:4: missing directive name before '=', expected Key = value"},
		{"typo", "[a]\n" + ok + "Dealy = 5\n", `p.conf:4: unknown directive "Dealy" (did you mean "Delay"?)`},
		{"typo, the closer name wins", "[a]\n" + ok + "TOTP_Lenght = 5\n", `p.conf:4: unknown directive "TOTP_Lenght" (did you mean "TOTP_Length"?)`},
		{"plural", "[a]\nHosts = h\nSequence = 1\n", "p.conf:1: profile [a] has no Host, expected Host = NAME[, NAME...]\n" +
			`p.conf:2: unknown directive "Hosts" (did you mean "Host"?)`},
		{"unknown", "[a]\n" + ok + "Colour = blue\n", `p.conf:4: unknown directive "Colour", expected one of Host, Sequence, One_Time_Sequences, TOTP_Secret, TOTP_Ports, TOTP_Length, TOTP_Step, Cipher_Key_File, Cipher_Key, Cipher_Event, Cipher_Ports, Delay, Family, Source`},
		{"server directive", "[a]\n" + ok + "Seq_Timeout = 5\n", `p.conf:4: unknown directive "Seq_Timeout": it belongs in the server's knockd.conf, not in a client profile (expected Host, Sequence, One_Time_Sequences, TOTP_Secret, TOTP_Ports, TOTP_Length, TOTP_Step, Cipher_Key_File, Cipher_Key, Cipher_Event, Cipher_Ports, Delay, Family, Source)`},
		{"server's secrets file", "[a]\nHost = h\nTOTP_Secret_File = /etc/s\n", "p.conf:1: profile [a] has no sequence, expected one of Sequence, One_Time_Sequences, TOTP_Secret, Cipher_Key_File, Cipher_Key\n" +
			`p.conf:3: unknown directive "TOTP_Secret_File": the server's file of client secrets does not belong in a profile, expected this client's own secret, TOTP_Secret = BASE32`},
		{"repeated directive", "[a]\n" + ok + "Sequence = 2\n", "p.conf:4: Sequence already given on line 3 in profile [a], expected it once"},
		{"repeated host", "[a]\n" + ok + "host = h2\n", "p.conf:4: Host already given on line 2 in profile [a], expected it once (list every host on one line: Host = a, b)"},
		{"empty value", "[a]\n" + ok + "Delay =\n", "p.conf:4: empty Delay, expected Delay = 100 (milliseconds)"},
		{"only a comment", "[a]\n" + ok + "Delay = # none\n", "p.conf:4: empty Delay, expected Delay = 100 (milliseconds)"},

		{"no host", "[a]\nSequence = 1\n", "p.conf:1: profile [a] has no Host, expected Host = NAME[, NAME...]"},
		{"empty host", "[a]\nHost = h,,i\nSequence = 1\n", "p.conf:2: empty host in Host (a doubled or trailing comma?), expected names or addresses separated by commas"},
		{"trailing comma", "[a]\nHost = h,\nSequence = 1\n", "p.conf:2: empty host in Host (a doubled or trailing comma?), expected names or addresses separated by commas"},
		{"host with port", "[a]\nHost = h:22\nSequence = 1\n", `p.conf:2: host "h:22" is neither a host name nor an IP address, expected e.g. server.example.com or 2001:db8::7 (without a port: the knocks are the ports)`},
		{"host is a number", "[a]\nHost = 7000\nSequence = 1\n", `p.conf:2: host "7000" is a number, expected a host name or an IP address (the ports go in the sequence)`},
		{"hosts separated by blanks", "[a]\nHost = h i\nSequence = 1\n", `p.conf:2: host "h i" contains ' ', expected a host name (letters, digits, '-' and '.') or an IP address, several separated by commas`},
		{"long host", "[a]\nHost = " + strings.Repeat("a", 254) + "\nSequence = 1\n", "p.conf:2: host name is 254 characters long, expected at most 253"},

		{"no sequence", "[a]\nHost = h\n", "p.conf:1: profile [a] has no sequence, expected one of Sequence, One_Time_Sequences, TOTP_Secret, Cipher_Key_File, Cipher_Key"},
		{"two sources", "[a]\nHost = h\nSequence = 1\nTOTP_Secret = " + testSecret + "\n", "p.conf:4: TOTP_Secret and Sequence (line 3) both given in profile [a], expected exactly one sequence source"},
		{"three sources", "[a]\nHost = h\nCipher_Key_File = /k\nOne_Time_Sequences = /o\nSequence = 1\n",
			"p.conf:4: One_Time_Sequences and Cipher_Key_File (line 3) both given in profile [a], expected exactly one sequence source\n" +
				"p.conf:5: Sequence and Cipher_Key_File (line 3) both given in profile [a], expected exactly one sequence source"},
		{"key file and inline key", "[a]\nHost = h\nCipher_Key_File = /k\nCipher_Key = " + testKey + "\n", "p.conf:4: Cipher_Key and Cipher_Key_File (line 3) both given in profile [a], expected exactly one sequence source"},
		{"bad sequence", "[a]\nHost = h\nSequence = 1,,2\n", `p.conf:3: bad Sequence: element 2 "": empty element (a doubled or trailing comma?), expected port[:tcp|udp]`},
		{"bad sequence port", "[a]\nHost = h\nSequence = 70000\n", `p.conf:3: bad Sequence: element 1 "70000": port 70000 out of range, expected 1-65535`},
		{"one-time control character", "[a]\nHost = h\nOne_Time_Sequences = /a\x7fb\n", `p.conf:3: One_Time_Sequences "/a\x7fb" is not printable text, expected a file path`},
		{"bad base32", "[a]\nHost = h\nTOTP_Secret = JBSWY3DPEHPK3PXP1BSWY3DPEHPK3PXP\n", "p.conf:3: bad TOTP_Secret: secret has an invalid character at position 17, expected base32 (letters A-Z, digits 2-7)"},
		{"short secret", "[a]\nHost = h\nTOTP_Secret = JBSWY3DP\n", "p.conf:3: bad TOTP_Secret: secret is 5 bytes (40 bits), expected at least 16 bytes (128 bits, RFC 4226)"},
		{"bad TOTP ports", "[a]\nHost = h\nTOTP_Secret = " + testSecret + "\nTOTP_Ports = 49999-40000\n", `p.conf:4: bad TOTP_Ports: "49999-40000" is not a port range, expected LO-HI[:tcp|udp] with 1 <= LO <= HI <= 65535, e.g. 40000-49999`},
		{"bad TOTP protocol", "[a]\nHost = h\nTOTP_Secret = " + testSecret + "\nTOTP_Ports = 1-100:icmp\n", `p.conf:4: bad TOTP_Ports: protocol "icmp" in "1-100:icmp", expected tcp or udp`},
		{"bad TOTP length", "[a]\nHost = h\nTOTP_Secret = " + testSecret + "\nTOTP_Length = 33\n", `p.conf:4: TOTP_Length "33", expected a whole number of knocks 1-32`},
		{"zero TOTP length", "[a]\nHost = h\nTOTP_Secret = " + testSecret + "\nTOTP_Length = 0\n", `p.conf:4: TOTP_Length "0", expected a whole number of knocks 1-32`},
		{"bad TOTP step", "[a]\nHost = h\nTOTP_Secret = " + testSecret + "\nTOTP_Step = 30s\n", `p.conf:4: TOTP_Step "30s", expected a whole number of seconds 1-86400`},
		{"long TOTP step", "[a]\nHost = h\nTOTP_Secret = " + testSecret + "\nTOTP_Step = 86401\n", `p.conf:4: TOTP_Step "86401", expected a whole number of seconds 1-86400`},
		{"range too small for the length", "[a]\nHost = h\nTOTP_Secret = " + testSecret + "\nTOTP_Ports = 100-106\n",
			"p.conf:4: TOTP_Ports 100-106 cannot hold TOTP_Length 4: port range 100-106 has 7 ports, expected at least 8 (twice the length 4)"},
		{"length too large for the range", "[a]\nHost = h\nTOTP_Secret = " + testSecret + "\nTOTP_Length = 32\nTOTP_Ports = 100-150\n",
			"p.conf:5: TOTP_Ports 100-150 cannot hold TOTP_Length 32: port range 100-150 has 51 ports, expected at least 64 (twice the length 32)"},
		{"TOTP tuning without secret", "[a]\n" + ok + "TOTP_Ports = 1-100\nTOTP_Length = 3\nTOTP_Step = 5\n",
			"p.conf:4: TOTP_Ports without TOTP_Secret in profile [a], expected TOTP_Secret = BASE32\n" +
				"p.conf:5: TOTP_Length without TOTP_Secret in profile [a], expected TOTP_Secret = BASE32\n" +
				"p.conf:6: TOTP_Step without TOTP_Secret in profile [a], expected TOTP_Secret = BASE32"},
		{"bad cipher key", "[a]\nHost = h\nCipher_Key = abc\n", "p.conf:3: bad Cipher_Key: invalid key: is not standard base64, expected 44 characters of standard base64 (32 bytes)"},
		{"short cipher key", "[a]\nHost = h\nCipher_Key = AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", "p.conf:3: bad Cipher_Key: invalid key: is 31 bytes, expected 32 bytes (44 characters of standard base64)"},
		{"bad cipher ports", "[a]\nHost = h\nCipher_Key_File = /k\nCipher_Ports = 65300\n", `p.conf:4: bad Cipher_Ports: "65300" is not a window base, expected a port 1-65280 (the window is BASE-BASE+255), e.g. 61000:udp`},
		{"bad cipher event", "[a]\nHost = h\nCipher_Key_File = /k\nCipher_Event = a\tb\n", `p.conf:4: Cipher_Event "a\tb" is not printable text, expected the name of the server's event`},
		{"cipher tuning without key", "[a]\n" + ok + "Cipher_Event = e\nCipher_Ports = 1000\n",
			"p.conf:4: Cipher_Event without Cipher_Key_File or Cipher_Key in profile [a], expected Cipher_Key_File = FILE\n" +
				"p.conf:5: Cipher_Ports without Cipher_Key_File or Cipher_Key in profile [a], expected Cipher_Key_File = FILE"},
		{"bad delay", "[a]\n" + ok + "Delay = 1.5\n", `p.conf:4: Delay "1.5", expected a whole number of milliseconds, e.g. 100`},
		{"negative delay", "[a]\n" + ok + "Delay = -1\n", `p.conf:4: Delay "-1", expected a whole number of milliseconds, e.g. 100`},
		{"huge delay", "[a]\n" + ok + "Delay = 99999999999999999999\n", `p.conf:4: Delay "99999999999999999999", expected a whole number of milliseconds, e.g. 100`},
		{"bad family", "[a]\n" + ok + "Family = ipv4\n", `p.conf:4: Family "ipv4", expected 4 (IPv4 only) or 6 (IPv6 only)`},
		{"bad source", "[a]\n" + ok + "Source = myhost\n", `p.conf:4: Source "myhost" is not an IP address, expected an address of this host such as 192.0.2.10`},
		{"unspecified source", "[a]\n" + ok + "Source = 0.0.0.0\n", `p.conf:4: Source "0.0.0.0" is the unspecified address, expected an address of this host such as 192.0.2.10`},
		{"source of the other family", "[a]\n" + ok + "Family = 6\nSource = 192.0.2.1\n", "p.conf:5: Source 192.0.2.1 is not an IPv6 address, as Family = 6 on line 4 asks"},
		{"errors of several profiles, in line order", "[a]\nHost = h\n[b]\nHost = ,\nSequence = 1\n[a]\n",
			"p.conf:1: profile [a] has no sequence, expected one of Sequence, One_Time_Sequences, TOTP_Secret, Cipher_Key_File, Cipher_Key\n" +
				"p.conf:4: empty host in Host (a doubled or trailing comma?), expected names or addresses separated by commas\n" +
				"p.conf:6: profile [a] already defined on line 1, expected each name once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps, err := ParseProfiles("p.conf", []byte(tt.src))
			if err == nil {
				t.Fatalf("ParseProfiles accepted it:\n%s", dumpProfiles(ps))
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors", err)
			}
			if ps != nil {
				t.Errorf("profiles returned with an error: %v", ps)
			}
			if d := diff(tt.want, err.Error()); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

// TestParseProfilesNoSecretInErrors: a mistyped secret is not repeated
// in the message, which may end up on a screen or in a log.
func TestParseProfilesNoSecretInErrors(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"JBSWY3DPEHPK3PXP1BSWY3DPEHPK3PXQ", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQZ", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"} {
		for _, d := range []string{"TOTP_Secret", "Cipher_Key"} {
			_, err := ParseProfiles("p.conf", []byte("[a]\nHost = h\n"+d+" = "+v+"\n"))
			if err == nil {
				t.Fatalf("%s = %s accepted", d, v)
			}
			if strings.Contains(err.Error(), v[4:20]) {
				t.Errorf("%s = %s: error quotes the secret: %v", d, v, err)
			}
		}
	}
}

func TestFindProfile(t *testing.T) {
	t.Parallel()
	ps, err := ParseProfiles("p.conf", []byte("[a]\nHost = h\nSequence = 1\n[b]\nHost = i\nSequence = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := FindProfile(ps, "b"); p == nil || p.Hosts[0] != "i" {
		t.Errorf("FindProfile(b) = %+v, want the profile of host i", p)
	}
	if p := FindProfile(ps, "B"); p != nil {
		t.Errorf("FindProfile(B) = %+v, want nil: names are case-sensitive", p)
	}
}

func writeProfiles(t *testing.T, src string, perm fs.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "profiles.conf")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // not subject to umask
		t.Fatal(err)
	}
	return path
}

func TestLoadProfilesPermissions(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions on Windows")
	}
	const plain = "[a]\nHost = h\nSequence = 1\n"
	const secret = plain + "[b]\nHost = h\nTOTP_Secret = " + testSecret + "\n"
	const key = plain + "[c]\nHost = h\nCipher_Key = " + testKey + "\n"
	tests := []struct {
		name string
		src  string
		perm fs.FileMode
		want string // error, with PATH for the file's path; "" for none
		fix  string
	}{
		{"private, with a secret", secret, 0o600, "", ""},
		{"owner only, with a secret", secret, 0o400, "", ""},
		{"readable, no secret", plain, 0o644, "", ""},
		{"readable, key file only", "[a]\nHost = h\nCipher_Key_File = /k\n", 0o644, "", ""},
		{"readable by all, with a TOTP secret", secret, 0o644, "permissions 0644 for PATH are too open, expected 0600: it holds TOTP_Secret on line 6", "chmod 600 PATH"},
		{"readable by the group, with a key", key, 0o640, "permissions 0640 for PATH are too open, expected 0600: it holds Cipher_Key on line 6", "chmod 600 PATH"},
		{"readable by others, with a key", key, 0o604, "permissions 0604 for PATH are too open, expected 0600: it holds Cipher_Key on line 6", "chmod 600 PATH"},
		{"writable by the group", plain, 0o664, "permissions 0664 for PATH are too open, expected no write access for group and others (0644 or 0600)", "chmod go-w PATH"},
		{"writable by others", plain, 0o602, "permissions 0602 for PATH are too open, expected no write access for group and others (0644 or 0600)", "chmod go-w PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeProfiles(t, tt.src, tt.perm)
			ps, err := LoadProfiles(path)
			if tt.want == "" {
				if err != nil || len(ps) == 0 {
					t.Fatalf("LoadProfiles = %d profiles, %v; want them, no error", len(ps), err)
				}
				return
			}
			var pe *ProfilePermError
			if !errors.As(err, &pe) {
				t.Fatalf("LoadProfiles error %v (%T), want a *ProfilePermError", err, err)
			}
			if want := strings.ReplaceAll(tt.want, "PATH", path); err.Error() != want {
				t.Errorf("error (-want +got):\n-%s\n+%s", want, err)
			}
			if want := strings.ReplaceAll(tt.fix, "PATH", path); pe.Fix() != want {
				t.Errorf("Fix() = %q, want %q", pe.Fix(), want)
			}
		})
	}
}

func TestLoadProfilesErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := LoadProfiles(filepath.Join(dir, "none.conf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v, want fs.ErrNotExist", err)
	}
	if _, err := LoadProfiles(dir); err == nil || err.Error() != dir+" is not a regular file, expected a profiles file" {
		t.Errorf("directory: error %v", err)
	}
	path := writeProfiles(t, "[a]\nHost = h\n", 0o600)
	_, err := LoadProfiles(path)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Pos != (Pos{path, 1}) {
		t.Errorf("bad profile: error %v, want one Error at %s:1", err, path)
	}
	big := writeProfiles(t, "# "+strings.Repeat("x", maxProfilesFile)+"\n", 0o600)
	if _, err := LoadProfiles(big); err == nil || !strings.Contains(err.Error(), "is larger than 1024 KiB") {
		t.Errorf("huge file: error %v", err)
	}
}

func TestExpandHome(t *testing.T) {
	t.Parallel()
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skipf("no home directory: %v", err)
	}
	for _, tt := range []struct{ in, want string }{
		{"~/x/y", filepath.Join(home, "x", "y")},
		{"~", home},
		{"~/", home},
		{"/etc/x", "/etc/x"},
		{"x/~/y", "x/~/y"},
		{"~alice/x", "~alice/x"},
		{"", ""},
	} {
		got, err := ExpandHome(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ExpandHome(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
