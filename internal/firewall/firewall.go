// Package firewall is sesame's native doors: instead of running an
// administrator's command, the daemon itself makes the firewall admit one
// source to a few ports for a while.
//
// Every backend keeps a door as a kernel object with its own timeout (an
// nftables set element, an ipset entry, a firewalld rule with a timeout),
// so the kernel — not the daemon — closes it: a door closes on time even
// if sesamed is killed. Opening an open door refreshes its timeout and
// never adds a duplicate. At start-up a backend reconciles what it finds
// with what the configuration asks for, keeping doors already open.
//
// The backends live in subpackages (nftables, iptables, firewalld); this
// package holds what they share, so the daemon depends on one interface.
package firewall

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/sesame-knock/sesame/internal/config"
)

// Port is one protocol and port a door admits to (the configuration's
// type: Open = tcp:22,udp:1194).
type Port = config.Port

// Door is one source admitted to some ports for a time.
type Door struct {
	Src     netip.Addr // IPv4 (4-byte) or IPv6
	Ports   []Port
	Timeout time.Duration
}

// Entry is one (source, port) pair a backend finds open.
type Entry struct {
	Src     netip.Addr
	Port    Port
	Expires time.Duration // time left, as the kernel reports it (0 if unknown)
}

func (e Entry) String() string {
	return e.Src.String() + " " + e.Port.String() + " expires " + e.Expires.Round(time.Second).String()
}

// Backend is one firewall.
type Backend interface {
	// Name is the backend's name in logs and errors ("nftables").
	Name() string
	// Reconcile makes the firewall hold what the configuration asks for:
	// in guard mode, sesame's own drop rules for the guarded ports and the
	// sets of open doors; in set mode, the sets in the administrator's
	// table. Doors already open in the kernel are kept. It is called once
	// at start-up before any knock is matched; its error is a start-up
	// error and names the backend and what to do.
	Reconcile(ctx context.Context, guarded []Port) error
	// Open admits every door's source to its ports until its timeout. A
	// door already open has its timeout refreshed, never duplicated. One
	// call is one atomic change where the firewall allows it.
	Open(ctx context.Context, doors []Door) error
	// List returns the doors open now.
	List(ctx context.Context) ([]Entry, error)
	// Cleanup removes everything sesame put in the firewall.
	Cleanup(ctx context.Context) error
	// Close releases the backend's connection; open doors stay open
	// until their timeouts.
	Close() error
}

// Error is a backend failure: which backend, what it was doing, why, and
// what the administrator can do about it.
type Error struct {
	Backend string
	Op      string // "reconcile", "open", "list", "cleanup", "connect"
	Err     error
	Hint    string // optional: what to do
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Backend + ": failed to " + e.Op + ": " + e.Err.Error())
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }
