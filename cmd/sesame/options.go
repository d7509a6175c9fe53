package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/client"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/seq"
	"github.com/sesame-knock/sesame/internal/totp"
)

// options completes a parsed request with what lives outside the command
// line: the profile, the environment, key and one-time files, the
// passphrase. Every error is a *usageError. done, when not nil, must be
// called once the knocks were sent.
func (r *request) options(ctx context.Context, stderr io.Writer) (o *client.Options, done func(), err error) {
	o = &r.o
	if name := r.profile + r.maybeProfile; name != "" {
		p, err := r.findProfile(name)
		if err != nil {
			return nil, nil, err
		}
		if err := r.applyProfile(p); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case r.oneTime != "":
		path, err := config.ExpandHome(r.oneTime)
		if err != nil {
			return nil, nil, &usageError{msg: err.Error()}
		}
		ot, err := client.OpenOneTime(path)
		if err != nil {
			ue := &usageError{msg: err.Error()}
			if errors.Is(err, seq.ErrExhausted) {
				ue.hint = "add sequences to " + path + ", the ones the server's One_Time_Sequences file lists"
			}
			return nil, nil, ue
		}
		o.Sequence = ot
		done = func() { ot.Close() }
	case r.totp != nil:
		if r.totpEnv {
			if err := r.totpFromEnv(); err != nil {
				return nil, nil, err
			}
		}
		// Remember the steps used, so that a second knock within a
		// step is not a replay; without a place for that, knock anyway.
		r.totp.Stderr = stderr
		if dir, err := client.DefaultStateDir(); err != nil {
			fmt.Fprintf(stderr, "sesame: warning: %v; knocking with the current TOTP step\n", err)
		} else {
			r.totp.StateDir = dir
		}
		o.Sequence = r.totp
	case r.cipher != nil:
		switch {
		case r.cipherInline:
			// the profile's Cipher_Key
		case r.passphrase:
			pass, err := readPassphrase(ctx, r.cipher.Event, stderr)
			if err != nil {
				return nil, nil, err
			}
			r.cipher.Key = cipherknock.DeriveKey(pass, r.cipher.Event)
			clear(pass)
		default:
			path, err := config.ExpandHome(r.cipherKey)
			if err != nil {
				return nil, nil, &usageError{msg: err.Error()}
			}
			if r.cipher.Key, err = cipherknock.LoadKeyFile(path, r.cipher.Event); err != nil {
				return nil, nil, &usageError{msg: err.Error()}
			}
		}
		o.Sequence = r.cipher
	}
	return o, done, nil
}

// totpFromEnv takes the TOTP secret, or a key URI, from
// $SESAME_TOTP_SECRET (for --totp).
func (r *request) totpFromEnv() error {
	v := strings.TrimSpace(os.Getenv("SESAME_TOTP_SECRET"))
	if v == "" {
		return &usageError{msg: "--totp needs the secret in $SESAME_TOTP_SECRET, which is not set",
			hint: "export SESAME_TOTP_SECRET=BASE32 (or an otpauth:// URI), or give --totp-secret or --totp-uri"}
	}
	if len(v) > len("otpauth:") && strings.EqualFold(v[:len("otpauth:")], "otpauth:") {
		if err := r.setTOTPURI(v); err != nil {
			return &usageError{msg: "invalid $SESAME_TOTP_SECRET: " + err.Error()}
		}
	} else {
		secret, err := totp.DecodeSecret(v)
		if err != nil {
			return &usageError{msg: "invalid $SESAME_TOTP_SECRET: " + err.Error(), hint: "give the base32 secret that sesamed --enroll printed, or its otpauth:// URI"}
		}
		r.totp.Secret = secret
	}
	return r.tuneTOTP()
}

// profilesPath is where the profiles are: --profiles, else
// $SESAME_PROFILES, else sesame/profiles.conf in the user's configuration
// directory (or, where that is not ~/.config, in ~/.config when only that
// one exists: the place sesamed --enroll names). explicit reports that the
// user named the file.
func (r *request) profilesPath() (path string, explicit bool, err error) {
	for _, p := range []string{r.profilesFile, os.Getenv("SESAME_PROFILES")} {
		if p != "" {
			path, err := config.ExpandHome(p)
			if err != nil {
				return "", true, &usageError{msg: err.Error()}
			}
			return path, true, nil
		}
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", false, &usageError{msg: "cannot find the profiles file: " + err.Error(), hint: "name it with --profiles FILE"}
	}
	path = filepath.Join(dir, "sesame", "profiles.conf")
	if home, err := os.UserHomeDir(); err == nil {
		alt := filepath.Join(home, ".config", "sesame", "profiles.conf")
		if alt != path && !exists(path) && exists(alt) {
			return alt, false, nil
		}
	}
	return path, false, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// findProfile loads the profiles and returns the one called name. For
// "sesame NAME" (r.maybeProfile) without a profiles file at the default
// place, NAME is a host without ports, and the error says so as it did
// before profiles existed.
func (r *request) findProfile(name string) (*config.Profile, error) {
	path, explicit, err := r.profilesPath()
	if err != nil {
		return nil, err
	}
	noPorts := fmt.Sprintf("no ports to knock after host %q", name)
	orderHint := "write the hosts first, then the ports: sesame HOST... PORT[:PROTO]..."
	profiles, err := config.LoadProfiles(path)
	var perm *config.ProfilePermError
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && r.maybeProfile != "" && !explicit:
		return nil, &usageError{msg: noPorts, hint: orderHint}
	case errors.Is(err, fs.ErrNotExist):
		msg := fmt.Sprintf("no profiles file %s, so no profile %q", path, name)
		if r.maybeProfile != "" {
			msg = fmt.Sprintf("%s, and no profiles file %s", noPorts, path)
		}
		return nil, &usageError{msg: msg, hint: fmt.Sprintf("create it with a [%s] section (see sesame --help), or name another with --profiles FILE", name)}
	case errors.As(err, &perm):
		return nil, &usageError{msg: err.Error(), hint: perm.Fix()}
	default:
		return nil, &usageError{msg: err.Error()}
	}
	p := config.FindProfile(profiles, name)
	if p == nil {
		var names []string
		for _, p := range profiles {
			names = append(names, p.Name)
		}
		hint := fmt.Sprintf("add a [%s] section to %s", name, path)
		if len(names) > 0 {
			hint = "the profiles are " + strings.Join(names, ", ")
		}
		if r.maybeProfile != "" {
			return nil, &usageError{msg: fmt.Sprintf("%s, and no profile %q in %s", noPorts, name, path),
				hint: "give the ports after the host, or a profile name; " + hint}
		}
		return nil, &usageError{msg: fmt.Sprintf("no profile %q in %s", name, path), hint: hint}
	}
	if r.o.Verbose != nil {
		fmt.Fprintf(r.o.Verbose, "profile [%s] from %s\n", p.Name, p.Pos)
	}
	return p, nil
}

// applyProfile takes the hosts, the sequence and the settings of p, except
// the settings given on the command line.
func (r *request) applyProfile(p *config.Profile) error {
	if r.udp {
		return &usageError{msg: fmt.Sprintf("-u is for ports on the command line, not for profile [%s]", p.Name), hint: udpHint("--profile")}
	}
	o := &r.o
	o.Hosts = p.Hosts
	if !r.delaySet && p.DelaySet {
		o.Delay = p.Delay
	}
	if !r.familySet {
		o.Family = p.Family
	}
	if !r.sourceSet {
		o.Source = p.Source
	}
	if s := o.Source; s.IsValid() && o.Family != 0 && s.Is4() != (o.Family == 4) {
		if r.sourceSet {
			return &usageError{msg: fmt.Sprintf("--source %s is not an IPv%d address, as profile [%s] asks with Family = %d", s, o.Family, p.Name, o.Family),
				hint: fmt.Sprintf("give -%d too", 10-o.Family)}
		}
		return &usageError{msg: fmt.Sprintf("profile [%s] has Source = %s, not an IPv%d address as -%d asks", p.Name, s, o.Family, o.Family),
			hint: "give --source with an address of that family too"}
	}
	switch {
	case len(p.Sequence) > 0:
		o.Knocks = make([]client.Knock, len(p.Sequence))
		for i, e := range p.Sequence {
			// A tportknockd frame with exact flags is a raw flag knock.
			o.Knocks[i] = client.Knock{Proto: e.Proto, Port: e.Port, Raw: e.Flags.Exact, Flags: e.Flags.Value}
		}
	case p.OneTimeFile != "":
		r.oneTime = p.OneTimeFile
	case p.TOTP != nil:
		t := p.TOTP
		r.totp = &client.TOTP{Secret: t.Secret, Proto: t.Proto, Lo: t.Lo, Hi: t.Hi, Length: t.Length, Step: t.Step}
	case p.Cipher != nil:
		c := p.Cipher
		r.cipher = &client.Cipher{Event: c.Event, Proto: c.Proto, Base: c.Base}
		if c.Key != nil {
			r.cipher.Key, r.cipherInline = *c.Key, true
		}
		r.cipherKey = c.KeyFile
	}
	return nil
}
