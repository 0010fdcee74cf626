package secretfmt

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDecodeMemoryBound decodes adversarial inputs of about 1 MiB and
// checks the bytes allocated stay within a fixed factor of the input size,
// and the time within a generous bound (no quadratic paths).
func TestDecodeMemoryBound(t *testing.T) {
	const size = 1 << 20
	rep := func(s string) []byte { return bytes.Repeat([]byte(s), size/len(s)) }
	tests := []struct {
		name   string
		format Format
		svc    string
		in     []byte
		factor float64
	}{
		{"json many tiny users", FormatJSON, "s", manyJSONUsers(size), 80},
		{"json deep nesting", FormatJSON, "", rep("["), 40},
		{"json one long string", FormatJSON, "s", []byte(`{"a":"` + strings.Repeat("\\n", size/2) + `"}`), 40},
		{"yaml many tiny users", FormatYAML, "s", rep("a: b\n"), 150},
		{"yaml at the token limit", FormatYAML, "s", manyYAMLUsers(MaxYAMLTokens - 1), 150},
		{"yaml flow sequence", FormatYAML, "s", append([]byte("a: ["), rep("b,")...), 150},
		{"yaml deep nesting", FormatYAML, "", rep("["), 150},
		{"yaml aliases", FormatYAML, "s", append([]byte("a: &x b\n"), rep("c: *x\n")...), 150},
		{"k8s many documents", FormatK8s, "", rep("---\n"), 150},
		{"dotenv many lines", FormatDotenv, "s", rep("A=\n"), 20},
		{"dotenv many names", FormatDotenv, "s", manyDotenvNames(MaxSecrets), 80},
		{"dotenv one long quote", FormatDotenv, "s", append([]byte("A='"), rep("x")...), 20},
		{"shell many escapes", FormatShell, "s", append([]byte("A="), rep("\\x")...), 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, _ = Decode(bytes.NewReader(tt.in), tt.format, tt.svc)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := float64(after.TotalAlloc - before.TotalAlloc)
			f := alloc / float64(len(tt.in))
			t.Logf("%d bytes in: %.0f bytes allocated (x%.1f), %v", len(tt.in), alloc, f, elapsed)
			if f > tt.factor {
				t.Errorf("allocated x%.1f the input, want at most x%.0f", f, tt.factor)
			}
			if elapsed > 20*time.Second {
				t.Errorf("took %v", elapsed)
			}
		})
	}
}

func manyJSONUsers(size int) []byte {
	var b bytes.Buffer
	b.WriteString("{")
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:\"\"", strconv.FormatInt(int64(i), 36))
	}
	b.WriteString("}")
	return b.Bytes()
}

func manyYAMLUsers(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s: b\n", strconv.FormatInt(int64(i), 36))
	}
	return b.Bytes()
}

func TestYAMLLimits(t *testing.T) {
	_, err := DecodeYAML(bytes.NewReader(bytes.Repeat([]byte("[,"), MaxYAMLTokens)), "s")
	if err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Errorf("err = %v", err)
	}
	_, err = DecodeYAML(bytes.NewReader(bytes.Repeat([]byte("- a\n"), MaxYAMLTokens+1)), "s")
	if err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Errorf("err = %v", err)
	}
	_, err = DecodeK8s(bytes.NewReader(bytes.Repeat([]byte("--- \"x\"\n"), MaxYAMLDocuments+2)), "")
	if err == nil || !strings.Contains(err.Error(), "documents") {
		t.Errorf("err = %v", err)
	}
}

func TestMaxSecrets(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i <= MaxSecrets; i++ {
		fmt.Fprintf(&b, "A%d=\n", i)
	}
	_, err := DecodeDotenv(&b, "s")
	if err == nil || !strings.Contains(err.Error(), "more than 100000 secrets") {
		t.Errorf("err = %v", err)
	}
}

// TestYAMLLimitSparesBlockScalars checks that long multi-line values, which
// yaml writes as literal blocks, do not count against MaxYAMLTokens: an
// export of many certificates must import again.
func TestYAMLLimitSparesBlockScalars(t *testing.T) {
	value := []byte(strings.Repeat("MIIBszCCAVmgAwIBAgIU\n", 1000))
	var secrets []Secret
	for i := 0; i < 2*MaxYAMLTokens/1000; i++ {
		secrets = append(secrets, Secret{Service: "certs", User: fmt.Sprintf("c%03d", i), Value: value})
	}
	for _, f := range []Format{FormatYAML, FormatK8s} {
		t.Run(string(f), func(t *testing.T) {
			equalSecrets(t, roundTrip(t, f, secrets), secrets)
		})
	}
}

func manyDotenvNames(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "A%s=\n", strconv.FormatInt(int64(i), 36))
	}
	return b.Bytes()
}
