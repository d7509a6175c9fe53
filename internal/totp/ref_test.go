package totp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// refTrace is what the reference derivation saw on the way to a sequence.
type refTrace struct {
	ports    []uint16
	rejected int // words at or above the limit
	repeats  int // words that gave a port already in the sequence
	blocks   int // HMAC blocks used
	msg0     []byte
	block0   []byte
}

// refPorts is docs/totp.md transcribed as plainly as possible, on
// crypto/hmac, independently of AppendPorts: the tests compare the two.
func refPorts(secret []byte, n uint64, lo, hi uint16, length int) refTrace {
	var tr refTrace
	span := int(hi) - int(lo) + 1
	limit := (65536 / span) * span
	for counter := 0; counter < 256; counter++ {
		msg := []byte("sesame-totp-v1")
		msg = append(msg, 0x00)
		msg = binary.BigEndian.AppendUint64(msg, n)
		msg = binary.BigEndian.AppendUint16(msg, lo)
		msg = binary.BigEndian.AppendUint16(msg, hi)
		msg = append(msg, byte(length), byte(counter))
		mac := hmac.New(sha256.New, secret)
		mac.Write(msg)
		block := mac.Sum(nil)
		if counter == 0 {
			tr.msg0, tr.block0 = msg, block
		}
		tr.blocks++
		for i := 0; i+1 < len(block); i += 2 {
			w := int(block[i])*256 + int(block[i+1])
			if w >= limit {
				tr.rejected++
				continue
			}
			p := uint16(int(lo) + w%span)
			if slices.Contains(tr.ports, p) {
				tr.repeats++
				continue
			}
			tr.ports = append(tr.ports, p)
			if len(tr.ports) == length {
				return tr
			}
		}
	}
	tr.ports = nil
	return tr
}
