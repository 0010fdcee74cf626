package secretfmt

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Secret is one secret as the formats see it: a service, a user and the
// value's exact bytes (binary allowed).
type Secret struct {
	Service, User string
	Value         []byte
}

// Sort sorts secrets by service, then by user (byte order), in place. Every
// encoder writes in this order whatever order it is given.
func Sort(secrets []Secret) {
	sort.SliceStable(secrets, func(i, j int) bool {
		if secrets[i].Service != secrets[j].Service {
			return secrets[i].Service < secrets[j].Service
		}
		return secrets[i].User < secrets[j].User
	})
}

func sorted(secrets []Secret) []Secret {
	out := append([]Secret(nil), secrets...)
	Sort(out)
	return out
}

// Format names one file format.
type Format string

// The formats. FormatShell and FormatDotenv hold environment names (see
// BuildEnv), the others hold services and users.
const (
	FormatJSON   Format = "json"
	FormatYAML   Format = "yaml"
	FormatDotenv Format = "dotenv"
	FormatShell  Format = "shell"
	FormatK8s    Format = "k8s"
)

// ErrUnknownFormat is wrapped by ParseFormat and FormatFromPath when no
// format matches.
var ErrUnknownFormat = errors.New("unknown format")

// ErrNoService is wrapped by the decoders of formats that carry no service
// (dotenv, shell, the flat json and yaml forms) when no service is given.
var ErrNoService = errors.New("this format names no service: give one")

// ErrNotRepresentable is wrapped by an encoder when a value cannot be held
// by the format (a NUL byte in shell or dotenv, a user that is not a valid
// Kubernetes data key, ...). The error names the secret, never its value.
var ErrNotRepresentable = errors.New("cannot be represented in this format")

// ParseFormat reads a format name as a user types it: json, yaml (or yml),
// dotenv (or env), shell (or sh), k8s (or kubernetes).
func ParseFormat(name string) (Format, error) {
	switch strings.ToLower(name) {
	case "json":
		return FormatJSON, nil
	case "yaml", "yml":
		return FormatYAML, nil
	case "dotenv", "env":
		return FormatDotenv, nil
	case "shell", "sh":
		return FormatShell, nil
	case "k8s", "kubernetes":
		return FormatK8s, nil
	}
	return "", fmt.Errorf("%w %s (want json, yaml, dotenv, shell or k8s)", ErrUnknownFormat, strconv.Quote(name))
}

// FormatFromPath picks a format from a file name's extension: .json, .yaml
// or .yml, .env (including a file named just ".env"), .sh. The Kubernetes
// format has no extension of its own (it is yaml) and must be named with
// ParseFormat.
func FormatFromPath(path string) (Format, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".json":
		return FormatJSON, nil
	case ".yaml", ".yml":
		return FormatYAML, nil
	case ".env":
		return FormatDotenv, nil
	case ".sh":
		return FormatShell, nil
	}
	return "", fmt.Errorf("%w for file extension %s (want .json, .yaml, .yml, .env or .sh, or name the format)", ErrUnknownFormat, strconv.Quote(ext))
}

// secretName names a secret in an error: quoted service/user, never a value.
func secretName(service, user string) string {
	return strconv.Quote(service + "/" + user)
}
