// Command localaws runs a local stand-in for AWS, to try cloudchain's
// DynamoDB and KMS set-up on a laptop with no AWS account: dynalite (the
// pinned DynamoDB-compatible server; run `npm ci` first) and the project's
// KMS test server, both on free loopback ports. It writes a config file and
// an env file into a private directory outside the repository, then either
// runs COMMAND with that environment and stops both servers when it exits,
// or, with no COMMAND, prints the environment and serves until Ctrl-C.
//
// Usage, from the repository root:
//
//	go run ./internal/localaws [-dir DIR] [COMMAND [ARG...]]
//	go run ./internal/localaws bash    # a shell where cchain uses the local stand-ins
//
// The KMS test server keeps its keys in memory: everything stored is
// unreadable once it stops. Never keep real secrets there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/kmstest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "localaws:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// run starts the servers, writes the files, and runs the command (or waits
// for ctx). It returns the command's exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("localaws", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", filepath.Join(os.TempDir(), "cloudchain-local-aws-"+strconv.Itoa(os.Getuid())), "private `directory` for the config and env files")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return 1, err
	}
	if fi, err := os.Stat(*dir); err != nil || fi.Mode().Perm()&0o077 != 0 {
		return 1, fmt.Errorf("%s must be a directory that only you can open (chmod 700)", *dir)
	}
	ddb, err := dynalitetest.Serve()
	if err != nil {
		return 1, fmt.Errorf("starting dynalite (run `npm ci` in the repository first): %w", err)
	}
	defer dynalitetest.Stop()
	kms, err := kmstest.Listen("127.0.0.1:0")
	if err != nil {
		return 1, err
	}
	defer kms.Close()
	kms.CreateKey("alias/cloudchain")

	config := filepath.Join(*dir, "cchainrc")
	rc := fmt.Sprintf(`[dynamo]
region_name = us-east-1
endpoint_url = %s
tablename = safedb

[IAMKMS]
keyalias = alias/cloudchain

[kms]
endpoint_url = %s

[cloudchain]
author_lookup = false
`, ddb, kms.URL())
	env := map[string]string{
		"CLOUDCHAIN_CONFIG":           config,
		"AWS_ACCESS_KEY_ID":           "local",
		"AWS_SECRET_ACCESS_KEY":       "local",
		"AWS_REGION":                  "us-east-1",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(*dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(*dir, "no-aws-credentials"),
	}
	envFile := filepath.Join(*dir, "env.sh")
	var exports string
	for _, k := range []string{"CLOUDCHAIN_CONFIG", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		exports += fmt.Sprintf("export %s=%s\n", k, strconv.Quote(env[k]))
	}
	if err := os.WriteFile(config, []byte(rc), 0o600); err != nil {
		return 1, err
	}
	if err := os.WriteFile(envFile, []byte(exports), 0o600); err != nil {
		return 1, err
	}
	// A stale env file must not point a later shell at dead servers.
	defer os.Remove(envFile)
	fmt.Fprintf(stderr, "localaws: dynalite on %s, KMS test server on %s\nlocalaws: config in %s\n", ddb, kms.URL(), config)

	if fs.NArg() == 0 {
		fmt.Fprintf(stdout, "%s# in another shell: . %s   (Ctrl-C here stops both servers)\n", exports, envFile)
		<-ctx.Done()
		return 0, nil
	}
	cmd := exec.CommandContext(ctx, fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}
