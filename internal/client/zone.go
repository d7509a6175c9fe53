package client

import (
	"fmt"
	"net"
	"strconv"
)

// zoneIndex turns an IPv6 zone ("eth0" or "2") into the scope id a
// sockaddr carries.
func zoneIndex(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("unknown IPv6 zone %q: %w", zone, err)
	}
	return uint32(ifi.Index), nil
}
