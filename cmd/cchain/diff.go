package main

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// diffOptions are the settings of one diff.
type diffOptions struct {
	a, b       string
	showValues bool
	asJSON     bool
}

func (a *app) newDiffCommand() *cobra.Command {
	var o diffOptions
	cmd := &cobra.Command{
		Use:   "diff SERVICE_A SERVICE_B",
		Short: "Show the users that differ between two services",
		Long: `Compare the current secrets of two services: the users only in SERVICE_A,
only in SERVICE_B, and those whose values differ. Values are not shown unless
--show-values (quoted, with escapes for anything unprintable).

Exit codes, as diff(1): 0 when the services hold the same users with the same
values, 1 when they differ, and 2 or more when the comparison could not be
made. Unlike other commands, diff never exits 1 for an error: a failure that
exits 1 elsewhere exits 2 here; the other codes (3 not found, 6 authentication,
7 access, ...) are those of the global table. A service with no secrets (a
typo, most likely) is not found: exit 3, nothing compared.`,
		Example: `  cchain diff staging production
  cchain diff staging production --show-values
  cchain diff staging production --json
  cchain diff staging production >/dev/null && echo same`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.a, o.b, o.asJSON = args[0], args[1], a.asJSON
			st, err := a.open(cmd)
			if err != nil {
				return diffTroubleOf(err)
			}
			return diffTroubleOf(runDiff(cmd.Context(), st, a.stdout, o))
		},
	}
	cmd.Flags().BoolVar(&o.showValues, "show-values", false, "print the differing values")
	cmd.Flags().BoolVar(&a.asJSON, "json", false, "print the differences as JSON")
	return cmd
}

// diffDiffer is the result of a diff of two services that differ: exit 1.
type diffDiffer struct {
	a, b                    string
	onlyA, onlyB, different int
}

func (e *diffDiffer) Error() string {
	return fmt.Sprintf("%s and %s differ: %d only in %s, %d only in %s, %d with different values", e.a, e.b, e.onlyA, e.a, e.onlyB, e.b, e.different)
}

func (e *diffDiffer) exitCode() int { return exitError }

// diffTrouble is a diff that failed with an error that would exit 1, the
// code that means "different": it exits 2 instead.
type diffTrouble struct{ err error }

func (e *diffTrouble) Error() string { return e.err.Error() }
func (e *diffTrouble) Unwrap() error { return e.err }
func (e *diffTrouble) exitCode() int { return exitUsage }

// diffTroubleOf returns err, wrapped in diffTrouble if it would exit 1.
func diffTroubleOf(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*diffDiffer); ok {
		return err
	}
	if code, _ := classify(err); code == exitError {
		return &diffTrouble{err}
	}
	return err
}

// diffEntry is one user that differs.
type diffEntry struct {
	User string `json:"user"`
	// Kind is only_a, only_b or different.
	Kind string `json:"kind"`
	// ValueA and ValueB are shown with --show-values only.
	ValueA *string `json:"value_a,omitempty"`
	ValueB *string `json:"value_b,omitempty"`
}

// runDiff compares two services and returns a *diffDiffer when they differ.
func runDiff(ctx context.Context, st *cloudchain.Store, w io.Writer, o diffOptions) error {
	if o.a == o.b {
		return usagef("give two different services to compare")
	}
	secrets, err := st.GetServices(ctx, o.a, o.b)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range secrets {
			cloudchain.Zero(s.Value)
		}
	}()
	inA, inB := map[string][]byte{}, map[string][]byte{}
	var users []string
	for _, s := range secrets {
		m := inA
		if s.Service == o.b {
			m = inB
		}
		if _, ok := inA[s.User]; !ok {
			if _, ok := inB[s.User]; !ok {
				users = append(users, s.User)
			}
		}
		m[s.User] = s.Value
	}
	// A service with no secrets is most likely a typo: as cp, env and
	// export do, say so (exit 3) rather than compare with nothing.
	for _, c := range []struct {
		service string
		in      map[string][]byte
	}{{o.a, inA}, {o.b, inB}} {
		if len(c.in) == 0 {
			return fmt.Errorf("%w: service %s has no secrets; nothing was compared", cloudchain.ErrNotFound, c.service)
		}
	}
	slices.Sort(users)
	var entries []diffEntry
	res := &diffDiffer{a: o.a, b: o.b}
	for _, u := range users {
		va, okA := inA[u]
		vb, okB := inB[u]
		e := diffEntry{User: u}
		switch {
		case okA && !okB:
			e.Kind = "only_a"
			res.onlyA++
		case okB && !okA:
			e.Kind = "only_b"
			res.onlyB++
		case len(va) != len(vb) || subtle.ConstantTimeCompare(va, vb) != 1:
			e.Kind = "different"
			res.different++
		default:
			continue
		}
		if o.showValues {
			if okA {
				s := string(va)
				e.ValueA = &s
			}
			if okB {
				s := string(vb)
				e.ValueB = &s
			}
		}
		entries = append(entries, e)
	}
	if o.asJSON {
		if entries == nil {
			entries = []diffEntry{}
		}
		if err := printJSON(w, map[string]any{"a": o.a, "b": o.b, "equal": len(entries) == 0, "differences": entries}); err != nil {
			return err
		}
	} else {
		for _, e := range entries {
			var line string
			switch e.Kind {
			case "only_a":
				line = fmt.Sprintf("only in %s: %s", safeInline(o.a), safe(e.User))
			case "only_b":
				line = fmt.Sprintf("only in %s: %s", safeInline(o.b), safe(e.User))
			default:
				line = fmt.Sprintf("different: %s", safe(e.User))
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return &outputError{err}
			}
			if o.showValues {
				for _, v := range []struct {
					svc string
					val *string
				}{{o.a, e.ValueA}, {o.b, e.ValueB}} {
					if v.val != nil {
						fmt.Fprintf(w, "  %s: %s\n", safeInline(v.svc), quoteValue(*v.val))
					}
				}
			}
		}
	}
	if len(entries) == 0 {
		return nil
	}
	return res
}

// quoteValue quotes a value for a terminal: in double quotes, with Go's
// escapes for quotes, backslashes and anything unprintable or not UTF-8,
// so that an empty value and trailing blanks are visible.
func quoteValue(v string) string { return strconv.Quote(v) }
