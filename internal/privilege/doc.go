// Package privilege drops the capabilities sesamed does not need once it
// is set up, on every thread, so that neither a bug in the daemon nor a
// command it runs holds more than capturing packets and changing the
// firewall require.
//
// sesamed stays uid 0: knockd.conf's commands expect to run as root, and
// its files are root's. Capabilities, not the uid, are what make root
// powerful, so Keep narrows all of them to the ones the daemon goes on
// using (CAP_NET_RAW for AF_PACKET, CAP_NET_ADMIN for nftables, iptables,
// NFLOG; CAP_NET_BIND_SERVICE for a UDP capture on a port below 1024):
//
//   - the bounding set first. When a uid-0 process calls execve, the new
//     program's permitted and effective sets become the bounding set
//     (capabilities(7), "Capabilities and execution of programs by
//     root"), so a daemon that only emptied its own sets would hand every
//     capability back to each command it runs. Dropping from the bounding
//     set needs CAP_SETPCAP in the effective set, so it comes before the
//     rest;
//   - the ambient set, which would also survive execve, is cleared;
//   - then capset(2) leaves the effective and permitted sets equal to the
//     kept capabilities and the inheritable set empty.
//
// Capability sets belong to threads, not processes, and a Go program has
// many threads it does not control. Every step is therefore made with
// syscall.AllThreadsSyscall, which the runtime runs on all of its threads
// at once, and threads started later inherit the result. The runtime
// cannot do that in a binary linked with cgo, whose C threads it does not
// know of, so Keep refuses there (ErrCgo): sesame is built with
// CGO_ENABLED=0.
//
// Keep checks everything it can before its first irreversible step: that
// the kept capabilities are permitted, and that CAP_SETPCAP is effective
// if the bounding set must shrink. Under systemd the unit's
// CapabilityBoundingSet= has already narrowed the set, so it needs
// CAP_SETPCAP only for the daemon to narrow it further.
//
// Threads and ThreadsOf read back what every thread holds, from
// /proc/PID/task/TID/status, so tests can check every thread rather than
// the one that happened to run the check.
package privilege
