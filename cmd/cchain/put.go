package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// putOptions are the settings of one put.
type putOptions struct {
	service, user string
	// ifVersion is the expected current version, when hasIfVersion.
	ifVersion    int64
	hasIfVersion bool
	comment      string
	asJSON       bool
	// notices, if set, receives what the store said about the write, and
	// prints it after the confirmation line.
	notices *notices
	// show prints a generated value alone on stdout (or in the JSON), and
	// the confirmation on stderr.
	show   bool
	stderr io.Writer
}

func (a *app) newPutCommand() *cobra.Command {
	var (
		o          putOptions
		ifVersion  string
		allowEmpty bool
		quiet      bool
		fromFile   string
		generate   bool
		length     int
		charset    string
	)
	cmd := &cobra.Command{
		Use:   "put SERVICE USER [VALUE|-]",
		Short: "Save a secret as a new version",
		Long: `Save a secret as a new version. With no VALUE, or with -, the secret is read
from stdin byte for byte (binary is fine, nothing is trimmed); on a terminal it is
prompted for twice without echo. An empty stdin is refused unless --allow-empty
is given, so that a failed producer in a pipe cannot blank a secret. A VALUE on
the command line is visible to other users in ps and lands in shell history:
prefer stdin or the prompt (cchain warns unless --quiet).

--from-file FILE saves the exact bytes of FILE (up to the 8 MiB limit).
--generate saves a new random secret from crypto/rand: --length characters
(default 32) of --charset alnum (default), ascii (printable, no space), hex or
base64 (A-Z a-z 0-9 + /). The generated value is never printed unless --show,
which prints it alone on stdout (the confirmation then goes to stderr), or, with
--json, as "value".`,
		Example: `  cchain put db alice                        # prompt
  printf %s "$PASSWORD" | cchain put db alice -
  cchain put db alice - < key.pem --comment "new cert"
  cchain put db alice - --if-version 3 < new.txt   # only if still at version 3
  cchain put db alice - --if-version 0 < new.txt   # only if it does not exist
  cchain put db alice - --allow-empty < /dev/null  # an empty secret, on purpose
  cchain put db alice --from-file key.pem
  cchain put db alice --generate --length 40 --charset ascii
  cchain put api token --generate --charset hex --show   # print it once`,
		Args: rangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.service, o.user = args[0], args[1]
			if cmd.Flags().Changed("if-version") {
				n, err := parseVersion(ifVersion)
				if err != nil {
					return err
				}
				o.ifVersion, o.hasIfVersion = n, true
			}
			if err := cloudchain.ValidateID(o.service, o.user); err != nil {
				return err
			}
			f := cmd.Flags()
			if !generate && (f.Changed("length") || f.Changed("charset") || o.show) {
				return usagef("--length, --charset and --show go with --generate")
			}
			var (
				secret []byte
				err    error
			)
			switch {
			case generate && (fromFile != "" || len(args) == 3):
				return usagef("--generate makes the value: give no VALUE, - or --from-file with it")
			case fromFile != "" && len(args) == 3:
				return usagef("--from-file gives the value: give no VALUE or - with it")
			case generate:
				secret, err = generateSecret(nil, length, charset)
			case fromFile != "":
				secret, err = readSecretFile(fromFile, allowEmpty)
			default:
				src := secretSource{value: "-", allowEmpty: allowEmpty}
				if len(args) == 3 {
					src.value, src.fromArg = args[2], true
					if args[2] != "-" && !quiet {
						fmt.Fprintln(a.env.stderr, "cchain: warning: a secret given as an argument is visible in ps and kept in shell history; give - (stdin) or nothing (a prompt) instead")
					}
				}
				secret, err = a.readSecret(cmd.Context(), src)
			}
			if err != nil {
				return err
			}
			o.stderr = a.env.stderr
			defer cloudchain.Zero(secret)
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			o.asJSON = a.asJSON
			o.notices = a.notices
			return runPut(cmd.Context(), st, a.stdout, o, secret)
		},
	}
	cmd.Flags().StringVar(&ifVersion, "if-version", "", "save only if the current version is `N` (0: only if the secret does not exist)")
	cmd.Flags().StringVar(&o.comment, "comment", "", "a comment stored with the version")
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print the new version as JSON")
	cmd.Flags().BoolVar(&allowEmpty, "allow-empty", false, "accept an empty stdin, file or VALUE as an empty secret")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no warning about a secret given as an argument")
	cmd.Flags().StringVar(&fromFile, "from-file", "", "save the exact bytes of `FILE`")
	cmd.Flags().BoolVar(&generate, "generate", false, "save a new random secret (crypto/rand); it is not printed unless --show")
	cmd.Flags().IntVar(&length, "length", defaultGenerateLength, "with --generate, the number of characters")
	cmd.Flags().StringVar(&charset, "charset", "alnum", "with --generate: alnum, ascii, hex or base64")
	cmd.Flags().BoolVar(&o.show, "show", false, "with --generate, print the generated value on stdout")
	return cmd
}

// readSecretFile reads the exact bytes of a file to save, up to
// cloudchain.MaxSecretSize. An empty file is refused unless allowEmpty.
func readSecretFile(path string, allowEmpty bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the secret: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, usagef("--from-file %s is a directory", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, cloudchain.MaxSecretSize+1))
	if err != nil {
		cloudchain.Zero(b)
		return nil, fmt.Errorf("reading the secret from %s: %w", path, err)
	}
	if len(b) > cloudchain.MaxSecretSize {
		cloudchain.Zero(b)
		return nil, fmt.Errorf("%w: %s is larger than the limit of %d bytes; nothing was saved", cloudchain.ErrTooLarge, path, cloudchain.MaxSecretSize)
	}
	if len(b) == 0 && !allowEmpty {
		return nil, usagef("%s is empty; nothing was saved (add --allow-empty to save an empty secret)", path)
	}
	return b, nil
}

// runPut saves secret as the new version of (service, user) and prints the
// confirmation.
func runPut(ctx context.Context, st *cloudchain.Store, w io.Writer, o putOptions, secret []byte) error {
	opts := commentOption(o.comment)
	if o.hasIfVersion {
		opts = append(opts, cloudchain.IfVersion(o.ifVersion))
	}
	v, err := st.Put(ctx, o.service, o.user, secret, opts...)
	if err != nil {
		return err
	}
	switch {
	case o.asJSON:
		out := map[string]any{"service": o.service, "user": o.user, "version": v}
		if o.show {
			out["value"] = string(secret)
		}
		err = printJSON(w, out)
	case o.show:
		fmt.Fprintf(o.stderr, "Secret saved! %s/%s version %d\n", o.service, o.user, v)
		err = printSecret(w, secret, false)
	default:
		_, err = fmt.Fprintf(w, "Secret saved! %s/%s version %d\n", o.service, o.user, v)
	}
	if err != nil {
		return savedButNotShown(o.service, o.user, v, err)
	}
	switch {
	case o.notices == nil:
	case o.asJSON:
		o.notices.flushWarnings()
	default:
		o.notices.flush(w)
	}
	return nil
}
