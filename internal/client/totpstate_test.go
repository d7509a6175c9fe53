package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/totp"
)

// stepStart is the first second of step 58333333 (30 s steps).
var stepStart = time.Unix(58333333*30, 0)

const cur = 58333333

// stateful is a TOTP with its state in dir, its warnings in stderr and
// its waits recorded, as one run of the sesame command makes it.
type stateful struct {
	*TOTP
	stderr bytes.Buffer
	waits  []time.Duration
}

func newStateful(t *testing.T, secret []byte, dir string) *stateful {
	s := &stateful{TOTP: defaultTOTP(secret)}
	s.StateDir, s.Stderr = dir, &s.stderr
	s.wait = func(_ context.Context, d time.Duration) error {
		s.waits = append(s.waits, d)
		return nil
	}
	return s
}

// knock is one run: Next for each of hosts hosts at now, then Sent. It
// returns the step knocked.
func (s *stateful) knock(t *testing.T, now time.Time, hosts int) uint64 {
	t.Helper()
	var step uint64
	for i := range hosts {
		ks, note, err := s.Next(t.Context(), now)
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		if _, err := fmt.Sscanf(note, "TOTP sequence of step %d:", &n); err != nil {
			t.Fatalf("note %q: %v", note, err)
		}
		want := totp.Ports(s.Secret, n, s.Lo, s.Hi, s.Length)
		for j, k := range ks {
			if k != (Knock{Proto: packet.TCP, Port: want[j]}) {
				t.Fatalf("step %d: knocks %v, want ports %v", n, ks, want)
			}
		}
		if i > 0 && n != step {
			t.Errorf("host %d knocked step %d, host 1 step %d: want the same", i+1, n, step)
		}
		step = n
	}
	if note, err := s.Sent(); note != "" || err != nil {
		t.Errorf("Sent = %q, %v; want nothing", note, err)
	}
	return step
}

func TestTOTPFreshSteps(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t)
	dir := t.TempDir()
	now := stepStart.Add(17 * time.Second) // 13 s before step cur+1

	// The first knock of the step: the current step.
	r1 := newStateful(t, secret, dir)
	if n := r1.knock(t, now, 1); n != cur {
		t.Errorf("first knock: step %d, want %d", n, cur)
	}
	// The second, to two hosts: the next step, at once.
	r2 := newStateful(t, secret, dir)
	if n := r2.knock(t, now.Add(time.Second), 2); n != cur+1 || len(r2.waits) != 0 {
		t.Errorf("second knock: step %d after waits %v, want %d at once", n, r2.waits, cur+1)
	}
	// The third: waits until cur+2 is the next step, then knocks it.
	r3 := newStateful(t, secret, dir)
	if n := r3.knock(t, now.Add(2*time.Second), 1); n != cur+2 {
		t.Errorf("third knock: step %d, want %d", n, cur+2)
	}
	if want := []time.Duration{11 * time.Second}; fmt.Sprint(r3.waits) != fmt.Sprint(want) {
		t.Errorf("third knock: waits %v, want %v", r3.waits, want)
	}
	if got, want := r3.stderr.String(), "sesame: waiting 11s for a fresh TOTP step\n"; got != want {
		t.Errorf("third knock: stderr %q, want %q", got, want)
	}
	// In step cur+1, whose next step was used: the same. A fraction of a
	// second is said as a whole one.
	r4 := newStateful(t, secret, dir)
	if n := r4.knock(t, stepStart.Add(60*time.Second-300*time.Millisecond), 1); n != cur+3 || fmt.Sprint(r4.waits) != "[300ms]" ||
		r4.stderr.String() != "sesame: waiting 1s for a fresh TOTP step\n" {
		t.Errorf("fourth knock: step %d, waits %v, stderr %q; want %d after 300ms", n, r4.waits, r4.stderr.String(), cur+3)
	}
	// Much later: the current step again, at once.
	r5 := newStateful(t, secret, dir)
	if n := r5.knock(t, stepStart.Add(10*time.Minute), 1); n != cur+20 || len(r5.waits) != 0 {
		t.Errorf("later knock: step %d after waits %v, want %d at once", n, r5.waits, cur+20)
	}
	for i, r := range []*stateful{r1, r2, r5} {
		if r.stderr.Len() != 0 {
			t.Errorf("run %d: stderr %q, want nothing", i+1, r.stderr.String())
		}
	}
}

// TestTOTPStateFile: one line per secret and settings, never the secret,
// mode 0600; the entries of other secrets stay.
func TestTOTPStateFile(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t)
	dir := filepath.Join(t.TempDir(), "new", "sesame")
	now := stepStart.Add(time.Second)
	newStateful(t, secret, dir).knock(t, now, 1)
	other := newStateful(t, secret, dir)
	other.Length = 5 // other settings: another entry
	if n := other.knock(t, now, 1); n != cur {
		t.Errorf("other settings: step %d, want %d", n, cur)
	}
	newStateful(t, secret, dir).knock(t, now, 1)

	path := filepath.Join(dir, StateFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := func(s *TOTP) string {
		b := append(bytes.Clone(s.Secret), byte(s.Lo>>8), byte(s.Lo), byte(s.Hi>>8), byte(s.Hi), byte(s.Length), 0, 0, 0, 0, 0, 0, 0, byte(s.Step/time.Second))
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}
	want := stateHeader + fmt.Sprintf("%s %d\n%s %d\n", key(defaultTOTP(secret)), cur+1, key(other.TOTP), cur)
	if string(data) != want {
		t.Errorf("state file (-want +got):\n-%s\n+%s", want, data)
	}
	for _, s := range []string{testSecret, strings.ToLower(testSecret), string(secret), hex.EncodeToString(secret)} {
		if strings.Contains(string(data), s) {
			t.Errorf("state file %q holds the secret as %q", data, s)
		}
	}
	if runtime.GOOS != "windows" {
		for p, mode := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != mode {
				t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode().Perm(), err, mode)
			}
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("state directory holds %v, want the state file alone", es)
	}
}

// TestTOTPStateUnreadable: a state file that cannot be read or written
// is a warning, once, and the current step.
func TestTOTPStateUnreadable(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t)
	now := stepStart.Add(time.Second)

	t.Run("a directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, StateFile), 0o700); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			r := newStateful(t, secret, dir)
			if n := r.knock(t, now, 2); n != cur {
				t.Errorf("step %d, want %d", n, cur)
			}
			got := r.stderr.String()
			if !strings.HasPrefix(got, "sesame: warning: cannot read the TOTP state: ") || strings.Count(got, "\n") != 1 ||
				!strings.HasSuffix(got, "; knocking with the current step\n") {
				t.Errorf("stderr %q, want one warning", got)
			}
		}
	})

	t.Run("malformed, then rewritten", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, StateFile)
		if err := os.WriteFile(path, []byte("# a comment\n\nabc 12\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := newStateful(t, secret, dir)
		if n := r.knock(t, now, 1); n != cur {
			t.Errorf("step %d, want %d", n, cur)
		}
		if want := "sesame: warning: cannot read the TOTP state: " + path + ":3: malformed line, expected a SHA-256 in hex and a step number; knocking with the current step\n"; r.stderr.String() != want {
			t.Errorf("stderr (-want +got):\n-%s\n+%s", want, r.stderr.String())
		}
		r = newStateful(t, secret, dir)
		if n := r.knock(t, now, 1); n != cur+1 || r.stderr.Len() != 0 {
			t.Errorf("after the rewrite: step %d, stderr %q; want %d, nothing", n, r.stderr.String(), cur+1)
		}
	})

	t.Run("not writable", func(t *testing.T) {
		t.Parallel()
		// The state directory is a file: nothing to read, nothing written.
		dir := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		r := newStateful(t, secret, dir)
		n := r.knock(t, now, 1)
		got := r.stderr.String()
		if n != cur || !strings.HasPrefix(got, "sesame: warning: ") || strings.Count(got, "\n") != 1 {
			t.Errorf("step %d, stderr %q; want %d, one warning", n, got, cur)
		}
	})
}

// TestTOTPStateAhead: a step ahead of the clock by more than one (the
// clock went back) is not waited for.
func TestTOTPStateAhead(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t)
	dir := t.TempDir()
	newStateful(t, secret, dir).knock(t, stepStart.Add(time.Hour), 1)
	r := newStateful(t, secret, dir)
	if n := r.knock(t, stepStart, 1); n != cur || len(r.waits) != 0 {
		t.Errorf("step %d after waits %v, want %d at once", n, r.waits, cur)
	}
	if want := fmt.Sprintf("sesame: warning: TOTP step %d was used but the clock is in step %d (did it go back?); knocking with the current step\n", cur+120, cur); r.stderr.String() != want {
		t.Errorf("stderr (-want +got):\n-%s\n+%s", want, r.stderr.String())
	}
	// The step knocked is the one remembered.
	if n := newStateful(t, secret, dir).knock(t, stepStart, 1); n != cur+1 {
		t.Errorf("next knock: step %d, want %d", n, cur+1)
	}
}

// TestTOTPWaitInterrupted: the wait ends with ctx, and nothing is
// recorded.
func TestTOTPWaitInterrupted(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t)
	dir := t.TempDir()
	now := stepStart.Add(time.Second)
	newStateful(t, secret, dir).knock(t, now, 1)
	newStateful(t, secret, dir).knock(t, now, 1)
	r := newStateful(t, secret, dir)
	r.wait = nil // the real sleep, of 29 s, but ctx is done
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := r.Next(ctx, now); !errors.Is(err, context.Canceled) {
		t.Errorf("Next error %v, want context.Canceled", err)
	}
	r.Sent()
	if step, ok, err := readStep(dir, r.stateKey()); step != cur+1 || !ok || err != nil {
		t.Errorf("state: %d, %v, %v; want %d", step, ok, err, cur+1)
	}
}

// TestRunTOTPState: Run passes its clock and ctx to the TOTP source and
// records the step once the knocks went out.
func TestRunTOTPState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := stepStart.Add(5 * time.Second)
	for i, want := range []uint64{cur, cur + 1} {
		src := defaultTOTP(mustSecret(t))
		src.Proto, src.StateDir = packet.UDP, dir
		var verbose bytes.Buffer
		o := Options{Hosts: []string{"127.0.0.1"}, Sequence: src, Verbose: &verbose, now: func() time.Time { return now }}
		if err := Run(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		if prefix := fmt.Sprintf("TOTP sequence of step %d: ", want); !strings.HasPrefix(verbose.String(), prefix) {
			t.Errorf("run %d: verbose %q, want it to start with %q", i+1, verbose.String(), prefix)
		}
	}
}

func TestDefaultStateDir(t *testing.T) {
	// Not parallel: the environment.
	t.Setenv(StateDirEnv, "/somewhere/else")
	if d, err := DefaultStateDir(); d != "/somewhere/else" || err != nil {
		t.Errorf("with $%s: %q, %v", StateDirEnv, d, err)
	}
	t.Setenv(StateDirEnv, "")
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skip(err)
	}
	if d, err := DefaultStateDir(); d != filepath.Join(cache, "sesame") || err != nil {
		t.Errorf("default: %q, %v; want %s", d, err, filepath.Join(cache, "sesame"))
	}
}
