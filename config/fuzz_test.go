package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load as the config file: it must never
// panic, must fail only with ErrConfig, and must never echo a line of the
// file that is not a section, key or value (a config path may name the wrong
// file, such as a password file).
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"[dynamo]\nregion_name = eu-west-1\ntablename = safedb\n[IAMKMS]\nkeyalias = alias/x\n",
		"[cloudchain]\nhistory_depth = 5\nlock_timeout = 3s\nlegacy_reads = false\n",
		"[dynamo\nx",
		"password: hunter2-secret\n",
		"\ufeff[dynamo]\n",
		"[kms]\nendpoint_url = \"unterminated\n",
		"[cloudchain]\ndata_dir = relative/path\n",
		"[IAMKMS]\ndecrypt_keys = a, b,, c\n",
		"[dynamo]\n`key = v\n",
		"k = \"\"\"multi\nline",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "cchainrc")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"CLOUDCHAIN_CONFIG": path, "HOME": dir}
		c, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Overrides{})
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			msg := err.Error()
			for _, line := range strings.Split(string(data), "\n") {
				// Section names, key names and bad values are named in
				// errors on purpose; a line that is none of these (what a
				// password file is made of) never is.
				l := strings.TrimSpace(line)
				if strings.HasPrefix(l, "[") || strings.ContainsAny(l, "=:") {
					continue
				}
				if len(l) >= 12 && !strings.Contains(path, l) && strings.Contains(msg, l) {
					t.Fatalf("error %q echoes the file's text %q", msg, l)
				}
			}
			return
		}
		if c.Backend != BackendLocal && c.Backend != BackendDynamoDB {
			t.Fatalf("backend %q accepted", c.Backend)
		}
		if c.HistoryDepth < 0 || c.HistoryDepth > 1000 || c.LockTimeout < 0 {
			t.Fatalf("out-of-range settings accepted: %+v", c)
		}
	})
}
