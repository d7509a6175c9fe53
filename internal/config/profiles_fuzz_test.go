package config

import (
	"strings"
	"testing"
)

// FuzzParseProfiles: the parser never panics, every error names
// fuzz.conf and a line of the input, and whatever it accepts is a usable
// profile: a name, hosts, exactly one sequence source.
func FuzzParseProfiles(f *testing.F) {
	for _, s := range []string{
		"[work]\nHost = server.example.com, 198.51.100.7 # c, d\nTOTP_Secret = " + testSecret + "\nTOTP_Ports = 40000-49999:udp\nTOTP_Length = 4\nTOTP_Step = 30\nDelay = 100\nFamily = 4\nSource = 192.0.2.10\n",
		"[s]\nhost=h\nsequence=7000,8000:udp\n[o]\nHOST = ::1\nOne_Time_Sequences = ~/o\n",
		"[vpn]\nHost = [2001:db8::1]\nCipher_Key = " + testKey + "\nCipher_Event = e\nCipher_Ports = 62000:udp\n",
		"[k]\nHost = h\nCipher_Key_File = /k\n[k]\n[]\nx\nDelay\n= 1\n[a] # c\r\n",
		"Host = h\n[x\n[a]\nTOTP_Secret_File = f\nSeq_Timeout = 1\nTOTP_Lenght = 2\nSequence = 1\nSequence = 2\n",
	} {
		f.Add([]byte(s))
	}
	for _, s := range profileFuzzRegressions {
		f.Add([]byte(s.in))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkProfiles(t, src)
	})
}

// profileFuzzRegressions are inputs the fuzzer once found; they run as
// plain test cases too.
var profileFuzzRegressions = []struct{ name, in string }{
	{"header only", "["},
	{"comment after an empty header", "[]#"},
}

func TestProfileFuzzRegressions(t *testing.T) {
	t.Parallel()
	for _, tt := range profileFuzzRegressions {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkProfiles(t, []byte(tt.in))
		})
	}
}

func checkProfiles(t *testing.T, src []byte) {
	t.Helper()
	lines := strings.Count(string(src), "\n") + 1
	ps, err := ParseProfiles("fuzz.conf", src)
	if err != nil {
		es, ok := err.(Errors)
		if !ok {
			t.Fatalf("error is %T, want Errors", err)
		}
		if len(es) == 0 || ps != nil {
			t.Fatalf("error %v with %d errors and %d profiles", err, len(es), len(ps))
		}
		for _, e := range es {
			if e.Pos.File != "fuzz.conf" || e.Pos.Line < 1 || e.Pos.Line > lines {
				t.Errorf("error %q is not at fuzz.conf:1-%d", e.Error(), lines)
			}
			if e.Msg == "" {
				t.Errorf("error at %v has no message", e.Pos)
			}
		}
		return
	}
	names := map[string]bool{}
	for _, p := range ps {
		if p.Name == "" || names[p.Name] {
			t.Errorf("profile name %q empty or repeated", p.Name)
		}
		names[p.Name] = true
		if len(p.Hosts) == 0 {
			t.Errorf("profile [%s] has no hosts", p.Name)
		}
		for _, h := range p.Hosts {
			if h == "" || strings.ContainsAny(h, " \t,#") {
				t.Errorf("profile [%s] has host %q", p.Name, h)
			}
		}
		n := 0
		if len(p.Sequence) > 0 {
			n++
		}
		if p.OneTimeFile != "" {
			n++
		}
		if p.TOTP != nil {
			n++
			if err := checkTOTPForFuzz(p.TOTP); err != "" {
				t.Errorf("profile [%s]: %s", p.Name, err)
			}
		}
		if p.Cipher != nil {
			n++
			if (p.Cipher.KeyFile == "") == (p.Cipher.Key == nil) || p.Cipher.Event == "" {
				t.Errorf("profile [%s]: cipher %+v", p.Name, p.Cipher)
			}
		}
		if n != 1 {
			t.Errorf("profile [%s] has %d sequence sources, want 1", p.Name, n)
		}
		if p.Family != 0 && p.Family != 4 && p.Family != 6 {
			t.Errorf("profile [%s] has family %d", p.Name, p.Family)
		}
		if p.Delay < 0 {
			t.Errorf("profile [%s] has delay %v", p.Name, p.Delay)
		}
	}
}

func checkTOTPForFuzz(t *ProfileTOTP) string {
	if len(t.Secret) < 16 || t.Length < 1 || t.Lo == 0 || t.Lo > t.Hi || int(t.Hi)-int(t.Lo)+1 < 2*t.Length || t.Step <= 0 {
		return "invalid TOTP parameters accepted"
	}
	return ""
}
