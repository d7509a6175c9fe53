package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Server is the daemon's end of the control socket.
type Server struct {
	// Timeout bounds each connection, from accept to close (default 2 s).
	Timeout time.Duration
	// MaxConns bounds the connections served at once (default 8); more
	// wait in the kernel's backlog.
	MaxConns int
	// Log, if set, gets a line for each connection refused.
	Log *slog.Logger

	path string
	ln   *net.UnixListener
	file os.FileInfo // the socket file we made, removed only if still ours
	self int         // our uid

	closeOnce sync.Once
	closeErr  error
}

// backlog is the listen queue: clients past MaxConns wait there (and
// past it, Status retries).
const backlog = 64

// maxPath is the longest socket path the kernel takes (sun_path, less its
// terminating NUL).
const maxPath = 107

// Listen creates the control socket at path, mode 0600, creating its
// directory (mode 0755) if missing. A socket file left by a daemon that
// died is replaced; if a live daemon answers on it, Listen fails.
func Listen(path string) (*Server, error) {
	if len(path) > maxPath {
		return nil, fmt.Errorf("control socket path %s is too long (%d bytes, at most %d)", path, len(path), maxPath)
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("failed to create the control socket's directory: %w", err)
		}
		// 0755 whatever the umask: clients reach the socket through it
		// (the socket's own mode keeps them out).
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, fmt.Errorf("failed to create the control socket's directory: %w", err)
		}
	}
	ln, err := listen(path)
	if errors.Is(err, syscall.EADDRINUSE) {
		if err := clearStale(path); err != nil {
			return nil, err
		}
		ln, err = listen(path)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to listen on control socket %s: %w", path, err)
	}
	// listen made it 0600 already where the platform allows; this covers
	// the others (the peer check covers the moment in between).
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("failed to restrict control socket %s: %w", path, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &Server{path: path, ln: ln, file: fi, self: os.Geteuid()}, nil
}

// clearStale removes the socket file at path if nothing answers on it.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("failed to listen on control socket %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("control socket %s: the file exists and is not a socket (not removing it)", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	switch {
	case err == nil:
		c.Close()
		return fmt.Errorf("%w (control socket %s answers)", ErrInUse, path)
	case errors.Is(err, syscall.EAGAIN):
		// Its backlog is full: it is alive, just busy.
		return fmt.Errorf("%w (control socket %s answers)", ErrInUse, path)
	case !errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("control socket %s exists and cannot be probed: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to remove stale control socket %s: %w", path, err)
	}
	return nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops listening and removes the socket file (if it is still the
// one Listen made). Connections being served run to their deadline. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.ln.Close()
		if fi, err := os.Lstat(s.path); err == nil && os.SameFile(fi, s.file) {
			if err := os.Remove(s.path); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

// Serve answers requests with h until ctx ends; then it closes the server,
// waits for the connections being served and returns nil.
func (s *Server) Serve(ctx context.Context, h Handler) error {
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = 8
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer func() {
		if !stop() {
			s.Close() // wait for the AfterFunc's Close: the file is gone on return
		}
	}()
	slots := make(chan struct{}, maxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		c, err := s.ln.AcceptUnix()
		if err != nil {
			<-slots
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if s.Log != nil {
				s.Log.Warn("control socket: accept failed", "err", err, "retry_in", backoff)
			}
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.serveConn(c, h, timeout)
		}()
	}
}

// serveConn answers one connection: one request line, one reply.
func (s *Server) serveConn(c *net.UnixConn, h Handler, timeout time.Duration) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	switch uid, err := peerUID(c); {
	case errors.Is(err, errNoPeerCred):
		// The platform cannot say: the socket's mode is the guard.
	case err != nil:
		if s.Log != nil {
			s.Log.Warn("control socket: refused a client that cannot be identified", "err", err)
		}
		writeError(c, "permission denied: cannot identify the client")
		return
	case !allowed(uid, s.self):
		if s.Log != nil {
			s.Log.Warn("control socket: refused a client that is neither root nor the daemon's user", "uid", uid)
		}
		writeError(c, fmt.Sprintf("permission denied: uid %d is neither root nor the daemon's user", uid))
		return
	}
	line, err := readLine(c)
	if err != nil {
		if errors.Is(err, errTooLong) {
			writeError(c, err.Error())
		}
		return // a client that hung up or timed out gets nothing
	}
	req, err := parseRequest(line)
	if err != nil {
		writeError(c, err.Error())
		return
	}
	switch req {
	case reqStatus:
		if h.Status == nil {
			writeError(c, "status is not available")
			return
		}
		b, err := json.Marshal(h.Status())
		if err != nil {
			writeError(c, "failed to encode the status: "+err.Error())
			return
		}
		c.Write(append(b, '\n'))
	}
}

// allowed says whether a peer with uid may talk to a daemon running as
// self: root, and the daemon's own user.
func allowed(uid, self int) bool { return uid == 0 || uid == self }

// errNoPeerCred is peerUID's answer where the platform has no SO_PEERCRED.
var errNoPeerCred = errors.New("peer credentials are not available on this platform")

var errTooLong = fmt.Errorf("request too long (at most %d bytes with its line feed)", MaxRequest)

// readLine reads up to the first line feed, which must come within
// MaxRequest bytes. Anything after it is ignored.
func readLine(c net.Conn) ([]byte, error) {
	var buf [MaxRequest]byte
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		if i := bytes.IndexByte(buf[n:n+m], '\n'); i >= 0 {
			return buf[:n+i+1], nil
		}
		n += m
		if err != nil {
			return nil, err
		}
	}
	return nil, errTooLong
}

func writeError(c net.Conn, msg string) {
	b, _ := json.Marshal(reply{Error: msg})
	c.Write(append(b, '\n'))
}
