package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain/internal/dynalitetest"
)

// TestRecipe runs the README's local AWS recipe the way a user would: the
// cchain binary, inside `localaws sh -c ...`, sets up the table and saves
// and reads a secret through DynamoDB and KMS on loopback; afterwards both
// servers are gone and nothing was written into the repository.
func TestRecipe(t *testing.T) {
	if _, err := dynalitetest.Binary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("dynalite is missing under CI: %v", err)
		}
		t.Skipf("SKIPPED: dynalite is not installed (run npm ci): %v", err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "cchain"), "../../cmd/cchain")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cchain: %v\n%s", err, out)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("HOME", t.TempDir())
	dir := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	script := `cchain setup && cchain -u alice -e db -s hunter2 && cchain -u alice -e db -r && cchain version`
	code, err := run(ctx, []string{"-dir", dir, "sh", "-c", script}, &stdout, &stderr)
	if err != nil || code != 0 {
		t.Fatalf("recipe: exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, &stdout, &stderr)
	}
	out := stdout.String()
	for _, want := range []string{"created table safedb", "KMS key alias/cloudchain is arn:aws:kms:", "Secret saved!", "\nhunter2\n", "cchain "} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`dynalite on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr does not say where dynalite listens:\n%s", &stderr)
	}
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(m[1]); err == nil {
		resp.Body.Close()
		t.Errorf("dynalite still answers at %s after the recipe ended", m[1])
	}
	if _, err := os.Stat(filepath.Join(dir, "env.sh")); !os.IsNotExist(err) {
		t.Errorf("env.sh left behind: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "cchainrc")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config file: %v, %v; want mode 0600", fi, err)
	}
}
