package capture

import (
	"errors"

	"github.com/sesame-knock/sesame/internal/packet"
)

// ErrDecodePanic stands for a decoder bug that a packet triggered: the
// source counts it like any undecodable packet rather than taking the
// daemon down.
var ErrDecodePanic = errors.New("capture: decoder panicked")

// Decode is packet.Decode, guarded: every source faces untrusted bytes (the
// network, or a file from a user's report), and a crafted packet must never
// stop the daemon. It does not allocate.
func Decode(link packet.LinkType, frame []byte, h *packet.Hit) (err error) {
	defer func() {
		if recover() != nil {
			*h = packet.Hit{}
			err = ErrDecodePanic
		}
	}()
	return packet.Decode(link, frame, h)
}
