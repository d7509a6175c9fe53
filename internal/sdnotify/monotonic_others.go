//go:build !linux

package sdnotify

import (
	"errors"
	"runtime"
)

// monotonicUsec fails: systemd, and so MONOTONIC_USEC, is Linux only.
func monotonicUsec() (uint64, error) {
	return 0, errors.New("CLOCK_MONOTONIC for systemd is not supported on " + runtime.GOOS)
}
