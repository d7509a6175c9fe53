package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/packet"
)

// linkTypeOf maps an interface's ARPHRD_ type to what its AF_PACKET frames
// start with.
func linkTypeOf(hwType uint16) (packet.LinkType, error) {
	switch hwType {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK: // loopback frames carry a zeroed Ethernet header
		return packet.LinkEthernet, nil
	case unix.ARPHRD_NONE, // tun, wireguard
		unix.ARPHRD_PPP,
		unix.ARPHRD_RAWIP,
		unix.ARPHRD_TUNNEL,  // ipip
		unix.ARPHRD_TUNNEL6, // ip6tnl
		unix.ARPHRD_SIT,
		// Point-to-point GRE tunnels have no link header. (A GRE tunnel
		// without a fixed remote has header_ops and its frames start with
		// the outer IP and GRE headers: such hits decode as the outer
		// packet's protocol, GRE, and are dropped.)
		unix.ARPHRD_IPGRE,
		unix.ARPHRD_IP6GRE:
		return packet.LinkRaw, nil
	}
	return 0, fmt.Errorf("unsupported interface type %d (ARPHRD, /sys/class/net/IF/type): capture supports Ethernet, loopback and IP-level links (tun, wireguard, ppp, ipip, sit, gre)", hwType)
}

// interfaceHWType returns the ARPHRD_ type of ifname, the value that
// /sys/class/net/IF/type shows. It asks the kernel (SIOCGIFHWADDR) rather
// than reading sysfs because sysfs shows the network namespace it was
// mounted in, while the ioctl answers for the calling thread's namespace,
// the one the capture socket is opened in.
func interfaceHWType(ifname string) (uint16, error) {
	ifr, err := unix.NewIfreq(ifname)
	if err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return 0, fmt.Errorf("no interface named %q", ifname)
		}
		return 0, fmt.Errorf("interface %s: %w", ifname, err)
	}
	return ifr.Uint16(), nil // ifr_hwaddr.sa_family
}

// List describes every interface of the current network namespace.
func List() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("failed to list interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifi := range ifs {
		it := Interface{Name: ifi.Name, Index: ifi.Index, Up: ifi.Flags&net.FlagUp != 0}
		if it.HWType, it.LinkErr = interfaceHWType(ifi.Name); it.LinkErr == nil {
			it.Link, it.LinkErr = linkTypeOf(it.HWType)
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("failed to list addresses of %s: %w", ifi.Name, err)
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if p, ok := prefixOf(ipn); ok {
					it.Addrs = append(it.Addrs, p)
				}
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// LocalAddrs returns the addresses of ifname (IPv4 as 4-byte addresses).
func LocalAddrs(ifname string) ([]netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("failed to read addresses of %s: %w", ifname, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("failed to read addresses of %s: %w", ifname, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if p, ok := prefixOf(ipn); ok {
				out = append(out, p.Addr())
			}
		}
	}
	return out, nil
}

func prefixOf(ipn *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ipn.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, _ := ipn.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}

// DefaultRouteInterface returns the interface of the IPv4 default route
// (the one with the lowest metric), or failing that of the IPv6 default
// route. It never guesses: with no default route it says so.
func DefaultRouteInterface() (string, error) {
	var errs []error
	for _, src := range []struct {
		path  string
		parse func(io.Reader) (string, error)
	}{
		{"/proc/net/route", defaultRoute4},
		{"/proc/net/ipv6_route", defaultRoute6},
	} {
		f, err := os.Open(src.path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		name, err := src.parse(f)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src.path, err))
			continue
		}
		if name != "" {
			return name, nil
		}
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("failed to find the default route's interface (name one with -i): %w", errors.Join(errs...))
	}
	return "", errors.New("no default route: name the interface to watch with -i")
}

const (
	rtfUp     = 0x0001
	rtfReject = 0x0200
)

// defaultRoute4 reads /proc/net/route: a header line, then
// Iface Destination Gateway Flags RefCnt Use Metric Mask ... in hex.
func defaultRoute4(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	best, bestMetric := "", uint64(0)
	for first := true; sc.Scan(); first = false {
		f := strings.Fields(sc.Text())
		if first || len(f) < 8 {
			continue
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		metric, err2 := strconv.ParseUint(f[6], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if f[1] != "00000000" || f[7] != "00000000" || flags&rtfUp == 0 || flags&rtfReject != 0 {
			continue
		}
		if best == "" || metric < bestMetric {
			best, bestMetric = f[0], metric
		}
	}
	return best, sc.Err()
}

// defaultRoute6 reads /proc/net/ipv6_route: dest destlen src srclen
// nexthop metric refcnt use flags iface, in hex. The kernel lists
// unreachable defaults on lo with RTF_REJECT; those are not routes out.
func defaultRoute6(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	best, bestMetric := "", uint64(0)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		metric, err1 := strconv.ParseUint(f[5], 16, 32)
		flags, err2 := strconv.ParseUint(f[8], 16, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if f[0] != strings.Repeat("0", 32) || f[1] != "00" || flags&rtfUp == 0 || flags&rtfReject != 0 || f[9] == "lo" {
			continue
		}
		if best == "" || metric < bestMetric {
			best, bestMetric = f[9], metric
		}
	}
	return best, sc.Err()
}
