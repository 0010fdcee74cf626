package secretfmt

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// RefScheme is the prefix that makes a value a reference.
const RefScheme = "cchain://"

// Ref is a reference to a secret: cchain://SERVICE/USER[?version=N].
type Ref struct {
	Service, User string
	// Version is the version asked for, or 0 for the current one.
	Version int64
}

// String writes the reference so that ParseRef reads it back: the service
// and user are percent-escaped as URL path segments (so "/" is %2F, "?" is
// %3F, "%" is %25, a space is %20), and ?version=N is added when Version is
// not 0.
func (r Ref) String() string {
	s := RefScheme + escapeRefName(r.Service) + "/" + escapeRefName(r.User)
	if r.Version != 0 {
		s += "?version=" + strconv.FormatInt(r.Version, 10)
	}
	return s
}

// escapeRefName escapes a name as a URL path segment: "/", "?", "#", "%",
// ";", "," and every byte outside the unreserved set are escaped.
func escapeRefName(s string) string { return url.PathEscape(s) }

// ParseRef reads a reference. A value that does not start with
// "cchain://" (exactly, lower case) is not a reference: ParseRef returns
// false and no error. A value that does but is malformed (not exactly two
// non-empty path segments, a bad percent-escape, a query other than one
// version=N with N a positive decimal integer, a fragment) returns true and
// an error; the error names the part that is wrong and, at most, the
// service and user, never the rest of the value.
func ParseRef(s string) (Ref, bool, error) {
	if !strings.HasPrefix(s, RefScheme) {
		return Ref{}, false, nil
	}
	rest := s[len(RefScheme):]
	if strings.ContainsAny(rest, "#") {
		return Ref{}, true, fmt.Errorf("cchain reference: a fragment (#) is not allowed: percent-escape # in names as %%23")
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	segs := strings.Split(path, "/")
	if len(segs) != 2 || segs[0] == "" || segs[1] == "" {
		return Ref{}, true, fmt.Errorf("cchain reference: want cchain://SERVICE/USER (escape / in names as %%2F)")
	}
	var r Ref
	var err error
	if r.Service, err = url.PathUnescape(segs[0]); err != nil {
		return Ref{}, true, fmt.Errorf("cchain reference: the service has a bad percent-escape")
	}
	if r.User, err = url.PathUnescape(segs[1]); err != nil {
		return Ref{}, true, fmt.Errorf("cchain reference to service %s: the user has a bad percent-escape", strconv.Quote(r.Service))
	}
	if hasQuery {
		name := strconv.Quote(r.Service + "/" + r.User)
		k, v, ok := strings.Cut(query, "=")
		if !ok || k != "version" {
			return Ref{}, true, fmt.Errorf("cchain reference to %s: the only query allowed is ?version=N", name)
		}
		if v == "" || v[0] < '1' || v[0] > '9' || strings.Trim(v, "0123456789") != "" {
			return Ref{}, true, fmt.Errorf("cchain reference to %s: version must be a positive integer", name)
		}
		if r.Version, err = strconv.ParseInt(v, 10, 64); err != nil {
			return Ref{}, true, fmt.Errorf("cchain reference to %s: version is out of range", name)
		}
	}
	return r, true, nil
}

// EnvRef is a variable of an environment whose value is a reference.
type EnvRef struct {
	Name string
	Ref  Ref
}

// FindEnvRefs returns, in order, the variables of environ ("NAME=VALUE"
// strings, as os.Environ gives them) whose value is a cchain:// reference.
// Every malformed reference is reported, each error naming its variable;
// the errors are joined. Entries without "=" are skipped.
func FindEnvRefs(environ []string) ([]EnvRef, error) {
	var out []EnvRef
	var errs []error
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		r, isRef, err := ParseRef(value)
		if !isRef {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("variable %s: %w", strconv.Quote(name), err))
			continue
		}
		out = append(out, EnvRef{Name: name, Ref: r})
	}
	return out, errors.Join(errs...)
}
