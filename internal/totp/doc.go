// Package totp derives time-based knock sequences (SPEC §4.3), and reads and
// writes what they need: base32 secrets, the per-event secrets file and
// otpauth:// key URIs.
//
// A static knock sequence is a password sent in clear: whoever records it
// once can replay it forever. A TOTP knock is a one-time password shaped as
// ports: client and daemon share a secret per client, and for every time
// step both derive the same sequence of distinct ports from an HMAC of the
// step number, so a recording is worth nothing once its step has passed or
// has been used. The derivation ("sesame TOTP knock sequence, version 1") is
// written down with test vectors in docs/totp.md; vectors_test.go checks the
// document against this code so that the two cannot drift apart.
//
// Why a derivation of our own rather than RFC 6238 codes mapped to ports: a
// 6-digit code carries about 20 bits, while a knock of four ports out of ten
// thousand carries about 53, and mapping digits onto ports would add bias.
// The derivation keeps RFC 6238's clock (Unix time divided by the step), its
// secrets (RFC 4226 demands at least 128 bits) and its URIs, so enrolment
// looks like any authenticator app's, and replaces only the output: an
// HMAC-SHA256 stream read as 16-bit words, with rejection sampling so that
// every port of the range is equally likely, and repeats skipped so that no
// port appears twice in a sequence (the daemon takes an immediate repeat of
// a knock for a retransmit).
//
// AppendPorts runs once per client and step on the daemon, and costs no
// allocation: HMAC is computed on sha256.Sum256 (RFC 2104 by hand, checked
// against crypto/hmac in the tests) because crypto/hmac allocates its
// hashes. Everything in this package is pure apart from LoadSecrets,
// AddClient and NewSecret; the replay cache (each client and step opens at
// most once) and the skew window belong to the daemon.
//
// This package imports nothing from sesame, so that the client, the daemon
// and enrolment can share it.
package totp
