package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/secretfmt"
)

// roundTripCount is the number of secrets of the round-trip tests.
const roundTripCount = 1000

// roundTripSecrets makes n secrets of service: every tenth binary (NULs and
// bytes that are not UTF-8) unless envOnly, the others text that needs
// quoting in every format (quotes, $, backslashes, line breaks, unicode,
// an empty value). With envOnly the users are valid environment names and
// no value has a NUL byte, so that dotenv and shell can hold them.
func roundTripSecrets(service string, n int, envOnly bool) []secretfmt.Secret {
	out := make([]secretfmt.Secret, n)
	for i := range out {
		user := fmt.Sprintf("user-%04d.name", i)
		if envOnly {
			user = fmt.Sprintf("USER_%04d", i)
		}
		var v []byte
		switch {
		case i == 1:
			v = []byte{}
		case i%10 == 0 && !envOnly:
			v = []byte{0, 1, 2, 0xff, 0xfe, '\n', byte(i), byte(i >> 8), 0, 'x'}
		case i%10 == 0:
			v = []byte{0xff, 0xfe, '\r', '\n', byte(i | 1), 'x'} // not UTF-8, no NUL
		default:
			v = []byte(fmt.Sprintf("v%d it's \"q\" $HOME `id` \\ é 🔑\nline 2 %s\n", i, strings.Repeat("=", i%7)))
		}
		out[i] = secretfmt.Secret{Service: service, User: user, Value: v}
	}
	return out
}

// roundTrip exports secrets from a store in each format, imports each file
// into an empty store, checks that the new store holds every secret byte
// for byte, and that a second import writes nothing.
func roundTrip(t *testing.T, newStore func(t *testing.T) []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	all := append(roundTripSecrets("big", roundTripCount, false), secretfmt.Secret{Service: "other", User: "x", Value: []byte("y")})
	envOnly := roundTripSecrets("envbig", roundTripCount, true)
	var src bytes.Buffer
	if err := secretfmt.EncodeJSON(&src, append(all, envOnly...)); err != nil {
		t.Fatal(err)
	}
	srcFile := filepath.Join(dir, "src.json")
	if err := os.WriteFile(srcFile, src.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) string {
		t.Helper()
		out, errOut, code := cchainProcess(t, ctx, env, "", args...)
		if code != 0 {
			t.Fatalf("cchain %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	timed := func(what string, env []string, args ...string) string {
		t.Helper()
		start := time.Now()
		out := run(env, args...)
		t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
		return out
	}
	first := newStore(t)
	out := timed(fmt.Sprintf("import of %d secrets into an empty store", 2*roundTripCount+1), first, "import", srcFile)
	if !strings.Contains(out, fmt.Sprintf("%d created, 0 updated, 0 unchanged", 2*roundTripCount+1)) {
		t.Fatalf("first import: %s", lastLine(out))
	}
	want := map[string][]byte{}
	for _, svc := range []string{"big", "envbig", "other"} {
		want[svc] = []byte(run(first, "export", svc, "--format", "json"))
	}

	for _, tc := range []struct {
		format  string
		service string // exported and imported with --service when set
		svcs    []string
	}{
		{"json", "", []string{"big", "other"}},
		{"yaml", "", []string{"big", "other"}},
		{"k8s", "", []string{"big", "other"}},
		{"dotenv", "envbig", []string{"envbig"}},
		{"shell", "envbig", []string{"envbig"}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			file := filepath.Join(dir, "export."+tc.format)
			timed(fmt.Sprintf("export of %v as %s", tc.svcs, tc.format), first, append(append([]string{"export"}, tc.svcs...), "--format", tc.format, "-o", file)...)
			fresh := newStore(t)
			args := []string{"import", file, "--format", tc.format}
			if tc.service != "" {
				args = append(args, "--service", tc.service)
			}
			out := timed("import of the "+tc.format+" export into an empty store", fresh, args...)
			n := 0
			for _, svc := range tc.svcs {
				got := run(fresh, "export", svc, "--format", "json")
				if got != string(want[svc]) {
					t.Fatalf("%s: service %s after export and import differs from the original", tc.format, svc)
				}
				n += strings.Count(string(want[svc]), "\n    \"")
			}
			if !strings.Contains(out, fmt.Sprintf("%d created, 0 updated, 0 unchanged", n)) {
				t.Fatalf("import: %s", lastLine(out))
			}
			out = timed("re-import of the "+tc.format+" export", fresh, args...)
			if !strings.Contains(out, fmt.Sprintf("0 created, 0 updated, %d unchanged", n)) {
				t.Fatalf("re-import: %s", lastLine(out))
			}
			// Nothing was written: every secret is still at version 1.
			for _, svc := range tc.svcs {
				var listing struct {
					Secrets []cloudchain.Entry `json:"secrets"`
				}
				if err := json.Unmarshal([]byte(run(fresh, "list", svc, "--json")), &listing); err != nil {
					t.Fatal(err)
				}
				for _, e := range listing.Secrets {
					if e.Version != 1 {
						t.Fatalf("%s/%s is at version %d after a re-import, want 1", svc, e.User, e.Version)
					}
				}
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestImportExportRoundTrip(t *testing.T) {
	roundTrip(t, func(t *testing.T) []string { return localProcessEnv(t) })
}

func TestImportExportRoundTripDynamoDB(t *testing.T) {
	s := startAWS(t)
	n := 0
	roundTrip(t, func(t *testing.T) []string {
		n++
		dir := t.TempDir()
		cfg := s.writeConfig(t, dir, fmt.Sprintf("%s-%d", dynalitetest.TableName(t), n), "[cloudchain]\nauthor_lookup = false\n")
		env := []string{"HOME=" + dir, "CLOUDCHAIN_CONFIG=" + cfg}
		for k, v := range s.env() {
			env = append(env, k+"="+v)
		}
		if _, errOut, code := cchainProcess(t, context.Background(), env, "", "setup"); code != 0 {
			t.Fatalf("setup: %s", errOut)
		}
		return env
	})
}
