// Command cchain stores and reads secrets by (service, user).
//
// It keeps the Python cloudchain interface (-u USER -e SERVICE -s SECRET, or
// -r to read) and adds subcommands for versions, history and the lifecycle of
// a secret. See the README for the manual.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newEnv())
	stop()
	os.Exit(code)
}
