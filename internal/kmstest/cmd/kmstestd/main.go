// Command kmstestd runs a kmstest KMS server as a process, for end-to-end
// tests of the cchain binary.
//
// Usage:
//
//	kmstestd [-addr 127.0.0.1:0] [-alias NAME]... [-region R] [-account A] [-require-signature AKID:SECRET]
//
// It listens on addr (a loopback address only) and creates one key for each
// -alias. On stdout it prints the server's URL as the first line, then one
// line "ALIAS ARN" for each key it created, and then nothing more. It serves
// until it gets SIGINT or SIGTERM, or until its standard input reaches end of
// file when -stdin-eof is set (so a test that dies cannot leave it running).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cloudchain/cloudchain/internal/kmstest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kmstestd:", err)
		os.Exit(2)
	}
}

type aliases []string

func (a *aliases) String() string     { return strings.Join(*a, ",") }
func (a *aliases) Set(v string) error { *a = append(*a, v); return nil }

// run serves until ctx is done (or stdin closes, with -stdin-eof).
func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("kmstestd", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback `address` to listen on")
	region := fs.String("region", kmstest.DefaultRegion, "`region` named in ARNs")
	account := fs.String("account", kmstest.DefaultAccount, "`account` named in ARNs")
	sig := fs.String("require-signature", "", "reject requests not signed with SigV4 by `AKID:SECRET` (AKID: alone checks the format only)")
	stdinEOF := fs.Bool("stdin-eof", false, "exit when standard input reaches end of file")
	var as aliases
	fs.Var(&as, "alias", "create a key with this `alias` (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	srv, err := kmstest.Listen(*addr, kmstest.WithRegion(*region), kmstest.WithAccount(*account))
	if err != nil {
		return err
	}
	defer srv.Close()
	if *sig != "" {
		id, secret, ok := strings.Cut(*sig, ":")
		if !ok {
			return errors.New("-require-signature wants AKID:SECRET")
		}
		srv.RequireSignature(id, secret)
	}
	out := srv.URL() + "\n"
	for _, a := range as {
		if !strings.HasPrefix(a, "alias/") {
			a = "alias/" + a
		}
		arn, err := createKey(srv, a)
		if err != nil {
			return err
		}
		out += a + " " + arn + "\n"
	}
	if _, err := io.WriteString(stdout, out); err != nil {
		return err
	}
	if *stdinEOF {
		done := make(chan struct{})
		go func() {
			io.Copy(io.Discard, stdin)
			close(done)
		}()
		select {
		case <-ctx.Done():
		case <-done:
		}
		return nil
	}
	<-ctx.Done()
	return nil
}

// createKey is srv.CreateKey, with a bad or duplicate alias reported as an
// error instead of a panic.
func createKey(srv *kmstest.Server, alias string) (arn string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("-alias %s: %v", alias, r)
		}
	}()
	return srv.CreateKey(alias), nil
}
