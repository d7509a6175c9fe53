// Package nflog is the capture source that reads hits from the kernel's
// firewall log: an nftables or iptables rule with "log group N" (NFLOG)
// hands a copy of each packet it matches to whoever listens on group N.
//
// Why a firewall log. The original port-knocking daemon, Kroon's
// portknock, did not sniff at all: the firewall logged the packets it
// dropped, and the daemon read the log lines ("destination_port
// source_ip") as they came. NFLOG is the modern form of that firewall
// log: the same rule-driven selection, but the packet's headers arrive
// over netlink, at once, instead of as text through syslog. It suits
// hosts where sniffing with AF_PACKET is not wanted (policy, a hardened
// kernel, a firewall team that wants to see in the ruleset exactly what
// is looked at) and lets an administrator decide with an ordinary rule
// what the daemon may see.
//
// The rule only observes. With Options.Install sesame installs its own:
// table inet sesame_nflog_GROUP (TableName: one table per group, so
// daemons on different groups in one network namespace leave each other's
// rules alone), one chain on the input hook at priority -300 (raw, before
// anyone's filter) with policy accept, whose rules log TCP
// and UDP to the sequence ports (interval sets: a cipher knock's 256-port
// window is one range) and, with the scan guard, every probe (a TCP
// segment without ACK, any UDP datagram), each packet at most once, and
// then return. Nothing is ever dropped or accepted on the packet's
// behalf: the administrator's filter decides as before. The table is
// deleted when the source stops. Without Install, the administrator's
// rule must already log to the group; only the packets it logs are seen.
//
// Each logged packet arrives with its IP header first (the rule copies at
// most CopyRange bytes: IP and TCP/UDP headers and the head of the
// payload), and is decoded by packet.Decode as a raw-IP frame. The kernel
// is told to send every packet as soon as it is logged (a queue threshold
// of one), since a knock must reach the matcher within about a
// millisecond (SPEC §5); and to number them, so that packets the kernel
// could not hand over (the socket buffer was full) are counted as drops.
//
// Reading uses github.com/florianl/go-nflog, which delivers packets to a
// callback on a goroutine of its own. The Source wraps it so that the
// contract of capture.Source holds: the callback only queues the payload,
// and Run, on its caller's goroutine, decodes each into one reused Hit and
// hands it to the sink; nothing is delivered after Run returns.
package nflog

import "strconv"

// Options says how Open sets up the source.
type Options struct {
	// Install makes Open install sesame's own log rule for spec (and Close,
	// or Run when it returns, remove it); false means the administrator's
	// rule already logs to the group. The table is named for the group
	// (TableName), so sources on different groups each have their own and
	// neither replaces nor removes the other's. Two sources on one group
	// cannot coexist (the second Open fails with ErrGroupInUse before it
	// installs anything), so a table of the same name that Open finds is a
	// crashed run's, and Open replaces it.
	Install bool
	// NetNSFd, when non-zero, is a network namespace fd for the nftables
	// connection (tests); the nflog netlink socket itself is opened in the
	// caller's current namespace (tests call Open inside Netns.Do). The fd
	// is only used during Open.
	NetNSFd int
}

// TableName is the name of the nftables table (family inet) that Open
// installs for group with Options.Install: "sesame_nflog_GROUP".
func TableName(group uint16) string {
	return "sesame_nflog_" + strconv.FormatUint(uint64(group), 10)
}

// CopyRange is how many bytes of each logged packet the kernel copies to
// the source, from the IP header on: IPv6 (40) with a run of extension
// headers, TCP with options (60), or UDP (8) and the payload head that
// packet.Hit keeps.
const CopyRange = 256
