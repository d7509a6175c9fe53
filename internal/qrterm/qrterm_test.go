package qrterm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"rsc.io/qr"
)

func TestRender(t *testing.T) {
	t.Parallel()
	texts := []struct{ name, text string }{
		{"numeric", "0123456789"},
		{"alphanumeric", "HELLO WORLD"},
		{"one byte", "x"},
		{"key uri", "otpauth://totp/gw.example.org:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=gw.example.org&algorithm=SHA256&digits=6&period=30&ports=40000-49999&length=4&sesame=1"},
		{"long", strings.Repeat("sesame ", 100)},
	}
	modes := []struct {
		name     string
		render   func(*bytes.Buffer, string) error
		drawDark bool
	}{
		{"Render", func(b *bytes.Buffer, s string) error { return Render(b, s) }, false},
		{"RenderInverse", func(b *bytes.Buffer, s string) error { return RenderInverse(b, s) }, true},
	}
	for _, tt := range texts {
		for _, m := range modes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				var out bytes.Buffer
				if err := m.render(&out, tt.text); err != nil {
					t.Fatal(err)
				}
				code, err := qr.Encode(tt.text, qr.M)
				if err != nil {
					t.Fatal(err)
				}
				checkDrawing(t, out.String(), code, m.drawDark)
			})
		}
	}
}

// checkDrawing checks the dimensions and characters of a drawing, and
// reads the modules back from the half blocks to compare with the code.
func checkDrawing(t *testing.T, out string, code *qr.Code, drawDark bool) {
	t.Helper()
	n := code.Size + 2*QuietZone
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if want := (n + 1) / 2; len(lines) != want {
		t.Fatalf("%d lines, want %d for a code of %d modules", len(lines), want, code.Size)
	}
	// drawn[y][x]: module (x, y) of the code with its quiet zone is drawn
	// in the foreground colour; the grid has one row more than the
	// drawing when n is odd.
	drawn := make([][]bool, 2*len(lines))
	for i := range drawn {
		drawn[i] = make([]bool, n)
	}
	for row, l := range lines {
		if c := utf8.RuneCountInString(l); c != n {
			t.Fatalf("line %d has %d characters, want %d", row+1, c, n)
		}
		for x, r := range []rune(l) {
			var top, bottom bool
			switch r {
			case ' ':
			case '▀':
				top = true
			case '▄':
				bottom = true
			case '█':
				top, bottom = true, true
			default:
				t.Fatalf("line %d: character %q, want only ▀ ▄ █ and space", row+1, r)
			}
			drawn[2*row][x], drawn[2*row+1][x] = top, bottom
		}
	}
	for y := range drawn {
		for x := range n {
			if y >= n {
				if drawn[y][x] {
					t.Fatalf("module (%d, %d) below the quiet zone is drawn", x, y)
				}
				continue
			}
			black := code.Black(x-QuietZone, y-QuietZone) // false in the quiet zone
			if want := black == drawDark; drawn[y][x] != want {
				t.Fatalf("module (%d, %d) drawn %v, want %v (black %v)", x, y, drawn[y][x], want, black)
			}
		}
	}
	// A quiet zone of four light modules on every side.
	for i := range QuietZone {
		for j := range n {
			for _, p := range [][2]int{{i, j}, {n - 1 - i, j}, {j, i}, {j, n - 1 - i}} {
				if drawn[p[1]][p[0]] != !drawDark {
					t.Fatalf("quiet zone module (%d, %d) is not light", p[0], p[1])
				}
			}
		}
	}
}

func TestRenderTooLong(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := Render(&out, strings.Repeat("x", 3000))
	if err == nil || err.Error() != "failed to encode qr code: text too long to encode as QR" {
		t.Fatalf("Render = %v, want a too-long error", err)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %d bytes on error", out.Len())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderWriteError(t *testing.T) {
	t.Parallel()
	err := Render(failWriter{}, "x")
	if err == nil || err.Error() != "failed to write qr code: disk full" {
		t.Fatalf("Render = %v, want the write error", err)
	}
}

// A 21-module code with its quiet zone is 29 characters wide and 15
// lines tall.
func ExampleRender() {
	if err := Render(os.Stdout, "sesame"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// █████████████████████████████
	// █████████████████████████████
	// ████ ▄▄▄▄▄ █▀▄ ▀▀█ ▄▄▄▄▄ ████
	// ████ █   █ ██ ▀███ █   █ ████
	// ████ █▄▄▄█ █▄▀▀ ▄█ █▄▄▄█ ████
	// ████▄▄▄▄▄▄▄█▄█▄█▄█▄▄▄▄▄▄▄████
	// ████ ▀▄█▄█▄██▄▄▀▄▀█▀▄██ ▀████
	// ████▀██▄▄█▄▀▀ █ ▀ ▄ ▀▄▄▄ ████
	// ████▄▄█▄▄▄▄█▀█ ▄█▄  █ ██ ████
	// ████ ▄▄▄▄▄ ██  █▄█▀█▄▄█  ████
	// ████ █   █ █▄▄█▀▄▀▄  ▀█ ▄████
	// ████ █▄▄▄█ █▄▀▀ ▀ ▄▄▄▄▄▀▄████
	// ████▄▄▄▄▄▄▄█▄▄▄▄█▄▄▄███▄▄████
	// █████████████████████████████
	// ▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀
}
