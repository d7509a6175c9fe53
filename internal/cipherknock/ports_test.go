package cipherknock

import (
	"testing"
)

func TestCheckBase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base uint16
		want string
	}{
		{0, "cipher knock window base 0 is not a port, expected 1 to 65280"},
		{1, ""},
		{40000, ""},
		{65280, ""},
		{65281, "cipher knock window base 65281 is too high, expected at most 65280 (the window is 256 ports)"},
		{65535, "cipher knock window base 65535 is too high, expected at most 65280 (the window is 256 ports)"},
	}
	for _, tt := range tests {
		err := CheckBase(tt.base)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("CheckBase(%d) = %q, want %q", tt.base, got, tt.want)
		}
	}
}

func TestPorts(t *testing.T) {
	t.Parallel()
	var b Block
	for i := range b {
		b[i] = byte(i * 17)
	}
	b[15] = 255
	for _, base := range []uint16{1, 1000, 65280} {
		p := Ports(b, base)
		for i := range p {
			if p[i] != base+uint16(b[i]) {
				t.Errorf("base %d: port %d = %d, want %d", base, i, p[i], base+uint16(b[i]))
			}
		}
		got, ok := BlockFromPorts(p[:], base)
		if !ok || got != b {
			t.Errorf("base %d: BlockFromPorts(Ports) = %v, %v; want %v", base, got, ok, b)
		}
	}
	if p := Ports(b, 65280); p[15] != 65535 {
		t.Errorf("top of the highest window = %d, want 65535", p[15])
	}
}

func TestPortsPanicsOnBadBase(t *testing.T) {
	t.Parallel()
	for _, base := range []uint16{0, 65281} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Ports with base %d does not panic", base)
				}
			}()
			Ports(Block{}, base)
		}()
	}
}

func TestBlockFromPorts(t *testing.T) {
	t.Parallel()
	window := func(base uint16) []uint16 {
		p := make([]uint16, BlockSize)
		for i := range p {
			p[i] = base + uint16(i)
		}
		return p
	}
	tests := []struct {
		name  string
		ports []uint16
		base  uint16
		ok    bool
	}{
		{"ok", window(1000), 1000, true},
		{"top of the window", append(window(1000)[:15], 1255), 1000, true},
		{"above the window", append(window(1000)[:15], 1256), 1000, false},
		{"below the window", append([]uint16{999}, window(1000)[1:]...), 1000, false},
		{"15 ports", window(1000)[:15], 1000, false},
		{"17 ports", append(window(1000), 1000), 1000, false},
		{"none", nil, 1000, false},
		{"base 0", window(0), 0, true},
		{"base past 65280", []uint16{65535, 65534, 65535, 65534, 65535, 65534, 65535, 65534, 65535, 65534, 65535, 65534, 65535, 65534, 65535, 65534}, 65534, true},
	}
	for _, tt := range tests {
		b, ok := BlockFromPorts(tt.ports, tt.base)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
		}
		if !ok && b != (Block{}) {
			t.Errorf("%s: not ok, but block %v", tt.name, b)
		}
		if ok {
			for i, p := range tt.ports {
				if int(b[i]) != int(p)-int(tt.base) {
					t.Errorf("%s: byte %d = %d, want %d", tt.name, i, b[i], int(p)-int(tt.base))
				}
			}
		}
	}
}
