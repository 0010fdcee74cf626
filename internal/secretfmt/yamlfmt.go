package secretfmt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yaml 1.1 words that some parsers still read as booleans or null.
var yaml11Words = map[string]bool{
	"y": true, "yes": true, "n": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true,
}

// plainSafe reports whether s can be written as a plain yaml scalar and be
// read as the same string by any yaml 1.1 or 1.2 parser.
func plainSafe(s string) bool {
	if s == "" || len(s) > 200 || yaml11Words[strings.ToLower(s)] {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case '0' <= c && c <= '9', c == '.', c == '-', c == '/', c == '@', c == '+', c == '=':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func strNode(s string, style yaml.Style) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: style}
}

// keyNode is a mapping key: plain when safe, double-quoted otherwise.
func keyNode(s string) *yaml.Node {
	if plainSafe(s) {
		return strNode(s, 0)
	}
	return strNode(s, yaml.DoubleQuotedStyle)
}

func markerNode(v []byte) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle, Content: []*yaml.Node{
		strNode(MarkerKey, 0), strNode(base64.StdEncoding.EncodeToString(v), 0),
	}}
}

// valueNode picks the first style, of plain (when plainSafe), literal block
// (multi-line text) and double-quoted, that reads back exactly; and the
// base64 marker when none does or the bytes are not UTF-8.
func valueNode(v []byte) *yaml.Node {
	if !utf8.Valid(v) {
		return markerNode(v)
	}
	s := string(v)
	if plainSafe(s) {
		return strNode(s, 0)
	}
	var styles []yaml.Style
	if strings.Contains(s, "\n") {
		styles = append(styles, yaml.LiteralStyle)
	}
	styles = append(styles, yaml.DoubleQuotedStyle)
	for _, st := range styles {
		n := strNode(s, st)
		if yamlRoundTrips(n, v) {
			return n
		}
	}
	return markerNode(v)
}

// yamlRoundTrips encodes n as the value of a nested mapping (the depth it
// has in the output, so that indentation is the same) and reads it back as
// the decoder would.
func yamlRoundTrips(n *yaml.Node, want []byte) bool {
	doc := mapNode(keyNode("s"), mapNode(keyNode("u"), n))
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return false
	}
	if err := enc.Close(); err != nil {
		return false
	}
	var back yaml.Node
	if err := safeYAMLDecode(yaml.NewDecoder(&buf), &back); err != nil {
		return false
	}
	if back.Kind != yaml.DocumentNode || len(back.Content) != 1 {
		return false
	}
	m := back.Content[0]
	if m.Kind != yaml.MappingNode || len(m.Content) != 2 || m.Content[1].Kind != yaml.MappingNode || len(m.Content[1].Content) != 2 {
		return false
	}
	got, err := yamlValue(m.Content[1].Content[1], "x", "yaml")
	return err == nil && bytes.Equal(got, want)
}

func mapNode(kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: kv}
}

func writeYAML(w io.Writer, docs ...*yaml.Node) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return fmt.Errorf("yaml: encoding: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("yaml: encoding: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// EncodeYAML writes secrets as the yaml form of EncodeJSON's object:
// SERVICE: {USER: VALUE}, keys sorted. See the package documentation for
// how values are quoted.
func EncodeYAML(w io.Writer, secrets []Secret) error {
	secrets = sorted(secrets)
	if err := checkSecrets(secrets); err != nil {
		return err
	}
	root := mapNode()
	var cur *yaml.Node
	for i, s := range secrets {
		if i == 0 || secrets[i-1].Service != s.Service {
			cur = mapNode()
			root.Content = append(root.Content, keyNode(s.Service), cur)
		}
		cur.Content = append(cur.Content, keyNode(s.User), valueNode(s.Value))
	}
	return writeYAML(w, root)
}

// EncodeEnvYAML writes an environment as a flat mapping NAME: VALUE, sorted
// by name, values as in EncodeYAML.
func EncodeEnvYAML(w io.Writer, vars []EnvVar) error {
	root := mapNode()
	for _, v := range sortedVars(vars) {
		root.Content = append(root.Content, keyNode(v.Name), valueNode(v.Value))
	}
	return writeYAML(w, root)
}

// Limits of the yaml and k8s decoders, which bound their memory (see
// yamlMarks): MaxYAMLTokens structural marks in the input, and
// MaxYAMLDocuments documents.
const (
	MaxYAMLTokens    = 100_000
	MaxYAMLDocuments = 10_000
)

// yamlMarks counts what every yaml node but a document's first needs before
// it: a mapping value indicator (":" before a blank or line end), a
// sequence entry ("-" before a blank or line end), a complex key ("? "), a
// flow separator or collection start (",", "[", "{"), or a document marker
// ("---"). The yaml library builds a node of about 100-200 bytes for every
// scalar and collection, so a file of tiny nodes costs about 100 times its
// size; bounding the marks bounds the nodes. Lines inside a block scalar
// (a certificate, say) cost nothing.
func yamlMarks(src []byte) int {
	n := 0
	for i, c := range src {
		switch c {
		case ',', '[', '{':
			n++
		case ':', '-', '?':
			if i+1 == len(src) || src[i+1] == ' ' || src[i+1] == '\n' || src[i+1] == '\t' || src[i+1] == '\r' {
				n++
			}
		}
	}
	return n
}

// safeYAMLDecode turns a panic inside the yaml library into an error.
func safeYAMLDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("the yaml parser failed on this input")
		}
	}()
	return dec.Decode(n)
}

// yamlErr rewrites yaml library errors, which can quote input, to say the
// line only.
func yamlErr(format string, err error) error {
	msg := err.Error()
	line := ""
	if i := strings.Index(msg, "line "); i >= 0 {
		j := i + 5
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		line = msg[i:j] + ": "
	}
	return fmt.Errorf("%s: %sinvalid yaml syntax", format, line)
}

// readYAMLDocs reads every document of src. Aliases are refused wherever
// they are (see checkNoAlias), so no document can expand beyond its size.
func readYAMLDocs(src []byte, format string) ([]*yaml.Node, error) {
	if n := yamlMarks(src); n > MaxYAMLTokens {
		return nil, fmt.Errorf("%s: input has %d structural marks (\": \", \"- \", \",\", \"[\", \"{\", \"? \"), more than the limit of %d: split it, or use json", format, n, MaxYAMLTokens)
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	for {
		if len(docs) > MaxYAMLDocuments {
			return nil, fmt.Errorf("%s: more than %d documents", format, MaxYAMLDocuments)
		}
		var n yaml.Node
		err := safeYAMLDecode(dec, &n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, yamlErr(format, err)
		}
		if err := checkNoAlias(&n, format, 0); err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

func checkNoAlias(n *yaml.Node, format string, depth int) error {
	if n.Kind == yaml.AliasNode {
		return fmt.Errorf("%s: line %d: aliases (*name) are not supported", format, n.Line)
	}
	if depth > 64 {
		return fmt.Errorf("%s: line %d: nested too deeply", format, n.Line)
	}
	for _, c := range n.Content {
		if err := checkNoAlias(c, format, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func shortTag(n *yaml.Node) string { return n.ShortTag() }

// yamlKey reads a mapping key: any scalar, as written (so 1234: and yes:
// are the names "1234" and "yes").
func yamlKey(n *yaml.Node, format string) (string, error) {
	if n.Kind != yaml.ScalarNode || shortTag(n) == "!!merge" {
		return "", fmt.Errorf("%s: line %d: a key must be a plain name", format, n.Line)
	}
	if n.Value == "" {
		return "", fmt.Errorf("%s: line %d: empty name", format, n.Line)
	}
	return n.Value, nil
}

// yamlValue reads a value: a !!str scalar, a !!binary scalar or the base64
// marker mapping.
func yamlValue(n *yaml.Node, where, format string) ([]byte, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch shortTag(n) {
		case "!!str":
			return []byte(n.Value), nil
		case "!!binary":
			v, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: value of %s: invalid !!binary", format, n.Line, where)
			}
			return v, nil
		}
		return nil, fmt.Errorf("%s: line %d: value of %s is %s, not a string: quote it", format, n.Line, where, strings.TrimPrefix(shortTag(n), "!!"))
	case yaml.MappingNode:
		if len(n.Content) == 2 && n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Value == MarkerKey &&
			n.Content[1].Kind == yaml.ScalarNode && shortTag(n.Content[1]) == "!!str" {
			v, err := base64.StdEncoding.Strict().DecodeString(n.Content[1].Value)
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: value of %s: the base64 marker holds invalid base64", format, n.Line, where)
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("%s: line %d: value of %s must be a string or {base64: ...}", format, n.Line, where)
}

// DecodeYAML reads secrets from yaml, in the same two forms as DecodeJSON:
// nested (SERVICE: {USER: VALUE}) without a service, flat (USER: VALUE)
// with one. VALUE is a string (a non-string scalar such as 5432, true or
// null is an error: quote it), a !!binary scalar, or the marker
// {base64: "..."}. One document only; aliases are refused; a name given
// twice is an error.
func DecodeYAML(r io.Reader, service string) ([]Secret, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("yaml: reading input: %w", err)
	}
	docs, err := readYAMLDocs(src, "yaml")
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, nil
	}
	if len(docs) > 1 {
		return nil, fmt.Errorf("yaml: line %d: more than one document", docs[1].Line)
	}
	root := docs[0]
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && shortTag(root) == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("yaml: line %d: want a mapping at the top", root.Line)
	}
	var out []Secret
	if service != "" {
		if out, err = yamlUsers(root, service, nil, true); err != nil {
			return nil, err
		}
		Sort(out)
		return out, nil
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		svc, err := yamlKey(root.Content[i], "yaml")
		if err != nil {
			return nil, err
		}
		if seen[svc] {
			return nil, fmt.Errorf("yaml: line %d: service %s is given twice", root.Content[i].Line, strconv.Quote(svc))
		}
		seen[svc] = true
		v := root.Content[i+1]
		if v.Kind != yaml.MappingNode {
			if v.Kind == yaml.ScalarNode {
				return nil, fmt.Errorf("yaml: line %d: %s has a scalar value: this is the flat form USER: VALUE, which needs a service", v.Line, strconv.Quote(svc))
			}
			return nil, fmt.Errorf("yaml: line %d: service %s must be a mapping of users", v.Line, strconv.Quote(svc))
		}
		if out, err = yamlUsers(v, svc, out, false); err != nil {
			return nil, err
		}
	}
	Sort(out)
	return out, nil
}

func yamlUsers(m *yaml.Node, svc string, out []Secret, flat bool) ([]Secret, error) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		user, err := yamlKey(m.Content[i], "yaml")
		if err != nil {
			return nil, err
		}
		where := secretName(svc, user)
		if flat {
			where = strconv.Quote(user)
		}
		if seen[user] {
			return nil, fmt.Errorf("yaml: line %d: %s is given twice", m.Content[i].Line, where)
		}
		seen[user] = true
		v, err := yamlValue(m.Content[i+1], where, "yaml")
		if err != nil {
			if flat && m.Content[i+1].Kind == yaml.MappingNode {
				return nil, fmt.Errorf("%w (a mapping of users is the nested form, which names its services: give no service)", err)
			}
			return nil, err
		}
		out = append(out, Secret{Service: svc, User: user, Value: v})
		if err := tooMany("yaml", len(out)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
