package secretfmt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// varsOf maps each secret to a variable named by its user (users in these
// tests are valid names).
func varsOf(secrets []Secret) []EnvVar {
	return envVarsOf(secrets)
}

// TestShellRoundTripThroughSh sources the shell output in every POSIX
// shell on the machine and prints each variable back.
func TestShellRoundTripThroughSh(t *testing.T) {
	var shells []string
	for _, name := range []string{"sh", "dash", "bash", "zsh", "ksh", "mksh"} {
		if p, err := exec.LookPath(name); err == nil {
			shells = append(shells, p)
		}
	}
	if len(shells) == 0 {
		t.Skip("no POSIX shell on PATH")
	}
	secrets := trickySecrets("svc")
	var buf bytes.Buffer
	if err := EncodeShell(&buf, varsOf(secrets)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "env.sh"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sh := range shells {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			for _, s := range secrets {
				cmd := exec.Command(sh, "-c", `. ./env.sh; printf %s "$`+s.User+`"`)
				cmd.Dir = dir
				cmd.Env = []string{"PATH=/usr/bin:/bin"}
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s: %v", s.User, err)
				}
				if !bytes.Equal(out, s.Value) {
					t.Errorf("%s: the shell read %q, want %q", s.User, out, s.Value)
				}
			}
			cmd := exec.Command(sh, "-c", `. ./env.sh; exec env`)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte("single_quote=it's\n")) {
				t.Errorf("variables are not exported:\n%s", out)
			}
		})
	}
}

func TestNULIsRefused(t *testing.T) {
	vars := []EnvVar{
		{Name: "OK", Value: []byte("fine"), Service: "db", User: "ok"},
		{Name: "BIN", Value: []byte("x\x00SECRETTAIL"), Service: "db", User: "bin"},
	}
	for name, enc := range map[string]func(*bytes.Buffer) error{
		"shell":  func(b *bytes.Buffer) error { return EncodeShell(b, vars) },
		"dotenv": func(b *bytes.Buffer) error { return EncodeDotenv(b, vars) },
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			err := enc(&buf)
			if !errors.Is(err, ErrNotRepresentable) {
				t.Fatalf("err = %v, want ErrNotRepresentable", err)
			}
			if !strings.Contains(err.Error(), `"db/bin"`) || strings.Contains(err.Error(), "SECRETTAIL") {
				t.Errorf("err = %v: want the secret named and the value absent", err)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written before the error", buf.Len())
			}
		})
	}
}

// roundTrip encodes secrets of one service in format f and decodes them.
func roundTrip(t testing.TB, f Format, secrets []Secret) []Secret {
	t.Helper()
	var buf bytes.Buffer
	var err error
	service := ""
	switch f {
	case FormatShell:
		err = EncodeShell(&buf, varsOf(secrets))
		service = secrets[0].Service
	case FormatDotenv:
		err = EncodeDotenv(&buf, varsOf(secrets))
		service = secrets[0].Service
	default:
		err = Encode(&buf, f, secrets, EnvOptions{})
	}
	if err != nil {
		t.Fatalf("encode %s: %v", f, err)
	}
	got, err := Decode(bytes.NewReader(buf.Bytes()), f, service)
	if err != nil {
		t.Fatalf("decode %s: %v\n%s", f, err, buf.Bytes())
	}
	return got
}

func TestRoundTripTricky(t *testing.T) {
	for _, f := range []Format{FormatShell, FormatDotenv, FormatJSON, FormatYAML} {
		t.Run(string(f), func(t *testing.T) {
			secrets := trickySecrets("svc")
			equalSecrets(t, roundTrip(t, f, secrets), secrets)
		})
	}
	t.Run("k8s", func(t *testing.T) {
		secrets := trickySecrets("svc")
		for i := range secrets {
			secrets[i].User = strings.ReplaceAll(secrets[i].User, "_", "-")
		}
		equalSecrets(t, roundTrip(t, FormatK8s, secrets), secrets)
	})
}

func TestRoundTripBinary(t *testing.T) {
	var secrets []Secret
	for i := 0; i < 50; i++ {
		secrets = append(secrets, Secret{Service: "bin", User: fmt.Sprintf("r%02d", i), Value: randomBytes(int64(i), i*7)})
	}
	secrets = append(secrets,
		Secret{Service: "bin", User: "invalid-utf8", Value: []byte{0xff, 0xfe, 'a'}},
		Secret{Service: "bin", User: "nul", Value: []byte("a\x00b")},
		Secret{Service: "bin", User: "half-rune", Value: []byte("é")[:1]},
	)
	for _, f := range []Format{FormatJSON, FormatYAML, FormatK8s} {
		t.Run(string(f), func(t *testing.T) {
			equalSecrets(t, roundTrip(t, f, secrets), secrets)
		})
	}
}

func TestRoundTripManyServices(t *testing.T) {
	secrets := append(trickySecrets("a"), trickySecrets("b/with slash")...)
	secrets = append(secrets, sec("yes", "0123", "x"), sec("~", "null", "y"))
	for _, f := range []Format{FormatJSON, FormatYAML} {
		t.Run(string(f), func(t *testing.T) {
			equalSecrets(t, roundTrip(t, f, secrets), secrets)
		})
	}
}

// TestRoundTrip1000 moves 1,000 secrets through every format.
func TestRoundTrip1000(t *testing.T) {
	var secrets []Secret
	values := make([]string, 0, len(tricky))
	for _, v := range tricky {
		values = append(values, v)
	}
	for i := 0; i < 1000; i++ {
		v := []byte(fmt.Sprintf("%s-%d", values[i%len(values)], i))
		secrets = append(secrets, Secret{Service: "svc", User: fmt.Sprintf("user_%04d", i), Value: v})
	}
	for _, f := range []Format{FormatShell, FormatDotenv, FormatJSON, FormatYAML, FormatK8s} {
		t.Run(string(f), func(t *testing.T) {
			equalSecrets(t, roundTrip(t, f, secrets), secrets)
		})
	}
	t.Run("binary", func(t *testing.T) {
		bin := make([]Secret, len(secrets))
		for i := range secrets {
			bin[i] = Secret{Service: fmt.Sprintf("s%d", i%7), User: secrets[i].User, Value: randomBytes(int64(i), 1+i%97)}
		}
		for _, f := range []Format{FormatJSON, FormatYAML, FormatK8s} {
			equalSecrets(t, roundTrip(t, f, bin), bin)
		}
	})
}

func TestYAMLQuotesAmbiguousValues(t *testing.T) {
	for _, v := range []string{"yes", "No", "on", "OFF", "y", "0123", "~", "null", "1e3", "true", "0x1F", "1:20", ".inf", "-", "", "2001-01-01", "<<"} {
		t.Run(v, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodeYAML(&buf, []Secret{sec("s", "u", v)}); err != nil {
				t.Fatal(err)
			}
			line := strings.TrimSpace(strings.Split(buf.String(), "\n")[1])
			if line != "u: "+fmt.Sprintf("%q", v) {
				t.Errorf("wrote %q, want the value double-quoted", line)
			}
		})
	}
	t.Run("multi-line is a literal block", func(t *testing.T) {
		var buf bytes.Buffer
		if err := EncodeYAML(&buf, []Secret{sec("s", "cert", "-----BEGIN X-----\nabc\n-----END X-----\n")}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "cert: |\n") {
			t.Errorf("not a literal block:\n%s", buf.String())
		}
	})
}

func TestEncodeRefusesDuplicates(t *testing.T) {
	dup := []Secret{sec("s", "u", "1"), sec("s", "u", "2")}
	for _, f := range []Format{FormatJSON, FormatYAML, FormatK8s} {
		if err := Encode(&bytes.Buffer{}, f, dup, EnvOptions{}); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("%s: err = %v, want given twice", f, err)
		}
	}
	if err := Encode(&bytes.Buffer{}, FormatJSON, []Secret{{Service: "s", User: "\xff"}}, EnvOptions{}); !errors.Is(err, ErrNotRepresentable) {
		t.Errorf("invalid UTF-8 user: err = %v", err)
	}
}

func TestEncodeEnvFormats(t *testing.T) {
	secrets := []Secret{sec("base", "db.url", "a"), sec("prod", "db.url", "b"), sec("base", "key", "k")}
	var buf bytes.Buffer
	if err := Encode(&buf, FormatDotenv, secrets, EnvOptions{Prefix: "P_"}); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "P_DB_URL='b'\nP_key='k'\n"; got != want {
		t.Errorf("dotenv = %q, want %q", got, want)
	}
	vars, err := BuildEnv(GroupByService(secrets), EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vars = append(vars, EnvVar{Name: "BIN", Value: []byte{0xff}})
	buf.Reset()
	if err := EncodeEnvJSON(&buf, vars); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeJSON(&buf, "env")
	if err != nil {
		t.Fatal(err)
	}
	equalSecrets(t, got, []Secret{sec("env", "BIN", "\xff"), sec("env", "DB_URL", "b"), sec("env", "key", "k")})
	buf.Reset()
	if err := EncodeEnvYAML(&buf, vars); err != nil {
		t.Fatal(err)
	}
	got, err = DecodeYAML(&buf, "env")
	if err != nil {
		t.Fatal(err)
	}
	equalSecrets(t, got, []Secret{sec("env", "BIN", "\xff"), sec("env", "DB_URL", "b"), sec("env", "key", "k")})
}

func TestGolden(t *testing.T) {
	secrets := []Secret{
		sec("app", "API_KEY", "example-not-a-secret"),
		sec("app", "db.password", "it's \"quoted\" $HOME `x` # y = z"),
		sec("app", "cert", "-----BEGIN EXAMPLE-----\nAAAA\n-----END EXAMPLE-----\n"),
		sec("app", "empty", ""),
		sec("app", "yes", "yes"),
		sec("app", "unicode", "héllo ✓"),
		sec("Other/Service", "bin", "\xff\xfe\x00\x01"),
		sec("Other/Service", "port", "0123"),
	}
	text := secrets[:6]
	vars, err := BuildEnv([][]Secret{text}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		enc  func(*bytes.Buffer) error
	}{
		{"export.json", func(b *bytes.Buffer) error { return EncodeJSON(b, secrets) }},
		{"export.yaml", func(b *bytes.Buffer) error { return EncodeYAML(b, secrets) }},
		{"export.k8s.yaml", func(b *bytes.Buffer) error { return EncodeK8s(b, secrets) }},
		{"export.env", func(b *bytes.Buffer) error { return EncodeDotenv(b, vars) }},
		{"export.sh", func(b *bytes.Buffer) error { return EncodeShell(b, vars) }},
		{"env.json", func(b *bytes.Buffer) error { return EncodeEnvJSON(b, vars) }},
		{"env.yaml", func(b *bytes.Buffer) error { return EncodeEnvYAML(b, vars) }},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.enc(&buf); err != nil {
				t.Fatal(err)
			}
			if !utf8.Valid(buf.Bytes()) {
				t.Errorf("output is not UTF-8")
			}
			golden(t, tt.file, buf.Bytes())
		})
	}
}
