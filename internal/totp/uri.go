package totp

// Key URIs follow Google Authenticator's key-uri format
// (https://github.com/google/google-authenticator/wiki/Key-Uri-Format):
//
//	otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA256&digits=6&period=30&ports=40000-49999&length=4&sesame=1
//
// so that enrolment can hand a client everything in one QR code. The
// standard parameters describe the TOTP clock; ports, length and sesame
// (the derivation's version) are sesame's own. An authenticator app that
// scans the code shows 6-digit codes that sesame does not use.

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxLabelLen bounds issuer and account, which end up in a QR code.
const maxLabelLen = 255

// uriVersion is the value of the sesame parameter: the derivation's
// version, so that a client that only knows version 1 refuses a URI for a
// later one instead of knocking wrong ports.
const uriVersion = "1"

// KeyURI is what an otpauth:// URI tells a client.
type KeyURI struct {
	Issuer  string // who runs the daemon, e.g. the host name
	Account string // the client's name in the secrets file
	Secret  []byte
	Step    time.Duration
	Lo, Hi  uint16
	Length  int
}

// URI returns the otpauth:// key URI of a client. issuer and account must
// be 1 to 255 bytes of UTF-8 without ':', control characters or blanks at
// their ends, the secret
// MinSecretBytes to MaxSecretBytes long, and the parameters must pass
// CheckParams.
func URI(issuer, account string, secret []byte, step time.Duration, lo, hi uint16, length int) (string, error) {
	if err := checkLabel("issuer", issuer); err != nil {
		return "", err
	}
	if err := checkLabel("account", account); err != nil {
		return "", err
	}
	if len(secret) < MinSecretBytes || len(secret) > MaxSecretBytes {
		return "", fmt.Errorf("secret is %d bytes, expected %d to %d", len(secret), MinSecretBytes, MaxSecretBytes)
	}
	if err := CheckParams(lo, hi, length, step); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(url.PathEscape(issuer))
	b.WriteByte(':')
	b.WriteString(url.PathEscape(account))
	b.WriteString("?secret=")
	b.WriteString(EncodeSecret(secret))
	b.WriteString("&issuer=")
	// %20, not '+', for spaces: the key-uri format says so, and some
	// apps show a '+'.
	b.WriteString(strings.ReplaceAll(url.QueryEscape(issuer), "+", "%20"))
	b.WriteString("&algorithm=SHA256&digits=6&period=")
	b.WriteString(strconv.FormatInt(int64(step/time.Second), 10))
	fmt.Fprintf(&b, "&ports=%d-%d&length=%d&sesame=%s", lo, hi, length, uriVersion)
	return b.String(), nil
}

// checkLabel reports what is wrong with an issuer or account.
func checkLabel(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty, expected a name", what)
	case len(s) > maxLabelLen:
		return fmt.Errorf("%s is %d bytes long, expected at most %d", what, len(s), maxLabelLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8, expected text", what)
	case strings.ContainsRune(s, ':'):
		return fmt.Errorf("%s %q contains ':', expected a name without ':' (it separates issuer and account)", what, s)
	case strings.ContainsFunc(s, isControl):
		return fmt.Errorf("%s %q contains a control character, expected printable text", what, s)
	case strings.TrimSpace(s) != s:
		// Readers drop blanks after the label's ':'.
		return fmt.Errorf("%s %q has blanks at its ends, expected none", what, s)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || 0x7f <= r && r < 0xa0 }

// ParseURI reads an otpauth://totp/ key URI for sesame, as URI writes it.
// It also takes what other writers vary: ':' in the label written as %3A,
// blanks after it, '+' for a space in the query, parameters in any order
// and unknown parameters (ignored). secret, ports and length are
// required; issuer (in the label or the query, the same if in both),
// algorithm (SHA256), digits (6), period (default 30) and sesame (1) are
// optional. Errors never quote the secret.
func ParseURI(s string) (KeyURI, error) {
	var k KeyURI
	u, err := url.Parse(s)
	if err != nil {
		// A *url.Error quotes the whole URI, secret included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return KeyURI{}, fmt.Errorf("key uri does not parse (%v), expected otpauth://totp/ISSUER:ACCOUNT?secret=...", err)
	}
	switch {
	case !strings.EqualFold(u.Scheme, "otpauth"):
		return KeyURI{}, fmt.Errorf("key uri has scheme %q, expected otpauth://totp/ISSUER:ACCOUNT?secret=...", u.Scheme)
	case u.Opaque != "" || u.User != nil:
		return KeyURI{}, errors.New("key uri is malformed, expected otpauth://totp/ISSUER:ACCOUNT?secret=...")
	case strings.EqualFold(u.Host, "hotp"):
		return KeyURI{}, errors.New("key uri is for a counter-based (hotp) key, expected a time-based one, otpauth://totp/")
	case !strings.EqualFold(u.Host, "totp"):
		return KeyURI{}, fmt.Errorf("key uri has type %q, expected otpauth://totp/", u.Host)
	case u.Fragment != "" || u.RawFragment != "":
		return KeyURI{}, errors.New("key uri has a fragment (#...), expected none")
	}

	lbl, ok := strings.CutPrefix(u.Path, "/")
	if !ok || lbl == "" {
		return KeyURI{}, errors.New("key uri has no label, expected otpauth://totp/ISSUER:ACCOUNT?...")
	}
	issuer, account, found := strings.Cut(lbl, ":")
	if !found {
		issuer, account = "", lbl
	} else if strings.Contains(account, ":") {
		return KeyURI{}, errors.New("key uri label has more than one ':', expected ISSUER:ACCOUNT")
	}
	account = strings.TrimLeft(account, " ")

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return KeyURI{}, fmt.Errorf("key uri query does not parse (%v), expected name=value pairs joined by '&'", err)
	}
	get := func(name string) (string, bool, error) {
		v, ok := q[name]
		if !ok {
			return "", false, nil
		}
		if len(v) > 1 {
			return "", false, fmt.Errorf("key uri has parameter %s %d times, expected it once", name, len(v))
		}
		return v[0], true, nil
	}

	sec, ok, err := get("secret")
	if err != nil {
		return KeyURI{}, err
	}
	if !ok {
		return KeyURI{}, errors.New("key uri has no secret parameter, expected secret=BASE32")
	}
	if k.Secret, err = DecodeSecret(sec); err != nil {
		return KeyURI{}, fmt.Errorf("key uri parameter secret: %w", err)
	}

	qi, ok, err := get("issuer")
	switch {
	case err != nil:
		return KeyURI{}, err
	case ok && issuer == "":
		issuer = qi
	case ok && qi != issuer:
		return KeyURI{}, fmt.Errorf("key uri has issuer %q in the label and %q in the query, expected the same", issuer, qi)
	}
	if err := checkLabel("key uri issuer", issuer); err != nil {
		return KeyURI{}, err
	}
	if err := checkLabel("key uri account", account); err != nil {
		return KeyURI{}, err
	}
	k.Issuer, k.Account = issuer, account

	if v, ok, err := get("algorithm"); err != nil {
		return KeyURI{}, err
	} else if ok && !strings.EqualFold(v, "SHA256") {
		return KeyURI{}, fmt.Errorf("key uri has algorithm %q, expected SHA256", v)
	}
	if v, ok, err := get("digits"); err != nil {
		return KeyURI{}, err
	} else if ok && v != "6" {
		return KeyURI{}, fmt.Errorf("key uri has digits %q, expected 6", v)
	}
	if v, ok, err := get("sesame"); err != nil {
		return KeyURI{}, err
	} else if ok && v != uriVersion {
		return KeyURI{}, fmt.Errorf("key uri is for sesame derivation version %q, expected %s (upgrade sesame?)", v, uriVersion)
	}

	k.Step = DefaultStep
	if v, ok, err := get("period"); err != nil {
		return KeyURI{}, err
	} else if ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n < 1 || time.Duration(n)*time.Second > MaxStep {
			return KeyURI{}, fmt.Errorf("key uri has period %q, expected whole seconds from 1 to %d", v, int64(MaxStep/time.Second))
		}
		k.Step = time.Duration(n) * time.Second
	}

	v, ok, err := get("ports")
	if err != nil {
		return KeyURI{}, err
	}
	if !ok {
		return KeyURI{}, errors.New("key uri has no ports parameter, expected ports=LO-HI")
	}
	los, his, found := strings.Cut(v, "-")
	lo, err1 := strconv.ParseUint(los, 10, 16)
	hi, err2 := strconv.ParseUint(his, 10, 16)
	if !found || err1 != nil || err2 != nil {
		return KeyURI{}, fmt.Errorf("key uri has ports %q, expected LO-HI, two ports from 1 to 65535", v)
	}
	k.Lo, k.Hi = uint16(lo), uint16(hi)

	v, ok, err = get("length")
	if err != nil {
		return KeyURI{}, err
	}
	if !ok {
		return KeyURI{}, errors.New("key uri has no length parameter, expected length=N")
	}
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil {
		return KeyURI{}, fmt.Errorf("key uri has length %q, expected 1 to %d", v, MaxLength)
	}
	k.Length = int(n)

	if err := CheckParams(k.Lo, k.Hi, k.Length, k.Step); err != nil {
		return KeyURI{}, fmt.Errorf("key uri: %w", err)
	}
	return k, nil
}
