package totp

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		lo, hi  uint16
		length  int
		step    time.Duration
		wantErr string // substring; "" means valid
	}{
		{"defaults", DefaultLo, DefaultHi, DefaultLength, DefaultStep, ""},
		{"whole range", 1, 65535, MaxLength, time.Second, ""},
		{"minimal span", 100, 101, 1, MaxStep, ""},
		{"span exactly twice length", 60000, 60063, 32, time.Minute, ""},
		{"length 0", 1, 100, 0, DefaultStep, "knock length 0 is out of range, expected 1 to 32"},
		{"length 33", 1, 100, 33, DefaultStep, "knock length 33 is out of range"},
		{"negative length", 1, 100, -1, DefaultStep, "knock length -1"},
		{"port 0", 0, 100, 4, DefaultStep, "includes port 0"},
		{"reversed", 200, 100, 4, DefaultStep, "port range 200-100 is reversed"},
		{"span too small", 100, 106, 4, DefaultStep, "port range 100-106 has 7 ports, expected at least 8 (twice the length 4)"},
		{"single port", 100, 100, 1, DefaultStep, "has 1 ports, expected at least 2"},
		{"zero step", 1, 100, 4, 0, "time step 0s is invalid, expected whole seconds from 1s to 24h0m0s"},
		{"sub-second step", 1, 100, 4, 1500 * time.Millisecond, "time step 1.5s is invalid"},
		{"negative step", 1, 100, 4, -time.Second, "time step -1s is invalid"},
		{"step too long", 1, 100, 4, MaxStep + time.Second, "is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckParams(tt.lo, tt.hi, tt.length, tt.step)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("CheckParams = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("CheckParams = %v, want an error containing %q", err, tt.wantErr)
			}
			if got, want := validPorts(tt.lo, tt.hi, tt.length), err == nil || strings.Contains(err.Error(), "time step"); got != want {
				t.Errorf("validPorts = %v, want %v", got, want)
			}
		})
	}
}

func TestStep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		t    time.Time
		step time.Duration
		want uint64
	}{
		{"epoch", time.Unix(0, 0), DefaultStep, 0},
		{"last second of step 0", time.Unix(29, 999999999), DefaultStep, 0},
		{"first second of step 1", time.Unix(30, 0), DefaultStep, 1},
		{"RFC 6238 2005", time.Unix(1111111109, 0), DefaultStep, 37037036},
		{"zone does not matter", time.Unix(1111111109, 0).In(time.FixedZone("x", 5*3600)), DefaultStep, 37037036},
		{"before 1970", time.Unix(-1, 0), DefaultStep, 0},
		{"one second steps", time.Unix(1234567890, 0), time.Second, 1234567890},
		{"invalid step truncated", time.Unix(100, 0), 2500 * time.Millisecond, 50},
		{"invalid zero step reads as 1s", time.Unix(100, 0), 0, 100},
		{"far future", time.Unix(math.MaxInt64/2, 0), time.Second, math.MaxInt64 / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Step(tt.t, tt.step); got != tt.want {
				t.Errorf("Step = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestStepStart(t *testing.T) {
	t.Parallel()
	for _, n := range []uint64{0, 1, 37037036, 666666666, 1 << 40} {
		for _, step := range []time.Duration{time.Second, DefaultStep, time.Hour} {
			start := StepStart(n, step)
			if got := Step(start, step); got != n {
				t.Errorf("Step(StepStart(%d, %v)) = %d", n, step, got)
			}
			if got := Step(start.Add(-time.Nanosecond), step); n > 0 && got != n-1 {
				t.Errorf("Step(StepStart(%d, %v) - 1ns) = %d, want %d", n, step, got, n-1)
			}
		}
	}
	if got, want := StepStart(1, DefaultStep), time.Unix(30, 0); !got.Equal(want) {
		t.Errorf("StepStart(1) = %v, want %v", got, want)
	}
	// Beyond time.Time's range StepStart saturates instead of wrapping.
	last := StepStart(math.MaxUint64, DefaultStep)
	if last.Before(StepStart(1<<40, DefaultStep)) {
		t.Errorf("StepStart(MaxUint64) = %v, want a saturated far future", last)
	}
}

// TestPortsMatchesReference compares the allocation-free derivation with
// the plain one on crypto/hmac over many secrets, steps and parameters,
// including keys longer than the HMAC block and the empty key.
func TestPortsMatchesReference(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		secret := make([]byte, []int{0, 1, 16, 20, 32, 63, 64, 65, 100}[i%9])
		for j := range secret {
			secret[j] = byte(r.Uint32())
		}
		length := 1 + r.IntN(MaxLength)
		var lo, hi uint16
		switch i % 3 {
		case 0: // tiny range: repeats
			lo = uint16(1 + r.IntN(60000))
			hi = lo + uint16(2*length-1+r.IntN(3))
		case 1: // span just above 32768: half the words rejected
			lo = uint16(1 + r.IntN(1000))
			hi = lo + 32768 + uint16(r.IntN(100))
		default:
			lo = uint16(1 + r.IntN(65535))
			hi = lo + uint16(r.IntN(65536-int(lo)))
			if int(hi)-int(lo)+1 < 2*length {
				lo, hi = 1, 65535
			}
		}
		n := r.Uint64() >> (r.IntN(64))
		want := refPorts(secret, n, lo, hi, length).ports
		got := Ports(secret, n, lo, hi, length)
		if !slices.Equal(got, want) {
			t.Fatalf("Ports(%x, %d, %d, %d, %d) = %v, reference %v", secret, n, lo, hi, length, got, want)
		}
		checkSequence(t, got, lo, hi, length)
	}
}

// checkSequence checks the properties every sequence has.
func checkSequence(t *testing.T, p []uint16, lo, hi uint16, length int) {
	t.Helper()
	if len(p) != length {
		t.Fatalf("sequence %v has %d ports, want %d", p, len(p), length)
	}
	for i, x := range p {
		if x < lo || x > hi {
			t.Fatalf("sequence %v: port %d outside %d-%d", p, x, lo, hi)
		}
		if slices.Contains(p[:i], x) {
			t.Fatalf("sequence %v repeats port %d", p, x)
		}
	}
}

func TestPortsInvalidParams(t *testing.T) {
	t.Parallel()
	secret := []byte("12345678901234567890")
	tests := []struct {
		name   string
		lo, hi uint16
		length int
	}{
		{"length 0", 1, 100, 0},
		{"length 33", 1, 65535, 33},
		{"port 0", 0, 100, 4},
		{"reversed", 100, 1, 4},
		{"span too small", 100, 106, 4},
		{"max range, length too long", 65535, 65535, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Ports(secret, 1, tt.lo, tt.hi, tt.length); got != nil {
				t.Errorf("Ports = %v, want nil", got)
			}
			dst := []uint16{7, 8}
			if got := AppendPorts(dst, secret, 1, tt.lo, tt.hi, tt.length); !slices.Equal(got, dst) {
				t.Errorf("AppendPorts = %v, want dst unchanged", got)
			}
		})
	}
}

// TestPortsBindsParams: the parameters are part of the HMAC message, so
// a longer sequence does not start with a shorter one and one range does
// not predict another.
func TestPortsBindsParams(t *testing.T) {
	t.Parallel()
	secret := []byte("12345678901234567890")
	a := Ports(secret, 7, 40000, 49999, 4)
	b := Ports(secret, 7, 40000, 49999, 5)
	c := Ports(secret, 7, 30000, 39999, 4)
	if slices.Equal(a, b[:4]) {
		t.Errorf("length 5 sequence %v starts with the length 4 one %v", b, a)
	}
	shadow := true
	for i := range a {
		shadow = shadow && a[i]-10000 == c[i]
	}
	if shadow {
		t.Errorf("range 30000-39999 %v shadows 40000-49999 %v", c, a)
	}
	if slices.Equal(a, Ports(secret, 8, 40000, 49999, 4)) {
		t.Errorf("steps 7 and 8 have the same sequence %v", a)
	}
}

func TestAppendPortsAllocs(t *testing.T) {
	secret := []byte("12345678901234567890")
	dst := make([]uint16, 0, MaxLength)
	allocs := testing.AllocsPerRun(100, func() {
		dst = AppendPorts(dst[:0], secret, 1234, 1, 65535, MaxLength)
	})
	if allocs != 0 {
		t.Errorf("AppendPorts: %v allocations per run, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		_ = Ports(secret, 1234, DefaultLo, DefaultHi, DefaultLength)
	})
	if allocs != 1 {
		t.Errorf("Ports: %v allocations per run, want 1 (the result)", allocs)
	}
}
