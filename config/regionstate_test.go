package config

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestRegionState: [cloudchain] region_state and CLOUDCHAIN_REGION_STATE
// (the environment beats the file), on by default with replica_regions,
// off without them, and invalid values refused naming the setting.
func TestRegionState(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("the default cache directory is not XDG's here")
	}
	const replicas = "[cloudchain]\nreplica_regions = us-west-2\n"
	cases := []struct {
		name    string
		file    string // after pythonRC
		env     map[string]string
		want    string // "HOME/..." and "XDG/..." are relative to those
		errPart string
	}{
		{name: "default with replicas", file: replicas, want: "HOME/.cache/cloudchain/regions.json"},
		{name: "default honours XDG_CACHE_HOME", file: replicas, env: map[string]string{"XDG_CACHE_HOME": "XDG"}, want: "XDG/cloudchain/regions.json"},
		{name: "relative XDG_CACHE_HOME ignored", file: replicas, env: map[string]string{"XDG_CACHE_HOME": "rel/cache"}, want: "HOME/.cache/cloudchain/regions.json"},
		{name: "no replicas: off", file: "[cloudchain]\nregion_state = on\n", want: ""},
		{name: "file off", file: replicas + "region_state = off\n", want: ""},
		{name: "file false", file: replicas + "region_state = False\n", want: ""},
		{name: "file on", file: replicas + "region_state = on\n", want: "HOME/.cache/cloudchain/regions.json"},
		{name: "file path", file: replicas + "region_state = /var/cache/cc/r.json\n", want: "/var/cache/cc/r.json"},
		{name: "file path with ~", file: replicas + "region_state = ~/state/r.json\n", want: "HOME/state/r.json"},
		{name: "env beats file (off)", file: replicas + "region_state = /var/cache/cc/r.json\n", env: map[string]string{"CLOUDCHAIN_REGION_STATE": "off"}, want: ""},
		{name: "env beats file (path)", file: replicas + "region_state = off\n", env: map[string]string{"CLOUDCHAIN_REGION_STATE": "/tmp/x/../r.json"}, want: "/tmp/r.json"},
		{name: "empty env is unset", file: replicas + "region_state = off\n", env: map[string]string{"CLOUDCHAIN_REGION_STATE": ""}, want: ""},
		{name: "relative path in the file", file: replicas + "region_state = cache/r.json\n", errPart: ".cchainrc: region_state \"cache/r.json\" is neither on, off nor an absolute path"},
		{name: "relative path in env", file: replicas, env: map[string]string{"CLOUDCHAIN_REGION_STATE": "maybe"}, errPart: "CLOUDCHAIN_REGION_STATE \"maybe\" is neither on, off"},
		{name: "invalid env checked without replicas", env: map[string]string{"CLOUDCHAIN_REGION_STATE": "yes please"}, errPart: "CLOUDCHAIN_REGION_STATE"},
		{name: "on without any cache directory", file: replicas + "region_state = on\n", env: map[string]string{"HOME": ""}, errPart: "region_state = on needs a cache directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			xdg := t.TempDir()
			path := writeFile(t, home, ".cchainrc", pythonRC+c.file)
			env := map[string]string{"HOME": home, "CLOUDCHAIN_CONFIG": path}
			for k, v := range c.env {
				env[k] = strings.Replace(v, "XDG", xdg, 1)
			}
			cfg, err := Load(lookupOf(env), Overrides{})
			if c.errPart != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.errPart) {
					t.Fatalf("err = %v, want one containing %q", err, c.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			if rest, ok := strings.CutPrefix(want, "HOME/"); ok {
				want = filepath.Join(home, rest)
			} else if rest, ok := strings.CutPrefix(want, "XDG/"); ok {
				want = filepath.Join(xdg, rest)
			}
			if got := cfg.RegionState; got != want {
				t.Fatalf("RegionState = %q, want %q", got, want)
			}
		})
	}
}

// TestRegionStateDefaultWithoutHome: with neither HOME nor XDG_CACHE_HOME,
// the default is off rather than an error.
func TestRegionStateDefaultWithoutHome(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "rc", pythonRC+"[cloudchain]\nreplica_regions = us-west-2\n")
	cfg, err := Load(lookupOf(map[string]string{"CLOUDCHAIN_CONFIG": path}), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.RegionState; got != "" && runtime.GOOS == "linux" {
		t.Fatalf("RegionState = %q, want off", got)
	}
}
