//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package replay

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// locking reports whether lockFile locks.
const locking = true

// lockFile takes an exclusive flock on f without waiting. It returns an
// error wrapping errLocked if another open file description holds a lock
// on the file, whether in this process or another. The lock lasts until f
// is closed.
func lockFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Control(func(fd uintptr) {
		for {
			ferr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if ferr != unix.EINTR {
				return
			}
		}
	})
	switch {
	case err != nil:
		return err
	case errors.Is(ferr, unix.EWOULDBLOCK):
		return errLocked
	case ferr != nil:
		return &os.PathError{Op: "flock", Path: f.Name(), Err: ferr}
	}
	return nil
}
