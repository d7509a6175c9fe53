//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package client

import (
	"errors"
	"net/netip"
	"runtime"
)

func send(k Knock, dst netip.AddrPort, src netip.Addr) error {
	return errors.New("knocking is not supported on " + runtime.GOOS)
}
