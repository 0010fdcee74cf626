package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/memory"
	"github.com/cloudchain/cloudchain/internal/secretfmt"
	"github.com/cloudchain/cloudchain/keys/local"
)

// refCountingKeys counts the key provider's unwraps.
type refCountingKeys struct {
	cloudchain.KeyProvider
	decrypts atomic.Int64
}

func (c *refCountingKeys) Decrypt(ctx context.Context, keyID string, ct []byte, encCtx map[string]string) ([]byte, error) {
	c.decrypts.Add(1)
	return c.KeyProvider.Decrypt(ctx, keyID, ct, encCtx)
}

func newRefStore(t *testing.T) (*cloudchain.Store, *memory.Backend, *refCountingKeys) {
	t.Helper()
	p, err := local.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	keys := &refCountingKeys{KeyProvider: p}
	b := memory.New()
	st := cloudchain.New(b, keys)
	ctx := context.Background()
	for _, s := range []struct{ svc, user, value string }{
		{"db", "user", "alice"}, {"db", "password", "pw1"}, {"db", "host", "h"}, {"api", "key", "k3y"},
	} {
		if _, err := st.Put(ctx, s.svc, s.user, []byte(s.value)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Put(ctx, "db", "password", []byte("pw2")); err != nil {
		t.Fatal(err)
	}
	return st, b, keys
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	ref := func(s string) secretfmt.Ref {
		r, ok, err := secretfmt.ParseRef(s)
		if !ok || err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return r
	}
	tests := []struct {
		name     string
		refs     []string
		want     map[string]string
		decrypts int64
		failing  []string
	}{
		{"two of one service: one bulk read", []string{"cchain://db/user", "cchain://db/password", "cchain://db/user"},
			map[string]string{"cchain://db/user": "alice", "cchain://db/password": "pw2"}, 1, nil},
		{"one: a single read", []string{"cchain://api/key"}, map[string]string{"cchain://api/key": "k3y"}, 1, nil},
		{"a version", []string{"cchain://db/password?version=1", "cchain://db/password"},
			map[string]string{"cchain://db/password?version=1": "pw1", "cchain://db/password": "pw2"}, 2, nil},
		{"every failure named", []string{"cchain://db/user", "cchain://db/nobody", "cchain://nosuch/x", "cchain://db/password?version=7"},
			nil, -1, []string{"cchain://db/nobody: ", "cchain://db/password?version=7: ", "cchain://nosuch/x: "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _, keys := newRefStore(t)
			refs := make([]secretfmt.Ref, len(tc.refs))
			for i, s := range tc.refs {
				refs[i] = ref(s)
			}
			keys.decrypts.Store(0)
			got, err := newResolver(st).resolve(ctx, refs, "nothing was done")
			if tc.failing != nil {
				var re *refsError
				if !errors.As(err, &re) || got != nil {
					t.Fatalf("got %v, %v; want a refsError", got, err)
				}
				msg := err.Error()
				for _, f := range tc.failing {
					if !strings.Contains(msg, "\n  "+f) {
						t.Errorf("error %q does not name %s", msg, f)
					}
				}
				if !errors.Is(err, cloudchain.ErrNotFound) {
					t.Errorf("error does not wrap ErrNotFound: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d values, want %d", len(got), len(tc.want))
			}
			for s, v := range tc.want {
				if string(got[ref(s)]) != v {
					t.Errorf("%s = %q, want %q", s, got[ref(s)], v)
				}
			}
			if n := keys.decrypts.Load(); n != tc.decrypts {
				t.Errorf("%d key-provider calls, want %d", n, tc.decrypts)
			}
		})
	}
}

// TestResolveAroundDamage: a damaged secret that no reference names does not
// stop the others (the bulk read falls back to single reads), and one that
// a reference names fails it.
func TestResolveAroundDamage(t *testing.T) {
	ctx := context.Background()
	st, b, _ := newRefStore(t)
	it, err := b.Load(ctx, "api", "key")
	if err != nil {
		t.Fatal(err)
	}
	prev, err := b.Load(ctx, "db", "host")
	if err != nil {
		t.Fatal(err)
	}
	it.Service, it.User = "db", "host"
	if _, err := b.Save(ctx, prev, it); err != nil {
		t.Fatal(err)
	}
	refs := []secretfmt.Ref{{Service: "db", User: "user"}, {Service: "db", User: "password"}}
	got, err := newResolver(st).resolve(ctx, refs, "x")
	if err != nil || string(got[refs[0]]) != "alice" || string(got[refs[1]]) != "pw2" {
		t.Fatalf("got %q, %v", got, err)
	}
	_, err = newResolver(st).resolve(ctx, append(refs, secretfmt.Ref{Service: "db", User: "host"}), "x")
	if !errors.Is(err, cloudchain.ErrAuthentication) || !strings.Contains(err.Error(), "\n  cchain://db/host: ") {
		t.Fatalf("err %v", err)
	}
}

func TestLiteralRefs(t *testing.T) {
	const text = `{{ secret "db" "a" }}{{ if true }}{{ ref "cchain://db/b?version=2" }}{{ else }}{{ secret "x" "y" | printf "%s" }}{{ end }}
{{ range $i := list }}{{ printf "%s" (secret "db" "c") }}{{ end }}{{ define "t" }}{{ ref "cchain://api/k" }}{{ end }}
{{ $s := "dyn" }}{{ secret $s "u" }}{{ ref "not-a-ref" }}{{ with secret "w" "v" }}{{ . }}{{ end }}`
	funcs := template.FuncMap{"secret": func(a, b string) string { return "" }, "ref": func(string) string { return "" }, "list": func() []int { return nil }}
	tmpl, err := template.New("t0").Funcs(funcs).Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range literalRefs(tmpl) {
		got[r.String()] = true
	}
	want := []string{"cchain://db/a", "cchain://db/b?version=2", "cchain://x/y", "cchain://db/c", "cchain://api/k", "cchain://w/v"}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing %s in %v", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
