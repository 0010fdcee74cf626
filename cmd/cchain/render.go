package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/secretfmt"
)

// renderOptions are the settings of one render.
type renderOptions struct {
	// template is the template file; "-" reads stdin.
	template string
	// output is the file to write; "" writes stdout.
	output string
	force  bool
	lookup func(string) (string, bool)
	stdin  io.Reader
}

func (a *app) newRenderCommand() *cobra.Command {
	var o renderOptions
	cmd := &cobra.Command{
		Use:   "render TEMPLATE",
		Short: "Fill a Go text/template with secrets",
		Long: `Render TEMPLATE (a file, or - for stdin), a Go text/template, with these
functions:

  {{ secret "SERVICE" "USER" }}          the current secret
  {{ ref "cchain://SERVICE/USER" }}      a reference (?version=N for a version)
  {{ env "NAME" }}                       an environment variable of cchain

A secret that cannot be read, a reference that cannot be resolved, and an
unset variable are errors, never an empty string: nothing is written, and every
failure is named. The template is rendered in memory first. Secrets named by
literal arguments are read before rendering, with one bulk read (one KMS call)
for a service that two or more of them name.

The output goes to stdout, or with -o FILE to a new file created with mode
0600; an existing FILE is refused unless --force, which replaces it (through
a new 0600 file renamed over it).`,
		Example: `  cchain render app.conf.tmpl -o app.conf
  echo 'password={{ secret "db" "password" }}' | cchain render -
  cchain render -o .pgpass --force pgpass.tmpl`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.template, o.lookup, o.stdin = args[0], a.env.lookup, a.env.stdin
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			return runRender(cmd.Context(), st, a.stdout, o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write to `FILE` (created 0600) instead of stdout")
	cmd.Flags().BoolVar(&o.force, "force", false, "with -o, replace an existing file")
	return cmd
}

// renderFuncs names the template functions that read secrets.
const (
	fnSecret = "secret"
	fnRef    = "ref"
	fnEnv    = "env"
)

// renderer holds one render's lookups. Functions record failures and go on,
// so that one run names every failure; the output is then discarded.
type renderer struct {
	ctx    context.Context
	res    *resolver
	lookup func(string) (string, bool)
	// values are the secrets read so far, by reference.
	values map[secretfmt.Ref][]byte
	// failed holds each failure once, by text; causes the reads among them.
	failed map[string]bool
	causes []*refError
	// prefailed are the reads that failed before rendering.
	prefailed map[secretfmt.Ref]*refError
	// fatal is a failure of the store itself.
	fatal error
}

func (r *renderer) fail(msg string) (string, error) {
	r.failed[msg] = true
	return "", nil
}

func (r *renderer) get(ref secretfmt.Ref) (string, error) {
	if r.fatal != nil {
		return "", r.fatal
	}
	if v, ok := r.values[ref]; ok {
		return string(v), nil
	}
	f, failed := r.prefailed[ref]
	if !failed {
		values, failures, err := r.res.resolveEach(r.ctx, []secretfmt.Ref{ref})
		if err != nil {
			r.fatal = err
			return "", err
		}
		if len(failures) == 0 {
			r.values[ref] = values[ref]
			return string(values[ref]), nil
		}
		f = failures[0]
		r.prefailed[ref] = f
	}
	if !r.failed[f.Error()] {
		r.causes = append(r.causes, f)
	}
	return r.fail(f.Error())
}

func (r *renderer) funcs() template.FuncMap {
	return template.FuncMap{
		fnSecret: func(service, user string) (string, error) {
			return r.get(secretfmt.Ref{Service: service, User: user})
		},
		fnRef: func(s string) (string, error) {
			ref, isRef, err := secretfmt.ParseRef(s)
			switch {
			case err != nil:
				return r.fail(err.Error())
			case !isRef:
				return r.fail(fmt.Sprintf("ref: the argument is not a %s reference", secretfmt.RefScheme))
			}
			return r.get(ref)
		},
		fnEnv: func(name string) (string, error) {
			v, ok := r.lookup(name)
			if !ok {
				return r.fail(fmt.Sprintf("env %q: the variable is not set", name))
			}
			return v, nil
		},
	}
}

// literalRefs returns the references that the template names with literal
// arguments: secret "S" "U" and ref "cchain://...".
func literalRefs(t *template.Template) []secretfmt.Ref {
	var refs []secretfmt.Ref
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			if id, ok := n.Args[0].(*parse.IdentifierNode); ok {
				switch {
				case id.Ident == fnSecret && len(n.Args) == 3:
					s, ok1 := n.Args[1].(*parse.StringNode)
					u, ok2 := n.Args[2].(*parse.StringNode)
					if ok1 && ok2 {
						refs = append(refs, secretfmt.Ref{Service: s.Text, User: u.Text})
					}
				case id.Ident == fnRef && len(n.Args) == 2:
					if s, ok := n.Args[1].(*parse.StringNode); ok {
						if ref, isRef, err := secretfmt.ParseRef(s.Text); isRef && err == nil {
							refs = append(refs, ref)
						}
					}
				}
			}
			for _, a := range n.Args {
				walk(a)
			}
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	return refs
}

// runRender renders the template into memory, then writes it.
func runRender(ctx context.Context, st *cloudchain.Store, w io.Writer, o renderOptions) error {
	const what = "nothing was written"
	text, err := readTemplate(o)
	if err != nil {
		return err
	}
	r := &renderer{ctx: ctx, res: newResolver(st), lookup: o.lookup, failed: map[string]bool{}}
	t, err := template.New(filepath.Base(o.template)).Funcs(r.funcs()).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return usagef("parsing the template: %v", err)
	}
	values, failures, err := r.res.resolveEach(ctx, literalRefs(t))
	if err != nil {
		return err
	}
	r.values = values
	defer func() { r.res.zeroAll(r.values) }()
	// A failure found before rendering counts only if the template
	// reaches it.
	r.prefailed = make(map[secretfmt.Ref]*refError, len(failures))
	for _, f := range failures {
		r.prefailed[f.ref] = f
	}
	var out bytes.Buffer
	defer func() { cloudchain.Zero(out.Bytes()[:out.Cap()]) }()
	if err := t.Execute(&out, nil); err != nil {
		if r.fatal != nil {
			return r.fatal
		}
		return fmt.Errorf("rendering the template: %s; %s", r.redact(err), what)
	}
	if len(r.failed) > 0 {
		msgs := make([]string, 0, len(r.failed))
		for m := range r.failed {
			msgs = append(msgs, m)
		}
		sort.Strings(msgs)
		return &renderError{msgs: msgs, causes: r.causes, what: what}
	}
	if o.output == "" {
		if _, err := w.Write(out.Bytes()); err != nil {
			return &outputError{err}
		}
		return nil
	}
	return writeNewFile(o.output, out.Bytes(), o.force)
}

// renderError names every lookup of a render that failed, one per line.
type renderError struct {
	msgs   []string
	causes []*refError
	what   string
}

func (e *renderError) Error() string {
	return fmt.Sprintf("the template could not be rendered; %s:\n  %s", e.what, strings.Join(e.msgs, "\n  "))
}

// Unwrap returns the failed reads, so that the exit code says why (not
// found, authentication ...).
func (e *renderError) Unwrap() []error {
	out := make([]error, len(e.causes))
	for i, c := range e.causes {
		out[i] = c
	}
	return out
}

func readTemplate(o renderOptions) ([]byte, error) {
	var r io.Reader = o.stdin
	if o.template != "-" {
		f, err := os.Open(o.template)
		if err != nil {
			return nil, usagef("reading the template: %v", err)
		}
		defer f.Close()
		r = f
	}
	text, err := io.ReadAll(io.LimitReader(r, secretfmt.MaxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading the template: %w", err)
	}
	if len(text) > secretfmt.MaxInput {
		return nil, usagef("the template is larger than %d bytes", secretfmt.MaxInput)
	}
	return text, nil
}

// writeNewFile writes data to a new file of mode 0600. An existing file is
// refused, or with force replaced by renaming a new file over it, so that
// the file never exists half written or with wider permissions.
func writeNewFile(path string, data []byte, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return usagef("%s exists; nothing was written (add --force to replace it)", path)
		}
		if err != nil {
			return fmt.Errorf("creating the output: %w", err)
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return fmt.Errorf("writing %s: %w (it was removed)", path, err)
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".cchain-render-*")
	if err != nil {
		return fmt.Errorf("creating the output: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w; nothing was written", path, err)
	}
	return nil
}

// redact returns the text of a template execution error, which can quote a
// value the template was working on (`range can't iterate over VALUE`):
// when it holds any secret value read so far, only its position and the
// expression are kept.
func (r *renderer) redact(err error) string {
	msg := err.Error()
	for _, v := range r.values {
		if len(v) > 0 && strings.Contains(msg, string(v)) {
			var ee template.ExecError
			if errors.As(err, &ee) {
				if i := strings.Index(msg, ">: "); i >= 0 {
					return msg[:i+1] + ": (the rest of the message is not shown: it holds a secret value)"
				}
			}
			return "the template failed (the message is not shown: it holds a secret value)"
		}
	}
	return msg
}
