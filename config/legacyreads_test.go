package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSetLegacyReadsFalse(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"NoSection", "[dynamo]\nregion_name = eu-west-1\n", "[dynamo]\nregion_name = eu-west-1\n\n[cloudchain]\nlegacy_reads = false\n"},
		{"NoFinalNewline", "[dynamo]\ntablename = safedb", "[dynamo]\ntablename = safedb\n\n[cloudchain]\nlegacy_reads = false\n"},
		{"Section", "[cloudchain]\nhistory_depth = 5\n; comment kept\n", "[cloudchain]\nlegacy_reads = false\nhistory_depth = 5\n; comment kept\n"},
		{"ExplicitSettingKept", "[cloudchain]\nlegacy_reads = true\n", "[cloudchain]\nlegacy_reads = true\n"},
		{"Empty", "", "\n[cloudchain]\nlegacy_reads = false\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".cchainrc")
			if err := os.WriteFile(path, []byte(tc.in), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := setLegacyReadsFalse(path); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
				t.Fatalf("mode %v, want 0640", fi.Mode().Perm())
			}
			// The result still loads, with legacy reads as written.
			c, err := Load(func(k string) (string, bool) {
				switch k {
				case "CLOUDCHAIN_CONFIG":
					return path, true
				case "HOME":
					return t.TempDir(), true
				}
				return "", false
			}, Overrides{})
			if err != nil {
				t.Fatalf("loading the changed file: %v", err)
			}
			if want := tc.name == "ExplicitSettingKept"; c.LegacyReads != want {
				t.Fatalf("LegacyReads = %v, want %v", c.LegacyReads, want)
			}
		})
	}
}
