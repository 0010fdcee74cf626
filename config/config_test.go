package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const pythonRC = `[dynamo]
region_name = eu-west-1
endpoint_url = http://127.0.0.1:8000
tablename = teamsecrets

[IAMKMS]
keyalias = alias/team
`

func TestDefaults(t *testing.T) {
	home := t.TempDir()
	c, err := Load(lookupOf(map[string]string{"HOME": home}), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != BackendLocal || c.DataDir != filepath.Join(home, ".local/share/cloudchain") || c.File != "" ||
		c.HistoryDepth != 10 || c.Table != "safedb" || c.KMSKey != "alias/cloudchain" || c.LockTimeout != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	c, _ = Load(lookupOf(map[string]string{"HOME": home, "XDG_DATA_HOME": "/xdg"}), Overrides{})
	if c.DataDir != "/xdg/cloudchain" {
		t.Fatalf("XDG_DATA_HOME ignored: %q", c.DataDir)
	}
}

func TestPythonRCSelectsDynamoDB(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, ".cchainrc", pythonRC)
	c, err := Load(lookupOf(map[string]string{"HOME": home}), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != BackendDynamoDB || c.Region != "eu-west-1" || c.KMSRegion != "eu-west-1" || c.Table != "teamsecrets" ||
		c.DynamoEndpoint != "http://127.0.0.1:8000" || c.KMSEndpoint != "" || c.KMSKey != "alias/team" ||
		c.File != filepath.Join(home, ".cchainrc") {
		t.Fatalf("python rc: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	home := t.TempDir()
	path := writeFile(t, home, "cfg", pythonRC+"[kms]\nendpoint_url = http://file-kms\n[cloudchain]\nhistory_depth = 3\n")
	env := map[string]string{
		"HOME": home, "CLOUDCHAIN_CONFIG": path,
		"AWS_REGION": "us-west-2", "AWS_ENDPOINT_URL_DYNAMODB": "http://env-ddb", "CLOUDCHAIN_TABLE": "envtable",
		"CLOUDCHAIN_HISTORY_DEPTH": "5",
	}
	c, err := Load(lookupOf(env), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "us-west-2" || c.DynamoEndpoint != "http://env-ddb" || c.Table != "envtable" || c.KMSEndpoint != "http://file-kms" || c.HistoryDepth != 5 {
		t.Fatalf("environment over file: %+v", c)
	}
	depth := 7
	c, err = Load(lookupOf(env), Overrides{Region: "ap-south-1", DynamoEndpoint: "http://flag-ddb", Table: "flagtable", HistoryDepth: &depth, Backend: BackendLocal})
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "ap-south-1" || c.DynamoEndpoint != "http://flag-ddb" || c.Table != "flagtable" || c.HistoryDepth != 7 || c.Backend != BackendLocal {
		t.Fatalf("flags over environment: %+v", c)
	}
	env["AWS_ENDPOINT_URL"] = "http://global"
	delete(env, "AWS_ENDPOINT_URL_DYNAMODB")
	c, _ = Load(lookupOf(env), Overrides{})
	if c.DynamoEndpoint != "http://global" || c.KMSEndpoint != "http://global" {
		t.Fatalf("AWS_ENDPOINT_URL: %+v", c)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"[dynamo]\ntabelname = x\n":                                            `unknown key "tabelname" in [dynamo]`,
		"[vault]\nx = 1\n":                                                     "unknown section [vault]",
		"stray = 1\n":                                                          `cfg line 1: a key outside any section`,
		"[DEFAULT]\nregion_name = x\n":                                         `cfg line 1: a [DEFAULT] section (Python configparser's defaults for every section) is not supported`,
		"[cloudchain]\nbackend = s3\n":                                         `unknown backend "s3"`,
		"[cloudchain]\nhistory_depth = -1\n":                                   "history_depth",
		"[cloudchain]\nlegacy_writes = maybe\n":                                "legacy_writes",
		"[cloudchain]\nlock_timeout = soon\n":                                  `lock_timeout "soon" is not a duration of 0 or more`,
		"[cloudchain]\nlock_timeout = -1s\n":                                   `lock_timeout "-1s" is not a duration of 0 or more`,
		"[dynamo]\n[cloudchain]\nlegacy_writes = true\nlegacy_reads = false\n": "contradict",
	}
	for content, want := range cases {
		path := writeFile(t, dir, "cfg", content)
		_, err := Load(lookupOf(map[string]string{"HOME": dir, "CLOUDCHAIN_CONFIG": path}), Overrides{})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: err = %v, want ErrConfig with %q", content, err, want)
		}
	}
	_, err := Load(lookupOf(map[string]string{"HOME": dir, "CLOUDCHAIN_CONFIG": filepath.Join(dir, "missing")}), Overrides{})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("missing CLOUDCHAIN_CONFIG file: err = %v", err)
	}
}

func TestKeysAreCaseInsensitiveLikeConfigParser(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, ".cchainrc", "[dynamo]\nRegion_Name: eu-central-1\nTableName = t\n[IAMKMS]\nKeyAlias = alias/x\n")
	c, err := Load(lookupOf(map[string]string{"HOME": home}), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "eu-central-1" || c.Table != "t" || c.KMSKey != "alias/x" {
		t.Fatalf("%+v", c)
	}
}

func TestLegacyWritesAndTheBackend(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, ".cchainrc", pythonRC+"[cloudchain]\nlegacy_writes = true\n")
	env := map[string]string{"HOME": home}
	c, err := Load(lookupOf(env), Overrides{})
	if err != nil || !c.LegacyWrites || !c.LegacyReads {
		t.Fatalf("legacy writes from the file: %+v, %v", c, err)
	}
	// A user of the shared file may still pick the embedded store.
	c, err = Load(lookupOf(env), Overrides{Backend: BackendLocal})
	if err != nil || c.LegacyWrites {
		t.Fatalf("--backend local with a file that asks for legacy writes: %+v, %v", c, err)
	}
	// Asking for both on the command line is a mistake.
	on := true
	if _, err := Load(lookupOf(env), Overrides{Backend: BackendLocal, LegacyWrites: &on}); !errors.Is(err, ErrConfig) {
		t.Fatalf("--backend local --legacy-format: err = %v", err)
	}
}
