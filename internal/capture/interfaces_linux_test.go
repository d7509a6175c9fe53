package capture

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/packet"
)

func TestDefaultRoute4(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, table, want string }{
		{"default", `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth1	0012A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
eth0	00000000	0100A8C0	0003	0	0	100	00000000	0	0	0
wlan0	00000000	0101A8C0	0003	0	0	600	00000000	0	0	0
`, "eth0"},
		{"lowest metric wins", `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
wlan0	00000000	0101A8C0	0003	0	0	600	00000000	0	0	0
enp3s0	00000000	0100A8C0	0003	0	0	20	00000000	0	0	0
`, "enp3s0"},
		{"no default", `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth1	0012A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
`, ""},
		{"down route", `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	0100A8C0	0002	0	0	100	00000000	0	0	0
`, ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		got, err := defaultRoute4(strings.NewReader(tt.table))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestDefaultRoute6(t *testing.T) {
	t.Parallel()
	z := strings.Repeat("0", 32)
	tests := []struct{ name, table, want string }{
		{"default", "fd005e5a000000000000000000000000 40 " + z + " 00 " + z + " 00000100 00000001 00000000 00000001     eth1\n" +
			z + " 00 " + z + " 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n", "eth0"},
		{"unreachable on lo", z + " 00 " + z + " 00 " + z + " ffffffff 00000001 00000000 00200200       lo\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		got, err := defaultRoute6(strings.NewReader(tt.table))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestLinkTypeOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hw   uint16
		want packet.LinkType
	}{
		{unix.ARPHRD_ETHER, packet.LinkEthernet},
		{unix.ARPHRD_LOOPBACK, packet.LinkEthernet},
		{unix.ARPHRD_NONE, packet.LinkRaw},
		{unix.ARPHRD_PPP, packet.LinkRaw},
		{unix.ARPHRD_RAWIP, packet.LinkRaw},
		{unix.ARPHRD_SIT, packet.LinkRaw},
		{unix.ARPHRD_IPGRE, packet.LinkRaw},
		{unix.ARPHRD_CAN, 0},
		{unix.ARPHRD_IEEE80211_RADIOTAP, 0},
	}
	for _, tt := range tests {
		got, err := linkTypeOf(tt.hw)
		if got != tt.want || (err != nil) != (tt.want == 0) {
			t.Errorf("linkTypeOf(%d) = %d, %v; want %d", tt.hw, got, err, tt.want)
		}
	}
}

func TestLoopback(t *testing.T) {
	t.Parallel()
	hw, err := interfaceHWType("lo")
	if err != nil {
		t.Fatal(err)
	}
	if hw != unix.ARPHRD_LOOPBACK {
		t.Errorf("lo has type %d, want %d", hw, unix.ARPHRD_LOOPBACK)
	}
	if _, err := interfaceHWType("sesame-nosuch0"); err == nil || !strings.Contains(err.Error(), "no interface") {
		t.Errorf("missing interface: %v", err)
	}
	ifs, err := List()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ifs, func(i Interface) bool { return i.Name == "lo" })
	if i < 0 {
		t.Fatalf("List has no lo: %+v", ifs)
	}
	if ifs[i].Link != packet.LinkEthernet || ifs[i].LinkErr != nil {
		t.Errorf("lo: %+v", ifs[i])
	}
	for _, it := range ifs {
		t.Logf("%+v", it)
	}
	if ifs[i].Up {
		addrs, err := LocalAddrs("lo")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(addrs, netip.MustParseAddr("127.0.0.1")) {
			t.Errorf("LocalAddrs(lo) = %v, want 127.0.0.1 among them", addrs)
		}
	}
	if _, err := LocalAddrs("sesame-nosuch0"); err == nil {
		t.Error("LocalAddrs of a missing interface succeeded")
	}
}

func TestDefaultRouteInterface(t *testing.T) {
	t.Parallel()
	// The sandbox may have no default route; either way the answer is an
	// interface name or an error, never a guess.
	name, err := DefaultRouteInterface()
	t.Logf("default route interface: %q, %v", name, err)
	if err == nil && name == "" {
		t.Error("no error and no name")
	}
}

func TestOpenAFPacketErrors(t *testing.T) {
	t.Parallel()
	_, err := OpenAFPacket("sesame-nosuch0", FilterSpec{})
	if err == nil || !strings.HasPrefix(err.Error(), "failed to open capture on sesame-nosuch0: ") {
		t.Errorf("err = %v", err)
	}
}
