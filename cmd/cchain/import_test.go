package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/cloudchain/cloudchain/internal/secretfmt"
)

// spaces is an endless reader of blanks.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestImportInputBound(t *testing.T) {
	_, dataDir := localProcessEnvDir(t)
	for _, tc := range []struct {
		name string
		size int64
		ok   bool
	}{
		{"at the limit", secretfmt.MaxInput, true},
		{"one byte over", secretfmt.MaxInput + 1, false},
		{"endless", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in io.Reader = spaces{}
			if tc.size >= 0 {
				// A json object padded with blanks to the size.
				in = io.MultiReader(strings.NewReader(`{"db": {"a": "b"}}`), io.LimitReader(spaces{}, tc.size-18))
			}
			var out, errb bytes.Buffer
			e := &env{stdin: in, stdout: &out, stderr: &errb, lookup: func(k string) (string, bool) {
				if k == "CLOUDCHAIN_DATA_DIR" {
					return dataDir, true
				}
				return "", false
			}}
			code := run(context.Background(), []string{"import", "-", "--format", "json", "--dry-run"}, e)
			if tc.ok {
				if code != 0 || !strings.Contains(out.String(), "would be created db/a") {
					t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
				}
				return
			}
			if code != exitUsage || !strings.Contains(errb.String(), "stdin is larger than 64 MiB") || out.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
			}
		})
	}
}
