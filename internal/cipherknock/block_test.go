package cipherknock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is the key of the test vectors: bytes 0x00 to 0x1f.
var testKey = func() Key {
	var k Key
	for i := range k {
		k[i] = byte(i)
	}
	return k
}()

// t0 is the time of the test vectors, 2026-01-01T00:00:00Z.
var t0 = time.Unix(1767225600, 0)

// seededRand returns a deterministic random source.
func seededRand(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

func TestEventID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want uint32
	}{
		{"ssh", 0x12a1cc27},
		{"web", 0xd1eeb6a6},
	}
	for _, tt := range tests {
		if got := EventID(tt.name); got != tt.want {
			t.Errorf("EventID(%q) = %08x, want %08x", tt.name, got, tt.want)
		}
	}
	if EventID("ssh") == EventID("SSH") {
		t.Error("event ids are case-insensitive, want case-sensitive")
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event string
		t     time.Time
		unix  uint32
	}{
		{"now", "ssh", t0, 1767225600},
		{"epoch", "ssh", time.Unix(0, 0), 0},
		{"before the wrap", "web", time.Unix(1<<32-1, 999999999), 1<<32 - 1},
		{"after the wrap", "web", time.Unix(1<<32+5, 0), 5},
		{"empty event name", "", t0, 1767225600},
		{"long event name", strings.Repeat("x", 1000), t0, 1767225600},
	}
	c := NewCipher(testKey)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := c.Seal(tt.event, tt.t, seededRand(uint64(i)))
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.Open(b)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if p.EventID != EventID(tt.event) || p.Unix != tt.unix {
				t.Errorf("Open = %+v, want event id %08x, time %d", p, EventID(tt.event), tt.unix)
			}
			if _, err := c.Verify(b, EventID(tt.event), tt.t, DefaultMaxAge); err != nil {
				t.Errorf("Verify at the sealing time: %v", err)
			}
			if _, err := NewCipher(Key{1}).Open(b); !errors.Is(err, ErrForged) {
				t.Errorf("Open under another key: %v, want ErrForged", err)
			}
		})
	}
}

func TestSealNeverAdjacentEqual(t *testing.T) {
	t.Parallel()
	const n = 20000
	redraws := 0
	for i := range n {
		rnd := seededRand(uint64(i))
		var k Key
		io.ReadFull(rnd, k[:])
		c := NewCipher(k)
		cr := &countingReader{r: rnd}
		b, err := c.Seal("ssh", t0.Add(time.Duration(i)*time.Second), cr)
		if err != nil {
			t.Fatal(err)
		}
		if b.adjacentEqual() {
			t.Fatalf("seed %d: Seal = %v, with equal adjacent bytes", i, b)
		}
		redraws += cr.n/4 - 1
	}
	// 1 − (255/256)¹⁵ ≈ 5.7% of draws fail; the source is deterministic,
	// so this is a check of the loop, not a flaky statistic.
	if rate := float64(redraws) / float64(n+redraws); rate < 0.045 || rate > 0.07 {
		t.Errorf("redraw rate %.4f, want about 0.057", rate)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// repeatReader returns the same bytes for ever.
type repeatReader []byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r[i%len(r)]
	}
	return len(p), nil
}

func TestSealBrokenRand(t *testing.T) {
	t.Parallel()
	c := NewCipher(testKey)
	// Nonce 00000006 gives equal adjacent bytes (vector 7), every time.
	cr := &countingReader{r: repeatReader{0, 0, 0, 6}}
	_, err := c.Seal("ssh", t0, cr)
	const want = "failed to draw a nonce without equal adjacent ciphertext bytes in 1000 tries, is the random source broken?"
	if err == nil || err.Error() != want {
		t.Errorf("Seal = %v, want %q", err, want)
	}
	if cr.n != 4*MaxNonceDraws {
		t.Errorf("Seal read %d random bytes, want %d", cr.n, 4*MaxNonceDraws)
	}

	_, err = c.Seal("ssh", t0, bytes.NewReader([]byte{1, 2}))
	if err == nil || err.Error() != "failed to read nonce: unexpected EOF" {
		t.Errorf("Seal with 2 random bytes = %v", err)
	}
}

func TestSealDefaultRand(t *testing.T) {
	t.Parallel()
	c := NewCipher(testKey)
	b1, err1 := c.Seal("ssh", t0, nil)
	b2, err2 := c.Seal("ssh", t0, nil)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if b1 == b2 {
		t.Error("two seals in the same second are equal")
	}
}

// TestTamper changes each byte of a valid block to each other value: no
// such block may open (each would with probability 2⁻³²; there are 4080).
func TestTamper(t *testing.T) {
	t.Parallel()
	c := NewCipher(testKey)
	for seed := range 4 {
		orig, err := c.Seal("ssh", t0, seededRand(uint64(seed)))
		if err != nil {
			t.Fatal(err)
		}
		passes, adjacent := 0, 0
		for i := range BlockSize {
			for d := 1; d < 256; d++ {
				b := orig
				b[i] ^= byte(d)
				if b.adjacentEqual() {
					adjacent++
				}
				p, err := c.Open(b)
				if err == nil {
					passes++
					t.Errorf("block %v with byte %d changed to %02x opens: %+v", orig, i, b[i], p)
				}
				if _, err := c.Verify(b, EventID("ssh"), t0, DefaultMaxAge); err == nil {
					t.Errorf("block %v with byte %d changed to %02x verifies", orig, i, b[i])
				}
			}
		}
		if passes != 0 {
			t.Errorf("%d of %d altered blocks open, want 0", passes, BlockSize*255)
		}
		if adjacent == 0 || adjacent > 30 {
			t.Errorf("%d altered blocks have equal adjacent bytes, want 1 to 30 (at most 2 per byte)", adjacent)
		}
	}
}

func TestOpenRejectsAdjacentEqual(t *testing.T) {
	t.Parallel()
	c := NewCipher(testKey)
	for i := 1; i < BlockSize; i++ {
		b, err := c.Seal("ssh", t0, seededRand(uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = b[i-1]
		if _, err := c.Open(b); !errors.Is(err, ErrForged) {
			t.Errorf("bytes %d and %d equal: Open = %v, want ErrForged", i-1, i, err)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	c := NewCipher(testKey)
	b, err := c.Seal("ssh", t0, seededRand(1))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		b      Block
		event  string
		now    time.Time
		maxAge time.Duration
		want   error
	}{
		{"accept", b, "ssh", t0, DefaultMaxAge, nil},
		{"60 s old", b, "ssh", t0.Add(60*time.Second + 999*time.Millisecond), DefaultMaxAge, nil},
		{"61 s old", b, "ssh", t0.Add(61 * time.Second), DefaultMaxAge, ErrStale},
		{"60 s ahead", b, "ssh", t0.Add(-60 * time.Second), DefaultMaxAge, nil},
		{"61 s ahead", b, "ssh", t0.Add(-61 * time.Second), DefaultMaxAge, ErrStale},
		{"max age 0", b, "ssh", t0.Add(999 * time.Millisecond), 0, nil},
		{"negative max age", b, "ssh", t0, -time.Second, ErrStale},
		{"other event", b, "web", t0, DefaultMaxAge, ErrWrongEvent},
		{"forged", Block{1, 2, 3}, "ssh", t0, DefaultMaxAge, ErrForged},
	}
	for _, tt := range tests {
		p, err := c.Verify(tt.b, EventID(tt.event), tt.now, tt.maxAge)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
		if tt.want != ErrForged && p.Unix != uint32(t0.Unix()) {
			t.Errorf("%s: Verify returned %+v, want the opened block", tt.name, p)
		}
	}
}

func TestFresh(t *testing.T) {
	t.Parallel()
	const wrap = 1 << 32
	tests := []struct {
		name    string
		ts      uint32
		now     time.Time
		maxAge  time.Duration
		want    bool
		wantAge time.Duration
	}{
		{"same second", 1000, time.Unix(1000, 0), time.Minute, true, 0},
		{"fraction", 1000, time.Unix(1060, 999999999), time.Minute, true, time.Minute},
		{"too old", 1000, time.Unix(1061, 0), time.Minute, false, 61 * time.Second},
		{"future", 1000, time.Unix(940, 0), time.Minute, true, -time.Minute},
		{"too far in the future", 1000, time.Unix(939, 0), time.Minute, false, -61 * time.Second},
		{"sub-second max age rounds down", 1000, time.Unix(1060, 0), 60*time.Second + 999*time.Millisecond, true, time.Minute},
		{"sub-second max age rounds down 2", 1000, time.Unix(1061, 0), 60*time.Second + 999*time.Millisecond, false, 61 * time.Second},
		{"sealed before the wrap", wrap - 10, time.Unix(wrap+20, 0), time.Minute, true, 30 * time.Second},
		{"sealed after the wrap", 20, time.Unix(wrap-10, 0), time.Minute, true, -30 * time.Second},
		{"136 years old", 1000, time.Unix(wrap+1000, 0), time.Minute, true, 0},
		{"half the era", 0, time.Unix(1<<31, 0), time.Minute, false, -(1 << 31) * time.Second},
		{"huge max age", 0, time.Unix(1<<31, 0), 1 << 62, true, -(1 << 31) * time.Second},
		{"before 1970", 1<<32 - 5, time.Unix(-1, 0), time.Minute, true, 4 * time.Second},
	}
	for _, tt := range tests {
		p := Plain{Unix: tt.ts}
		if got := p.Fresh(tt.now, tt.maxAge); got != tt.want {
			t.Errorf("%s: Fresh = %v, want %v", tt.name, got, tt.want)
		}
		if got := p.Age(tt.now); got != tt.wantAge {
			t.Errorf("%s: Age = %v, want %v", tt.name, got, tt.wantAge)
		}
		if got := p.Time(tt.now); uint32(got.Unix()) != tt.ts || got.Sub(tt.now.Truncate(time.Second)) != -tt.wantAge {
			t.Errorf("%s: Time = %v", tt.name, got)
		}
	}
}

func TestExpires(t *testing.T) {
	t.Parallel()
	for _, maxAge := range []time.Duration{0, time.Second, DefaultMaxAge, DefaultMaxAge + 500*time.Millisecond} {
		for _, ts := range []int64{1767225600, 1<<32 - 30} {
			p := Plain{Unix: uint32(ts)}
			now := time.Unix(ts, 0)
			exp := p.Expires(now, maxAge)
			if want := time.Unix(ts+int64(maxAge/time.Second)+1, 0); !exp.Equal(want) {
				t.Errorf("ts %d max age %v: Expires = %v, want %v", ts, maxAge, exp, want)
			}
			if !p.Fresh(exp.Add(-time.Nanosecond), maxAge) {
				t.Errorf("ts %d max age %v: not fresh just before Expires", ts, maxAge)
			}
			if p.Fresh(exp, maxAge) || p.Fresh(exp.Add(time.Hour), maxAge) {
				t.Errorf("ts %d max age %v: fresh after Expires", ts, maxAge)
			}
			// Seen from any instant in the block's life, the same expiry.
			if got := p.Expires(exp.Add(-time.Nanosecond), maxAge); !got.Equal(exp) {
				t.Errorf("ts %d max age %v: Expires seen later = %v, want %v", ts, maxAge, got, exp)
			}
		}
	}
}

func TestOpenDoesNotAllocate(t *testing.T) {
	c := NewCipher(testKey)
	good, err := c.Seal("ssh", t0, seededRand(1))
	if err != nil {
		t.Fatal(err)
	}
	id := EventID("ssh")
	for name, b := range map[string]Block{"good": good, "forged": {1, 2, 3, 4}, "adjacent": {}} {
		var sink error
		if n := testing.AllocsPerRun(1000, func() { _, sink = c.Open(b) }); n != 0 {
			t.Errorf("%s: Open allocates %v times, want 0", name, n)
		}
		if n := testing.AllocsPerRun(1000, func() { _, sink = c.Verify(b, id, t0, DefaultMaxAge) }); n != 0 {
			t.Errorf("%s: Verify allocates %v times, want 0", name, n)
		}
		_ = sink
	}
}

func TestOpenConcurrent(t *testing.T) {
	t.Parallel()
	c := NewCipher(testKey)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				b, err := c.Seal("ssh", t0, seededRand(uint64(g*1000+i)))
				if err != nil {
					t.Error(err)
					return
				}
				if p, err := c.Open(b); err != nil || p.EventID != EventID("ssh") {
					t.Errorf("Open = %+v, %v", p, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestReplayKey(t *testing.T) {
	t.Parallel()
	b := Block{0x33, 0x79, 0x1d, 0x9b, 0xf4, 0xab, 0x98, 0x4a, 0xae, 0xd3, 0xce, 0x98, 0x38, 0x88, 0x58, 0xc5}
	const want = "33791d9bf4ab984aaed3ce98388858c5"
	if got := b.ReplayKey(); got != want {
		t.Errorf("ReplayKey = %q, want %q", got, want)
	}
	if got := fmt.Sprint(b); got != want {
		t.Errorf("Sprint(block) = %q, want %q", got, want)
	}
}

func TestKeyDoesNotPrint(t *testing.T) {
	t.Parallel()
	k := Key{0xde, 0xad, 0xbe, 0xef}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		if got := fmt.Sprintf(verb, k); got != "[redacted]" {
			t.Errorf("Sprintf(%q, key) = %q, want [redacted]", verb, got)
		}
	}
	var buf bytes.Buffer
	// Without the time: its nanoseconds may spell "222" too.
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	slog.New(slog.NewJSONHandler(&buf, noTime)).Info("x", "key", k)
	slog.New(slog.NewTextHandler(&buf, noTime)).Info("x", "key", k)
	if s := buf.String(); strings.Contains(s, "222") || strings.Contains(s, "deadbeef") || strings.Contains(s, "3q2+7w") || strings.Count(s, "[redacted]") != 2 {
		t.Errorf("the key reaches a log: %s", s)
	}
}
