//go:build !linux

package capture

import "net/netip"

// DefaultRouteInterface fails: capture exists only on Linux.
func DefaultRouteInterface() (string, error) { return "", errNotSupported }

// List fails: capture exists only on Linux.
func List() ([]Interface, error) { return nil, errNotSupported }

// LocalAddrs fails: capture exists only on Linux.
func LocalAddrs(ifname string) ([]netip.Addr, error) { return nil, errNotSupported }
