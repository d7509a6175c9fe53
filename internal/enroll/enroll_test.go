package enroll

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sesame-knock/sesame/internal/cipherknock"
	"github.com/sesame-knock/sesame/internal/config"
	"github.com/sesame-knock/sesame/internal/packet"
	"github.com/sesame-knock/sesame/internal/totp"
)

func testConfig(t *testing.T) (*config.Config, string, string) {
	t.Helper()
	dir := t.TempDir()
	secrets, keyFile := filepath.Join(dir, "ssh.totp"), filepath.Join(dir, "vpn.key")
	if err := os.WriteFile(keyFile, []byte("passphrase = open sesame\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Source: "k.conf", Events: []config.Event{
		{Name: "web", Pos: config.Pos{File: "k.conf", Line: 1}, Sequence: []config.Element{{Proto: packet.TCP, Port: 7000}}},
		{Name: "ssh", TOTP: &config.TOTP{SecretFile: secrets, Proto: packet.UDP, Lo: 30000, Hi: 30999, Length: 5, Step: 60 * time.Second, Skew: 1}},
		{Name: "vpn", Cipher: &config.Cipher{KeyFile: keyFile, Proto: packet.TCP, Base: 62000, MaxAge: time.Minute}},
	}}
	return cfg, secrets, keyFile
}

func TestEnrollTOTP(t *testing.T) {
	t.Parallel()
	cfg, secrets, _ := testConfig(t)
	var out bytes.Buffer
	if err := Enroll(cfg, Request{Event: "ssh", Client: "alice", Host: "ssh.example.com", QR: true}, &out); err != nil {
		t.Fatal(err)
	}
	clients, err := totp.LoadSecrets(secrets)
	if err != nil || len(clients) != 1 || clients[0].Name != "alice" {
		t.Fatalf("secrets file after enrolment: %v, %v", clients, err)
	}
	text := out.String()
	secret := totp.EncodeSecret(clients[0].Secret)
	for _, want := range []string{
		"[ssh]\n\tHost         = ssh.example.com\n\tTOTP_Secret  = " + secret + "\n\tTOTP_Ports   = 30000-30999:udp\n\tTOTP_Length  = 5\n\tTOTP_Step    = 60\n",
		"\tsesame ssh\n",
		"otpauth://totp/",
		"█",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	ps, err := config.ParseProfiles("printed", []byte(block(text)))
	if err != nil || len(ps) != 1 {
		t.Fatalf("the printed profile does not parse: %v\n%s", err, block(text))
	}
	if p := ps[0]; p.Name != "ssh" || p.Hosts[0] != "ssh.example.com" || p.TOTP == nil || !bytes.Equal(p.TOTP.Secret, clients[0].Secret) ||
		p.TOTP.Proto != packet.UDP || p.TOTP.Lo != 30000 || p.TOTP.Hi != 30999 || p.TOTP.Length != 5 || p.TOTP.Step != time.Minute {
		t.Errorf("the printed profile reads as %+v %+v", p, p.TOTP)
	}
	var uri string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "otpauth://") {
			uri = l
		}
	}
	k, err := totp.ParseURI(uri)
	if err != nil {
		t.Fatalf("the printed URI does not parse: %v", err)
	}
	if !bytes.Equal(k.Secret, clients[0].Secret) || k.Lo != 30000 || k.Hi != 30999 || k.Length != 5 || k.Step != time.Minute || k.Account != "alice" || k.Issuer != "ssh.example.com" {
		t.Errorf("URI says %+v", k)
	}

	// A second client gets a secret of its own; a name is taken once.
	if err := Enroll(cfg, Request{Event: "ssh", Client: "bob", Host: "ssh.example.com"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if clients, _ = totp.LoadSecrets(secrets); len(clients) != 2 || bytes.Equal(clients[0].Secret, clients[1].Secret) {
		t.Fatalf("two clients should hold two secrets: %+v", clients)
	}
	if err := Enroll(cfg, Request{Event: "ssh", Client: "alice", Host: "h"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `client "alice" already exists`) {
		t.Errorf("re-enrolling alice: %v", err)
	}
}

func TestEnrollCipherPrintsTheEventKey(t *testing.T) {
	t.Parallel()
	cfg, _, keyFile := testConfig(t)
	var out bytes.Buffer
	if err := Enroll(cfg, Request{Event: "vpn", Client: "carol", Host: "vpn.example.com"}, &out); err != nil {
		t.Fatal(err)
	}
	key, err := cipherknock.LoadKeyFile(keyFile, "vpn")
	if err != nil {
		t.Fatal(err)
	}
	want := "[vpn]\n\tHost         = vpn.example.com\n\tCipher_Key   = " + cipherknock.FormatKey(key) + "\n\tCipher_Event = vpn\n\tCipher_Ports = 62000:tcp\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks\n%s\ngot:\n%s", want, out.String())
	}
	ps, err := config.ParseProfiles("printed", []byte(block(out.String())))
	if err != nil || len(ps) != 1 || ps[0].Cipher == nil || ps[0].Cipher.Key == nil || *ps[0].Cipher.Key != key ||
		ps[0].Cipher.Event != "vpn" || ps[0].Cipher.Base != 62000 || ps[0].Cipher.Proto != packet.TCP {
		t.Fatalf("the printed profile does not read back: %v %+v", err, ps)
	}
}

func TestEnrollRefuses(t *testing.T) {
	t.Parallel()
	cfg, _, _ := testConfig(t)
	for _, tt := range []struct {
		name string
		r    Request
		want string
	}{
		{"unknown event", Request{Event: "nope", Client: "a", Host: "h"}, "no event [nope] in k.conf, expected one of: [ssh], [vpn]"},
		{"static event", Request{Event: "web", Client: "a", Host: "h"}, "k.conf:1: event [web] has a fixed sequence; enrolment is for events with TOTP_Secret_File or Cipher_Key_File ([ssh], [vpn])"},
		{"bad client name", Request{Event: "ssh", Client: "a b", Host: "h"}, "client name"},
		{"host with a space", Request{Event: "ssh", Client: "a", Host: "a b"}, `host "a b", expected`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Enroll(cfg, tt.r, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// block cuts the printed [section] out of the enrolment's output.
func block(out string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "[") {
			in = true
		} else if in && !strings.HasPrefix(l, "\t") {
			break
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
