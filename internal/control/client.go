package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/sesame-knock/sesame/internal/metrics"
)

// DefaultTimeout bounds Status when ctx has no deadline.
const DefaultTimeout = 5 * time.Second

// Status asks the daemon listening on path for its numbers. Its errors are
// one line for a person: ErrNotRunning when nothing listens there,
// ErrPermission when the caller may not ask.
func Status(ctx context.Context, path string) (metrics.Snapshot, error) {
	var r reply
	if err := ask(ctx, path, reqStatus, &r); err != nil {
		return metrics.Snapshot{}, err
	}
	if r.Snapshot == nil {
		return metrics.Snapshot{}, fmt.Errorf("unexpected reply from sesamed on %s: no status in it", path)
	}
	return *r.Snapshot, nil
}

// ask sends one request and decodes the reply into r.
func ask(ctx context.Context, path, req string, r *reply) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	c, err := dial(ctx, path)
	if err != nil {
		return dialError(path, err)
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) }) // cancellation
	defer stop()

	_, werr := io.WriteString(c, req+"\n")
	// Even if the write failed, the daemon may have said why before it
	// closed (a refused peer): read that.
	b, err := io.ReadAll(io.LimitReader(c, maxReply+1))
	if len(b) > 0 && errors.Is(err, syscall.ECONNRESET) {
		// The daemon answered and closed without reading all we sent
		// (a refusal): Linux then resets the connection after the reply.
		err = nil
	}
	switch {
	case werr != nil && len(b) == 0:
		return ioError(ctx, path, werr)
	case err != nil:
		return ioError(ctx, path, err)
	}
	switch {
	case len(b) == 0:
		return fmt.Errorf("sesamed on %s closed the connection without an answer", path)
	case len(b) > maxReply:
		return fmt.Errorf("unexpected reply from sesamed on %s: longer than %d bytes", path, maxReply)
	}
	if err := json.Unmarshal(b, r); err != nil {
		return fmt.Errorf("unexpected reply from sesamed on %s: %v", path, err)
	}
	if r.Error != "" {
		if strings.HasPrefix(r.Error, "permission denied") {
			return fmt.Errorf("%w (sesamed on %s says: %s)", ErrPermission, path, r.Error)
		}
		return fmt.Errorf("sesamed on %s refused the request: %s", path, r.Error)
	}
	return nil
}

// dial connects to path. A unix socket whose backlog is full refuses at
// once (EAGAIN) instead of making the caller wait: the daemon is busy with
// other clients, so try again until ctx ends.
func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	wait := 5 * time.Millisecond
	for {
		c, err := d.DialContext(ctx, "unix", path)
		if err == nil || !errors.Is(err, syscall.EAGAIN) {
			return c, err
		}
		select {
		case <-time.After(wait):
			wait = min(2*wait, 200*time.Millisecond)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// dialError says why the daemon could not be reached, in a person's terms.
func dialError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (%s: no such file)", ErrNotRunning, path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (%s: nothing answers; the socket is left from a daemon that stopped)", ErrNotRunning, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w (%s)", ErrPermission, path)
	case errors.Is(err, syscall.ENOTSOCK), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w (%s is not a socket)", ErrNotRunning, path)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("sesamed did not answer on %s in time", path)
	}
	return fmt.Errorf("failed to reach sesamed on %s: %w", path, err)
}

func ioError(ctx context.Context, path string, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("sesamed did not answer on %s in time", path)
		}
		return ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("sesamed did not answer on %s in time", path)
	}
	return fmt.Errorf("failed to talk to sesamed on %s: %w", path, err)
}
