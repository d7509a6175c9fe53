package totp

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Defaults of an event's TOTP parameters.
const (
	DefaultStep   = 30 * time.Second
	DefaultLength = 4
	DefaultLo     = 40000
	DefaultHi     = 49999
)

// Limits of the parameters; CheckParams enforces them.
const (
	MaxLength = 32             // ports per sequence
	MaxStep   = 24 * time.Hour // longest time step
)

// label is the domain separation prefix of every HMAC message: the
// derivation's name and version, so that no other use of a secret (an
// authenticator app's codes, a future version 2) yields the same bytes.
const label = "sesame-totp-v1"

// Offsets in the HMAC message (docs/totp.md, "Message").
const (
	offSep     = len(label)    // 0x00
	offStep    = offSep + 1    // uint64 big endian
	offLo      = offStep + 8   // uint16 big endian
	offHi      = offLo + 2     // uint16 big endian
	offLength  = offHi + 2     // uint8
	offCounter = offLength + 1 // uint8, the block counter
	msgLen     = offCounter + 1
)

// maxBlocks is how many HMAC blocks a sequence may consume: the counter is
// one byte. For valid parameters every word yields a new port with
// probability above 1/4, so 256 blocks (4096 words) fall short of 32 ports
// with probability below 2^-600.
const maxBlocks = 256

// CheckParams reports whether lo, hi, length and step are valid TOTP knock
// parameters: 1 <= length <= MaxLength, 1 <= lo <= hi, at least 2*length
// ports in [lo, hi] (so that a sequence of distinct ports is always quick
// to draw and an observer learns little from the ports already used), and
// a step of whole seconds from 1s to MaxStep. Step, StepStart and Ports
// require parameters that pass it.
func CheckParams(lo, hi uint16, length int, step time.Duration) error {
	switch {
	case length < 1 || length > MaxLength:
		return fmt.Errorf("knock length %d is out of range, expected 1 to %d", length, MaxLength)
	case lo == 0:
		return fmt.Errorf("port range %d-%d includes port 0, expected ports from 1 to 65535", lo, hi)
	case lo > hi:
		return fmt.Errorf("port range %d-%d is reversed, expected LO-HI with LO <= HI", lo, hi)
	case int(hi)-int(lo)+1 < 2*length:
		return fmt.Errorf("port range %d-%d has %d ports, expected at least %d (twice the length %d)",
			lo, hi, int(hi)-int(lo)+1, 2*length, length)
	case step < time.Second || step > MaxStep || step%time.Second != 0:
		return fmt.Errorf("time step %v is invalid, expected whole seconds from 1s to %v", step, MaxStep)
	}
	return nil
}

// validPorts is the part of CheckParams that Ports depends on.
func validPorts(lo, hi uint16, length int) bool {
	return length >= 1 && length <= MaxLength && lo >= 1 && lo <= hi &&
		int(hi)-int(lo)+1 >= 2*length
}

// stepSeconds is step in whole seconds, at least 1: the documented
// reading of a step that fails CheckParams.
func stepSeconds(step time.Duration) int64 {
	return max(int64(step/time.Second), 1)
}

// Step is the TOTP time-step counter of t, as in RFC 6238 with T0 = 0:
// floor(Unix seconds of t / step seconds). step must pass CheckParams;
// any other step is truncated to whole seconds, and to at least 1s. Times
// before 1970 are in step 0.
func Step(t time.Time, step time.Duration) uint64 {
	u := t.Unix()
	if u < 0 {
		return 0
	}
	return uint64(u) / uint64(stepSeconds(step))
}

// maxStartSeconds bounds StepStart so that time.Unix cannot overflow.
const maxStartSeconds = 1 << 62

// StepStart is when step n begins: the inverse of Step. step is read as in
// Step. Steps too large for time.Time (beyond the year 10^11) saturate.
func StepStart(n uint64, step time.Duration) time.Time {
	s := uint64(stepSeconds(step))
	n = min(n, maxStartSeconds/s)
	return time.Unix(int64(n*s), 0)
}

// Ports derives the knock sequence of step n: length distinct ports in
// [lo, hi], inclusive, by "sesame TOTP knock sequence, version 1"
// (docs/totp.md). It allocates only the result.
//
// The parameters must pass CheckParams. When they do not, or when 256 HMAC
// blocks do not yield length ports (probability below 2^-600 for valid
// parameters), Ports returns nil: callers must treat a result shorter than
// length as "no sequence in this step", never as a sequence that matches.
func Ports(secret []byte, n uint64, lo, hi uint16, length int) []uint16 {
	if !validPorts(lo, hi, length) {
		return nil
	}
	p := AppendPorts(make([]uint16, 0, length), secret, n, lo, hi, length)
	if len(p) == 0 {
		return nil
	}
	return p
}

// AppendPorts appends the sequence of step n (see Ports) to dst and
// returns the extended slice. It does not allocate when dst has room for
// length more ports. When there is no sequence it returns dst unchanged.
func AppendPorts(dst []uint16, secret []byte, n uint64, lo, hi uint16, length int) []uint16 {
	if !validPorts(lo, hi, length) {
		return dst
	}
	span := uint32(hi) - uint32(lo) + 1
	// limit is the largest multiple of span not above 65536: words at or
	// above it are rejected so that every port is equally likely.
	limit := 65536 - 65536%span

	var msg [msgLen]byte
	copy(msg[:], label)
	msg[offSep] = 0
	binary.BigEndian.PutUint64(msg[offStep:], n)
	binary.BigEndian.PutUint16(msg[offLo:], lo)
	binary.BigEndian.PutUint16(msg[offHi:], hi)
	msg[offLength] = byte(length)

	var k hmacKey
	k.init(secret)
	defer k.clear()

	start := len(dst)
	for c := 0; c < maxBlocks; c++ {
		msg[offCounter] = byte(c)
		block := k.sum(&msg)
	words:
		for i := 0; i < len(block); i += 2 {
			w := uint32(block[i])<<8 | uint32(block[i+1])
			if w >= limit {
				continue
			}
			p := lo + uint16(w%span)
			for _, q := range dst[start:] {
				if q == p {
					continue words
				}
			}
			dst = append(dst, p)
			if len(dst)-start == length {
				return dst
			}
		}
	}
	return dst[:start]
}

// hmacKey is HMAC-SHA256 (RFC 2104) keyed once and computed with
// sha256.Sum256 on stack buffers: crypto/hmac would allocate two hashes
// per sequence, and AppendPorts must not allocate.
type hmacKey struct {
	ipad, opad [sha256.BlockSize]byte
}

func (k *hmacKey) init(key []byte) {
	var k0 [sha256.BlockSize]byte
	if len(key) > sha256.BlockSize {
		h := sha256.Sum256(key)
		copy(k0[:], h[:])
	} else {
		copy(k0[:], key)
	}
	for i, b := range k0 {
		k.ipad[i] = b ^ 0x36
		k.opad[i] = b ^ 0x5c
	}
	clear(k0[:])
}

// sum is HMAC(key, msg) = SHA256(opad || SHA256(ipad || msg)).
func (k *hmacKey) sum(msg *[msgLen]byte) [sha256.Size]byte {
	var in [sha256.BlockSize + msgLen]byte
	copy(in[:], k.ipad[:])
	copy(in[sha256.BlockSize:], msg[:])
	inner := sha256.Sum256(in[:])
	var out [sha256.BlockSize + sha256.Size]byte
	copy(out[:], k.opad[:])
	copy(out[sha256.BlockSize:], inner[:])
	return sha256.Sum256(out[:])
}

func (k *hmacKey) clear() {
	clear(k.ipad[:])
	clear(k.opad[:])
}
