// Command cchain stores and reads secrets by (service, user).
//
// It keeps the Python cloudchain interface (-u USER -e SERVICE -s SECRET, or
// -r to read) and adds subcommands for versions, history and the lifecycle of
// a secret. See the README for the manual.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// forceExitAfter is how long a signalled run may take to wind down before
// cchain exits anyway.
const forceExitAfter = 3 * time.Second

func main() {
	// A crash must never write the master key or a secret to disk.
	disableCoreDumps()
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	restore := saveTerminal(os.Stdin)
	go func() {
		sig := <-sigs
		se := &signalError{sig: sig}
		cancel(se)
		// Every blocking step ends on ctx; this is the last resort for one
		// stuck in the kernel, or for a second signal.
		select {
		case <-sigs:
		case <-time.After(forceExitAfter):
		}
		restore()
		fmt.Fprintf(os.Stderr, "cchain: %s\n", se)
		os.Exit(se.code())
	}()
	code := run(ctx, os.Args[1:], newEnv())
	os.Exit(code)
}
