package secretfmt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"
)

// MarkerKey is the one key of the marker object that holds a value that is
// not valid UTF-8 (or, in yaml, that yaml cannot hold exactly), as standard
// base64 with padding: {"base64": "..."}.
const MarkerKey = "base64"

// writeJSONString writes s as a JSON string without HTML escaping.
func writeJSONString(buf *bytes.Buffer, s string) {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.Write(bytes.TrimSuffix(tmp.Bytes(), []byte{'\n'}))
}

func writeJSONValue(buf *bytes.Buffer, v []byte) {
	if utf8.Valid(v) {
		writeJSONString(buf, string(v))
		return
	}
	buf.WriteString(`{"` + MarkerKey + `": "`)
	buf.WriteString(base64.StdEncoding.EncodeToString(v))
	buf.WriteString(`"}`)
}

// checkSecrets refuses two secrets with one service and user, and empty or
// invalid UTF-8 names, which no format can key.
func checkSecrets(secrets []Secret) error {
	for i, s := range secrets {
		if s.Service == "" || s.User == "" || !utf8.ValidString(s.Service) || !utf8.ValidString(s.User) {
			return fmt.Errorf("secret %s: service and user must be non-empty UTF-8: %w", secretName(s.Service, s.User), ErrNotRepresentable)
		}
		if i > 0 && secrets[i-1].Service == s.Service && secrets[i-1].User == s.User {
			return fmt.Errorf("secret %s is given twice", secretName(s.Service, s.User))
		}
	}
	return nil
}

// EncodeJSON writes secrets as {"SERVICE": {"USER": VALUE}}, keys sorted,
// indented by two spaces. VALUE is a JSON string when the bytes are valid
// UTF-8 and the marker object {"base64": "..."} otherwise.
func EncodeJSON(w io.Writer, secrets []Secret) error {
	secrets = sorted(secrets)
	if err := checkSecrets(secrets); err != nil {
		return err
	}
	var buf bytes.Buffer
	if len(secrets) == 0 {
		buf.WriteString("{}\n")
		_, err := w.Write(buf.Bytes())
		return err
	}
	buf.WriteString("{\n")
	for i, s := range secrets {
		first := i == 0 || secrets[i-1].Service != s.Service
		last := i == len(secrets)-1 || secrets[i+1].Service != s.Service
		if first {
			buf.WriteString("  ")
			writeJSONString(&buf, s.Service)
			buf.WriteString(": {\n")
		}
		buf.WriteString("    ")
		writeJSONString(&buf, s.User)
		buf.WriteString(": ")
		writeJSONValue(&buf, s.Value)
		if !last {
			buf.WriteString(",\n")
			continue
		}
		buf.WriteString("\n  }")
		if i < len(secrets)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("}\n")
	_, err := w.Write(buf.Bytes())
	return err
}

// EncodeEnvJSON writes an environment as a flat object {"NAME": VALUE},
// sorted by name, VALUE as in EncodeJSON.
func EncodeEnvJSON(w io.Writer, vars []EnvVar) error {
	vars = sortedVars(vars)
	var buf bytes.Buffer
	buf.WriteString("{")
	for i, v := range vars {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n  ")
		writeJSONString(&buf, v.Name)
		buf.WriteString(": ")
		writeJSONValue(&buf, v.Value)
	}
	if len(vars) > 0 {
		buf.WriteByte('\n')
	}
	buf.WriteString("}\n")
	_, err := w.Write(buf.Bytes())
	return err
}

func sortVars(vars []EnvVar) {
	sort.SliceStable(vars, func(i, j int) bool { return vars[i].Name < vars[j].Name })
}

type jsonParser struct {
	src []byte
	dec *json.Decoder
}

func (p *jsonParser) line() int {
	off := int(p.dec.InputOffset())
	if off > len(p.src) {
		off = len(p.src)
	}
	return 1 + bytes.Count(p.src[:off], []byte{'\n'})
}

func (p *jsonParser) errf(format string, args ...any) error {
	return fmt.Errorf("json: line %d: %s", p.line(), fmt.Sprintf(format, args...))
}

// token reads one token; syntax errors say the line and not the text.
func (p *jsonParser) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err == nil {
		return t, nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// se.Offset counts from where the decoder's current value
		// began; InputOffset is where that value began in src.
		return nil, p.errf("invalid JSON syntax")
	}
	if errors.Is(err, io.EOF) {
		return nil, p.errf("unexpected end of input")
	}
	return nil, p.errf("invalid JSON")
}

func kindOf(t json.Token) string {
	switch t.(type) {
	case json.Delim:
		if t == json.Delim('[') {
			return "an array"
		}
		return "an object"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case nil:
		return "null"
	case string:
		return "a string"
	}
	return "not a value"
}

// DecodeJSON reads secrets from JSON. Without a service the input is the
// nested form {"SERVICE": {"USER": VALUE}}; with a service it is the flat
// form {"USER": VALUE} (as EncodeEnvJSON writes), read into that service.
// VALUE is a string or the marker object {"base64": "..."}; any other value
// (number, boolean, null, array, other object) is an error that says where.
// A key given twice in one object is an error. The input must be valid
// UTF-8.
func DecodeJSON(r io.Reader, service string) ([]Secret, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("json: reading input: %w", err)
	}
	if !utf8.Valid(src) {
		i := 0
		for i < len(src) {
			r, n := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return nil, fmt.Errorf("json: line %d: input is not valid UTF-8", 1+bytes.Count(src[:i], []byte{'\n'}))
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	p := &jsonParser{src: src, dec: dec}
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('{') {
		return nil, p.errf("want an object at the top, found %s", kindOf(t))
	}
	var out []Secret
	if service != "" {
		if out, err = p.users(service, nil, true); err != nil {
			return nil, err
		}
	} else {
		seen := map[string]bool{}
		for dec.More() {
			t, err := p.token()
			if err != nil {
				return nil, err
			}
			svc := t.(string) // object keys are strings
			if svc == "" {
				return nil, p.errf("empty service name")
			}
			if seen[svc] {
				return nil, p.errf("service %s is given twice", strconv.Quote(svc))
			}
			seen[svc] = true
			t, err = p.token()
			if err != nil {
				return nil, err
			}
			if t != json.Delim('{') {
				if _, ok := t.(string); ok {
					return nil, p.errf("value of %s is a string: this is the flat form {\"USER\": VALUE}, which needs a service", strconv.Quote(svc))
				}
				return nil, p.errf("service %s must be an object of users, found %s", strconv.Quote(svc), kindOf(t))
			}
			if out, err = p.users(svc, out, false); err != nil {
				return nil, err
			}
		}
		if _, err := p.token(); err != nil { // the closing }
			return nil, err
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, p.errf("unexpected data after the top-level object")
	}
	Sort(out)
	return out, nil
}

// users reads the members of a users object up to and including its "}".
func (p *jsonParser) users(svc string, out []Secret, flat bool) ([]Secret, error) {
	seen := map[string]bool{}
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		user := t.(string)
		where := secretName(svc, user)
		if flat {
			where = strconv.Quote(user)
		}
		if user == "" {
			return nil, p.errf("empty user name in service %s", strconv.Quote(svc))
		}
		if seen[user] {
			return nil, p.errf("%s is given twice", where)
		}
		seen[user] = true
		t, err = p.token()
		if err != nil {
			return nil, err
		}
		var val []byte
		switch t := t.(type) {
		case string:
			val = []byte(t)
		case json.Delim:
			if t != '{' {
				return nil, p.errf("value of %s must be a string or {\"base64\": \"...\"}, found %s", where, kindOf(t))
			}
			if val, err = p.marker(where, flat); err != nil {
				return nil, err
			}
		default:
			return nil, p.errf("value of %s must be a string or {\"base64\": \"...\"}, found %s (quote it)", where, kindOf(t))
		}
		out = append(out, Secret{Service: svc, User: user, Value: val})
		if err := tooMany("json", len(out)); err != nil {
			return nil, err
		}
	}
	if _, err := p.token(); err != nil { // the closing }
		return nil, err
	}
	return out, nil
}

// marker reads the rest of {"base64": "..."} after its "{".
func (p *jsonParser) marker(where string, flat bool) ([]byte, error) {
	bad := func() error {
		if flat {
			return p.errf("value of %s must be a string or {\"base64\": \"...\"}; an object of users is the nested form, which names its services: give no service", where)
		}
		return p.errf("value of %s must be a string or {\"base64\": \"...\"}", where)
	}
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	if t != MarkerKey {
		return nil, bad()
	}
	t, err = p.token()
	if err != nil {
		return nil, err
	}
	s, ok := t.(string)
	if !ok {
		return nil, bad()
	}
	val, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, p.errf("value of %s: the base64 marker holds invalid base64", where)
	}
	t, err = p.token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('}') {
		return nil, bad()
	}
	return val, nil
}
