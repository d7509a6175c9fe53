package totp

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
)

// Secret sizes. RFC 4226 requires at least 128 bits and recommends 160,
// which is what NewSecret makes and what authenticator apps expect. Keys
// longer than SHA-256's 64-byte block are hashed by HMAC first, so more
// would add nothing but length to URIs and QR codes.
const (
	MinSecretBytes = 16
	SecretBytes    = 20
	MaxSecretBytes = 64
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a new random secret of SecretBytes bytes.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("failed to read random secret: %w", err)
	}
	return b, nil
}

// EncodeSecret writes b as authenticator apps show secrets: RFC 4648
// base32, upper case, without padding.
func EncodeSecret(b []byte) string {
	return b32.EncodeToString(b)
}

// DecodeSecret reads a base32 secret as people paste it: in either case,
// with or without '=' padding, with spaces, tabs or '-' between groups. The
// secret must hold MinSecretBytes to MaxSecretBytes bytes. Errors never
// quote the input, which is secret.
func DecodeSecret(s string) ([]byte, error) {
	buf := make([]byte, 0, len(s))
	padded := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '-':
			continue
		case c == '=':
			padded = true
			continue
		case !isBase32(c):
			// Every byte before i is ASCII, so i+1 is also the
			// character's position.
			return nil, fmt.Errorf("secret has an invalid character at position %d, expected base32 (letters A-Z, digits 2-7)", i+1)
		case padded:
			return nil, fmt.Errorf("secret continues after '=' padding at position %d, expected padding only at the end", i+1)
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		buf = append(buf, c)
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("secret is empty, expected base32 of at least %d bytes", MinSecretBytes)
	}
	// 5 bits per character: 1, 3 and 6 characters past a multiple of
	// 8 do not make whole bytes.
	switch len(buf) % 8 {
	case 1, 3, 6:
		return nil, fmt.Errorf("secret has %d base32 characters, which is not a whole number of bytes", len(buf))
	}
	b, err := b32.DecodeString(string(buf))
	if err != nil {
		return nil, fmt.Errorf("secret is not valid base32, expected letters A-Z and digits 2-7")
	}
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("secret is %d bytes (%d bits), expected at least %d bytes (%d bits, RFC 4226)",
			len(b), 8*len(b), MinSecretBytes, 8*MinSecretBytes)
	}
	if len(b) > MaxSecretBytes {
		return nil, fmt.Errorf("secret is %d bytes, expected at most %d", len(b), MaxSecretBytes)
	}
	return b, nil
}

func isBase32(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '2' <= c && c <= '7'
}
