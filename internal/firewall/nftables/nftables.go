// Package nftables is sesame's nftables door: the daemon talks nf_tables
// netlink directly (through google/nftables, one lasting connection) and
// never runs the nft program.
//
// # Doors are set elements with a timeout
//
// A door is one element (source address . protocol . port) of a set whose
// type is
//
//	ipv4_addr . inet_proto . inet_service   (set sesame_v4)
//	ipv6_addr . inet_proto . inet_service   (set sesame_v6)
//
// created with "flags timeout", and every element carries the door's own
// timeout. The kernel, not the daemon, removes an element when its time is
// up, so a door closes on time even if sesamed is killed with SIGKILL, and a
// restarted daemon finds the doors that are still open (Reconcile keeps
// them). A repeated knock refreshes the timeout: re-adding an existing
// element does not refresh it (not even on 6.18), and deleting an absent
// element fails the whole batch, so Open sends, in one atomic batch, "add"
// (creates the element if missing, a no-op otherwise), "delete", and "add"
// again with the new timeout.
//
// # Guard mode and set mode
//
// An accept verdict in one nftables table does not stop a drop in another
// table: every base chain on the hook sees the packet. So an allow-list set
// is only useful next to a rule that drops everything else, and the package
// offers two ways to get one.
//
// Guard mode (the default) owns the table "inet sesame": the two door sets,
// a constant set "guarded" (inet_proto . inet_service) of the protected
// ports, and a base chain "input" (hook input, priority filter - 10, policy
// accept) that does
//
//	meta l4proto . th dport != @guarded accept          not our business
//	ip saddr . meta l4proto . th dport @sesame_v4 accept  an open door
//	ip6 saddr . meta l4proto . th dport @sesame_v6 accept
//	tcp flags & (syn | ack) == syn drop                 new TCP connection, no door
//	                                  (nft prints it as "tcp flags syn / syn,ack drop")
//	ct state established,related accept                 connections outlive the door
//	drop
//
// A drop is final in nftables, so the guard holds whatever other tables the
// host has. The SYN rule comes before the conntrack rule on purpose: a SYN
// that reuses the tuple of a recently reset connection must not slip
// through as "established".
//
// Set mode only creates sesame_v4 and sesame_v6 in a table the
// administrator names (Config.Family, Config.Table, which must exist), and
// the administrator's own rules reference @sesame_v4 and @sesame_v6, e.g.
//
//	ip saddr . meta l4proto . th dport @sesame_v4 accept
//	tcp dport 22 drop
//
// Both sets are created whatever the table's family (in an ip table the
// v6 set simply stays unused). Cleanup deletes them, which the kernel
// refuses while a rule still references them.
//
// # Reconcile
//
// Reconcile creates what is missing. In guard mode it replaces the guarded
// set and the chain's rules in one batch, leaving the door sets (and the
// doors open in them) untouched. A door set of the wrong type (an older
// layout) is deleted and created again; its doors are lost, and Notes
// reports it, since the package has no logger.
package nftables

import (
	"fmt"
	"strings"

	"github.com/mdlayher/netlink/nltest"
)

// Mode says what sesame owns in nftables.
type Mode int

const (
	// Guard: sesame's own table inet sesame with a dropping chain.
	Guard Mode = iota
	// SetOnly: only the door sets, in the administrator's table.
	SetOnly
)

func (m Mode) String() string {
	switch m {
	case Guard:
		return "guard"
	case SetOnly:
		return "set"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Names sesame gives to what it creates.
const (
	TableName  = "sesame"    // guard mode's table (family inet)
	ChainName  = "input"     // guard mode's base chain
	SetV4      = "sesame_v4" // IPv4 doors
	SetV6      = "sesame_v6" // IPv6 doors
	GuardedSet = "guarded"   // guard mode's protected ports
)

// Config chooses the mode and, in set mode, the administrator's table.
type Config struct {
	Mode Mode
	// Family and Table name the administrator's table in set mode;
	// Family is "inet" (default), "ip" or "ip6". Guard mode ignores
	// both and uses table inet sesame.
	Family string
	Table  string
	// NetNSFd, if not 0, is an open network namespace file descriptor
	// to operate in (tests); 0 is the current namespace.
	NetNSFd int

	testDial nltest.Func // tests: a netlink test dialer instead of the kernel
}

// validate checks the configuration and returns the family in canonical
// form.
func (c Config) validate() (string, error) {
	switch c.Mode {
	case Guard:
		return "inet", nil
	case SetOnly:
	default:
		return "", fmt.Errorf("unknown mode %d", int(c.Mode))
	}
	fam := strings.ToLower(strings.TrimSpace(c.Family))
	switch fam {
	case "":
		fam = "inet"
	case "inet", "ip", "ip6":
	default:
		return "", fmt.Errorf("set mode: family %q is not inet, ip or ip6", c.Family)
	}
	if c.Table == "" {
		return "", fmt.Errorf("set mode needs the name of the administrator's table")
	}
	return fam, nil
}
