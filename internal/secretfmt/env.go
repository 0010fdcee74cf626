package secretfmt

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ValidEnvName reports whether name is a portable POSIX environment name:
// [A-Za-z_][A-Za-z0-9_]*.
func ValidEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// EnvName maps a user name to an environment name. A user that is already a
// valid name (see ValidEnvName) is kept exactly, case included. Any other
// is upper-cased (ASCII letters), every character (rune) other than an
// ASCII letter, digit or underscore becomes one "_", and a result that
// starts with a digit gets a leading "_". So "db.password" is DB_PASSWORD,
// "api-key" is API_KEY, "9lives" is _9LIVES and "dbPassword" stays as it is.
func EnvName(user string) string {
	if ValidEnvName(user) {
		return user
	}
	var b strings.Builder
	for _, r := range user {
		switch {
		case 'a' <= r && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || ('0' <= s[0] && s[0] <= '9') {
		s = "_" + s
	}
	return s
}

// Mapping is one --map override: the secrets it matches get Name instead
// of EnvName(user). Key matches a secret whose user is Key, or whose
// "SERVICE/USER" is Key; when both kinds match one secret, the
// SERVICE/USER form wins.
type Mapping struct {
	Key  string
	Name string
}

// ParseMap parses --map arguments of the form USER=NAME or
// SERVICE/USER=NAME. NAME is what follows the last "=" and must be a valid
// environment name; the key may itself hold "=" and "/". A key given twice
// is an error.
func ParseMap(specs []string) ([]Mapping, error) {
	seen := make(map[string]bool, len(specs))
	out := make([]Mapping, 0, len(specs))
	for _, spec := range specs {
		i := strings.LastIndexByte(spec, '=')
		if i <= 0 {
			return nil, fmt.Errorf("--map %s: want USER=NAME or SERVICE/USER=NAME", strconv.Quote(spec))
		}
		key, name := spec[:i], spec[i+1:]
		if !ValidEnvName(name) {
			return nil, fmt.Errorf("--map %s: %s is not a valid environment name ([A-Za-z_][A-Za-z0-9_]*)", strconv.Quote(spec), strconv.Quote(name))
		}
		if seen[key] {
			return nil, fmt.Errorf("--map: %s is mapped twice", strconv.Quote(key))
		}
		seen[key] = true
		out = append(out, Mapping{Key: key, Name: name})
	}
	return out, nil
}

// EnvOptions controls BuildEnv.
type EnvOptions struct {
	// Prefix is put before every name, mapped ones included. It must be
	// empty or a valid environment name itself (so "P_" but not "1_").
	Prefix string
	// Map holds the overrides, usually from ParseMap. Each must match at
	// least one secret, so that a typo is an error and not a silently
	// missing variable.
	Map []Mapping
}

// EnvVar is one variable of an environment built by BuildEnv, with the
// secret it came from.
type EnvVar struct {
	Name          string
	Value         []byte
	Service, User string
}

// ErrEnvCollision is wrapped by BuildEnv when two secrets of one service map
// to one name.
var ErrEnvCollision = errors.New("two secrets map to one environment name")

// BuildEnv builds an environment from the secrets of several services, given
// in order, one slice per service (as the command line lists them). Each
// secret's name is its mapping (opts.Map) or EnvName(user), with opts.Prefix
// in front. A later service overrides an earlier one, whole variable by
// whole variable. Secrets of the same slice that map to one name are an
// error wrapping ErrEnvCollision that names them all as "service/user";
// every collision and every unused mapping is reported, joined. The result
// is sorted by name. Values are not checked here (see Environ).
func BuildEnv(services [][]Secret, opts EnvOptions) ([]EnvVar, error) {
	if opts.Prefix != "" && !ValidEnvName(opts.Prefix) {
		return nil, fmt.Errorf("--prefix %s is not a valid environment name prefix ([A-Za-z_][A-Za-z0-9_]*)", strconv.Quote(opts.Prefix))
	}
	byKey := make(map[string]string, len(opts.Map))
	for _, m := range opts.Map {
		if !ValidEnvName(m.Name) {
			return nil, fmt.Errorf("--map %s: %s is not a valid environment name", strconv.Quote(m.Key), strconv.Quote(m.Name))
		}
		byKey[m.Key] = m.Name
	}
	used := make(map[string]bool, len(opts.Map))
	vars := make(map[string]EnvVar)
	var errs []error
	for _, group := range services {
		mine := make(map[string][]EnvVar, len(group))
		for _, s := range group {
			name, ok := byKey[s.Service+"/"+s.User]
			if ok {
				used[s.Service+"/"+s.User] = true
			} else if name, ok = byKey[s.User]; ok {
				used[s.User] = true
			} else {
				name = EnvName(s.User)
			}
			name = opts.Prefix + name
			mine[name] = append(mine[name], EnvVar{Name: name, Value: s.Value, Service: s.Service, User: s.User})
		}
		for name, vs := range mine {
			if len(vs) == 1 {
				vars[name] = vs[0]
				continue
			}
			who := make([]string, len(vs))
			for i, v := range vs {
				who[i] = secretName(v.Service, v.User)
			}
			sort.Strings(who)
			errs = append(errs, fmt.Errorf("%w: %s and %s map to %s", ErrEnvCollision, strings.Join(who[:len(who)-1], ", "), who[len(who)-1], name))
		}
	}
	var unused []string
	for _, m := range opts.Map {
		if !used[m.Key] {
			unused = append(unused, m.Key)
		}
	}
	for _, k := range unused {
		errs = append(errs, fmt.Errorf("--map %s matches no secret", strconv.Quote(k)))
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errors.Join(errs...)
	}
	out := make([]EnvVar, 0, len(vars))
	for _, v := range vars {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Environ returns vars as "NAME=value" strings for os/exec or syscall.Exec.
// A value with a NUL byte cannot be held by an environment: that is an
// error wrapping ErrNotRepresentable naming every such secret.
func Environ(vars []EnvVar) ([]string, error) {
	if err := checkNUL(vars); err != nil {
		return nil, err
	}
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.Name + "=" + string(v.Value)
	}
	return out, nil
}

func checkNUL(vars []EnvVar) error {
	var errs []error
	for _, v := range vars {
		if bytes.IndexByte(v.Value, 0) >= 0 {
			errs = append(errs, fmt.Errorf("secret %s (%s): value has a NUL byte: %w", secretName(v.Service, v.User), v.Name, ErrNotRepresentable))
		}
	}
	return errors.Join(errs...)
}

// envVarsOf turns decoded secrets of an environment format (dotenv,
// shell) back into variables: the user is the name.
func envVarsOf(secrets []Secret) []EnvVar {
	out := make([]EnvVar, len(secrets))
	for i, s := range secrets {
		out[i] = EnvVar{Name: s.User, Value: s.Value, Service: s.Service, User: s.User}
	}
	return out
}
