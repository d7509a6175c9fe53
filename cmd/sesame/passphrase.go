package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// stdin is where --passphrase reads from.
var stdin = os.Stdin

// maxPassphrase bounds a passphrase read from a pipe.
const maxPassphrase = 4096

// readPassphrase reads the passphrase of a cipher knock: from the terminal
// without echo, after a prompt on stderr, or, when standard input is not a
// terminal, its first line.
func readPassphrase(ctx context.Context, event string, stderr io.Writer) ([]byte, error) {
	fd := int(stdin.Fd())
	var pass []byte
	if term.IsTerminal(fd) {
		state, err := term.GetState(fd)
		if err != nil {
			return nil, &usageError{msg: "failed to read the passphrase: " + err.Error()}
		}
		fmt.Fprintf(stderr, "Passphrase for event %q: ", event)
		type result struct {
			b   []byte
			err error
		}
		ch := make(chan result, 1)
		go func() {
			b, err := term.ReadPassword(fd)
			ch <- result{b, err}
		}()
		select {
		case <-ctx.Done():
			// ReadPassword turned echo off and will not return: turn it
			// back on before sesame exits.
			term.Restore(fd, state)
			fmt.Fprintln(stderr)
			return nil, ctx.Err()
		case res := <-ch:
			fmt.Fprintln(stderr)
			if res.err != nil {
				return nil, &usageError{msg: "failed to read the passphrase: " + res.err.Error()}
			}
			pass = res.b
		}
	} else {
		line, err := bufio.NewReaderSize(io.LimitReader(stdin, maxPassphrase+2), maxPassphrase+2).ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull) || len(bytes.TrimSuffix(line, []byte("\n"))) > maxPassphrase:
			return nil, &usageError{msg: fmt.Sprintf("passphrase on standard input is longer than %d bytes", maxPassphrase)}
		case err != nil && !errors.Is(err, io.EOF):
			return nil, &usageError{msg: "failed to read the passphrase from standard input: " + err.Error()}
		case err != nil && len(line) == 0:
			return nil, &usageError{msg: "no passphrase on standard input", hint: "type it on a terminal, or pipe one line: ... | sesame --passphrase ..."}
		}
		pass = bytes.Clone(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")))
		clear(line)
	}
	if len(pass) == 0 {
		return nil, &usageError{msg: "empty passphrase"}
	}
	return pass, nil
}
