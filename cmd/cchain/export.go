package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/secretfmt"
)

// exportOptions are the settings of one export.
type exportOptions struct {
	// services to export; none means every service.
	services []string
	format   secretfmt.Format
	// output is the file to write, or "" for stdout.
	output string
	force  bool
}

func (a *app) newExportCommand() *cobra.Command {
	var (
		o      exportOptions
		format string
	)
	cmd := &cobra.Command{
		Use:   "export [SERVICE...]",
		Short: "Write the current secrets of services as json, yaml, dotenv, shell or k8s",
		Long: `Write the current value of every live secret of the given services (all
services when none is given) in one file format, to stdout or to -o FILE.

Formats: json and yaml ({SERVICE: {USER: VALUE}}; a value that is not UTF-8 is
written as {"base64": "..."} and read back exactly by cchain import), dotenv
and shell (NAME='VALUE' lines for one service; users become environment names),
k8s (a Kubernetes v1 Secret per service, data in base64). The format is
--format, else the extension of -o FILE (.json .yaml .yml .env .sh), else json.

A value the format cannot hold (a NUL byte in dotenv or shell, a user that is
not a valid Kubernetes key) is an error naming the secret, and nothing is
written. Every secret is read or the export fails: none is skipped.

-o FILE is created with mode 0600 and never replaces an existing file unless
--force; it is written to a temporary file in the same directory and renamed,
so a failure leaves nothing behind.`,
		Example: `  cchain export db --format dotenv > db.env
  cchain export -o all.json                  # every service
  cchain export db api --format k8s -o secrets.yaml
  cchain export db -o db.json --force        # replace db.json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.services = args
			f, err := exportFormat(format, o.output)
			if err != nil {
				return err
			}
			o.format = f
			if o.output != "" && !o.force {
				// Checked again when the file is made; this is to fail
				// before reading anything.
				if _, err := os.Lstat(o.output); err == nil {
					return usagef("%s exists; add --force to replace it", o.output)
				}
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return a.whereNotFound(runExport(cmd.Context(), st, a.stdout, o))
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "`format`: json, yaml, dotenv, shell or k8s (default: from -o's extension, else json)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write to `FILE` (mode 0600) instead of stdout")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace the -o file if it exists")
	_ = cmd.RegisterFlagCompletionFunc("format", completeFormats)
	return cmd
}

// exportFormat picks the format from --format, else from the output file's
// name, else json.
func exportFormat(name, output string) (secretfmt.Format, error) {
	switch {
	case name != "":
		f, err := secretfmt.ParseFormat(name)
		if err != nil {
			return "", usagef("%v; the formats are json, yaml, dotenv, shell and k8s", err)
		}
		return f, nil
	case output != "":
		f, err := secretfmt.FormatFromPath(output)
		if err != nil {
			return "", usagef("cannot tell the format from the name %s; give --format json, yaml, dotenv, shell or k8s", output)
		}
		return f, nil
	}
	return secretfmt.FormatJSON, nil
}

// runExport reads every secret of the services and writes them in o.format
// to w, or to o.output.
func runExport(ctx context.Context, st *cloudchain.Store, w io.Writer, o exportOptions) error {
	services := o.services
	if len(services) == 0 {
		all, err := st.Services(ctx)
		if err != nil {
			return err
		}
		services = all
	}
	seen := map[string]bool{}
	var uniq []string
	for _, s := range services {
		if !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	secrets, err := st.GetServices(ctx, uniq...)
	if err != nil {
		return fmt.Errorf("reading the secrets to export: %w", err)
	}
	defer func() {
		for _, s := range secrets {
			cloudchain.Zero(s.Value)
		}
	}()
	if len(o.services) > 0 {
		// A service named on the command line with nothing in it is
		// most likely a typo: say so rather than write an empty file.
		have := map[string]bool{}
		for _, s := range secrets {
			have[s.Service] = true
		}
		for _, s := range uniq {
			if !have[s] {
				return fmt.Errorf("%w: service %s has no secrets; nothing was exported", cloudchain.ErrNotFound, s)
			}
		}
	}
	if (o.format == secretfmt.FormatDotenv || o.format == secretfmt.FormatShell) && len(uniq) > 1 {
		// These formats hold environment names without services: the
		// secrets of several services would override one another.
		return usagef("%s holds the variables of one service; give one SERVICE, or use json, yaml or k8s for several", o.format)
	}
	in := make([]secretfmt.Secret, len(secrets))
	for i, s := range secrets {
		in[i] = secretfmt.Secret{Service: s.Service, User: s.User, Value: s.Value}
	}
	var buf bytes.Buffer
	defer func() { cloudchain.Zero(buf.Bytes()) }()
	if err := secretfmt.Encode(&buf, o.format, in, secretfmt.EnvOptions{}); err != nil {
		return &shortList{fmt.Errorf("nothing was exported: %w", err)}
	}
	if o.output == "" {
		if _, err := w.Write(buf.Bytes()); err != nil {
			return &outputError{err}
		}
		return nil
	}
	return writeFileAtomic(o.output, buf.Bytes(), o.force)
}

// writeFileAtomic writes data to path with mode 0600 through a temporary
// file in the same directory (created with O_EXCL), so that path either
// holds all of data or is untouched. Without force, an existing path is
// never replaced: the file is put in place with link(2), which fails if the
// name exists.
func writeFileAtomic(path string, data []byte, force bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".cchain-export-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file next to %s: %w", path, err)
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(name)
		}
	}()
	// CreateTemp makes the file 0600; Chmod makes sure whatever the umask.
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if force {
		if err = os.Rename(name, path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	}
	if err = os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return usagef("%s exists; add --force to replace it (nothing was written)", path)
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	os.Remove(name)
	return nil
}

// shortList shows at most shortListLines lines of an error that lists many
// secrets, and how many more there are.
type shortList struct{ err error }

const shortListLines = 10

func (e *shortList) Error() string {
	lines := strings.Split(e.err.Error(), "\n")
	if len(lines) <= shortListLines {
		return e.err.Error()
	}
	return strings.Join(lines[:shortListLines], "\n") + fmt.Sprintf("\nand %d more", len(lines)-shortListLines)
}

func (e *shortList) Unwrap() error { return e.err }
