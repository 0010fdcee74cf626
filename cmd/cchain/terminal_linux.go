package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/cloudchain/cloudchain"
)

// tty is the terminal on a file descriptor. It reads with poll(2) on the
// terminal and on a pipe that is closed when the context is done, so that a
// signal ends a prompt at once.
type tty struct{ fd int }

// openTerminal returns the terminal on f, or nil if f is not one.
func openTerminal(f *os.File) terminal {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	return &tty{fd: fd}
}

// pasteQuiet is how long the input must stay quiet before the rest of a
// multi-line paste is taken to be over; pasteMax bounds the draining.
const (
	pasteQuiet = 150 * time.Millisecond
	pasteMax   = 3 * time.Second
)

func (t *tty) readLine(ctx context.Context, echo bool) (line []byte, err error) {
	old, err := unix.IoctlGetTermios(t.fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("reading the terminal settings: %w", err)
	}
	mode := *old
	mode.Lflag |= unix.ICANON | unix.ISIG
	mode.Iflag |= unix.ICRNL
	if echo {
		mode.Lflag |= unix.ECHO
	} else {
		mode.Lflag &^= unix.ECHO
	}
	if err := unix.IoctlSetTermios(t.fd, unix.TCSETS, &mode); err != nil {
		return nil, fmt.Errorf("setting the terminal: %w", err)
	}
	defer func() {
		// Discard whatever else is queued (the rest of a paste, type-ahead),
		// then put the terminal back as it was, echo included.
		_ = unix.IoctlSetInt(t.fd, unix.TCFLSH, unix.TCIFLUSH)
		_ = unix.IoctlSetTermios(t.fd, unix.TCSETS, old)
	}()

	wake, wakeW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer wake.Close()
	stop := context.AfterFunc(ctx, func() { wakeW.Close() })
	defer func() {
		if stop() {
			wakeW.Close()
		}
	}()
	wfd := int32(wake.Fd())

	// A canonical-mode line is at most 4096 bytes: one buffer, never grown,
	// so that no copy of the secret is left behind.
	buf := make([]byte, 0, 4096)
	chunk := make([]byte, 4096)
	defer cloudchain.Zero(chunk)
	fail := func(err error) ([]byte, error) {
		cloudchain.Zero(buf[:cap(buf)])
		return nil, err
	}
	for !bytes.HasSuffix(buf, []byte("\n")) {
		ready, err := t.wait(wfd, -1)
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		if err != nil {
			return fail(err)
		}
		if !ready {
			continue
		}
		n, err := unix.Read(t.fd, chunk)
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case err != nil:
			return fail(fmt.Errorf("reading the terminal: %w", err))
		case n == 0 && len(buf) == 0:
			return fail(io.EOF)
		case n == 0:
			// End of input (Ctrl-D) after a partial line.
			return buf, nil
		}
		if len(buf)+n > cap(buf) {
			return fail(errors.New("the line is too long for the terminal"))
		}
		buf = append(buf, chunk[:n]...)
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	if queued, _ := unix.IoctlGetInt(t.fd, unix.TIOCINQ); queued > 0 {
		// More lines came with this one: a paste. Take in the rest of it, so
		// that none of it reaches the shell, and refuse it.
		t.drain(ctx, wfd, chunk)
		return fail(errMultiLine)
	}
	return buf, nil
}

// wait polls the terminal and the wake-up pipe; ready says the terminal
// can be read.
func (t *tty) wait(wake int32, timeout int) (ready bool, err error) {
	fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}, {Fd: wake, Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, timeout)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("waiting for the terminal: %w", err)
		}
		return fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0 && fds[1].Revents == 0, nil
	}
}

// drain reads and discards input until it has been quiet for pasteQuiet.
func (t *tty) drain(ctx context.Context, wake int32, scratch []byte) {
	deadline := time.Now().Add(pasteMax)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		ready, err := t.wait(wake, int(pasteQuiet/time.Millisecond))
		if err != nil || !ready {
			return
		}
		n, err := unix.Read(t.fd, scratch)
		cloudchain.Zero(scratch)
		if err != nil || n == 0 {
			return
		}
	}
}

// saveTerminal returns a function that puts the terminal on f back as it
// is now (a no-op when f is not a terminal).
func saveTerminal(f *os.File) func() {
	fd := int(f.Fd())
	st, err := term.GetState(fd)
	if err != nil {
		return func() {}
	}
	return func() { _ = term.Restore(fd, st) }
}
