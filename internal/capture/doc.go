// Package capture holds the packet sources that feed the matcher: each
// yields decoded hits (packet.Hit) to a Sink.
//
// The AF_PACKET source (Linux) is the default, and its design follows from
// three requirements of SPEC §5.
//
// Latency. A knock must reach the matcher within about a millisecond.
// The source reads a TPACKET_V3 memory-mapped ring: the kernel writes
// packets into blocks shared with user space and wakes the reader when a
// block is retired, either full or when its timer expires. knockd's
// knock-to-open time is almost all the 50 ms of its ring's block timer, a
// lone knock waiting in a half-filled block. Here the block timeout is
// 1 ms (the kernel's minimum) and the blocks are small, so a lone packet
// is handed over within about a millisecond, while a burst still costs one
// wake-up per block rather than one system call per packet.
//
// Copy only what matters. A classic BPF program generated from the
// configuration (Filter) runs in the kernel before a packet is copied: it
// drops the host's own outgoing packets and passes only TCP and UDP to the
// sequence ports, plus, with the scan guard, new-connection packets to any
// port; and only the first SnapLen bytes. Busy servers thus copy almost
// nothing, and the ring is not filled by traffic the matcher would ignore.
// The program is written with a tiny label assembler (asm.go) and searches
// ports as a binary tree over ranges, so large configurations stay within
// the kernel's limits and cheap per packet.
//
// One owner. One goroutine (Run) reads the ring, decodes into a single
// reused Hit without allocating, and calls the sink synchronously; it alone
// closes the socket, after its read loop has exited, because unmapping the
// ring under a concurrent reader would be a use-after-unmap. Run notices
// cancellation through a short poll timeout.
//
// Transport checksums are never validated: with checksum offload (veth,
// most NICs) a captured packet's checksum is often not filled in yet.
package capture
