package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadWith loads the configuration with CLOUDCHAIN_CONFIG set to path.
func loadWith(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Load(lookupOf(map[string]string{"HOME": t.TempDir(), "CLOUDCHAIN_CONFIG": path}), Overrides{})
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("Load(%s) did not return within 5s", path)
		return nil
	}
}

func TestConfigFileMustBeASmallRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte("[dynamo]\n"+strings.Repeat("; padding\n", MaxConfigSize/10+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	// A sparse file: its size is refused before any of it is read.
	huge := filepath.Join(dir, "huge")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 1<<40); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"fifo", fifo, "is a named pipe, not a regular file"},
		{"dev-zero", "/dev/zero", "is a character device, not a regular file"},
		{"directory", dir, "is a directory, not a regular file"},
		{"big", big, "more than the 1048576"},
		{"sparse-1TiB", huge, "more than the 1048576"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := loadWith(t, tc.path)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("err = %v, want ErrConfig naming %s with %q", err, tc.path, tc.want)
			}
		})
	}
}

func TestConfigErrorsNameTheLineNotItsContent(t *testing.T) {
	const secret = "hunter2-password-line"
	cases := []struct {
		name, content, want string
	}{
		{"password file", secret + "\n", "line 1 is not a [section] header, a comment, or key = value"},
		{"password after a section", "[dynamo]\nregion_name = x\n\n" + secret + "\n", "line 4 is not a [section] header"},
		{"password with an equals sign", "user=" + secret + "\n", "line 1: a key outside any section"},
		{"key outside any section", "\n" + secret + " = x\n", "line 2: a key outside any section"},
		{"unclosed section", "[" + secret + "\n", "line 1 has a [section] header without its closing ]"},
		{"unknown section of a secret", "[" + secret + "!x]\n", "line 1: unknown section (name not shown)"},
		{"unknown section", "[dynamo]\n[vault]\n", "line 2: unknown section [vault]"},
		{"unknown key", "[dynamo]\nregion_name = x\n  TabelName: t\n", `line 3: unknown key "tabelname" in [dynamo]`},
		{"unknown key that is no name", "[dynamo]\n" + secret + "/x = 1\n", "line 2: unknown key (name not shown)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "password.txt", tc.content)
			err := loadWith(t, path)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig naming the file and %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the file's content: %v", err)
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	home := t.TempDir()
	// The default ~/.cchainrc may be missing; a named file may not.
	if _, err := Load(lookupOf(map[string]string{"HOME": home}), Overrides{}); err != nil {
		t.Fatalf("no ~/.cchainrc: %v", err)
	}
	err := loadWith(t, filepath.Join(home, "nope"))
	if !errors.Is(err, ErrConfig) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing CLOUDCHAIN_CONFIG: err = %v", err)
	}
}

func TestLockTimeoutOverride(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		d       time.Duration
		wantErr string
	}{
		{-time.Second, `--lock-timeout "-1s" is not a duration of 0 or more, such as 10s`},
		{0, ""},
		{3 * time.Second, ""},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			d := tc.d
			c, err := Load(lookupOf(map[string]string{"HOME": home}), Overrides{LockTimeout: &d})
			if tc.wantErr != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrConfig with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.LockTimeout != tc.d {
				t.Fatalf("LockTimeout = %v, %v; want %v", c, err, tc.d)
			}
		})
	}
}
