package config

import (
	"fmt"
	"os/user"
	"path/filepath"
	"strings"
)

// setting is a value and the name it was given under, for messages.
type setting struct{ name, value string }

// dataDir resolves the embedded store's directory from the first of the
// explicit settings that is set (--data-dir, CLOUDCHAIN_DATA_DIR, data_dir),
// then $XDG_DATA_HOME/cloudchain, then ~/.local/share/cloudchain.
//
// An explicit setting may start with ~ (the home directory) or ~name (that
// user's home directory, from the system's user database), and must then be
// an absolute path: a relative one would put the master key and the store
// in whatever directory cchain happens to run in, where the next command
// does not find them and where they may end up committed to a repository.
// As the XDG Base Directory specification says, a relative XDG_DATA_HOME is
// ignored. needed says the embedded store is in use, so a missing or
// relative default is an error rather than "".
func dataDir(needed bool, home, xdg string, explicit ...setting) (string, error) {
	for _, s := range explicit {
		if s.value == "" {
			continue
		}
		p, err := expandTilde(s, home)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("%w: %s %q is a relative path; give an absolute one (a relative data directory would put the master key wherever cchain runs)", ErrConfig, s.name, s.value)
		}
		return filepath.Clean(p), nil
	}
	if xdg != "" && filepath.IsAbs(xdg) {
		return filepath.Join(xdg, "cloudchain"), nil
	}
	switch {
	case home != "" && filepath.IsAbs(home):
		return filepath.Join(home, ".local", "share", "cloudchain"), nil
	case !needed:
		return "", nil
	case home != "":
		return "", fmt.Errorf("%w: HOME %q is not an absolute path, so there is no data directory (set CLOUDCHAIN_DATA_DIR or --data-dir to an absolute path)", ErrConfig, home)
	}
	return "", fmt.Errorf("%w: cannot find a data directory: HOME is unset and XDG_DATA_HOME is unset or relative (set CLOUDCHAIN_DATA_DIR or --data-dir)", ErrConfig)
}

// expandTilde expands a leading ~ or ~name as a shell does.
func expandTilde(s setting, home string) (string, error) {
	p := s.value
	if !strings.HasPrefix(p, "~") {
		return p, nil
	}
	name, rest, _ := strings.Cut(p[1:], "/")
	dir := home
	if name == "" {
		if home == "" {
			return "", fmt.Errorf("%w: %s %q starts with ~ but HOME is not set", ErrConfig, s.name, s.value)
		}
	} else {
		u, err := user.Lookup(name)
		if err != nil || u.HomeDir == "" {
			return "", fmt.Errorf("%w: %s %q: there is no user %q whose home directory ~%s could name (write the full path)", ErrConfig, s.name, s.value, name, name)
		}
		dir = u.HomeDir
	}
	return filepath.Join(dir, rest), nil
}
