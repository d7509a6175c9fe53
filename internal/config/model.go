// Package config turns the configurations sesame reads (knockd.conf,
// tportknockd's blocks, port-knocking-doors' TOML, and doors given on the
// command line or in the environment) into one model: a list of events,
// each with a sequence, match options and actions.
//
// Parsers never panic and report every problem as "file:line: what is
// wrong", so that `sesamed --check` can show an administrator all mistakes
// at once instead of the first one.
package config

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Defaults taken from knockd 0.8.
const (
	DefaultSeqTimeout = 25 * time.Second
	DefaultCmdTimeout = 10 * time.Second
	// MaxSequence is knockd's limit on the number of elements in a sequence.
	MaxSequence = 32
)

// Config is a whole, validated configuration.
type Config struct {
	// Source names where the configuration came from (a file path).
	Source string
	// Format is the syntax it was read in: FormatKnockd ("knockd.conf"),
	// FormatTportknockd ("tportknockd") or FormatPortKnocker
	// ("port-knocking-doors"). "" means knockd.conf.
	Format  string
	Options Options
	Events  []Event

	// notes are the parser's warnings (see Warnings): things knockd
	// accepts and sesame reads the same way, but that look like mistakes.
	notes Errors
}

// Options are the global settings (knockd's [options] section).
type Options struct {
	UseSyslog  bool
	LogFile    string
	PidFile    string
	Interfaces []string // from Interface = (knockd allows one; sesame allows a comma list)

	// sesame additions (also [options] directives).
	ScanGuard   bool // ScanGuard = on|off; default on
	MaxAttempts int  // MaxAttempts = N; attempts in progress kept at most (default DefaultMaxAttempts)
	// StateDir holds what must survive a restart: the replay cache of
	// TOTP and cipher knocks ("" = DefaultStateDir).
	StateDir string
	// Capture lists where hits come from (SPEC §5); empty means AF_PACKET
	// on the interfaces.
	Capture []Capture
}

// DefaultMaxAttempts bounds the attempts in progress the matcher keeps.
const DefaultMaxAttempts = 1 << 16

// Event is one knock and what it opens (a knockd [section]).
type Event struct {
	Name string
	Pos  Pos // where the section starts

	// Sequence is the static sequence. It is empty when OneTimeFile is set
	// (the sequence then comes from that file at run time).
	Sequence    []Element
	OneTimeFile string
	// TOTP and Cipher are the replay-proof sources (SPEC §4.3, §4.4); at
	// most one of Sequence, OneTimeFile, TOTP and Cipher is set.
	TOTP   *TOTP
	Cipher *Cipher

	SeqTimeout time.Duration
	Flags      FlagRule // knockd's TCPFlags; applies to TCP hits only
	// Payload, when set, is the exact payload a UDP knock must carry
	// (port-knocking-doors' "knock\n"); a datagram with another payload
	// on a sequence port is a wrong knock.
	Payload string
	// Lockout, when set, is how long a source that failed an attempt is
	// ignored by the event (port-knocking-doors'
	// ignoring_period_after_knock_error).
	Lockout time.Duration

	// The commands run for a successful knock. StartCommand6 and
	// StopCommand6 are what runs for an IPv6 source, already resolved: the
	// knockd.conf parser copies Start_Command/Stop_Command into them when
	// no _6 variant is given (knockd's fallback), and an empty _6 value
	// stays empty (knockd: do nothing). An empty start command runs
	// nothing, and then no stop command either.
	StartCommand  string
	StartCommand6 string // for IPv6 sources (knockd's Start_Command_6)
	StopCommand   string
	StopCommand6  string
	CmdTimeout    time.Duration

	// Target, when valid, is the destination address hits must be sent to
	// (knockd's Target); otherwise the addresses of the capture interface.
	Target netip.Addr

	// A native door (sesame's Open directive): the daemon itself admits
	// the knocking source to these ports for OpenTimeout.
	Open        []Port
	OpenTimeout time.Duration
	// Firewall is the backend: "nftables", "iptables", "firewalld", or ""
	// for the default (nftables where the kernel has it, else iptables).
	Firewall string
	// NftTable, when set ("inet filter"), puts the nftables door in set
	// mode: sesame's sets live in that table of the administrator's, whose
	// own rules reference them. Empty means guard mode (sesame's own table).
	NftTable string
	// FirewalldZone is the firewalld zone ("" = firewalld's default zone).
	FirewalldZone string
}

// Firewall backends.
const (
	FirewallNftables  = "nftables"
	FirewallIptables  = "iptables"
	FirewallFirewalld = "firewalld"
)

// DefaultOpenTimeout is how long a native door stays open by default.
const DefaultOpenTimeout = 30 * time.Second

// Port is one protocol and port a native door admits to.
type Port struct {
	Proto packet.Proto
	Port  uint16
}

func (p Port) String() string { return p.Proto.String() + ":" + strconv.Itoa(int(p.Port)) }

// Element is one knock of a sequence.
type Element struct {
	Proto packet.Proto
	Port  uint16
	// Flags, for tportknockd frames, is the exact flag set this element
	// requires. The zero value (Exact false) accepts any flags, which is
	// knockd's meaning of a sequence element.
	Flags FrameFlags
}

// FrameFlags is an element's own flag requirement.
type FrameFlags struct {
	Exact bool            // require Value exactly (of the six classic flags)
	Value packet.TCPFlags // meaningful only when Exact
}

// Matches reports whether a hit with flags f satisfies the element's flags.
func (ff FrameFlags) Matches(f packet.TCPFlags) bool {
	return !ff.Exact || f&packet.AllFlags == ff.Value
}

// FlagRule is knockd's TCPFlags: flags that must be set and flags that
// must be clear (written with a leading '!'). The zero rule accepts all.
type FlagRule struct {
	Set   packet.TCPFlags
	Clear packet.TCPFlags
}

// Allows reports whether a TCP hit with flags f passes the rule.
func (r FlagRule) Allows(f packet.TCPFlags) bool {
	return f&r.Set == r.Set && f&r.Clear == 0
}

// IsZero reports whether the rule accepts every hit.
func (r FlagRule) IsZero() bool { return r.Set == 0 && r.Clear == 0 }

// Pos is a position in a configuration file.
type Pos struct {
	File string
	Line int
}
