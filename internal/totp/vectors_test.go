package totp

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// specPath is the written derivation. Its test vectors are checked here so
// that the document and the code cannot drift apart.
const specPath = "../../docs/totp.md"

type vector struct {
	line                     int
	secret                   string
	step                     uint64
	lo, hi                   uint16
	length                   int
	ports                    []uint16
	blocks, rejected, repeat int
}

type stepRow struct {
	line   int
	unix   int64
	period time.Duration
	step   uint64
}

// tableRows returns the cells of the rows of the markdown table whose
// header row starts with header, with their line numbers.
func tableRows(t *testing.T, doc []byte, header string) (rows [][]string, lines []int) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(nil, 1<<20)
	in := false
	for num := 1; sc.Scan(); num++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case !in && strings.HasPrefix(strings.Join(strings.Fields(l), " "), header):
			in = true
		case in && !strings.HasPrefix(l, "|"):
			return rows, lines
		case in && strings.HasPrefix(l, "|-"):
		case in:
			cells := strings.Split(strings.Trim(l, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			rows = append(rows, cells)
			lines = append(lines, num)
		}
	}
	if !in {
		t.Fatalf("%s: no table with header %q", specPath, header)
	}
	return rows, lines
}

func parseVectors(t *testing.T, doc []byte) []vector {
	t.Helper()
	rows, lines := tableRows(t, doc, "| # | secret (base32) |")
	var vs []vector
	for i, c := range rows {
		if len(c) != 10 {
			t.Fatalf("%s:%d: vector has %d columns, expected 10", specPath, lines[i], len(c))
		}
		v := vector{line: lines[i], secret: c[1]}
		var err error
		num := func(s string, bits int) uint64 {
			n, e := strconv.ParseUint(s, 10, bits)
			if e != nil && err == nil {
				err = e
			}
			return n
		}
		v.step = num(c[2], 64)
		v.lo = uint16(num(c[3], 16))
		v.hi = uint16(num(c[4], 16))
		v.length = int(num(c[5], 8))
		for _, p := range strings.Split(c[6], ",") {
			v.ports = append(v.ports, uint16(num(strings.TrimSpace(p), 16)))
		}
		v.blocks = int(num(c[7], 16))
		v.rejected = int(num(c[8], 16))
		v.repeat = int(num(c[9], 16))
		if err != nil {
			t.Fatalf("%s:%d: %v", specPath, v.line, err)
		}
		vs = append(vs, v)
	}
	return vs
}

func readSpec(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestSpecVectors(t *testing.T) {
	t.Parallel()
	vs := parseVectors(t, readSpec(t))
	if len(vs) < 6 {
		t.Fatalf("%s has %d test vectors, expected at least 6", specPath, len(vs))
	}
	var sawReject, sawRepeat, sawBoth, sawStep0, sawMaxStep bool
	for _, v := range vs {
		secret, err := DecodeSecret(v.secret)
		if err != nil {
			t.Errorf("%s:%d: %v", specPath, v.line, err)
			continue
		}
		if err := CheckParams(v.lo, v.hi, v.length, DefaultStep); err != nil {
			t.Errorf("%s:%d: %v", specPath, v.line, err)
			continue
		}
		if got := Ports(secret, v.step, v.lo, v.hi, v.length); !slices.Equal(got, v.ports) {
			t.Errorf("%s:%d: Ports = %v, document says %v", specPath, v.line, got, v.ports)
		}
		if got := AppendPorts([]uint16{1, 2}, secret, v.step, v.lo, v.hi, v.length); !slices.Equal(got[2:], v.ports) {
			t.Errorf("%s:%d: AppendPorts = %v, document says %v", specPath, v.line, got[2:], v.ports)
		}
		tr := refPorts(secret, v.step, v.lo, v.hi, v.length)
		got := []int{tr.blocks, tr.rejected, tr.repeats}
		if want := []int{v.blocks, v.rejected, v.repeat}; !slices.Equal(got, want) {
			t.Errorf("%s:%d: blocks, rejected, repeats = %v, document says %v", specPath, v.line, got, want)
		}
		sawReject = sawReject || tr.rejected > 0
		sawRepeat = sawRepeat || tr.repeats > 0
		sawBoth = sawBoth || tr.rejected > 0 && tr.repeats > 0 && int(v.hi-v.lo) < 16
		sawStep0 = sawStep0 || v.step == 0
		sawMaxStep = sawMaxStep || v.step > 1<<32
	}
	if !sawReject || !sawRepeat || !sawBoth || !sawStep0 || !sawMaxStep {
		t.Errorf("vectors miss a case: rejection %v, repeat %v, both in a tiny range %v, step 0 %v, large step %v",
			sawReject, sawRepeat, sawBoth, sawStep0, sawMaxStep)
	}
}

func TestSpecSteps(t *testing.T) {
	t.Parallel()
	rows, lines := tableRows(t, readSpec(t), "| unix time | period | step |")
	if len(rows) < 3 {
		t.Fatalf("%s has %d step examples, expected at least 3", specPath, len(rows))
	}
	for i, c := range rows {
		unix, err1 := strconv.ParseInt(c[0], 10, 64)
		period, err2 := strconv.ParseInt(c[1], 10, 64)
		want, err3 := strconv.ParseUint(c[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("%s:%d: bad step example %q", specPath, lines[i], c)
		}
		step := time.Duration(period) * time.Second
		if got := Step(time.Unix(unix, 0), step); got != want {
			t.Errorf("%s:%d: Step(%d, %v) = %d, document says %d", specPath, lines[i], unix, step, got, want)
		}
	}
}

// TestSpecWorkedExample checks the worked example's message and block
// against the reference derivation.
func TestSpecWorkedExample(t *testing.T) {
	t.Parallel()
	hexAfter := func(prefix string) []byte {
		for l := range strings.Lines(string(readSpec(t))) {
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				b, err := hex.DecodeString(strings.Join(strings.Fields(rest), ""))
				if err != nil {
					t.Fatalf("%s: %q: %v", specPath, prefix, err)
				}
				return b
			}
		}
		t.Fatalf("%s: no line starting %q", specPath, prefix)
		return nil
	}
	tr := refPorts([]byte("12345678901234567890"), 0, DefaultLo, DefaultHi, DefaultLength)
	if diff := cmp.Diff(hexAfter("message c=0:"), tr.msg0); diff != "" {
		t.Errorf("worked example message (-document +reference):\n%s", diff)
	}
	if diff := cmp.Diff(hexAfter("block c=0:"), tr.block0); diff != "" {
		t.Errorf("worked example block (-document +reference):\n%s", diff)
	}
}

// TestVector1ByHand computes vector 1 step by step with crypto/hmac,
// from literal bytes, sharing nothing with the code under test or the
// reference.
func TestVector1ByHand(t *testing.T) {
	t.Parallel()
	msg := []byte{
		's', 'e', 's', 'a', 'm', 'e', '-', 't', 'o', 't', 'p', '-', 'v', '1',
		0x00,                   // separator
		0, 0, 0, 0, 0, 0, 0, 0, // step 0
		0x9c, 0x40, // lo 40000
		0xc3, 0x4f, // hi 49999
		0x04, // length 4
		0x00, // block counter 0
	}
	mac := hmac.New(sha256.New, []byte("12345678901234567890"))
	mac.Write(msg)
	block := mac.Sum(nil)
	const wantHex = "e12d10b3fb5d211a226b560cf1af34d4330fb471afca2995a1fe99102065e420"
	if got := hex.EncodeToString(block); got != wantHex {
		t.Fatalf("HMAC block 0 = %s, want %s", got, wantHex)
	}
	// Words: 0xe12d=57645 < 60000 → 47645; 0x10b3=4275 → 44275;
	// 0xfb5d=64349 ≥ 60000, rejected; 0x211a=8474 → 48474;
	// 0x226b=8811 → 48811.
	w := func(i int) int { return int(block[2*i])<<8 | int(block[2*i+1]) }
	if w(2) < 60000 {
		t.Fatalf("word 2 = %d, want a rejected word", w(2))
	}
	hand := []uint16{
		uint16(40000 + w(0)%10000),
		uint16(40000 + w(1)%10000),
		uint16(40000 + w(3)%10000),
		uint16(40000 + w(4)%10000),
	}
	want := []uint16{47645, 44275, 48474, 48811}
	if !slices.Equal(hand, want) {
		t.Fatalf("hand derivation = %v, want %v", hand, want)
	}
	if got := Ports([]byte("12345678901234567890"), 0, 40000, 49999, 4); !slices.Equal(got, want) {
		t.Errorf("Ports = %v, want %v", got, want)
	}
}
