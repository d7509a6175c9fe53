// Package cipherknock implements sesame cipher knock, version 1 (SPEC
// §4.4; the format is docs/cipher-knock.md): the Kroon portknock idea, a
// secret spread over a window of 256 ports one byte per knock, redone so
// that it can be trusted.
//
// The client encrypts one 16-byte block — a magic constant, the event id,
// a Unix timestamp and a 32-bit random nonce — with AES-256 and sends
// ciphertext byte i as a knock to port base+byte. The daemon gathers a
// source's 16 hits in the window, decrypts, and accepts the block only if
// the magic matches, the event id is the event's, the timestamp is within
// MaxAge of its clock, and the block is not in the replay cache.
//
// Why this design, and not the original's:
//
//   - One AES block, no mode and no MAC. AES is a pseudo-random
//     permutation, so any change to any ciphertext byte decrypts to an
//     unrelated, uniformly distributed plaintext. The 32-bit magic is then a
//     MAC in all but name: a forged or altered block is accepted with
//     probability at most 2⁻³² per attempt (and ~2⁻⁸⁹ counting the event id
//     and timestamp). A separate MAC would need more knocks; 16 is already a
//     lot of packets. The original checked an 8-bit XOR parity: one random
//     block in 256 passed.
//   - A timestamp and a nonce. The same request never gives the same
//     ciphertext twice, and a recorded knock is useless after MaxAge; within
//     MaxAge the replay cache (keyed on the block, see Block.ReplayKey)
//     rejects it. The original was deterministic, so a recording opened the
//     door for ever.
//   - A real key. Either 32 random bytes from a key file, or a passphrase
//     stretched with Argon2id (64 MiB, 3 passes) salted with the event name.
//     An eavesdropper who records one knock can test passphrase guesses
//     offline; Argon2id makes each guess cost ~64 MiB and tens of
//     milliseconds instead of the original's one MD5.
//   - No two equal adjacent bytes. The daemon treats an immediate repeat of
//     a port as a retransmit (SPEC §3), so the client redraws the nonce
//     until the ciphertext has none (1 − (255/256)¹⁵ ≈ 5.7% of draws are
//     redrawn), and the daemon rejects such blocks as forgeries.
//
// Opening a block (Cipher.Open, Cipher.Verify) does not allocate: it runs
// on the capture path, once per completed gather.
package cipherknock
