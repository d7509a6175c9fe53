package capture

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/sesame-knock/sesame/internal/packet"
)

// attachToUDPSocket loads prog into the kernel's classic BPF checker by
// attaching it to an unbound UDP socket (no privilege needed).
func attachToUDPSocket(t *testing.T, prog []bpf.Instruction) {
	t.Helper()
	raw, err := bpf.Assemble(prog)
	if err != nil {
		t.Fatalf("assemble: %v", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no UDP socket: %v", err)
		}
		t.Skipf("no UDP socket: %v", err)
	}
	defer unix.Close(fd)
	// bpf.RawInstruction and the kernel's sock_filter share a layout.
	fprog := unix.SockFprog{Len: uint16(len(raw)), Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		t.Fatalf("kernel rejects the %d-instruction program: %v", len(raw), err)
	}
}

func TestFilterKernelAccepts(t *testing.T) {
	t.Parallel()
	specs := map[string]FilterSpec{
		"empty":     {},
		"typical":   {TCPPorts: []uint16{7000, 8000, 9000}, UDPPorts: []uint16{7500}, ScanGuard: true},
		"1000+1000": {TCPPorts: spreadPorts(1000, 1000, 7), UDPPorts: spreadPorts(1000, 1001, 11)},
		"fallback":  {TCPPorts: spreadPorts(5000, 2, 3), UDPPorts: spreadPorts(3000, 3, 3)},
	}
	for name, spec := range specs {
		for _, link := range []packet.LinkType{packet.LinkEthernet, packet.LinkRaw} {
			prog, err := Filter(spec, link)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			attachToUDPSocket(t, prog)
		}
	}
}
