package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/seq"
	"github.com/sesame-knock/sesame/internal/totp"
)

const testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func mustSecret(t *testing.T) []byte {
	t.Helper()
	s, err := totp.DecodeSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func defaultTOTP(secret []byte) *TOTP {
	return &TOTP{Secret: secret, Proto: packet.TCP, Lo: totp.DefaultLo, Hi: totp.DefaultHi, Length: totp.DefaultLength, Step: totp.DefaultStep}
}

func TestTOTPNext(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t)
	now := time.Unix(1_750_000_000, 0) // step 58333333
	src := defaultTOTP(secret)
	src.Proto = packet.UDP
	ks, note, err := src.Next(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	want := totp.Ports(secret, 58333333, totp.DefaultLo, totp.DefaultHi, totp.DefaultLength)
	if len(ks) != len(want) {
		t.Fatalf("knocks %v, want ports %v", ks, want)
	}
	for i, k := range ks {
		if k != udp(want[i]) {
			t.Errorf("knock %d = %v, want %d:udp", i, k, want[i])
		}
	}
	if wantNote := "TOTP sequence of step 58333333: " + FormatKnocks(ks); note != wantNote {
		t.Errorf("note %q, want %q", note, wantNote)
	}
	// The last second of a step and the first of the next differ.
	a, _, _ := src.Next(t.Context(), time.Unix(58333334*30-1, 0))
	b, _, _ := src.Next(t.Context(), time.Unix(58333334*30, 0))
	if FormatKnocks(a) != FormatKnocks(ks) || FormatKnocks(b) == FormatKnocks(ks) {
		t.Errorf("steps: %v, %v, %v; want the first two equal, the third different", ks, a, b)
	}
	if note, err := src.Sent(); note != "" || err != nil {
		t.Errorf("Sent = %q, %v; want nothing", note, err)
	}
}

func TestTOTPNextErrors(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t)
	tests := []struct {
		name string
		edit func(*TOTP)
		want string
	}{
		{"short secret", func(s *TOTP) { s.Secret = secret[:15] }, "TOTP secret is 15 bytes, expected at least 16"},
		{"narrow range", func(s *TOTP) { s.Lo, s.Hi = 100, 106 }, "invalid TOTP parameters: port range 100-106 has 7 ports, expected at least 8 (twice the length 4)"},
		{"step", func(s *TOTP) { s.Step = 1500 * time.Millisecond }, "invalid TOTP parameters: time step 1.5s is invalid, expected whole seconds from 1s to 24h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := defaultTOTP(secret)
			tt.edit(src)
			if _, _, err := src.Next(t.Context(), time.Now()); err == nil || err.Error() != tt.want {
				t.Errorf("error (-want +got):\n-%s\n+%v", tt.want, err)
			}
		})
	}
}

func TestCipherNext(t *testing.T) {
	t.Parallel()
	key := cipherknock.NewKey()
	now := time.Unix(1_750_000_000, 0)
	src := &Cipher{Key: key, Event: "work", Proto: packet.UDP, Base: 62000}
	ks, note, err := src.Next(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	ports := make([]uint16, len(ks))
	for i, k := range ks {
		if k.Proto != packet.UDP {
			t.Errorf("knock %d is %v, want udp", i, k)
		}
		ports[i] = k.Port
	}
	b, ok := cipherknock.BlockFromPorts(ports, 62000)
	if !ok {
		t.Fatalf("knocks %v are not 16 ports of the window 62000-62255", ks)
	}
	p, err := cipherknock.NewCipher(key).Verify(b, cipherknock.EventID("work"), now, 0)
	if err != nil {
		t.Fatalf("block %s does not verify for event work at %v: %v", b, now, err)
	}
	if p.Unix != uint32(now.Unix()) {
		t.Errorf("timestamp %d, want %d", p.Unix, now.Unix())
	}
	if want := fmt.Sprintf("cipher knock for event \"work\" in ports 62000-62255:udp: block %s", b); note != want {
		t.Errorf("note %q, want %q", note, want)
	}
	// Every Next seals a new block.
	ks2, _, _ := src.Next(t.Context(), now)
	if FormatKnocks(ks2) == FormatKnocks(ks) {
		t.Errorf("two blocks alike: %v", ks)
	}
	// The nonce comes from Rand.
	src.Rand = bytes.NewReader(nil)
	if _, _, err := src.Next(t.Context(), now); err == nil || !strings.Contains(err.Error(), "failed to read nonce") {
		t.Errorf("empty Rand: error %v, want a nonce failure", err)
	}
}

func TestCipherNextErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		src  Cipher
		want string
	}{
		{Cipher{Base: 61000}, "cipher knock without an event name"},
		{Cipher{Event: "e", Base: 65281}, "cipher knock window base 65281 is too high, expected at most 65280 (the window is 256 ports)"},
		{Cipher{Event: "e"}, "cipher knock window base 0 is not a port, expected 1 to 65280"},
	} {
		if _, _, err := tt.src.Next(t.Context(), time.Now()); err == nil || err.Error() != tt.want {
			t.Errorf("%+v: error (-want +got):\n-%s\n+%v", tt.src, tt.want, err)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "work.otp")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOneTime(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "# used\n#1,2\n bad\n 3,4:udp\n 5\n")
	o, err := OpenOneTime(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for range 2 { // the same sequence for every host
		ks, note, err := o.Next(t.Context(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatKnocks(ks); got != "3:tcp,4:udp" {
			t.Errorf("knocks %s, want 3:tcp,4:udp", got)
		}
		if want := "one-time sequence " + path + ":4: 3:tcp,4:udp"; note != want {
			t.Errorf("note %q, want %q", note, want)
		}
	}
	note, err := o.Sent()
	if err != nil {
		t.Fatal(err)
	}
	if want := "marked " + path + ":4 used, 1 unused left"; note != want {
		t.Errorf("note %q, want %q", note, want)
	}
	if got, want := readFile(t, path), "# used\n#1,2\n bad\n#3,4:udp\n 5\n"; got != want {
		t.Errorf("file after use (-want +got):\n-%q\n+%q", want, got)
	}
	if _, _, err := o.Next(t.Context(), time.Now()); err == nil {
		t.Error("Next after Sent: no error, want the used sequence refused")
	}
	// The last one.
	o2, err := OpenOneTime(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	if ks, _ := o2.Knocks(); FormatKnocks(ks) != "5:tcp" {
		t.Errorf("second open: %v, want 5:tcp", ks)
	}
	if note, err := o2.Sent(); err != nil || note != "marked "+path+":5 used, none left: add sequences to "+path+" (and to the server's) before the next knock" {
		t.Errorf("Sent = %q, %v", note, err)
	}
	if _, err := OpenOneTime(path); !errors.Is(err, seq.ErrExhausted) {
		t.Errorf("exhausted file: error %v, want ErrExhausted", err)
	}
	if _, err := OpenOneTime(filepath.Join(t.TempDir(), "none")); err == nil || !strings.HasPrefix(err.Error(), "failed to open one-time sequences: ") {
		t.Errorf("missing file: error %v", err)
	}
}

// fakeSequence records what Run asks of a Sequence.
type fakeSequence struct {
	knocks  [][]Knock // what each Next returns, in turn
	failAt  int       // Next number (1-based) that fails, 0 for none
	sentErr error
	nows    []time.Time
	sent    int
}

func (f *fakeSequence) Next(_ context.Context, now time.Time) ([]Knock, string, error) {
	f.nows = append(f.nows, now)
	n := len(f.nows)
	if n == f.failAt {
		return nil, "", errors.New("no sequence for you")
	}
	return f.knocks[n-1], fmt.Sprintf("sequence %d", n), nil
}

func (f *fakeSequence) Sent() (string, error) {
	f.sent++
	return "sent", f.sentErr
}

func TestRunSequence(t *testing.T) {
	t.Parallel()
	a, b := listenUDP(t, "127.0.0.1"), listenUDP(t, "::1")
	pa := a.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	pb := b.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	clock := time.Unix(1_750_000_000, 0)
	tests := []struct {
		name     string
		seq      fakeSequence
		wantErr  string
		wantSent int
		verbose  string
	}{
		{
			name:     "each host its own knocks, then Sent",
			seq:      fakeSequence{knocks: [][]Knock{{udp(pa)}, {udp(pb), udp(pb)}}},
			wantSent: 1,
			verbose:  fmt.Sprintf("sequence 1\nhitting udp 127.0.0.1:%d\nsequence 2\nhitting udp ::1:%d\nhitting udp ::1:%d\nsent\n", pa, pb, pb),
		},
		{
			name:     "the second host fails: Sent all the same",
			seq:      fakeSequence{knocks: [][]Knock{{udp(pa)}, nil}, failAt: 2},
			wantErr:  "no sequence for you",
			wantSent: 1,
			verbose:  fmt.Sprintf("sequence 1\nhitting udp 127.0.0.1:%d\nsent\n", pa),
		},
		{
			name:    "the first host fails: not Sent",
			seq:     fakeSequence{failAt: 1},
			wantErr: "no sequence for you",
		},
		{
			name:     "Sent fails",
			seq:      fakeSequence{knocks: [][]Knock{{udp(pa)}, {udp(pb)}}, sentErr: errors.New("cannot mark")},
			wantErr:  "cannot mark",
			wantSent: 1,
			verbose:  fmt.Sprintf("sequence 1\nhitting udp 127.0.0.1:%d\nsequence 2\nhitting udp ::1:%d\n", pa, pb),
		},
		{
			name:    "no knocks",
			seq:     fakeSequence{knocks: [][]Knock{{}}},
			wantErr: "the sequence source gave no knocks",
		},
		{
			name:    "an invalid knock",
			seq:     fakeSequence{knocks: [][]Knock{{udp(0)}}},
			wantErr: "invalid knock 0:udp: port 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var verbose bytes.Buffer
			o := Options{Hosts: []string{"127.0.0.1", "::1"}, Sequence: &tt.seq, Verbose: &verbose,
				now: func() time.Time { return clock }}
			err := Run(context.Background(), o)
			if (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
				t.Errorf("Run error %v, want %q", err, tt.wantErr)
			}
			if tt.seq.sent != tt.wantSent {
				t.Errorf("Sent called %d times, want %d", tt.seq.sent, tt.wantSent)
			}
			for _, now := range tt.seq.nows {
				if !now.Equal(clock) {
					t.Errorf("Next(%v), want the clock's %v", now, clock)
				}
			}
			if verbose.String() != tt.verbose {
				t.Errorf("verbose (-want +got):\n-%q\n+%q", tt.verbose, verbose.String())
			}
		})
	}
}

func TestRunSequenceAndKnocks(t *testing.T) {
	t.Parallel()
	o := Options{Hosts: []string{"127.0.0.1"}, Knocks: []Knock{tcp(7)}, Sequence: &fakeSequence{}}
	if err := Run(context.Background(), o); err == nil || err.Error() != "both knocks and a sequence source given, expected one" {
		t.Errorf("Run error %v", err)
	}
}
