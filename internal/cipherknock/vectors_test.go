package cipherknock

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// specFile is the format's specification, whose test vectors are checked
// here so that the document and the code cannot drift apart.
const specFile = "../../docs/cipher-knock.md"

// vector is one ```vector block of the specification.
type vector struct {
	line   int // of the opening fence
	fields map[string]string
}

func (v vector) String() string { return fmt.Sprintf("%s:%d", specFile, v.line) }

// readVectors parses every ```vector block of the specification.
func readVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	var (
		vs []vector
		in *vector
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case in == nil && strings.TrimSpace(line) == "```vector":
			in = &vector{line: n, fields: map[string]string{}}
		case in == nil:
		case strings.TrimSpace(line) == "```":
			vs = append(vs, *in)
			in = nil
		case strings.Trim(line, blanks) == "":
		default:
			name, value, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: missing \"=\" in a vector", specFile, n)
			}
			name, value = strings.Trim(name, blanks), strings.Trim(value, blanks)
			if _, dup := in.fields[name]; dup {
				t.Fatalf("%s:%d: second %q in a vector", specFile, n, name)
			}
			in.fields[name] = value
		}
	}
	if in != nil {
		t.Fatalf("%s:%d: unterminated vector", specFile, in.line)
	}
	return vs
}

// need returns the named fields of v, failing on a missing or unknown one;
// optional names may be absent (then "").
func (v vector) need(t *testing.T, names []string, optional ...string) map[string]string {
	t.Helper()
	for _, n := range names {
		if _, ok := v.fields[n]; !ok {
			t.Fatalf("%v: missing %q", v, n)
		}
	}
	for n := range v.fields {
		if !slices.Contains(names, n) && !slices.Contains(optional, n) {
			t.Fatalf("%v: unknown field %q", v, n)
		}
	}
	return v.fields
}

func mustHex(t *testing.T, v vector, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || hex.EncodeToString(b) != s {
		t.Fatalf("%v: %q is not lowercase hex", v, s)
	}
	return b
}

func mustBlock(t *testing.T, v vector, s string) Block {
	t.Helper()
	b := mustHex(t, v, s)
	if len(b) != BlockSize {
		t.Fatalf("%v: %q is not %d bytes", v, s, BlockSize)
	}
	return Block(b)
}

func mustKey(t *testing.T, v vector, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	return k
}

func mustUnix(t *testing.T, v vector, s, utc string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	tm := time.Unix(n, 0)
	if got := tm.UTC().Format(time.RFC3339); got != utc {
		t.Fatalf("%v: time %d is %s, the vector says utc = %s", v, n, got, utc)
	}
	return tm
}

func TestVectors(t *testing.T) {
	vs := readVectors(t)
	if len(vs) < 5 {
		t.Fatalf("%s has %d test vectors, expected at least 5", specFile, len(vs))
	}
	kinds := map[string]int{}
	for _, v := range vs {
		kind := v.fields["kind"]
		kinds[kind]++
		t.Run(fmt.Sprintf("line%d_%s", v.line, kind), func(t *testing.T) {
			switch kind {
			case "derive":
				t.Parallel() // Argon2id with 64 MiB takes a while
				checkDerive(t, v)
			case "seal":
				checkSeal(t, v)
			case "open":
				checkOpen(t, v)
			default:
				t.Fatalf("%v: unknown kind %q", v, kind)
			}
		})
	}
	for _, k := range []string{"derive", "seal", "open"} {
		if kinds[k] == 0 {
			t.Errorf("%s has no %s vector", specFile, k)
		}
	}
}

func checkDerive(t *testing.T, v vector) {
	f := v.need(t, []string{"kind", "passphrase", "event", "key", "key-hex"})
	want := mustKey(t, v, f["key"])
	if h := mustHex(t, v, f["key-hex"]); !bytes.Equal(h, want[:]) {
		t.Fatalf("%v: key and key-hex differ", v)
	}
	got, err := ParseKeyFile("vector", []byte("passphrase = "+f["passphrase"]+"\n"), f["event"])
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	if got != want {
		t.Errorf("%v: derived key %s, want %s", v, FormatKey(got), f["key"])
	}
}

func checkSeal(t *testing.T, v vector) {
	f := v.need(t, []string{"kind", "key", "event", "event-id", "time", "utc", "rand", "plaintext", "ciphertext", "base", "ports"}, "rejected")
	c := NewCipher(mustKey(t, v, f["key"]))
	tm := mustUnix(t, v, f["time"], f["utc"])
	if got := fmt.Sprintf("%08x", EventID(f["event"])); got != f["event-id"] {
		t.Errorf("%v: EventID(%q) = %s, want %s", v, f["event"], got, f["event-id"])
	}
	rnd := mustHex(t, v, f["rand"])
	r := bytes.NewReader(rnd)
	b, err := c.Seal(f["event"], tm, r)
	if err != nil {
		t.Fatalf("%v: Seal: %v", v, err)
	}
	if r.Len() != 0 {
		t.Errorf("%v: Seal left %d of the random bytes unread", v, r.Len())
	}
	want := mustBlock(t, v, f["ciphertext"])
	if b != want {
		t.Errorf("%v: Seal = %v, want %v", v, b, want)
	}

	// The plaintext, and the rejected first draw.
	p := Plain{EventID: EventID(f["event"]), Unix: uint32(tm.Unix())}
	draws := len(rnd) / 4
	if rej := f["rejected"]; rej != "" {
		if draws != 2 {
			t.Fatalf("%v: rejected needs 8 random bytes", v)
		}
		p.Nonce = uint32(rnd[0])<<24 | uint32(rnd[1])<<16 | uint32(rnd[2])<<8 | uint32(rnd[3])
		rb := mustBlock(t, v, rej)
		if got := c.encrypt(p); got != rb {
			t.Errorf("%v: first draw = %v, want rejected = %v", v, got, rb)
		}
		if !rb.adjacentEqual() {
			t.Errorf("%v: rejected has no equal adjacent bytes", v)
		}
	} else if draws != 1 {
		t.Fatalf("%v: rand is not 4 bytes", v)
	}
	last := rnd[len(rnd)-4:]
	p.Nonce = uint32(last[0])<<24 | uint32(last[1])<<16 | uint32(last[2])<<8 | uint32(last[3])
	pt := p.encode()
	if want := mustHex(t, v, f["plaintext"]); !bytes.Equal(pt[:], want) {
		t.Errorf("%v: plaintext %x, want %x", v, pt, want)
	}
	if got, err := c.Open(want); err != nil || got != p {
		t.Errorf("%v: Open = %+v, %v; want %+v", v, got, err, p)
	}

	// The ports.
	base, err := strconv.ParseUint(f["base"], 10, 16)
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	var ports []uint16
	for _, s := range strings.Fields(f["ports"]) {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		ports = append(ports, uint16(n))
	}
	if got := Ports(want, uint16(base)); !slices.Equal(got[:], ports) {
		t.Errorf("%v: Ports = %v, want %v", v, got, ports)
	}
	if got, ok := BlockFromPorts(ports, uint16(base)); !ok || got != want {
		t.Errorf("%v: BlockFromPorts = %v, %v; want %v", v, got, ok, want)
	}
}

func checkOpen(t *testing.T, v vector) {
	f := v.need(t, []string{"kind", "key", "event", "ciphertext", "now", "utc", "max-age", "result"}, "plaintext")
	c := NewCipher(mustKey(t, v, f["key"]))
	now := mustUnix(t, v, f["now"], f["utc"])
	maxAge, err := strconv.Atoi(f["max-age"])
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	p, err := c.Verify(mustBlock(t, v, f["ciphertext"]), EventID(f["event"]), now, time.Duration(maxAge)*time.Second)
	results := map[string]error{"accept": nil, "forged": ErrForged, "wrong-event": ErrWrongEvent, "stale": ErrStale}
	want, ok := results[f["result"]]
	if !ok {
		t.Fatalf("%v: unknown result %q", v, f["result"])
	}
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("%v: Verify: %v, want result %s", v, err, f["result"])
	}
	switch pt := f["plaintext"]; {
	case want == nil && pt == "":
		t.Fatalf("%v: an accepted vector needs its plaintext", v)
	case want != nil && pt != "":
		t.Fatalf("%v: only an accepted vector has a plaintext", v)
	case pt != "":
		got := p.encode()
		if w := mustHex(t, v, pt); !bytes.Equal(got[:], w) {
			t.Errorf("%v: plaintext %x, want %x", v, got, w)
		}
	}
}

// TestVectorByHand recomputes the first seal vector and the first derive
// vector of the specification with crypto/aes, crypto/sha256 and argon2
// directly, from the byte layout of the document rather than this
// package's code.
func TestVectorByHand(t *testing.T) {
	t.Parallel()
	var seal, derive *vector
	for _, v := range readVectors(t) {
		switch {
		case seal == nil && v.fields["kind"] == "seal" && v.fields["rand"] == "01020304":
			seal = &v
		case derive == nil && v.fields["kind"] == "derive" && v.fields["event"] == "ssh":
			derive = &v
		}
	}
	if seal == nil || derive == nil {
		t.Fatal("the vectors checked by hand are gone from " + specFile)
	}

	// Seal: key 00..1f, event "ssh", 2026-01-01T00:00:00Z, nonce 01020304.
	var key [32]byte
	for i := range key {
		key[i] = byte(i)
	}
	id := sha256.Sum256([]byte("sesame cipher knock event\x00ssh"))
	ts := uint32(1767225600)
	pt := []byte{
		's', 'K', '1', 0x00,
		id[0], id[1], id[2], id[3],
		byte(ts >> 24), byte(ts >> 16), byte(ts >> 8), byte(ts),
		0x01, 0x02, 0x03, 0x04,
	}
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, 16)
	blk.Encrypt(ct, pt)
	if got, want := hex.EncodeToString(ct), seal.fields["ciphertext"]; got != want {
		t.Errorf("%v: AES-256(%x) = %s, the document says %s", seal, pt, got, want)
	}
	var ports []string
	for _, b := range ct {
		ports = append(ports, strconv.Itoa(40000+int(b)))
	}
	if got, want := strings.Join(ports, " "), seal.fields["ports"]; seal.fields["base"] != "40000" || got != want {
		t.Errorf("%v: ports %s, the document says %s", seal, got, want)
	}
	if got, want := hex.EncodeToString(pt), seal.fields["plaintext"]; got != want {
		t.Errorf("%v: plaintext %s, the document says %s", seal, got, want)
	}

	// Derive: Argon2id, t=3, m=64 MiB, p=4, 32 bytes.
	k := argon2.IDKey([]byte(derive.fields["passphrase"]), []byte("sesame cipher knock v1\x00ssh"), 3, 64*1024, 4, 32)
	if got, want := hex.EncodeToString(k), derive.fields["key-hex"]; got != want {
		t.Errorf("%v: Argon2id = %s, the document says %s", derive, got, want)
	}
}
