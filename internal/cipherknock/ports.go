package cipherknock

import "fmt"

// MaxBase is the highest window base: the window [base, base+255] must fit
// in the port range.
const MaxBase = 65535 - (Window - 1)

// CheckBase reports whether base can start a window: 1 ≤ base ≤ MaxBase.
// Port 0 cannot be knocked on.
func CheckBase(base uint16) error {
	switch {
	case base == 0:
		return fmt.Errorf("cipher knock window base 0 is not a port, expected 1 to %d", MaxBase)
	case base > MaxBase:
		return fmt.Errorf("cipher knock window base %d is too high, expected at most %d (the window is %d ports)", base, MaxBase, Window)
	}
	return nil
}

// Ports returns the ports the knocks of b go to, in order: knock i goes to
// base + b[i]. It panics if CheckBase(base) fails; check the base when the
// configuration is read.
func Ports(b Block, base uint16) [BlockSize]uint16 {
	if err := CheckBase(base); err != nil {
		panic("cipherknock: " + err.Error())
	}
	var p [BlockSize]uint16
	for i, x := range b {
		p[i] = base + uint16(x)
	}
	return p
}

// BlockFromPorts is the inverse of Ports: it returns the block that the
// ports, in arrival order, carry. It reports false if there are not
// BlockSize ports or one is outside the window [base, base+255]. It does not
// check the block (Open does).
func BlockFromPorts(ports []uint16, base uint16) (Block, bool) {
	var b Block
	if len(ports) != BlockSize {
		return b, false
	}
	for i, p := range ports {
		d := int(p) - int(base)
		if d < 0 || d >= Window {
			return Block{}, false
		}
		b[i] = byte(d)
	}
	return b, true
}
