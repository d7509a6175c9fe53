package totp

import "testing"

// BenchmarkPorts: one sequence as the daemon derives it per client and
// step. Run with -benchmem: AppendPorts must report 0 allocs/op.
func BenchmarkPorts(b *testing.B) {
	secret := []byte("12345678901234567890")
	b.Run("Ports/defaults", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			_ = Ports(secret, uint64(i), DefaultLo, DefaultHi, DefaultLength)
		}
	})
	b.Run("AppendPorts/defaults", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]uint16, 0, DefaultLength)
		for i := range b.N {
			dst = AppendPorts(dst[:0], secret, uint64(i), DefaultLo, DefaultHi, DefaultLength)
		}
	})
	b.Run("AppendPorts/32-of-64", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]uint16, 0, MaxLength)
		for i := range b.N {
			dst = AppendPorts(dst[:0], secret, uint64(i), 60000, 60063, MaxLength)
		}
	})
}
