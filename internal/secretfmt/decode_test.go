package secretfmt

import (
	"errors"
	"strings"
	"testing"
)

type decodeCase struct {
	name    string
	service string
	in      string
	want    []Secret
	wantErr string // substring; the error must not contain "SECRET"
}

func runDecodeCases(t *testing.T, dec func(string, string) ([]Secret, error), cases []decodeCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dec(tt.in, tt.service)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want %q; got %q", tt.wantErr, got)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %q, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("err = %q echoes the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			equalSecrets(t, got, tt.want)
		})
	}
}

func TestDecodeDotenv(t *testing.T) {
	dec := func(in, svc string) ([]Secret, error) { return DecodeDotenv(strings.NewReader(in), svc) }
	runDecodeCases(t, dec, []decodeCase{
		{name: "basic", service: "s", in: "# comment\n\nA=1\nexport B='two words'\n  C = \"x\\ny\"  # note\n",
			want: []Secret{sec("s", "A", "1"), sec("s", "B", "two words"), sec("s", "C", "x\ny")}},
		{name: "unquoted trims and comments", service: "s", in: "A=  value with spaces   # comment\nB=a#b\nC=\nD= #c\n",
			want: []Secret{sec("s", "A", "value with spaces"), sec("s", "B", "a#b"), sec("s", "C", ""), sec("s", "D", "")}},
		{name: "single quotes are literal", service: "s", in: "A='$HOME \\n \" #'\n",
			want: []Secret{sec("s", "A", `$HOME \n " #`)}},
		{name: "multi-line quotes", service: "s", in: "A='l1\nl2'\nB=\"m1\nm2\"\nC=3\n",
			want: []Secret{sec("s", "A", "l1\nl2"), sec("s", "B", "m1\nm2"), sec("s", "C", "3")}},
		{name: "double-quote escapes", service: "s", in: `A="\\ \" \$ \n \r \x"` + "\n",
			want: []Secret{sec("s", "A", "\\ \" $ \n \r x")}},
		{name: "lone dollar", service: "s", in: "A=\"a$ $1 $\"\nB=cost$5\n",
			want: []Secret{sec("s", "A", "a$ $1 $"), sec("s", "B", "cost$5")}},
		{name: "crlf", service: "s", in: "A=1\r\nB='x'\r\n",
			want: []Secret{sec("s", "A", "1"), sec("s", "B", "x")}},
		{name: "dots and dashes in names", service: "s", in: "db.url=1\napi-key=2\n",
			want: []Secret{sec("s", "api-key", "2"), sec("s", "db.url", "1")}},
		{name: "no trailing newline", service: "s", in: "A='x'", want: []Secret{sec("s", "A", "x")}},
		{name: "empty", service: "s", in: "", want: nil},
		{name: "no service", in: "A=1", wantErr: "names no service"},
		{name: "expansion refused", service: "s", in: "A=1\nB=\"SECRET$HOME\"\n", wantErr: "line 2: variable expansion"},
		{name: "unquoted expansion refused", service: "s", in: "B=SECRET${X}\n", wantErr: "line 1: variable expansion"},
		{name: "unterminated single", service: "s", in: "A=1\n\nB='SECRET\n", wantErr: "line 3: unterminated single quote"},
		{name: "unterminated double", service: "s", in: "B=\"SECRET\\\"\n", wantErr: "line 1: unterminated double quote"},
		{name: "text after quote", service: "s", in: "A='x'SECRET\n", wantErr: "line 1: unexpected text"},
		{name: "no equals", service: "s", in: "A=1\nSECRET\n", wantErr: "line 2: want NAME=VALUE"},
		{name: "bad name", service: "s", in: "1A=SECRET\n", wantErr: "line 1: want NAME=VALUE"},
		{name: "duplicate", service: "s", in: "A=1\nA=SECRET\n", wantErr: "line 2: A is already set on line 1"},
		{name: "line after multi-line", service: "s", in: "A='1\n2\n3'\nB=\"SECRET\n", wantErr: "line 4: unterminated"},
	})
}

func TestDecodeShell(t *testing.T) {
	dec := func(in, svc string) ([]Secret, error) { return DecodeShell(strings.NewReader(in), svc) }
	runDecodeCases(t, dec, []decodeCase{
		{name: "encoder output", service: "s", in: "export A='it'\\''s'\nexport B=''\n",
			want: []Secret{sec("s", "A", "it's"), sec("s", "B", "")}},
		{name: "hand written", service: "s", in: "# c\nA=plain; B=a\\ b'c' # tail\n",
			wantErr: "line 2: unexpected text"},
		{name: "unquoted and escapes", service: "s", in: "A=plain\nB=a\\ b'c'\\' # tail\n",
			want: []Secret{sec("s", "A", "plain"), sec("s", "B", "a bc'")}},
		{name: "no service", in: "A=1", wantErr: "names no service"},
		{name: "expansion refused", service: "s", in: "A=\"SECRET\"\n", wantErr: "line 1: unsupported shell syntax"},
		{name: "command refused", service: "s", in: "A=`SECRET`\n", wantErr: "line 1: unsupported shell syntax"},
		{name: "unterminated", service: "s", in: "A='SECRET\n", wantErr: "line 1: unterminated single quote"},
		{name: "spaces around equals", service: "s", in: "A = 1\n", wantErr: "line 1: want NAME=VALUE"},
		{name: "duplicate", service: "s", in: "A=1\nA=SECRET\n", wantErr: "line 2: A is already set"},
	})
}

func TestDecodeJSON(t *testing.T) {
	dec := func(in, svc string) ([]Secret, error) { return DecodeJSON(strings.NewReader(in), svc) }
	runDecodeCases(t, dec, []decodeCase{
		{name: "nested", in: `{"db": {"pw": "x", "bin": {"base64": "/w=="}}, "api": {}}`,
			want: []Secret{sec("db", "bin", "\xff"), sec("db", "pw", "x")}},
		{name: "flat", service: "db", in: `{"pw": "x", "bin": {"base64": "/w=="}}`,
			want: []Secret{sec("db", "bin", "\xff"), sec("db", "pw", "x")}},
		{name: "user named base64", in: `{"db": {"base64": "x"}}`, want: []Secret{sec("db", "base64", "x")}},
		{name: "empty object", in: `{}`, want: nil},
		{name: "escapes", in: `{"s": {"u": "\u00e9\n\"\\\u0000"}}`, want: []Secret{sec("s", "u", "é\n\"\\\x00")}},
		{name: "flat without service", in: "{\n\"pw\": \"SECRET\"}", wantErr: "line 2: value of \"pw\" is a string: this is the flat form"},
		{name: "nested with service", service: "db", in: "{\"db\":\n {\"pw\": \"SECRET\"}}", wantErr: "nested form"},
		{name: "number", in: "{\"s\": {\n\"port\": 5432}}", wantErr: `line 2: value of "s/port" must be a string or {"base64": "..."}, found a number (quote it)`},
		{name: "null", in: `{"s": {"u": null}}`, wantErr: "found null"},
		{name: "array", in: `{"s": {"u": ["SECRET"]}}`, wantErr: "found an array"},
		{name: "bad marker key", in: `{"s": {"u": {"b64": "SECRET"}}}`, wantErr: `value of "s/u" must be a string`},
		{name: "marker extra key", in: `{"s": {"u": {"base64": "AA==", "x": "SECRET"}}}`, wantErr: `value of "s/u" must be a string`},
		{name: "bad base64", in: `{"s": {"u": {"base64": "SECRET!"}}}`, wantErr: "invalid base64"},
		{name: "non-canonical base64", in: `{"s": {"u": {"base64": "/x=="}}}`, wantErr: "invalid base64"},
		{name: "duplicate user", in: "{\"s\": {\"u\": \"1\",\n\"u\": \"SECRET\"}}", wantErr: `line 2: "s/u" is given twice`},
		{name: "duplicate service", in: `{"s": {}, "s": {}}`, wantErr: `service "s" is given twice`},
		{name: "empty user", in: `{"s": {"": "SECRET"}}`, wantErr: "empty user name"},
		{name: "empty service", in: `{"": {}}`, wantErr: "empty service name"},
		{name: "syntax", in: "{\"s\": {\n\"u\": SECRET}}", wantErr: "line 2: invalid JSON syntax"},
		{name: "truncated", in: `{"s": {"u": "SECRET"`, wantErr: "unexpected end of input"},
		{name: "trailing data", in: `{} {"SECRET": 1}`, wantErr: "unexpected data after"},
		{name: "top array", in: `["SECRET"]`, wantErr: "want an object at the top, found an array"},
		{name: "invalid utf8", in: "{\"s\": {\n\"u\": \"SECRET\xff\"}}", wantErr: "line 2: input is not valid UTF-8"},
		{name: "empty input", in: ``, wantErr: "unexpected end of input"},
	})
}

func TestDecodeYAML(t *testing.T) {
	dec := func(in, svc string) ([]Secret, error) { return DecodeYAML(strings.NewReader(in), svc) }
	runDecodeCases(t, dec, []decodeCase{
		{name: "nested", in: "db:\n  pw: x\n  bin: {base64: /w==}\n  b2: !!binary /w==\napi: {}\n",
			want: []Secret{sec("db", "b2", "\xff"), sec("db", "bin", "\xff"), sec("db", "pw", "x")}},
		{name: "flat", service: "db", in: "pw: 'x'\n1234: \"5\"\nyes: |\n  a\n  b\n",
			want: []Secret{sec("db", "1234", "5"), sec("db", "pw", "x"), sec("db", "yes", "a\nb\n")}},
		{name: "empty", in: "", want: nil},
		{name: "null document", in: "---\n~\n", want: nil},
		{name: "flat without service", in: "pw: SECRET\n", wantErr: "line 1: \"pw\" has a scalar value: this is the flat form"},
		{name: "nested with service", service: "db", in: "db:\n  pw: SECRET\n", wantErr: "nested form"},
		{name: "int", in: "s:\n  port: 5432\n", wantErr: `line 2: value of "s/port" is int, not a string: quote it`},
		{name: "bool", in: "s:\n  on: true\n", wantErr: `value of "s/on" is bool`},
		{name: "null", in: "s:\n  u:\n", wantErr: `value of "s/u" is null`},
		{name: "sequence", in: "s:\n  u: [SECRET]\n", wantErr: `line 2: value of "s/u" must be a string`},
		{name: "alias", in: "s:\n  a: &x SECRET\n  b: *x\n", wantErr: "line 3: aliases"},
		{name: "merge key", in: "s:\n  <<: {a: SECRET}\n", wantErr: "a key must be a plain name"},
		{name: "two documents", in: "s: {}\n---\nt: {}\n", wantErr: "line 2: more than one document"},
		{name: "duplicate", in: "s:\n  u: a\n  u: SECRET\n", wantErr: `line 3: "s/u" is given twice`},
		{name: "duplicate service", in: "s: {}\ns: {}\n", wantErr: `line 2: service "s" is given twice`},
		{name: "syntax", in: "s:\n  u: \"SECRET\n", wantErr: "invalid yaml syntax"},
		{name: "bad marker base64", in: "s:\n  u: {base64: SECRET!}\n", wantErr: "invalid base64"},
		{name: "top sequence", in: "- SECRET\n", wantErr: "want a mapping at the top"},
	})
}

func TestDecodeK8s(t *testing.T) {
	dec := func(in, svc string) ([]Secret, error) { return DecodeK8s(strings.NewReader(in), svc) }
	const doc = `apiVersion: v1
kind: Secret
metadata:
  name: my-app
  namespace: prod
  annotations:
    cloudchain.io/service: My/App
type: Opaque
data:
  pw: eA==
  both: eA==
stringData:
  both: from-string-data
  text: "hé"
`
	runDecodeCases(t, dec, []decodeCase{
		{name: "annotation service", in: doc,
			want: []Secret{sec("My/App", "both", "from-string-data"), sec("My/App", "pw", "x"), sec("My/App", "text", "hé")}},
		{name: "given service", service: "other", in: doc,
			want: []Secret{sec("other", "both", "from-string-data"), sec("other", "pw", "x"), sec("other", "text", "hé")}},
		{name: "name as service, multi-document", in: "---\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {k: eQ==}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\nstringData: {k: z}\n",
			want: []Secret{sec("a", "k", "y"), sec("b", "k", "z")}},
		{name: "no data", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n", want: nil},
		{name: "wrong kind", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\n", wantErr: "document 2 (line 5): kind must be Secret"},
		{name: "wrong version", in: "apiVersion: v2\nkind: Secret\n", wantErr: "apiVersion must be v1"},
		{name: "no service", in: "apiVersion: v1\nkind: Secret\ndata: {k: eQ==}\n", wantErr: "no service"},
		{name: "bad base64", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata:\n  k: SECRET!\n", wantErr: `line 5: data value of "a/k" is not valid base64`},
		{name: "non-string", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData:\n  k: 5\n", wantErr: `line 5: stringData value of "a/k" must be a string`},
		{name: "same secret twice", service: "s", in: "apiVersion: v1\nkind: Secret\ndata: {k: eQ==}\n---\napiVersion: v1\nkind: Secret\ndata: {k: eQ==}\n", wantErr: `document 2: secret "s/k" is given twice`},
		{name: "duplicate key", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata:\n  k: eQ==\n  k: eQ==\n", wantErr: `line 6: data "k" is given twice`},
		{name: "alias", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData:\n  a: &x SECRET\n  b: *x\n", wantErr: "aliases"},
	})
}

func TestK8sName(t *testing.T) {
	tests := []struct{ service, want, wantErr string }{
		{"app", "app", ""},
		{"Prod/DB_Main", "prod-db-main", ""},
		{"api.example.com", "api.example.com", ""},
		{"-a-.-.b-", "a.b", ""},
		{"..x..", "x", ""},
		{"日本", "", "no valid Kubernetes name"},
		{"---", "", "no valid Kubernetes name"},
		{strings.Repeat("a", 252) + "-b", strings.Repeat("a", 252), ""},
		{strings.Repeat("a", 300), strings.Repeat("a", 253), ""},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got, err := K8sName(tt.service)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrNotRepresentable) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("K8sName(%q) = %q, %v, want %q", tt.service, got, err, tt.want)
			}
		})
	}
}

func TestEncodeK8sErrors(t *testing.T) {
	tests := []struct {
		name    string
		secrets []Secret
		wantErr string
	}{
		{"collision", []Secret{sec("My App", "k", "SECRET"), sec("my-app", "k", "SECRET")}, `services "My App" and "my-app" both make the Kubernetes name my-app`},
		{"bad key", []Secret{sec("app", "ok", "SECRET"), sec("app", "has space", "SECRET")}, `secret "app/has space": the user is not a valid Kubernetes data key`},
		{"dotdot key", []Secret{sec("app", "..x", "SECRET")}, `secret "app/..x"`},
		{"empty name", []Secret{sec("日本", "k", "SECRET")}, "no valid Kubernetes name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			err := EncodeK8s(&buf, tt.secrets)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "SECRET") || !errors.Is(err, ErrNotRepresentable) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in      string
		want    Ref
		isRef   bool
		wantErr string
	}{
		{"plain value", Ref{}, false, ""},
		{"CCHAIN://db/pw", Ref{}, false, ""},
		{"", Ref{}, false, ""},
		{"cchain://db/pw", Ref{"db", "pw", 0}, true, ""},
		{"cchain://db/pw?version=12", Ref{"db", "pw", 12}, true, ""},
		{"cchain://a%2Fb/c%3Fd%20e%25", Ref{"a/b", "c?d e%", 0}, true, ""},
		{"cchain://db", Ref{}, true, "want cchain://SERVICE/USER"},
		{"cchain://db/", Ref{}, true, "want cchain://SERVICE/USER"},
		{"cchain:///pw", Ref{}, true, "want cchain://SERVICE/USER"},
		{"cchain://db/pw/x", Ref{}, true, "want cchain://SERVICE/USER"},
		{"cchain://db/pw?version=0", Ref{}, true, `cchain reference to "db/pw": version must be a positive integer`},
		{"cchain://db/pw?version=01", Ref{}, true, "positive integer"},
		{"cchain://db/pw?version=-1", Ref{}, true, "positive integer"},
		{"cchain://db/pw?version=SECRET", Ref{}, true, "positive integer"},
		{"cchain://db/pw?version=99999999999999999999", Ref{}, true, "out of range"},
		{"cchain://db/pw?v=1", Ref{}, true, "only query allowed"},
		{"cchain://db/pw?version=1&SECRET=1", Ref{}, true, "positive integer"},
		{"cchain://db/pw#SECRET", Ref{}, true, "fragment"},
		{"cchain://d%zzb/pw", Ref{}, true, "service has a bad percent-escape"},
		{"cchain://db/p%w", Ref{}, true, "user has a bad percent-escape"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, isRef, err := ParseRef(tt.in)
			if isRef != tt.isRef {
				t.Fatalf("isRef = %v, want %v", isRef, tt.isRef)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "SECRET") {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRef = %+v, %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestRefStringRoundTrip(t *testing.T) {
	for _, r := range []Ref{
		{"db", "pw", 0}, {"a/b", "c?d", 3}, {"x y%z#", "é;,&=+$:@", 1 << 40}, {"..", ".", 0},
	} {
		s := r.String()
		got, ok, err := ParseRef(s)
		if !ok || err != nil || got != r {
			t.Errorf("ParseRef(%q) = %+v, %v, %v, want %+v", s, got, ok, err, r)
		}
	}
	if s := (Ref{"db", "pw", 2}).String(); s != "cchain://db/pw?version=2" {
		t.Errorf("String = %q", s)
	}
}

func TestFormats(t *testing.T) {
	for path, want := range map[string]Format{
		"x.json": FormatJSON, "a/b.YAML": FormatYAML, "c.yml": FormatYAML, ".env": FormatDotenv,
		"prod.env": FormatDotenv, "e.sh": FormatShell,
	} {
		if got, err := FormatFromPath(path); err != nil || got != want {
			t.Errorf("FormatFromPath(%q) = %q, %v, want %q", path, got, err, want)
		}
	}
	for _, path := range []string{"x", "x.txt", ".env.local", "-"} {
		if _, err := FormatFromPath(path); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("FormatFromPath(%q): err = %v, want ErrUnknownFormat", path, err)
		}
	}
	for name, want := range map[string]Format{"json": FormatJSON, "YAML": FormatYAML, "yml": FormatYAML, "dotenv": FormatDotenv,
		"env": FormatDotenv, "shell": FormatShell, "sh": FormatShell, "k8s": FormatK8s, "kubernetes": FormatK8s} {
		if got, err := ParseFormat(name); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v, want %q", name, got, err, want)
		}
	}
	if _, err := ParseFormat("toml"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("ParseFormat(toml): err = %v", err)
	}
}

func TestFindEnvRefs(t *testing.T) {
	refs, err := FindEnvRefs([]string{"PATH=/bin", "DB=cchain://db/pw", "NOEQ", "OLD=cchain://db/pw?version=2", "BAD=cchain://db", "BAD2=cchain://db/pw?version=SECRET"})
	if len(refs) != 2 || refs[0] != (EnvRef{"DB", Ref{"db", "pw", 0}}) || refs[1] != (EnvRef{"OLD", Ref{"db", "pw", 2}}) {
		t.Errorf("refs = %+v", refs)
	}
	if err == nil || !strings.Contains(err.Error(), `variable "BAD"`) || !strings.Contains(err.Error(), `variable "BAD2"`) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("err = %v", err)
	}
}
