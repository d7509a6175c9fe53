// Package netlab builds throw-away network labs for sesame's end-to-end tests
// and benchmarks: a server namespace and one or more client namespaces, each
// joined by a veth pair to a bridge in a hub namespace, so a daemon capturing
// on the server's single interface sees every client.
//
// The lab is the only network the tests touch, and these rules keep it so:
//
//   - Every address comes from the benchmarking ranges 198.18.0.0/15 (RFC 2544)
//     and the private fd00:5e5a::/64 (RFC 4193), and is assigned only to
//     interfaces inside namespaces the lab created. The server is 198.18.0.1
//     and fd00:5e5a::1; client i is 198.18.0.0+((i+1)<<12)+1 and
//     fd00:5e5a::(i+1):1, its extra addresses follow it (…+2, …+3).
//   - No route is ever added: all lab addresses are on-link, and nothing in the
//     lab can reach the host's real interfaces. The veth pairs are created
//     directly inside the lab's namespaces; no link ever appears on the host.
//   - IPv6 addresses are added with nodad and DAD is disabled in each
//     namespace, so an address is usable the moment it is added.
//   - Namespaces are named sesamelab-PID-N-ROLE. t.Cleanup kills the processes
//     the lab started (by process group, which each started process leads) and
//     deletes the namespaces, also when the test fails. A new lab first sweeps
//     namespaces with that prefix whose PID no longer runs: leftovers of a
//     crashed earlier run of these tests, never anything of anyone else.
//
// The lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN). RequireRoot skips a test
// without it, except under CI=true, where it fails instead: CI must run these.
//
// Sockets are opened inside a namespace from Go (Netns.Do runs a function on
// a locked OS thread that has joined the namespace; the thread is discarded
// afterwards), and programs run in it through "ip netns exec".
package netlab
