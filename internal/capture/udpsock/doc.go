// Package udpsock is the `udp` capture source: real UDP sockets bound on
// the sequence ports, for hosts where sniffing is not possible (a container
// without CAP_NET_RAW, a kernel without AF_PACKET or NFLOG, a platform where
// the daemon may only bind ports). It is port-knocking-doors' model: the
// client sends one datagram ("knock\n") to each port of the sequence, and
// the server reads them like any UDP service would.
//
// # The trade-off
//
// A bound UDP port answers no ICMP port-unreachable. A scanner that gets no
// answer from a UDP port reports it as open|filtered, so on a host that is
// otherwise answering, the knock ports stand out as "not closed": someone
// probing the host learns which ports belong to the sequence (though not
// their order, nor any payload or one-time part of it). The afpacket and
// nflog sources leave the ports closed, answering exactly like every other
// unused port, and see TCP knocks too; prefer them wherever they can run.
// This source carries only UDP knocks, and a firewall that drops the
// datagrams before they reach the socket hides them from it.
//
// # How hits are read
//
// Open binds one socket per port and address family: IPv4 on 0.0.0.0 and,
// unless Options.IPv4Only, IPv6 on [::] with IPV6_V6ONLY, so that the two
// never clash and an IPv4 knock never arrives as a v4-mapped address. Each
// socket asks for the datagram's destination address (IP_PKTINFO,
// IPV6_RECVPKTINFO), because the matcher compares a hit's Dst with the
// host's addresses and with a door's Target, and for the kernel's count of
// datagrams it dropped on a full receive queue (SO_RXQ_OVFL), which feeds
// Stats.Drops when the socket's next datagram is read.
//
// One goroutine serves every socket: Run waits in epoll_wait on all of
// them and reads each ready socket with recvmsg(2), so a configuration with
// hundreds of ports (a TOTP range, a cipher window) costs file descriptors
// but no goroutines, and the sink is called exactly as capture.Sink
// documents: synchronously, from Run's goroutine only, one call at a time,
// with a reused *packet.Hit. The read path does not allocate: the message
// header, the address, the control buffer and the payload buffer are set up
// once, the system call is made directly, and the address and control
// messages are parsed in place. Only the first packet.HeadSize bytes of a
// datagram are copied out of the kernel; MSG_TRUNC makes recvmsg report the
// datagram's full length, which becomes the hit's PayloadLen, so a payload
// check ("knock\n") still sees a longer datagram as a different payload.
//
// Run notices cancellation through an eventfd in the same epoll set, so it
// returns promptly without polling. It closes the sockets itself, after its
// read loop has exited.
//
// The sockets live in the network namespace of the thread that called Open.
// The package works on Linux only; elsewhere Open reports that it is not
// supported.
package udpsock

// Options shape a Listener.
type Options struct {
	// IPv4Only binds only the IPv4 sockets. Without it, a host whose kernel
	// has no IPv6 at all (EAFNOSUPPORT) is served on IPv4 alone, but any
	// other failure to bind [::] fails Open.
	IPv4Only bool
}
