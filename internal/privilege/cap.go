package privilege

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Cap is a Linux capability, by its number (capabilities(7)).
type Cap int

// The capabilities sesamed keeps, or needs while it drops the others.
const (
	SetPCap        Cap = 8  // CAP_SETPCAP: drop from the bounding set
	NetBindService Cap = 10 // CAP_NET_BIND_SERVICE: a UDP capture on a port below 1024
	NetAdmin       Cap = 12 // CAP_NET_ADMIN: nftables, iptables, NFLOG
	NetRaw         Cap = 13 // CAP_NET_RAW: AF_PACKET capture, raw sockets
)

// capNames are the names of capabilities 0 to 40 (CAP_LAST_CAP of Linux
// 5.9 to at least 6.18), without the cap_ prefix.
var capNames = [...]string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
	"setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service",
	"net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
	"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
	"sys_tty_config", "mknod", "lease", "audit_write", "audit_control",
	"setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

// String is the capability's name as capabilities(7) and capsh(1) write
// it, cap_net_raw; cap_N for one newer than this list.
func (c Cap) String() string {
	if c >= 0 && int(c) < len(capNames) {
		return "cap_" + capNames[c]
	}
	return "cap_" + strconv.Itoa(int(c))
}

// Set is a set of capabilities as the kernel writes it: bit N is
// capability N.
type Set uint64

// SetOf is the set of caps. Numbers outside 0 to 63 are left out.
func SetOf(caps ...Cap) Set {
	var s Set
	for _, c := range caps {
		if c >= 0 && c < 64 {
			s |= 1 << c
		}
	}
	return s
}

// Has reports whether c is in s.
func (s Set) Has(c Cap) bool { return c >= 0 && c < 64 && s&(1<<c) != 0 }

// Caps lists s in increasing order.
func (s Set) Caps() []Cap {
	var caps []Cap
	for c := Cap(0); c < 64; c++ {
		if s.Has(c) {
			caps = append(caps, c)
		}
	}
	return caps
}

// String lists the names in s in increasing order, separated by commas
// (cap_net_admin,cap_net_raw), or is "none".
func (s Set) String() string {
	if s == 0 {
		return "none"
	}
	var b strings.Builder
	for _, c := range s.Caps() {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.String())
	}
	return b.String()
}

// ThreadCaps are the capability sets of one thread.
type ThreadCaps struct {
	TID         int // the thread's id (its status file's Pid: line); 0 if absent
	Inheritable Set // CapInh
	Permitted   Set // CapPrm
	Effective   Set // CapEff
	Bounding    Set // CapBnd
	Ambient     Set // CapAmb
}

// String is one line for logs and test failures.
func (tc ThreadCaps) String() string {
	return fmt.Sprintf("tid=%d inh=%v prm=%v eff=%v bnd=%v amb=%v",
		tc.TID, tc.Inheritable, tc.Permitted, tc.Effective, tc.Bounding, tc.Ambient)
}

// ErrCgo is why Keep fails in a binary linked with cgo.
var ErrCgo = errors.New("built with cgo; build with CGO_ENABLED=0 to drop capabilities")

// ParseStatus reads the capability sets from the text of a
// /proc/PID/status or /proc/PID/task/TID/status file. The five Cap lines
// (CapInh, CapPrm, CapEff, CapBnd, CapAmb) must each be there once, with
// one to sixteen hexadecimal digits; the Pid line is read if present;
// other lines are ignored.
func ParseStatus(status []byte) (ThreadCaps, error) {
	var tc ThreadCaps
	sets := []struct {
		key string
		set *Set
	}{
		{"CapInh", &tc.Inheritable},
		{"CapPrm", &tc.Permitted},
		{"CapEff", &tc.Effective},
		{"CapBnd", &tc.Bounding},
		{"CapAmb", &tc.Ambient},
	}
	var seen [5]bool
	pidSeen := false
	for n, line := range strings.Split(string(status), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		if key == "Pid" {
			if pidSeen {
				return ThreadCaps{}, fmt.Errorf("status line %d: Pid given twice", n+1)
			}
			pidSeen = true
			pid, err := strconv.ParseUint(value, 10, 31) // a pid_t, positive
			if err != nil || pid == 0 {
				return ThreadCaps{}, fmt.Errorf("status line %d: invalid Pid %q", n+1, value)
			}
			tc.TID = int(pid)
			continue
		}
		for i, s := range sets {
			if key != s.key {
				continue
			}
			if seen[i] {
				return ThreadCaps{}, fmt.Errorf("status line %d: %s given twice", n+1, key)
			}
			seen[i] = true
			if len(value) > 16 {
				return ThreadCaps{}, fmt.Errorf("status line %d: %s %q is longer than 64 bits", n+1, key, value)
			}
			mask, err := strconv.ParseUint(value, 16, 64)
			if err != nil {
				return ThreadCaps{}, fmt.Errorf("status line %d: %s %q is not a hexadecimal mask", n+1, key, value)
			}
			*s.set = Set(mask)
		}
	}
	for i, s := range sets {
		if !seen[i] {
			return ThreadCaps{}, fmt.Errorf("no %s line in the status", s.key)
		}
	}
	return tc, nil
}
