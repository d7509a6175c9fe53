package cipherknock

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// FuzzOpen feeds Open and Verify arbitrary blocks under arbitrary keys: they
// must not panic, and an accepted block must be exactly the encryption of
// what it opened to, with no equal adjacent bytes.
func FuzzOpen(f *testing.F) {
	ct := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	f.Add(testKey[:], ct("33791d9bf4ab984aaed3ce98388858c5"), int64(1767225600)) // vector 4
	f.Add(testKey[:], ct("f42f49dbdb6f96f5dc08ad0758de4374"), int64(1767225600)) // vector 7, rejected
	f.Add(testKey[:], ct("dc5736caa6f84a820dcb73af12f47ed4"), int64(1<<32-16))   // vector 6
	f.Add([]byte{}, []byte{}, int64(0))
	f.Add(bytes.Repeat([]byte{0xff}, 40), bytes.Repeat([]byte{0xff}, 20), int64(-1))
	f.Fuzz(func(t *testing.T, key, block []byte, now int64) {
		var k Key
		copy(k[:], key)
		var b Block
		copy(b[:], block)
		c := NewCipher(k)
		p, err := c.Open(b)
		if err != nil {
			if err != ErrForged {
				t.Fatalf("Open: %v, want ErrForged", err)
			}
			if _, verr := c.Verify(b, 0, time.Unix(now, 0), DefaultMaxAge); verr != ErrForged {
				t.Fatalf("Open says forged, Verify says %v", verr)
			}
			return
		}
		if b.adjacentEqual() {
			t.Fatalf("Open accepted %v, which has equal adjacent bytes", b)
		}
		if got := c.encrypt(p); got != b {
			t.Fatalf("Open(%v) = %+v, which encrypts to %v", b, p, got)
		}
		_, verr := c.Verify(b, p.EventID, time.Unix(now, 0), DefaultMaxAge)
		if (verr == nil) != p.Fresh(time.Unix(now, 0), DefaultMaxAge) || (verr != nil && verr != ErrStale) {
			t.Fatalf("Verify = %v for %+v at %d", verr, p, now)
		}
	})
}

// FuzzSealOpen checks the round trip from the other side: whatever the key,
// event, time and random bytes, Seal gives a block that Verify accepts.
func FuzzSealOpen(f *testing.F) {
	f.Add(testKey[:], "ssh", int64(1767225600), []byte{1, 2, 3, 4})
	f.Add(testKey[:], "ssh", int64(1767225600), []byte{0, 0, 0, 6, 0, 0, 0, 7})
	f.Add([]byte{}, "", int64(-1<<40), []byte{})
	f.Fuzz(func(t *testing.T, key []byte, event string, unix int64, rnd []byte) {
		var k Key
		copy(k[:], key)
		c := NewCipher(k)
		// Random bytes as given, then a deterministic stream.
		r := &fallbackReader{head: rnd, seed: uint64(unix)}
		b, err := c.Seal(event, time.Unix(unix, 0), r)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Verify(b, EventID(event), time.Unix(unix, 0), 0)
		if err != nil || p.Unix != uint32(unix) {
			t.Fatalf("Verify(Seal) = %+v, %v", p, err)
		}
	})
}

type fallbackReader struct {
	head []byte
	seed uint64
}

func (r *fallbackReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	for i := range p {
		r.seed = r.seed*6364136223846793005 + 1442695040888963407
		p[i] = byte(r.seed >> 56)
	}
	return len(p), nil
}

// FuzzParseKeyFile checks that the key file parser never panics, that its
// errors are one line naming the file, and that what it accepts round-trips
// through its own syntax.
func FuzzParseKeyFile(f *testing.F) {
	for _, s := range []string{
		"key = " + testKeyText + "\n",
		"# c\r\nKEY=" + testKeyText + "\r\n",
		"\uFEFFpassphrase = correct horse battery staple\n",
		"passphrase = a#b = c\n",
		"passphrase =\n",
		"kye = x\n",
		"key = x\nkey = y\n",
		testKeyText,
		"\u212Aey = " + testKeyText,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := parseKeyFile("k.key", data)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n") || !strings.HasPrefix(msg, "k.key:") {
				t.Fatalf("error %q is not one line starting with the file name", msg)
			}
			return
		}
		var again keyFile
		if kf.passphrase != nil {
			p := kf.passphrase
			if len(p) == 0 || bytes.ContainsAny(p, "\n") || bytes.Trim(p, blanks) == nil || len(bytes.Trim(p, blanks)) != len(p) {
				t.Fatalf("passphrase %q: empty, multi-line or untrimmed", p)
			}
			again, err = parseKeyFile("k.key", []byte("passphrase = "+string(p)+"\n"))
			if err != nil || !bytes.Equal(again.passphrase, p) {
				t.Fatalf("passphrase %q does not round-trip: %q, %v", p, again.passphrase, err)
			}
			return
		}
		again, err = parseKeyFile("k.key", []byte("key = "+FormatKey(kf.key)+"\n"))
		if err != nil || again.key != kf.key || again.passphrase != nil {
			t.Fatalf("key does not round-trip: %v", err)
		}
	})
}

// FuzzParseKey checks that a key has one text form.
func FuzzParseKey(f *testing.F) {
	f.Add(testKeyText)
	f.Add("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err == nil && FormatKey(k) != s {
			t.Fatalf("ParseKey(%q) = %s", s, FormatKey(k))
		}
	})
}

// FuzzBlockFromPorts checks that BlockFromPorts accepts exactly the
// windows' ports and inverts Ports.
func FuzzBlockFromPorts(f *testing.F) {
	f.Add([]byte{0x9c, 0x73, 0x9c, 0xb9}, uint16(40000))
	f.Add(bytes.Repeat([]byte{0xff, 0xff}, 16), uint16(65280))
	f.Add(bytes.Repeat([]byte{0, 1}, 16), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, base uint16) {
		ports := make([]uint16, len(data)/2)
		for i := range ports {
			ports[i] = binary.BigEndian.Uint16(data[2*i:])
		}
		b, ok := BlockFromPorts(ports, base)
		inWindow := len(ports) == BlockSize
		for _, p := range ports {
			if p < base || int(p) > int(base)+Window-1 {
				inWindow = false
			}
		}
		if ok != inWindow {
			t.Fatalf("BlockFromPorts(%v, %d) = %v, want %v", ports, base, ok, inWindow)
		}
		if !ok {
			if b != (Block{}) {
				t.Fatalf("BlockFromPorts failed but returned %v", b)
			}
			return
		}
		if CheckBase(base) == nil {
			if got := Ports(b, base); [BlockSize]uint16(ports) != got {
				t.Fatalf("Ports(BlockFromPorts(%v)) = %v", ports, got)
			}
		}
	})
}
