package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cloudchain/cloudchain"
)

// terminal is the interactive terminal on stdin.
type terminal interface {
	// readLine reads one line typed at the terminal, without the newline,
	// echoing it only if echo. It returns ctx's error as soon as ctx is done,
	// and errMultiLine when more than one line arrived at once (a paste).
	// On every return the terminal's settings are restored and its input
	// queue is discarded, so that nothing typed or pasted reaches the shell.
	readLine(ctx context.Context, echo bool) ([]byte, error)
}

// errMultiLine means a paste of several lines reached a one-line prompt.
var errMultiLine = errors.New("more than one line was entered at once")

// secretSource says where a secret comes from: the command line, or stdin
// (a prompt on a terminal).
type secretSource struct {
	// value is the VALUE argument; fromArg says it was given.
	value   string
	fromArg bool
	// allowEmpty accepts an empty secret from a non-terminal stdin.
	allowEmpty bool
}

// readSecret returns the secret to save: the argument itself, or stdin when
// there is none or it is "-" (a prompt without echo when stdin is a
// terminal). An empty stdin or argument is refused unless allowEmpty: a
// producer that failed in a pipe, cron with no input, or an unset variable
// must not blank a secret.
func (a *app) readSecret(ctx context.Context, src secretSource) ([]byte, error) {
	if src.fromArg && src.value != "-" {
		if src.value == "" && !src.allowEmpty {
			// `put db alice "$PASSWORD"` with PASSWORD unset, as an
			// empty stdin, must not blank a secret.
			return nil, usagef("the secret given on the command line is empty (an unset variable?); nothing was saved (add --allow-empty to save an empty secret)")
		}
		return []byte(src.value), nil
	}
	if a.env.term != nil {
		return a.prompt(ctx)
	}
	// Read at most one byte more than any store accepts, so that a huge
	// or endless stdin is refused at once instead of filling memory.
	b, err := readAllContext(ctx, io.LimitReader(a.env.stdin, cloudchain.MaxSecretSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the secret from stdin: %w", err)
	}
	if len(b) > cloudchain.MaxSecretSize {
		cloudchain.Zero(b)
		return nil, fmt.Errorf("%w: stdin holds more than %d bytes, the most a secret may have; nothing was saved", cloudchain.ErrTooLarge, cloudchain.MaxSecretSize)
	}
	if len(b) == 0 && !src.allowEmpty {
		return nil, usagef("stdin is empty; nothing was saved (add --allow-empty to save an empty secret)")
	}
	return b, nil
}

// readAllContext reads r to the end, or until ctx is done.
func readAllContext(ctx context.Context, r io.Reader) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		return res.b, res.err
	case <-ctx.Done():
		// The reader goroutine stays blocked until the process exits.
		return nil, ctx.Err()
	}
}

// prompt asks for the secret twice without echo.
func (a *app) prompt(ctx context.Context) ([]byte, error) {
	first, err := a.promptLine(ctx, "Secret: ")
	if err != nil {
		return nil, err
	}
	second, err := a.promptLine(ctx, "Again: ")
	defer cloudchain.Zero(second)
	if err != nil {
		cloudchain.Zero(first)
		return nil, err
	}
	if !bytes.Equal(first, second) {
		cloudchain.Zero(first)
		return nil, usagef("the two entries differ; nothing was saved")
	}
	if len(first) == 0 {
		return nil, usagef("empty secret; nothing was saved (to save an empty secret, give an empty stdin with --allow-empty)")
	}
	return first, nil
}

func (a *app) promptLine(ctx context.Context, question string) ([]byte, error) {
	fmt.Fprint(a.env.stderr, question)
	line, err := a.env.term.readLine(ctx, false)
	fmt.Fprintln(a.env.stderr)
	switch {
	case errors.Is(err, errMultiLine):
		return nil, usagef("%v; nothing was saved and the rest was discarded\nhint: to save a secret of several lines (a PEM key), give it on stdin: cchain put SERVICE USER - < FILE", err)
	case err != nil:
		return nil, fmt.Errorf("reading the secret: %w", err)
	}
	return line, nil
}

// confirm asks a yes/no question on the terminal; off a terminal it fails
// and names the flag that says yes.
func (a *app) confirm(ctx context.Context, question, refusal string) error {
	if a.env.term == nil {
		return usagef("refusing to %s without confirmation: stdin is not a terminal; add --yes", refusal)
	}
	fmt.Fprintf(a.env.stderr, "%s [y/N] ", question)
	line, err := a.env.term.readLine(ctx, true)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errMultiLine) {
		return err
	}
	if err == nil {
		switch strings.ToLower(strings.TrimSpace(string(line))) {
		case "y", "yes":
			return nil
		}
	}
	return usagef("not confirmed; nothing was changed")
}
