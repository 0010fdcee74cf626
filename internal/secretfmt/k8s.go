package secretfmt

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// K8sServiceAnnotation is the annotation that keeps a service's exact name
// on the Kubernetes Secret made from it.
const K8sServiceAnnotation = "cloudchain.io/service"

// K8sName maps a service name to a Kubernetes object name (a DNS-1123
// subdomain): ASCII letters are lower-cased; every character (rune) other
// than a-z, 0-9, "-" and "." becomes "-"; the name is split at "."; each
// part loses its leading and trailing "-" and empty parts are dropped; the
// parts are joined with "."; a result longer than 253 bytes is cut to 253
// and loses any trailing "-" and ".". An empty result is an error. So
// "Prod/DB_Main" is "prod-db-main" and "api.example.com" stays as it is.
func K8sName(service string) (string, error) {
	var b strings.Builder
	for _, r := range service {
		switch {
		case 'A' <= r && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	var parts []string
	for _, p := range strings.Split(b.String(), ".") {
		if p = strings.Trim(p, "-"); p != "" {
			parts = append(parts, p)
		}
	}
	name := strings.Join(parts, ".")
	if len(name) > 253 {
		name = strings.TrimRight(name[:253], "-.")
	}
	if name == "" {
		return "", fmt.Errorf("service %s: no valid Kubernetes name can be made from it (it needs a letter or digit): %w", strconv.Quote(service), ErrNotRepresentable)
	}
	return name, nil
}

// ValidK8sKey reports whether key is a valid key of a Secret's data: one or
// more of [-._a-zA-Z0-9], at most 253 bytes, not "." or "..", not starting
// with "..".
func ValidK8sKey(key string) bool {
	if key == "" || len(key) > 253 || key == "." || strings.HasPrefix(key, "..") {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c == '-' || c == '.' || c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// EncodeK8s writes one Kubernetes v1 Secret manifest per service (type
// Opaque), as yaml documents separated by "---", sorted by service. The
// name is K8sName(service), the annotation cloudchain.io/service holds the
// service, and data maps each user to its value in standard base64. A user
// that is not a valid data key (ValidK8sKey), a service with no name, and
// two services with one name are errors naming them; then nothing is
// written. Kubernetes itself refuses a Secret whose data is over 1 MiB;
// that is not checked here.
func EncodeK8s(w io.Writer, secrets []Secret) error {
	secrets = sorted(secrets)
	if err := checkSecrets(secrets); err != nil {
		return err
	}
	var docs []*yaml.Node
	var data *yaml.Node
	names := map[string]string{}
	for i, s := range secrets {
		if i == 0 || secrets[i-1].Service != s.Service {
			name, err := K8sName(s.Service)
			if err != nil {
				return err
			}
			if other, ok := names[name]; ok {
				return fmt.Errorf("services %s and %s both make the Kubernetes name %s: %w", strconv.Quote(other), strconv.Quote(s.Service), name, ErrNotRepresentable)
			}
			names[name] = s.Service
			data = mapNode()
			docs = append(docs, mapNode(
				keyNode("apiVersion"), strNode("v1", 0),
				keyNode("kind"), strNode("Secret", 0),
				keyNode("metadata"), mapNode(
					keyNode("name"), keyNode(name),
					keyNode("annotations"), mapNode(keyNode(K8sServiceAnnotation), keyNode(s.Service)),
				),
				keyNode("type"), strNode("Opaque", 0),
				keyNode("data"), data,
			))
		}
		if !ValidK8sKey(s.User) {
			return fmt.Errorf("secret %s: the user is not a valid Kubernetes data key ([-._a-zA-Z0-9]+, at most 253): %w", secretName(s.Service, s.User), ErrNotRepresentable)
		}
		data.Content = append(data.Content, keyNode(s.User), keyNode(base64.StdEncoding.EncodeToString(s.Value)))
	}
	if len(docs) == 0 {
		return nil
	}
	return writeYAML(w, docs...)
}

// DecodeK8s reads Kubernetes Secret manifests: one or more yaml documents,
// each with apiVersion v1 and kind Secret (anything else is an error that
// says which document). A document's service is the given service if any,
// else its cloudchain.io/service annotation, else its metadata.name. Users
// come from data (base64) and stringData (text); a key in both takes the
// stringData value, as Kubernetes does. Empty documents are skipped. A
// secret given twice (in two documents of one service) is an error.
func DecodeK8s(r io.Reader, service string) ([]Secret, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("k8s: reading input: %w", err)
	}
	docs, err := readYAMLDocs(src, "k8s")
	if err != nil {
		return nil, err
	}
	var out []Secret
	seen := map[[2]string]bool{}
	for i, doc := range docs {
		num := i + 1
		root := doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
			continue
		}
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("k8s: document %d (line %d): want a mapping", num, root.Line)
		}
		fields, err := k8sFields(root, num)
		if err != nil {
			return nil, err
		}
		if s := scalarOf(fields["apiVersion"]); s != "v1" {
			return nil, fmt.Errorf("k8s: document %d (line %d): apiVersion must be v1", num, root.Line)
		}
		if s := scalarOf(fields["kind"]); s != "Secret" {
			return nil, fmt.Errorf("k8s: document %d (line %d): kind must be Secret", num, root.Line)
		}
		svc := service
		if svc == "" {
			if md := fields["metadata"]; md != nil && md.Kind == yaml.MappingNode {
				mf, err := k8sFields(md, num)
				if err != nil {
					return nil, err
				}
				if an := mf["annotations"]; an != nil && an.Kind == yaml.MappingNode {
					af, err := k8sFields(an, num)
					if err != nil {
						return nil, err
					}
					svc = scalarOf(af[K8sServiceAnnotation])
				}
				if svc == "" {
					svc = scalarOf(mf["name"])
				}
			}
		}
		if svc == "" {
			return nil, fmt.Errorf("k8s: document %d (line %d): no service: no %s annotation, no metadata.name, and none given", num, root.Line, K8sServiceAnnotation)
		}
		values := map[string][]byte{}
		var order []string
		for _, part := range []string{"data", "stringData"} {
			m := fields[part]
			if m == nil || (m.Kind == yaml.ScalarNode && m.ShortTag() == "!!null") {
				continue
			}
			if m.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("k8s: document %d: line %d: %s must be a mapping", num, m.Line, part)
			}
			inPart := map[string]bool{}
			for j := 0; j+1 < len(m.Content); j += 2 {
				user, err := yamlKey(m.Content[j], "k8s")
				if err != nil {
					return nil, err
				}
				if inPart[user] {
					return nil, fmt.Errorf("k8s: document %d: line %d: %s %s is given twice", num, m.Content[j].Line, part, strconv.Quote(user))
				}
				inPart[user] = true
				v := m.Content[j+1]
				where := secretName(svc, user)
				if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
					return nil, fmt.Errorf("k8s: document %d: line %d: %s value of %s must be a string", num, v.Line, part, where)
				}
				val := []byte(v.Value)
				if part == "data" {
					if val, err = base64.StdEncoding.DecodeString(v.Value); err != nil {
						return nil, fmt.Errorf("k8s: document %d: line %d: data value of %s is not valid base64", num, v.Line, where)
					}
				}
				if _, ok := values[user]; !ok {
					order = append(order, user)
				}
				values[user] = val
			}
		}
		for _, user := range order {
			k := [2]string{svc, user}
			if seen[k] {
				return nil, fmt.Errorf("k8s: document %d: secret %s is given twice", num, secretName(svc, user))
			}
			seen[k] = true
			out = append(out, Secret{Service: svc, User: user, Value: values[user]})
		}
		if err := tooMany("k8s", len(out)); err != nil {
			return nil, err
		}
	}
	Sort(out)
	return out, nil
}

func k8sFields(m *yaml.Node, num int) (map[string]*yaml.Node, error) {
	f := make(map[string]*yaml.Node, len(m.Content)/2)
	for j := 0; j+1 < len(m.Content); j += 2 {
		k, err := yamlKey(m.Content[j], "k8s")
		if err != nil {
			return nil, err
		}
		if _, dup := f[k]; dup {
			return nil, fmt.Errorf("k8s: document %d: line %d: %s is given twice", num, m.Content[j].Line, strconv.Quote(k))
		}
		f[k] = m.Content[j+1]
	}
	return f, nil
}

func scalarOf(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return ""
	}
	return n.Value
}
