// Package iptables is sesame's native door for hosts that filter with
// iptables, legacy or nft-backed: the doors are ipset entries with kernel
// timeouts, and a chain of sesame's own guards the protected ports.
//
// # Layout
//
// In table filter, for IPv4 (iptables) and IPv6 (ip6tables):
//
//	-A INPUT -j SESAME                  exactly one jump, at position 1
//	-A SESAME <port> -m set --match-set sesame_v4 src,dst -j ACCEPT
//	-A SESAME <tcp port> -m tcp --tcp-flags SYN,ACK SYN -j DROP
//	-A SESAME <port> -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
//	-A SESAME <port> -j DROP
//
// where <port> is "-p tcp|udp -m multiport --dports P1,P2,..." (at most 15
// ports per rule, multiport's limit). Read top to bottom: a packet to a
// guarded port from a source with a door to that protocol and port is
// accepted; a new TCP connection (SYN without ACK, judged by the flags and
// not by conntrack alone, so a SYN that reuses the tuple of a recently
// reset connection cannot pass as "established") is dropped; established
// and related traffic returns to INPUT, where the host's own rules decide
// as they did before sesame; anything else to a guarded port (a new UDP
// datagram, a stray TCP segment conntrack does not know) is dropped.
// Traffic to other ports never matches a SESAME rule and returns to INPUT
// untouched.
//
// A door is an entry (source, protocol:port) in the ipset sesame_v4 or
// sesame_v6 (type hash:ip,port, created with timeout support), written over
// netlink. Every entry carries its own timeout, so the kernel — not the
// daemon — closes the door: a door closes on time even if sesamed is
// SIGKILLed, and no stop command or daemon state can be lost. Opening an
// open door re-adds the entry without NLM_F_EXCL (ipset's "-exist"), which
// on this kernel replaces the entry's timeout: the door is refreshed, never
// duplicated.
//
// # Reconcile
//
// Reconcile creates the sets if they are missing and keeps their entries
// (doors open before a restart stay open). It then rebuilds SESAME by
// build-and-swap rather than flush-and-refill: the new rules go into a
// staging chain SESAME-NEW that no packet reaches yet; one iptables command
// (replace or insert at INPUT position 1, a single table replacement for
// iptables-legacy, a single transaction for iptables-nft) moves the jump to
// the staging chain; the old chain is then removed and the staging chain
// renamed SESAME (renaming a referenced chain does not touch the packet
// path). So at every moment a packet meets either the complete old rule
// set or the complete new one, never a half-filled chain: a flush and
// refill would leave the guarded ports open for the tens of milliseconds
// the iptables commands take. A swap cut short by a crash is completed or
// undone by the next Reconcile.
//
// # Namespaces
//
// Config.NetNSFd makes the backend work in another network namespace
// (tests). The ipset netlink socket is opened in it; go-iptables runs the
// iptables binary, so every command is run from a goroutine locked to an
// OS thread that has entered the namespace (a forked child inherits the
// thread's namespace). The thread is never returned to the scheduler: the
// goroutine exits locked and the Go runtime discards the thread.
package iptables
