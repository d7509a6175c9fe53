package config

import "fmt"

// Warnings lists what is legal but probably not what the administrator
// wants, one "file:line: msg" per entry in file order, for `sesamed
// --check`: things the parser noticed (UseSyslog inside an event, a Target
// knockd would never match as written) and sequences a port scan walks.
func (c *Config) Warnings() []string {
	ws := append(Errors(nil), c.notes...)
	if len(c.Events) == 0 {
		ws = append(ws, Error{Pos{c.Source, 0}, "no events: nothing will ever be opened"})
	}
	for _, ev := range c.Events {
		if ev.StartCommand == "" && ev.StartCommand6 == "" && len(ev.Open) == 0 {
			ws = append(ws, Error{ev.Pos, fmt.Sprintf("event [%s] has no Start_Command and no Open: a successful knock does nothing", ev.Name)})
		}
		if msg := scanWalks(ev.Sequence, c.Options.ScanGuard); msg != "" {
			ws = append(ws, Error{ev.Pos, fmt.Sprintf("event [%s]: %s", ev.Name, msg)})
		}
	}
	var out []string
	for _, w := range ws.sorted() {
		out = append(out, w.Error())
	}
	return out
}

// scanWalks says why a sequential port scan from one address (the usual
// nmap -r or a naive for loop) would complete seq, or "" if it would not.
// With the scan guard every other port the scan touches fails the attempt,
// so only a run of consecutive ascending ports is walked; without it only
// sequence ports are watched (as in knockd), so any ascending sequence is.
func scanWalks(seq []Element, guard bool) string {
	if len(seq) == 0 {
		return ""
	}
	consecutive, ascending := true, true
	for i := 1; i < len(seq); i++ {
		if seq[i].Proto != seq[0].Proto {
			return ""
		}
		if int(seq[i].Port) != int(seq[i-1].Port)+1 {
			consecutive = false
		}
		if seq[i].Port <= seq[i-1].Port {
			ascending = false
		}
	}
	switch {
	case len(seq) == 1:
		return fmt.Sprintf("a one-port sequence (%s) is opened by any scan that touches that port", FormatSequence(seq))
	case consecutive:
		return fmt.Sprintf("sequence %s is consecutive ascending ports: a sequential port scan walks it", FormatSequence(seq))
	case ascending && !guard:
		return fmt.Sprintf("sequence %s is ascending and ScanGuard is off: a sequential port scan walks it", FormatSequence(seq))
	}
	return ""
}
