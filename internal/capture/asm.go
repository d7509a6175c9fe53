package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// A tiny assembler for classic BPF with named forward labels, so the
// generator in filter.go reads as a program rather than as skip counts.
//
// Classic BPF jumps only forward. A conditional jump skips at most 255
// instructions (8-bit jt/jf); an unconditional jump (ja) has a 32-bit
// offset. The assembler does not relax far conditional jumps: it reports
// them, and the generator is written so that none arise (local accept/drop
// returns, and trampolines through ja).

// label names a position in the program. The zero label is "next", the
// instruction after the jump.
type label int

const next label = 0

type asmInsn struct {
	ins    bpf.Instruction
	jt, jf label // conditional: targets; ja: jt only
	kind   insnKind
}

type insnKind uint8

const (
	plain insnKind = iota
	condJump
	alwaysJump
)

type assembler struct {
	insns  []asmInsn
	names  []string // names[l] is label l's name, for errors
	bound  []int    // bound[l] is the index label l marks, or -1
	failed error
}

func (a *assembler) newLabel(name string) label {
	if len(a.names) == 0 {
		a.names, a.bound = []string{"next"}, []int{-1}
	}
	a.names = append(a.names, name)
	a.bound = append(a.bound, -1)
	return label(len(a.names) - 1)
}

// bind marks the next emitted instruction as l's target.
func (a *assembler) bind(l label) {
	if a.bound[l] >= 0 && a.failed == nil {
		a.failed = fmt.Errorf("bpf: label %s bound twice", a.names[l])
	}
	a.bound[l] = len(a.insns)
}

func (a *assembler) emit(ins bpf.Instruction) {
	a.insns = append(a.insns, asmInsn{ins: ins})
}

// jumpIf emits "if A <cond> val goto ifTrue else goto ifFalse".
func (a *assembler) jumpIf(cond bpf.JumpTest, val uint32, ifTrue, ifFalse label) {
	a.insns = append(a.insns, asmInsn{ins: bpf.JumpIf{Cond: cond, Val: val}, jt: ifTrue, jf: ifFalse, kind: condJump})
}

// ja emits an unconditional jump.
func (a *assembler) ja(to label) {
	a.insns = append(a.insns, asmInsn{ins: bpf.Jump{}, jt: to, kind: alwaysJump})
}

// skip returns how many instructions a jump at index i skips to reach l.
func (a *assembler) skip(i int, l label) (uint32, error) {
	if l == next {
		return 0, nil
	}
	pos := a.bound[l]
	if pos < 0 {
		return 0, fmt.Errorf("bpf: label %s never bound", a.names[l])
	}
	if pos <= i {
		return 0, fmt.Errorf("bpf: backward jump to %s at %d", a.names[l], i)
	}
	return uint32(pos - i - 1), nil
}

// assemble resolves labels and returns the program.
func (a *assembler) assemble() ([]bpf.Instruction, error) {
	if a.failed != nil {
		return nil, a.failed
	}
	out := make([]bpf.Instruction, len(a.insns))
	for i, in := range a.insns {
		switch in.kind {
		case plain:
			out[i] = in.ins
		case alwaysJump:
			s, err := a.skip(i, in.jt)
			if err != nil {
				return nil, err
			}
			out[i] = bpf.Jump{Skip: s}
		case condJump:
			st, err := a.skip(i, in.jt)
			if err != nil {
				return nil, err
			}
			sf, err := a.skip(i, in.jf)
			if err != nil {
				return nil, err
			}
			if st > 255 || sf > 255 {
				return nil, fmt.Errorf("bpf: conditional jump at %d too far (%d/%d instructions)", i, st, sf)
			}
			j := in.ins.(bpf.JumpIf)
			j.SkipTrue, j.SkipFalse = uint8(st), uint8(sf)
			out[i] = j
		}
	}
	return out, nil
}
