package secretfmt

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F, extra ...string) {
	for _, v := range tricky {
		f.Add([]byte(v))
	}
	for _, e := range extra {
		f.Add([]byte(e))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
}

// reencode checks that what a decoder accepted survives encode and decode.
func reencode(t *testing.T, f Format, service string, got []Secret) {
	var buf bytes.Buffer
	var err error
	switch f {
	case FormatDotenv:
		err = EncodeDotenv(&buf, envVarsOf(got))
	case FormatShell:
		err = EncodeShell(&buf, envVarsOf(got))
	default:
		err = Encode(&buf, f, got, EnvOptions{})
	}
	if err != nil {
		return // not every decoded set can be written in every format
	}
	if f != FormatDotenv && f != FormatShell {
		service = "" // the encoders write the nested form, which names its services
	}
	back, err := Decode(bytes.NewReader(buf.Bytes()), f, service)
	if err != nil {
		t.Fatalf("decoding our own %s output: %v\n%s", f, err, buf.Bytes())
	}
	equalSecrets(t, back, got)
}

func fuzzDecoder(f *testing.F, format Format, service string, seeds ...string) {
	addSeeds(f, seeds...)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(bytes.NewReader(data), format, service)
		if err != nil {
			if bytes.Contains(data, []byte("SECRET")) && bytes.Contains([]byte(err.Error()), []byte("SECRET")) {
				// Names may be quoted in errors, values never: only
				// flag it when the input has no such name.
				if !bytes.Contains(data, []byte("SECRET\"")) && !bytes.Contains(data, []byte("SECRET:")) {
					t.Logf("error may echo input: %v", err)
				}
			}
			return
		}
		reencode(t, format, service, got)
	})
}

func FuzzDecodeJSON(f *testing.F) {
	fuzzDecoder(f, FormatJSON, "", `{"s": {"u": "v", "b": {"base64": "AA=="}}}`)
}

func FuzzDecodeJSONFlat(f *testing.F) {
	fuzzDecoder(f, FormatJSON, "svc", `{"u": "v", "b": {"base64": "AA=="}}`)
}

func FuzzDecodeYAML(f *testing.F) {
	fuzzDecoder(f, FormatYAML, "", "s:\n  u: v\n  b: {base64: AA==}\n  c: |\n    x\n")
}

func FuzzDecodeYAMLFlat(f *testing.F) {
	fuzzDecoder(f, FormatYAML, "svc", "u: v\nb: !!binary AA==\n")
}

func FuzzDecodeDotenv(f *testing.F) {
	fuzzDecoder(f, FormatDotenv, "svc", "A=1\nexport B='x'\nC=\"a\\nb\\$\" # c\n")
}

func FuzzDecodeShell(f *testing.F) {
	fuzzDecoder(f, FormatShell, "svc", "export A='it'\\''s'\nB=x\\ y\n")
}

func FuzzDecodeK8s(f *testing.F) {
	fuzzDecoder(f, FormatK8s, "", "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {k: eQ==}\nstringData: {s: x}\n")
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"cchain://db/pw", "cchain://a%2Fb/c?version=3", "x", "cchain://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok, err := ParseRef(s)
		if !ok || err != nil {
			return
		}
		back, ok, err := ParseRef(r.String())
		if !ok || err != nil || back != r {
			t.Fatalf("ParseRef(%q) = %+v; its String %q reads back as %+v, %v, %v", s, r, r.String(), back, ok, err)
		}
	})
}

// FuzzValueRoundTrip writes one fuzz-generated secret in every format and
// reads it back; whenever the encoder accepts it, the bytes must be equal.
func FuzzValueRoundTrip(f *testing.F) {
	for k, v := range tricky {
		f.Add("svc", k, []byte(v))
	}
	f.Add("a/b", "x y", []byte{0xff, 0})
	f.Fuzz(func(t *testing.T, service, user string, value []byte) {
		if service == "" || user == "" {
			return
		}
		one := []Secret{{Service: service, User: user, Value: value}}
		for _, format := range []Format{FormatJSON, FormatYAML, FormatK8s} {
			reencode(t, format, "", one)
		}
		v := []Secret{{Service: "svc", User: "V", Value: value}}
		reencode(t, FormatDotenv, "svc", v)
		reencode(t, FormatShell, "svc", v)
	})
}

func FuzzEnvName(f *testing.F) {
	for k := range tricky {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, user string) {
		n := EnvName(user)
		if !ValidEnvName(n) {
			t.Fatalf("EnvName(%q) = %q is not valid", user, n)
		}
		if EnvName(n) != n {
			t.Fatalf("EnvName is not idempotent on %q", n)
		}
		if ValidEnvName(user) && n != user {
			t.Fatalf("valid name %q changed to %q", user, n)
		}
	})
}
