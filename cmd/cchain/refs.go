package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/secretfmt"
)

// refParallelism bounds the single reads of a resolve.
const refParallelism = 8

// resolver reads the secrets that cchain:// references name. A service
// that two or more references read at its current version is read with one
// bulk read (one key-provider call for the whole service); other references
// are single reads. Secrets the caller already read in bulk (exec's
// services) are taken from known and cost nothing.
type resolver struct {
	st *cloudchain.Store
	// known holds current values by service, then user.
	known map[string]map[string][]byte
}

func newResolver(st *cloudchain.Store) *resolver {
	return &resolver{st: st, known: map[string]map[string][]byte{}}
}

// addKnown records secrets already read at their current version. A
// service recorded here is taken as read whole: a reference to a user it
// does not hold is resolved by a single read (which reports not found or
// deleted exactly).
func (r *resolver) addKnown(groups [][]secretfmt.Secret) {
	for _, g := range groups {
		for _, s := range g {
			m := r.known[s.Service]
			if m == nil {
				m = map[string][]byte{}
				r.known[s.Service] = m
			}
			m[s.User] = s.Value
		}
	}
}

// refError is the failure of one reference.
type refError struct {
	ref secretfmt.Ref
	err error
}

func (e *refError) Error() string { return e.ref.String() + ": " + e.err.Error() }
func (e *refError) Unwrap() error { return e.err }

// refsError lists every reference that could not be resolved, one per
// line, so that report escapes each line.
type refsError struct {
	failures []*refError
	what     string
}

func (e *refsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cannot resolve %d reference(s); %s:", len(e.failures), e.what)
	for _, f := range e.failures {
		b.WriteString("\n  ")
		b.WriteString(f.Error())
	}
	return b.String()
}

func (e *refsError) Unwrap() []error {
	out := make([]error, len(e.failures))
	for i, f := range e.failures {
		out[i] = f
	}
	return out
}

// resolve returns the value of every reference in refs. It fails closed:
// if any reference cannot be resolved, it returns no values and an error
// naming every failing reference (what says what was not done). The values
// share memory with the resolver's known secrets; zero them once, through
// zeroValues.
func (r *resolver) resolve(ctx context.Context, refs []secretfmt.Ref, what string) (map[secretfmt.Ref][]byte, error) {
	out, failures, err := r.resolveEach(ctx, refs)
	if err != nil {
		return nil, err
	}
	if len(failures) > 0 {
		r.zeroSingles(out)
		return nil, &refsError{failures: failures, what: what}
	}
	return out, nil
}

// resolveEach reads the references and returns the values of those that
// resolved and the failures of the others, sorted. err is set only when
// the store as a whole failed (ctx done, the backend unreachable).
func (r *resolver) resolveEach(ctx context.Context, refs []secretfmt.Ref) (map[secretfmt.Ref][]byte, []*refError, error) {
	out := make(map[secretfmt.Ref][]byte, len(refs))
	// Current-version references, by service, that nothing known holds.
	wanted := map[string]map[string]bool{}
	var single []secretfmt.Ref
	seen := make(map[secretfmt.Ref]bool, len(refs))
	for _, ref := range refs {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if ref.Version == 0 {
			if m, ok := r.known[ref.Service]; ok {
				if v, ok := m[ref.User]; ok {
					out[ref] = v
					continue
				}
				single = append(single, ref)
				continue
			}
			if wanted[ref.Service] == nil {
				wanted[ref.Service] = map[string]bool{}
			}
			wanted[ref.Service][ref.User] = true
			continue
		}
		single = append(single, ref)
	}
	var bulk []string
	for svc, users := range wanted {
		if len(users) >= 2 {
			bulk = append(bulk, svc)
			continue
		}
		for u := range users {
			single = append(single, secretfmt.Ref{Service: svc, User: u})
		}
	}
	sort.Strings(bulk)
	if len(bulk) > 0 {
		secrets, err := r.st.GetServices(ctx, bulk...)
		var be *cloudchain.BulkError
		switch {
		case err == nil:
			groups := make(map[string][]secretfmt.Secret)
			for _, s := range secrets {
				groups[s.Service] = append(groups[s.Service], secretfmt.Secret{Service: s.Service, User: s.User, Value: s.Value})
			}
			for _, svc := range bulk {
				r.addKnown([][]secretfmt.Secret{groups[svc]})
				if r.known[svc] == nil {
					r.known[svc] = map[string][]byte{}
				}
				for u := range wanted[svc] {
					if v, ok := r.known[svc][u]; ok {
						out[secretfmt.Ref{Service: svc, User: u}] = v
					} else {
						single = append(single, secretfmt.Ref{Service: svc, User: u})
					}
				}
			}
		case errors.As(err, &be):
			// Some secret of the service failed, perhaps not one a
			// reference names: read the named ones alone, so that each is
			// judged on its own.
			for _, svc := range bulk {
				for u := range wanted[svc] {
					single = append(single, secretfmt.Ref{Service: svc, User: u})
				}
			}
		default:
			r.zeroSingles(out)
			return nil, nil, err
		}
	}
	failures, err := r.readSingles(ctx, single, out)
	if err != nil {
		r.zeroSingles(out)
		return nil, nil, err
	}
	sort.Slice(failures, func(i, j int) bool { return failures[i].Error() < failures[j].Error() })
	return out, failures, nil
}

// readSingles reads each reference alone, in parallel, into out. Errors of
// a secret are returned as failures; an error of the whole store (ctx done)
// is returned as err.
func (r *resolver) readSingles(ctx context.Context, refs []secretfmt.Ref, out map[secretfmt.Ref][]byte) ([]*refError, error) {
	var (
		mu       sync.Mutex
		failures []*refError
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(refParallelism)
	for _, ref := range refs {
		g.Go(func() error {
			var (
				sec *cloudchain.Secret
				err error
			)
			if ref.Version > 0 {
				sec, err = r.st.GetVersion(gctx, ref.Service, ref.User, ref.Version)
			} else {
				sec, err = r.st.Get(gctx, ref.Service, ref.User)
			}
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, &refError{ref: ref, err: err})
				return nil
			}
			out[ref] = sec.Value
			return nil
		})
	}
	return failures, g.Wait()
}

// zeroSingles zeroes the values of out that the resolver does not hold as
// known secrets (those are zeroed by their owner).
func (r *resolver) zeroSingles(out map[secretfmt.Ref][]byte) {
	for ref, v := range out {
		if ref.Version == 0 {
			if m, ok := r.known[ref.Service]; ok {
				if _, ok := m[ref.User]; ok {
					continue
				}
			}
		}
		cloudchain.Zero(v)
	}
}

// zeroAll zeroes every value the resolver has read or returned.
func (r *resolver) zeroAll(out map[secretfmt.Ref][]byte) {
	r.zeroSingles(out)
	for _, m := range r.known {
		for _, v := range m {
			cloudchain.Zero(v)
		}
	}
}
