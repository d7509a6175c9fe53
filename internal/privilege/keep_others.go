//go:build !linux

package privilege

import (
	"errors"
	"runtime"
)

var errNotSupported = errors.New("capabilities are not supported on " + runtime.GOOS)

// Keep fails: capabilities are Linux's.
func Keep(caps ...Cap) error { return errNotSupported }

// Threads fails: capabilities are Linux's.
func Threads() ([]ThreadCaps, error) { return nil, errNotSupported }

// ThreadsOf fails: capabilities are Linux's.
func ThreadsOf(pid int) ([]ThreadCaps, error) { return nil, errNotSupported }
