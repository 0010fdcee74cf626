package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// regionStateFile is the default file's name in the user's cache directory.
const regionStateFile = "cloudchain/regions.json"

// resolveRegionState resolves the region state setting: the first of
// settings that is set, as on (or true: regions.json in the user's cache
// directory, see userCacheDir), off (or false) or an absolute path (~ is
// expanded). Unset, it is on; on without a cache directory is then off.
func resolveRegionState(get func(string) string, settings ...setting) (string, error) {
	for _, s := range settings {
		v := strings.TrimSpace(s.value)
		if v == "" {
			continue
		}
		switch strings.ToLower(v) {
		case "off", "false":
			return "", nil
		case "on", "true":
			dir, err := userCacheDir(get)
			if err != nil {
				return "", fmt.Errorf("%w: %s = on needs a cache directory (%v); give a path or off", ErrConfig, s.name, err)
			}
			return filepath.Join(dir, regionStateFile), nil
		}
		p, err := expandTilde(setting{s.name, v}, get("HOME"))
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("%w: %s %q is neither on, off nor an absolute path", ErrConfig, s.name, s.value)
		}
		return filepath.Clean(p), nil
	}
	dir, err := userCacheDir(get)
	if err != nil {
		return "", nil
	}
	return filepath.Join(dir, regionStateFile), nil
}

// userCacheDir is os.UserCacheDir, with the environment read through get
// where it uses XDG_CACHE_HOME and HOME: an absolute XDG_CACHE_HOME, else
// $HOME/.cache.
func userCacheDir(get func(string) string) (string, error) {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		return os.UserCacheDir()
	}
	if d := get("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	if h := get("HOME"); h != "" {
		return filepath.Join(h, ".cache"), nil
	}
	return "", fmt.Errorf("neither $XDG_CACHE_HOME nor $HOME is set")
}
