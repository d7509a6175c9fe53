package cipherknock

import (
	"crypto/aes"
	"crypto/cipher"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

const (
	// BlockSize is the size of a cipher knock block, and the number of
	// knocks that carry it.
	BlockSize = 16
	// Window is the number of consecutive ports a block is spread over.
	Window = 256
	// DefaultMaxAge is how far a block's timestamp may be from the
	// daemon's clock, either way, by default.
	DefaultMaxAge = 60 * time.Second
	// MaxNonceDraws bounds how many nonces Seal draws looking for a block
	// without equal adjacent bytes (each draw fails with probability ≈ 5.7%).
	MaxNonceDraws = 1000
)

// Magic is the first four bytes of every plaintext block: "sK1" and a zero
// byte. A later version of the format changes it.
const Magic = "sK1\x00"

// Errors from Open and Verify. They are sentinels so that the daemon can
// count failures by reason without allocating.
var (
	// ErrForged means the block is not a sealed block under this key: two
	// adjacent bytes are equal, or the magic does not match.
	ErrForged = errors.New("cipher knock is forged or damaged")
	// ErrWrongEvent means the block is genuine but names another event.
	ErrWrongEvent = errors.New("cipher knock is for another event")
	// ErrStale means the block is genuine but its timestamp is too far from
	// the daemon's clock.
	ErrStale = errors.New("cipher knock timestamp is outside the accepted age")
)

// Block is a cipher knock as sent: AES-256 ciphertext, byte i carried by
// knock i. Blocks are comparable, so a replay cache can use one as a map
// key directly.
type Block [BlockSize]byte

// ReplayKey returns a stable, printable key for the block: the lowercase hex
// of the ciphertext (32 characters, no spaces).
func (b Block) ReplayKey() string { return hex.EncodeToString(b[:]) }

// String returns the hex of the ciphertext. A block is not secret.
func (b Block) String() string { return b.ReplayKey() }

// adjacentEqual reports whether two consecutive bytes of b are equal.
func (b *Block) adjacentEqual() bool {
	for i := 1; i < BlockSize; i++ {
		if b[i] == b[i-1] {
			return true
		}
	}
	return false
}

// Plain is the content of an opened block, after the magic.
type Plain struct {
	EventID uint32 // EventID of the event's name
	Unix    uint32 // Unix time in seconds, modulo 2³²
	Nonce   uint32 // random
}

// encode returns the 16-byte plaintext block of p.
func (p Plain) encode() [BlockSize]byte {
	var b [BlockSize]byte
	copy(b[0:4], Magic)
	binary.BigEndian.PutUint32(b[4:8], p.EventID)
	binary.BigEndian.PutUint32(b[8:12], p.Unix)
	binary.BigEndian.PutUint32(b[12:16], p.Nonce)
	return b
}

// age returns now − timestamp in whole seconds, with the timestamp taken
// in the 2³²-second era nearest to now (serial number arithmetic, RFC
// 1982): the 32-bit field wraps on 2106-02-07 06:28:16 UTC, and blocks
// sealed either side of that instant still compare correctly.
func (p Plain) age(now time.Time) int64 {
	return int64(int32(uint32(now.Unix()) - p.Unix))
}

// Age returns how old the block's timestamp is at now (negative if it is in
// the future), in whole seconds. See Fresh for the wrap of the timestamp.
func (p Plain) Age(now time.Time) time.Duration {
	return time.Duration(p.age(now)) * time.Second
}

// Time returns the block's timestamp, resolved to the 2³²-second era nearest
// to now.
func (p Plain) Time(now time.Time) time.Time {
	return time.Unix(now.Unix()-p.age(now), 0)
}

// Fresh reports whether the block's timestamp is at most maxAge from now,
// either way, comparing whole seconds: |⌊now⌋ − timestamp| ≤ maxAge.
//
// The timestamp is 32 bits and wraps on 2106-02-07 06:28:16 UTC; Fresh
// compares it with now modulo 2³² as a signed difference, so it works
// across the wrap, for any maxAge below 68 years.
func (p Plain) Fresh(now time.Time, maxAge time.Duration) bool {
	a := p.age(now)
	if a < 0 {
		a = -a
	}
	return a <= int64(maxAge/time.Second)
}

// Expires returns the first instant from which Fresh(·, maxAge) is false
// for good: the block's timestamp + maxAge + 1 s (the comparison is in
// whole seconds). A replay cache must keep the block at least until then.
func (p Plain) Expires(now time.Time, maxAge time.Duration) time.Time {
	return p.Time(now).Add((maxAge/time.Second)*time.Second + time.Second)
}

// EventID returns the 32-bit id of an event name: the first four bytes,
// big endian, of SHA-256("sesame cipher knock event" || 0x00 || name).
func EventID(name string) uint32 {
	h := sha256.New()
	h.Write([]byte("sesame cipher knock event\x00"))
	h.Write([]byte(name))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint32(h.Sum(sum[:0]))
}

// Cipher seals and opens blocks under one key. It is safe for concurrent
// use.
type Cipher struct {
	block cipher.Block
	mu    sync.Mutex
	// buf is Open's scratch block: it lives with the Cipher, on the heap,
	// so that passing it to the cipher.Block interface does not make each
	// call allocate one.
	buf [BlockSize]byte
}

// NewCipher returns a Cipher for key k.
func NewCipher(k Key) *Cipher {
	b, err := aes.NewCipher(k[:])
	if err != nil {
		panic("cipherknock: " + err.Error()) // unreachable: the key is 32 bytes
	}
	return &Cipher{block: b}
}

// Seal returns a fresh block for event at time t, drawing the nonce from
// rand (crypto/rand when nil). It redraws the nonce until the ciphertext has
// no two equal adjacent bytes, at most MaxNonceDraws times.
func (c *Cipher) Seal(event string, t time.Time, rand io.Reader) (Block, error) {
	if rand == nil {
		rand = cryptoRand
	}
	p := Plain{EventID: EventID(event), Unix: uint32(t.Unix())}
	var n [4]byte
	for range MaxNonceDraws {
		if _, err := io.ReadFull(rand, n[:]); err != nil {
			return Block{}, fmt.Errorf("failed to read nonce: %w", err)
		}
		p.Nonce = binary.BigEndian.Uint32(n[:])
		if b := c.encrypt(p); !b.adjacentEqual() {
			return b, nil
		}
	}
	return Block{}, fmt.Errorf("failed to draw a nonce without equal adjacent ciphertext bytes in %d tries, is the random source broken?", MaxNonceDraws)
}

var cryptoRand = crand.Reader

// encrypt returns the ciphertext of p, whatever its bytes.
func (c *Cipher) encrypt(p Plain) Block {
	var b Block
	pt := p.encode()
	c.block.Encrypt(b[:], pt[:])
	return b
}

// Open decrypts b and checks that it is a sealed block: no two equal
// adjacent bytes, and the magic. It returns ErrForged otherwise. It does not
// check the event or the time (see Verify), and does not allocate.
func (c *Cipher) Open(b Block) (Plain, error) {
	if b.adjacentEqual() {
		return Plain{}, ErrForged
	}
	c.mu.Lock()
	c.buf = b
	c.block.Decrypt(c.buf[:], c.buf[:])
	pt := c.buf
	c.buf = [BlockSize]byte{}
	c.mu.Unlock()
	if string(pt[0:4]) != Magic {
		return Plain{}, ErrForged
	}
	return Plain{
		EventID: binary.BigEndian.Uint32(pt[4:8]),
		Unix:    binary.BigEndian.Uint32(pt[8:12]),
		Nonce:   binary.BigEndian.Uint32(pt[12:16]),
	}, nil
}

// Verify opens b and applies the daemon's acceptance rules except the
// replay cache: the block must be sealed under this key (ErrForged), for the
// event with id event (ErrWrongEvent), and Fresh at now within maxAge
// (ErrStale). With ErrWrongEvent and ErrStale it returns the opened block
// too, for the log (a stale timestamp tells of a client's clock). It does
// not allocate.
func (c *Cipher) Verify(b Block, event uint32, now time.Time, maxAge time.Duration) (Plain, error) {
	p, err := c.Open(b)
	switch {
	case err != nil:
		return Plain{}, err
	case p.EventID != event:
		return p, ErrWrongEvent
	case !p.Fresh(now, maxAge):
		return p, ErrStale
	}
	return p, nil
}
