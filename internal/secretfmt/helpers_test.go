package secretfmt

import (
	"bytes"
	"flag"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// tricky holds values that break naive quoting. None is a real secret.
var tricky = map[string]string{
	"single_quote":    `it's`,
	"double_quote":    `say "hi"`,
	"both_quotes":     `'"'"'`,
	"newlines":        "line1\nline2\n",
	"crlf":            "a\r\nb\r",
	"equals":          "a=b==",
	"dollar":          "$HOME ${X} $(id) $$",
	"backticks":       "`id` ``",
	"hash":            "# not a comment #x",
	"unicode":         "héllo wörld ✓ 日本 🎉",
	"empty":           "",
	"spaces":          "  leading and trailing  ",
	"backslashes":     `C:\path\ \n \\ \'`,
	"trailing_bslash": `ends with \`,
	"tab":             "a\tb",
	"yaml_yes":        "yes",
	"yaml_octal":      "0123",
	"yaml_tilde":      "~",
	"yaml_null":       "null",
	"yaml_float":      "1e3",
	"yaml_bool":       "True",
	"yaml_colon":      "key: value",
	"yaml_dash":       "- item",
	"yaml_indicator":  "&anchor *alias !tag %dir @at |pipe >gt",
	"json_like":       `{"a": [1, 2]}`,
	"leading_nl":      "\n\n  x",
	"only_spaces":     "   ",
	"control":         "\x01\x07\x1b[31m\x7f",
	"bom":             "\ufeffbom",
	"line_sep":        "a\u2028b\u2029c\u0085d",
}

func trickySecrets(service string) []Secret {
	var out []Secret
	for k, v := range tricky {
		out = append(out, Secret{Service: service, User: k, Value: []byte(v)})
	}
	Sort(out)
	return out
}

func randomBytes(seed int64, n int) []byte {
	r := rand.New(rand.NewSource(seed))
	b := make([]byte, n)
	r.Read(b)
	return b
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func equalSecrets(t *testing.T, got, want []Secret) {
	t.Helper()
	want = sorted(want)
	if len(got) != len(want) {
		t.Fatalf("got %d secrets, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Service != want[i].Service || got[i].User != want[i].User || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("secret %d: got %q/%q = %q, want %q/%q = %q", i, got[i].Service, got[i].User, got[i].Value, want[i].Service, want[i].User, want[i].Value)
		}
	}
}
