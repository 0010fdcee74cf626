//go:build !linux

package main

import (
	"context"
	"os"

	"golang.org/x/term"
)

// ttyBasic is the terminal where cchain has no poll-based reader: echo is
// restored by x/term, but a signal does not end the read early.
type ttyBasic struct {
	fd int
}

func openTerminal(f *os.File) terminal {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	return &ttyBasic{fd: fd}
}

func (t *ttyBasic) readLine(ctx context.Context, echo bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if echo {
		var line []byte
		b := make([]byte, 1)
		for {
			n, err := os.Stdin.Read(b)
			if n == 1 && b[0] != '\n' {
				line = append(line, b[0])
				continue
			}
			return line, err
		}
	}
	return term.ReadPassword(t.fd)
}

func saveTerminal(f *os.File) func() {
	fd := int(f.Fd())
	st, err := term.GetState(fd)
	if err != nil {
		return func() {}
	}
	return func() { _ = term.Restore(fd, st) }
}
