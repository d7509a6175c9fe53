package cipherknock

import "testing"

func BenchmarkOpen(b *testing.B) {
	c := NewCipher(testKey)
	blk, err := c.Seal("ssh", t0, seededRand(1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Open(blk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	c := NewCipher(testKey)
	blk, err := c.Seal("ssh", t0, seededRand(1))
	if err != nil {
		b.Fatal(err)
	}
	id := EventID("ssh")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(blk, id, t0, DefaultMaxAge); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenParallel(b *testing.B) {
	c := NewCipher(testKey)
	blk, err := c.Seal("ssh", t0, seededRand(1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Open(blk); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	c := NewCipher(testKey)
	r := seededRand(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Seal("ssh", t0, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeriveKey shows what a passphrase costs (and a guesser pays).
func BenchmarkDeriveKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		DeriveKey([]byte("correct horse battery staple"), "ssh")
	}
}
