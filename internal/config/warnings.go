package config

import (
	"fmt"

	"github.com/sesame-knock/sesame/internal/packet"
)

// Warnings lists what is legal but probably not what the administrator
// wants, one "file:line: msg" per entry in file order, for `sesamed
// --check`: things the parser noticed (UseSyslog inside an event, a Target
// knockd would never match as written) and sequences a port scan walks.
// Each format is spoken in its own words: knockd.conf's [NAME] and
// Start_Command, tportknockd's <NAME> and start_command,
// port-knocking-doors' opening_sequence and ports_to_controls.
func (c *Config) Warnings() []string {
	ws := append(Errors(nil), c.notes...)
	w := wordsOf(c.Format)
	if len(c.Events) == 0 {
		ws = append(ws, Error{Pos{c.Source, 0}, w.noEvents})
	}
	for _, ev := range c.Events {
		if ev.StartCommand == "" && ev.StartCommand6 == "" && len(ev.Open) == 0 {
			ws = append(ws, Error{ev.Pos, fmt.Sprintf("%s has no %s: a successful knock does nothing", w.event(&ev), w.action)})
		}
		guardOff := "ScanGuard is off"
		if c.Options.ScanGuard && !c.Options.SeesProbes() {
			guardOff = "Capture = udp sees only the sequence ports (no scan guard)"
		}
		guard := c.Options.ScanGuard && c.Options.SeesProbes()
		if msg := scanWalks(ev.Sequence, guard, ev.Payload).say(w.label(&ev), w.sequence(&ev), ev.Payload, guardOff); msg != "" {
			ws = append(ws, Error{ev.Pos, w.prefix(&ev) + msg})
		}
		if c.Format == FormatPortKnocker && isExampleSequence(ev.Sequence) {
			ws = append(ws, Error{ev.Pos, fmt.Sprintf("%s %s is the example of port-knocking-doors' help: anyone who has read it can knock; choose your own ports", w.label(&ev), w.sequence(&ev))})
		}
	}
	if c.Options.ScanGuard && !c.Options.SeesProbes() {
		ws = append(ws, Error{Pos{c.Source, 0}, "Capture = udp: the scan guard cannot work, since UDP sockets see only the sequence ports; and a bound port answers no ICMP port-unreachable, so a UDP scan tells the knock ports from closed ones (only their order stays secret). Prefer afpacket or nflog:GROUP, or drop unsolicited UDP in the firewall"})
	}
	var out []string
	for _, w := range ws.sorted() {
		out = append(out, w.Error())
	}
	return out
}

// words are how a format names its parts in warnings.
type words struct {
	noEvents string
	action   string // what makes a knock do something
	event    func(ev *Event) string
	prefix   func(ev *Event) string // before a message about the sequence
	label    func(ev *Event) string // what the sequence is called
	sequence func(ev *Event) string // the sequence, written as the format does
}

func wordsOf(format string) words {
	switch format {
	case FormatTportknockd:
		return words{
			noEvents: "no events (no <NAME> ... </NAME> blocks): nothing will ever be opened",
			action:   "start_command",
			event:    func(ev *Event) string { return "event <" + ev.Name + ">" },
			prefix:   func(ev *Event) string { return "event <" + ev.Name + ">: " },
			label:    func(*Event) string { return "sequence" },
			sequence: func(ev *Event) string {
				s, err := FormatTportSequence(ev.Sequence)
				if err != nil {
					s = FormatSequence(ev.Sequence)
				}
				return s
			},
		}
	case FormatPortKnocker:
		return words{
			noEvents: "no door: nothing will ever be opened",
			action:   pkPorts,
			event:    func(*Event) string { return "the door" },
			prefix:   func(*Event) string { return "" },
			label: func(ev *Event) string {
				if ev.Pos.Line > 0 {
					return pkSequence
				}
				return "magic sequence" // from -m/--magic-seq or KNOCKER_SEQ
			},
			sequence: func(ev *Event) string { return formatPKSequence(ev.Sequence) },
		}
	}
	return words{
		noEvents: "no events: nothing will ever be opened",
		action:   "Start_Command and no Open",
		event:    func(ev *Event) string { return "event [" + ev.Name + "]" },
		prefix:   func(ev *Event) string { return "event [" + ev.Name + "]: " },
		label:    func(*Event) string { return "sequence" },
		sequence: func(ev *Event) string { return FormatSequence(ev.Sequence) },
	}
}

// walk is how a sequential port scan from one address (the usual nmap -r
// or a naive for loop) completes a sequence.
type walk int

const (
	noWalk          walk = iota
	walkOnePort          // any scan touching the port
	walkConsecutive      // consecutive ascending ports: every scan
	walkAscending        // ascending, ScanGuard off: every scan
	walkPayloadOnly      // ScanGuard off, UDP with a payload: a scan sending it
)

// scanWalks says whether and how a sequential port scan from one address
// completes seq. With the scan guard every other port the scan touches
// fails the attempt, so only a run of consecutive ascending ports is
// walked; without it only sequence ports are watched (as in knockd), so
// any ascending sequence is.
//
// A UDP sequence whose knocks must carry a payload (port-knocking-doors'
// "knock\n", UDP_Payload) is another matter. Scanners send empty datagrams
// or a protocol's probe, which fail the payload check at the first
// sequence port, so no ordinary scan walks it, consecutive or not (the
// default opening_sequence of port-knocking-doors, 16001-16005, is
// consecutive). Only a sweep that sends exactly the payload to every port
// could: with the scan guard on, such a sweep is a targeted attack by
// someone who already knows the protocol (and for the public example
// sequence there is a warning of its own), so nothing is said; with the
// guard off, it walks every ascending sequence, which is worth saying,
// because turning the guard off is what allows it.
func scanWalks(seq []Element, guard bool, payload string) walk {
	if len(seq) == 0 {
		return noWalk
	}
	consecutive, ascending := true, true
	for i := 1; i < len(seq); i++ {
		if seq[i].Proto != seq[0].Proto {
			return noWalk
		}
		if int(seq[i].Port) != int(seq[i-1].Port)+1 {
			consecutive = false
		}
		if seq[i].Port <= seq[i-1].Port {
			ascending = false
		}
	}
	if payload != "" && seq[0].Proto == packet.UDP {
		if !guard && ascending {
			return walkPayloadOnly
		}
		return noWalk
	}
	switch {
	case len(seq) == 1:
		return walkOnePort
	case consecutive:
		return walkConsecutive
	case ascending && !guard:
		return walkAscending
	}
	return noWalk
}

// say explains the walk of a sequence, in the format's words (label, the
// sequence as the format writes it), or returns "".
func (w walk) say(label, sequence, payload, guardOff string) string {
	switch w {
	case walkOnePort:
		return fmt.Sprintf("a one-port %s (%s) is opened by any scan that touches that port", label, sequence)
	case walkConsecutive:
		return fmt.Sprintf("%s %s is consecutive ascending ports: a sequential port scan walks it", label, sequence)
	case walkAscending:
		return fmt.Sprintf("%s %s is ascending and %s: a sequential port scan walks it", label, sequence, guardOff)
	case walkPayloadOnly:
		return fmt.Sprintf("%s %s is ascending and %s: a sequential scan that sends the payload %s to every port walks it (other scans fail on the payload)", label, sequence, guardOff, FormatPayload(payload))
	}
	return ""
}
