package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportProgress: an import of 100 secrets or more draws a progress bar
// when stderr is a terminal, and nothing on stderr when it is not.
func TestImportProgress(t *testing.T) {
	var b strings.Builder
	b.WriteString("{\"db\": {")
	for i := range 150 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: \"v%d\"", fmt.Sprintf("u%03d", i), i)
	}
	b.WriteString("}}")
	file := filepath.Join(t.TempDir(), "many.json")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	env := localProcessEnv(t)
	s := startOnTerminal(t, env, "import", file)
	if code, _ := s.wait(); code != 0 {
		t.Fatalf("import on a terminal: exit %d: %q", code, s.screen.String())
	}
	screen := s.screen.String()
	if !strings.Contains(screen, "importing db") || !strings.Contains(screen, "/150)") {
		t.Fatalf("no progress bar on the terminal: %q", screen)
	}
	if !strings.Contains(screen, "150 created, 0 updated, 0 unchanged") {
		t.Fatalf("no report on the terminal: %q", screen)
	}

	out, errOut, code := cchainProcess(t, context.Background(), localProcessEnv(t), "", "import", file)
	if code != 0 || errOut != "" || !strings.Contains(out, "150 created") {
		t.Fatalf("import to pipes: exit %d, stderr %q", code, errOut)
	}
}
