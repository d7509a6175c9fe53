package totp

import (
	"bytes"
	"strings"
	"testing"
)

func TestDecodeSecret(t *testing.T) {
	t.Parallel()
	rfc := []byte("12345678901234567890")
	seq16 := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	tests := []struct {
		name    string
		in      string
		want    []byte
		wantErr string
	}{
		{"canonical", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", rfc, ""},
		{"lower case", "gezdgnbvgy3tqojqgezdgnbvgy3tqojq", rfc, ""},
		{"groups of four", "gezd gnbv gy3t qojq gezd gnbv gy3t qojq", rfc, ""},
		{"dashes and tabs", "GEZD-GNBV\tGY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ", rfc, ""},
		{"blanks around", "  GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ  ", rfc, ""},
		{"16 bytes unpadded", "AAAQEAYEAUDAOCAJBIFQYDIOB4", seq16, ""},
		{"16 bytes padded", "AAAQEAYEAUDAOCAJBIFQYDIOB4======", seq16, ""},
		{"padding then blank", "AAAQEAYEAUDAOCAJBIFQYDIOB4== ", seq16, ""},
		{"unused trailing bits ignored", "AAAQEAYEAUDAOCAJBIFQYDIOB7", seq16, ""},
		{"64 bytes", strings.Repeat("A", 103), make([]byte, 64), ""},
		{"empty", "", nil, "secret is empty, expected base32 of at least 16 bytes"},
		{"blanks only", " - ", nil, "secret is empty"},
		{"digit 1", "GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ", nil, "secret has an invalid character at position 16, expected base32 (letters A-Z, digits 2-7)"},
		{"digit 8", "8EZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", nil, "invalid character at position 1"},
		{"digit 0", "GEZD GNBV 0", nil, "invalid character at position 11"},
		{"non-ASCII", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJé", nil, "invalid character at position 32"},
		{"base64 plus", "GEZDGNBVGY3TQOJQ+EZDGNBVGY3TQOJQ", nil, "invalid character at position 17"},
		{"data after padding", "AAAQEAYEAUDAOCAJBIFQYDIOB4==AA", nil, "secret continues after '=' padding at position 29, expected padding only at the end"},
		{"partial byte, 1 past 8", strings.Repeat("A", 33), nil, "secret has 33 base32 characters, which is not a whole number of bytes"},
		{"partial byte, 3 past 8", strings.Repeat("A", 27), nil, "not a whole number of bytes"},
		{"partial byte, 6 past 8", strings.Repeat("A", 30), nil, "not a whole number of bytes"},
		{"too short", "JBSWY3DPEHPK3PXP", nil, "secret is 10 bytes (80 bits), expected at least 16 bytes (128 bits, RFC 4226)"},
		{"too long", strings.Repeat("A", 104), nil, "secret is 65 bytes, expected at most 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeSecret(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeSecret = %x, %v; want error containing %q", got, err, tt.wantErr)
				}
				checkMessage(t, err, tt.in)
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("DecodeSecret = %x, %v; want %x", got, err, tt.want)
			}
		})
	}
}

// checkMessage checks the house rules of an error message: one line,
// lower case, and never the secret it is about.
func checkMessage(t *testing.T, err error, secret string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("message %q spans lines", msg)
	}
	if msg != "" && strings.ToLower(msg[:1]) != msg[:1] {
		t.Errorf("message %q does not start in lower case", msg)
	}
	if s := strings.TrimSpace(secret); len(s) >= 8 && strings.Contains(msg, s) {
		t.Errorf("message %q quotes the secret", msg)
	}
}

func TestEncodeSecret(t *testing.T) {
	t.Parallel()
	if got, want := EncodeSecret([]byte("12345678901234567890")), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; got != want {
		t.Errorf("EncodeSecret = %q, want %q", got, want)
	}
	if got, want := EncodeSecret(make([]byte, 16)), "AAAAAAAAAAAAAAAAAAAAAAAAAA"; got != want {
		t.Errorf("EncodeSecret = %q, want %q (no padding)", got, want)
	}
	for n := MinSecretBytes; n <= MaxSecretBytes; n++ {
		b := bytes.Repeat([]byte{0xa5}, n)
		got, err := DecodeSecret(EncodeSecret(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%d bytes: DecodeSecret(EncodeSecret) = %x, %v", n, got, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != SecretBytes || len(b) != SecretBytes {
		t.Fatalf("NewSecret lengths %d, %d, want %d", len(a), len(b), SecretBytes)
	}
	if bytes.Equal(a, b) {
		t.Fatalf("two NewSecret calls returned %x", a)
	}
	if got, err := DecodeSecret(EncodeSecret(a)); err != nil || !bytes.Equal(got, a) {
		t.Fatalf("NewSecret does not round-trip: %x, %v", got, err)
	}
}
