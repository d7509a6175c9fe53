// Package control is sesamed's local control socket: the way sesamed
// --status (and later other commands) asks the running daemon something.
//
// It is a unix stream socket, DefaultSocket unless configured, owned by the
// daemon's user with mode 0600 in a 0755 directory, so only that user and
// root can connect. The protocol is deliberately tiny: the client sends one
// line naming a request ("status\n"), the daemon answers with one JSON
// object and closes the connection. A successful status is a
// metrics.Snapshot; a refused request is {"error": "…"}.
//
// The daemon's side is bounded against a local client that misbehaves: a
// request line is at most MaxRequest bytes, each connection has a deadline
// (two seconds), and only a few connections are served at once. As defence
// in depth behind the file mode, the server asks the kernel who the peer is
// (SO_PEERCRED, on Linux) and refuses anyone but root and the daemon's own
// user, in case the socket's mode or directory is ever loosened.
package control

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sesame-knock/sesame/internal/metrics"
)

// DefaultSocket is where sesamed listens and sesamed --status asks.
const DefaultSocket = "/run/sesamed/control.sock"

// MaxRequest bounds a request line, its line feed included.
const MaxRequest = 128

// maxReply bounds the reply a client reads (a snapshot is a few hundred
// bytes per capture source).
const maxReply = 1 << 20

// The requests the daemon answers.
const (
	reqStatus = "status"
)

var (
	// ErrInUse is Listen's error when a live daemon answers on the socket.
	ErrInUse = errors.New("another sesamed is running")
	// ErrNotRunning is returned by Status when no daemon listens on the socket.
	ErrNotRunning = errors.New("no sesamed is running")
	// ErrPermission is returned by Status when the socket, or the daemon,
	// refuses the caller.
	ErrPermission = errors.New("permission denied: run as root")
)

// Handler answers the daemon's requests.
type Handler struct {
	// Status returns the daemon's numbers now.
	Status func() metrics.Snapshot
}

// reply is what the daemon sends: a snapshot, or an error.
type reply struct {
	Error string `json:"error,omitempty"`
	*metrics.Snapshot
}

// parseRequest reads one request line, line feed included (a CR before it
// is allowed, for people typing at socat). It returns the request's name.
func parseRequest(line []byte) (string, error) {
	s, ok := strings.CutSuffix(string(line), "\n")
	if !ok {
		return "", errors.New("request is not one line")
	}
	s = strings.TrimSuffix(s, "\r")
	switch s {
	case reqStatus:
		return s, nil
	case "":
		return "", errors.New("empty request (want \"status\")")
	}
	if len(s) > 32 || strings.ContainsFunc(s, func(r rune) bool { return r < '!' || r > '~' }) {
		return "", errors.New("unknown request (want \"status\")")
	}
	return "", fmt.Errorf("unknown request %q (want \"status\")", s)
}
