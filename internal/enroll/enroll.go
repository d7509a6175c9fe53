// Package enroll gives a knock client what it needs to knock a
// replay-proof event, in one command on the server (sesamed --enroll).
//
// For a TOTP event it creates the client's own secret and adds it to the
// event's secrets file, where the running daemon picks it up at its next
// time step; then it prints a profile for the client's profiles file, the
// otpauth:// URI (for a password manager, or `sesame --totp-uri`) and the
// same URI as a QR code. Each client gets its own secret so that one
// client's knock never uses up another's time step, and a client can be
// removed by deleting its line.
//
// For a cipher event it prints a profile holding the event's key (the
// derived key when the key file holds a passphrase), since the key is
// shared by every client of the event.
package enroll

import (
	"fmt"
	"io"
	"strings"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/qrterm"
	"github.com/sesame-knock/sesame/internal/totp"
)

// Request says whom to enrol where.
type Request struct {
	Event  string // the event's section name
	Client string // the client's name: letters, digits and ._@-
	Host   string // the server's name or address, as the client will knock it
	Issuer string // who runs the daemon (the URI's issuer); default Host
	// QR prints the URI as a QR code too.
	QR bool
}

// Enroll enrols r.Client for r.Event of cfg and writes what the client
// needs to w.
func Enroll(cfg *config.Config, r Request, w io.Writer) error {
	var ev *config.Event
	for i := range cfg.Events {
		if cfg.Events[i].Name == r.Event {
			ev = &cfg.Events[i]
			break
		}
	}
	if ev == nil {
		return fmt.Errorf("no event [%s] in %s, expected one of: %s", r.Event, cfg.Source, replayProofEvents(cfg))
	}
	if r.Host == "" || strings.ContainsAny(r.Host, " \t\n,") {
		return fmt.Errorf("host %q, expected the server's name or address as clients reach it (--host)", r.Host)
	}
	if r.Issuer == "" {
		r.Issuer = r.Host
	}
	switch {
	case ev.TOTP != nil:
		return enrollTOTP(ev, r, w)
	case ev.Cipher != nil:
		return enrollCipher(ev, r, w)
	}
	return fmt.Errorf("%s: event [%s] has a fixed sequence; enrolment is for events with TOTP_Secret_File or Cipher_Key_File (%s)", ev.Pos, ev.Name, replayProofEvents(cfg))
}

func replayProofEvents(cfg *config.Config) string {
	var names []string
	for _, ev := range cfg.Events {
		if ev.TOTP != nil || ev.Cipher != nil {
			names = append(names, "["+ev.Name+"]")
		}
	}
	if len(names) == 0 {
		return "none has TOTP_Secret_File or Cipher_Key_File"
	}
	return strings.Join(names, ", ")
}

func enrollTOTP(ev *config.Event, r Request, w io.Writer) error {
	t := ev.TOTP
	secret, err := totp.NewSecret()
	if err != nil {
		return err
	}
	// Check the URI before touching the secrets file.
	uri, err := totp.URI(r.Issuer, r.Client, secret, t.Step, t.Lo, t.Hi, t.Length)
	if err != nil {
		return err
	}
	if err := totp.AddClient(t.SecretFile, r.Client, secret); err != nil {
		return err
	}
	fmt.Fprintf(w, "Enrolled client %s for event [%s] in %s.\n", r.Client, ev.Name, t.SecretFile)
	fmt.Fprintf(w, "A running sesamed takes the new client at its next time step (within %s).\n\n", t.Step)
	fmt.Fprintln(w, "On the client, add this profile to the profiles file (~/.config/sesame/profiles.conf, mode 0600):")
	fmt.Fprintln(w)
	profile(w, ev.Name, r.Host,
		"TOTP_Secret", totp.EncodeSecret(secret),
		"TOTP_Ports", t.Ports(),
		"TOTP_Length", fmt.Sprint(t.Length),
		"TOTP_Step", fmt.Sprint(int64(t.Step.Seconds())))
	fmt.Fprintf(w, "\nthen knock with:\n\tsesame %s\n\n", ev.Name)
	fmt.Fprintf(w, "Or give the client this key URI (sesame --totp-uri URI --totp-ports %s %s):\n%s\n", t.Ports(), r.Host, uri)
	if r.QR {
		fmt.Fprintln(w)
		if err := qrterm.Render(w, uri); err != nil {
			return fmt.Errorf("failed to draw the QR code: %w", err)
		}
	}
	return nil
}

func enrollCipher(ev *config.Event, r Request, w io.Writer) error {
	c := ev.Cipher
	key, err := cipherknock.LoadKeyFile(c.KeyFile, ev.Name)
	if err != nil {
		return fmt.Errorf("%s: event [%s]: %w", ev.Pos, ev.Name, err)
	}
	fmt.Fprintf(w, "Event [%s] knocks with the key in %s; every client of the event shares it.\n\n", ev.Name, c.KeyFile)
	fmt.Fprintln(w, "On the client, add this profile to the profiles file (~/.config/sesame/profiles.conf, mode 0600):")
	fmt.Fprintln(w)
	profile(w, ev.Name, r.Host,
		"Cipher_Key", cipherknock.FormatKey(key),
		"Cipher_Event", ev.Name,
		"Cipher_Ports", c.Ports())
	fmt.Fprintf(w, "\nthen knock with:\n\tsesame %s\n", ev.Name)
	return nil
}

// profile writes a [name] section of a client profiles file.
func profile(w io.Writer, name, host string, kv ...string) {
	fmt.Fprintf(w, "[%s]\n", name)
	fmt.Fprintf(w, "\t%-12s = %s\n", "Host", host)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(w, "\t%-12s = %s\n", kv[i], kv[i+1])
	}
}
