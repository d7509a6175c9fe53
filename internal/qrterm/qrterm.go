// Package qrterm draws QR codes on a text terminal, so that enrolment can
// hand a phone the client's otpauth:// URI without a file or a browser.
//
// Each character cell shows two modules, one above the other, with the
// Unicode half blocks ▀ ▄ █ and a space. Cells are about twice as tall as
// they are wide, so this keeps modules square and the code half as tall as
// one character per module would. No colour escapes are used: they are lost
// when the output is piped, logged or pasted, while the half blocks survive
// anything that keeps UTF-8.
//
// Without colours, what is drawn is the terminal's foreground colour and
// what is left blank is its background. A scanner wants dark modules on a
// light background, with a light quiet zone around the code. Render assumes
// the most common setup, light text on a dark background: it draws the light
// modules and the quiet zone and leaves the dark modules blank. RenderInverse
// is for dark text on a light background and draws the dark modules. Many
// phone scanners read both polarities, but not all of them do.
//
// Codes use error correction level M (15% of the code may be damaged), the
// usual choice for codes shown on a screen.
package qrterm

import (
	"bytes"
	"fmt"
	"io"

	"rsc.io/qr"
)

// QuietZone is the light margin around a code, in modules, that the QR
// standard requires.
const QuietZone = 4

// The glyphs, indexed by (top drawn)<<1 | (bottom drawn).
var glyphs = [4]string{" ", "▄", "▀", "█"}

// Render draws a QR code of text on w for a terminal with light text on a
// dark background. The dark modules are the terminal's background colour
// and the light modules and quiet zone are its foreground colour. The
// output is (size+8+1)/2 lines of size+8 characters, where size is the
// code's width in modules; each line ends in '\n'.
func Render(w io.Writer, text string) error {
	return render(w, text, false)
}

// RenderInverse is Render for a terminal with dark text on a light
// background: the dark modules are drawn in the foreground colour, and the
// light modules and quiet zone are left as the background.
func RenderInverse(w io.Writer, text string) error {
	return render(w, text, true)
}

func render(w io.Writer, text string, drawDark bool) error {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return fmt.Errorf("failed to encode qr code: %w", err)
	}
	_, err = w.Write(draw(code, drawDark))
	if err != nil {
		return fmt.Errorf("failed to write qr code: %w", err)
	}
	return nil
}

// draw returns the text of code with its quiet zone. The half of the last
// line below the code, when the height is odd, is left blank: it is
// outside the quiet zone.
func draw(code *qr.Code, drawDark bool) []byte {
	n := code.Size + 2*QuietZone
	// drawn reports whether module (x, y) of the code with its quiet zone
	// is drawn in the foreground colour. Black is false outside the code.
	drawn := func(x, y int) int {
		if y >= n {
			return 0
		}
		if code.Black(x-QuietZone, y-QuietZone) == drawDark {
			return 1
		}
		return 0
	}
	var b bytes.Buffer
	b.Grow((n + 1) / 2 * (3*n + 1))
	for y := 0; y < n; y += 2 {
		for x := 0; x < n; x++ {
			b.WriteString(glyphs[drawn(x, y)<<1|drawn(x, y+1)])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
