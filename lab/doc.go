// Package lab measures sesamed against Debian's knockd on the same
// traffic, in network namespaces it builds and removes itself (SPEC §8,
// issue 7). It is a benchmark, run as root by `make bench`:
//
//	go test -run '^$' -bench Lab -benchtime 1x -timeout 60m ./lab
//
// SESAME_LAB=short runs every scenario with small counts (CI does, so the
// lab keeps working); the default is the full run whose table goes into
// BENCHMARKS.md. Each scenario runs each daemon in a fresh lab, one after
// the other, and the table gives both and their ratio:
//
//   - latency from the last knock packet to a usable door (p50, p99), for
//     an nftables door and a command door;
//   - under a background flood of junk at several rates: the share of
//     legitimate knocks that get in, CPU seconds and peak RSS;
//   - under a flood of spoofed first knocks from 1k to 1M addresses: CPU,
//     RSS, and whether (and how fast) a legitimate knock still gets in;
//   - 1,000 legitimate sources knocking at the same time: how many get in.
//
// Every flood is bounded in packets and in time; all traffic stays inside
// the lab's namespaces.
package lab
