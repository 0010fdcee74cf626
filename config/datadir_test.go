package config

import (
	"errors"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataDir(t *testing.T) {
	home := t.TempDir()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     map[string]string
		file    string // data_dir in [cloudchain]
		flag    string // --data-dir
		backend string
		want    string // the data directory, or the error's text
		wantErr bool
	}{
		{name: "default", want: filepath.Join(home, ".local/share/cloudchain")},
		{name: "XDG_DATA_HOME", env: map[string]string{"XDG_DATA_HOME": "/xdg"}, want: "/xdg/cloudchain"},
		{name: "relative XDG_DATA_HOME is ignored", env: map[string]string{"XDG_DATA_HOME": "rel"}, want: filepath.Join(home, ".local/share/cloudchain")},
		{name: "file", file: "/srv/cc", want: "/srv/cc"},
		{name: "file ~", file: "~/cc", want: filepath.Join(home, "cc")},
		{name: "file ~ alone", file: "~", want: home},
		{name: "file ~user", file: "~" + me.Username + "/cc", want: filepath.Join(me.HomeDir, "cc")},
		{name: "file ~nosuchuser", file: "~nosuchuser-cchain/x", wantErr: true, want: `data_dir "~nosuchuser-cchain/x": there is no user "nosuchuser-cchain"`},
		{name: "file relative", file: "relative/dir", wantErr: true, want: `data_dir "relative/dir" is a relative path`},
		{name: "file dot", file: ".", wantErr: true, want: `data_dir "." is a relative path`},
		{name: "file relative with dynamodb", file: "relative/dir", backend: BackendDynamoDB, wantErr: true, want: `data_dir "relative/dir" is a relative path`},
		{name: "env", env: map[string]string{"CLOUDCHAIN_DATA_DIR": "/env/cc"}, file: "/srv/cc", want: "/env/cc"},
		{name: "env relative", env: map[string]string{"CLOUDCHAIN_DATA_DIR": "rel"}, wantErr: true, want: `CLOUDCHAIN_DATA_DIR "rel" is a relative path`},
		{name: "env ~", env: map[string]string{"CLOUDCHAIN_DATA_DIR": "~/e"}, want: filepath.Join(home, "e")},
		{name: "flag", flag: "/flag/cc", env: map[string]string{"CLOUDCHAIN_DATA_DIR": "/env/cc"}, want: "/flag/cc"},
		{name: "flag relative", flag: "x", wantErr: true, want: `--data-dir "x" is a relative path`},
		{name: "flag ~ without HOME", flag: "~/x", env: map[string]string{"HOME": ""}, wantErr: true, want: `--data-dir "~/x" starts with ~ but HOME is not set`},
		{name: "flag is cleaned", flag: "/a/b/../c/", want: "/a/c"},
		{name: "relative HOME", env: map[string]string{"HOME": "rel"}, wantErr: true, want: `HOME "rel" is not an absolute path`},
		{name: "relative HOME with dynamodb", env: map[string]string{"HOME": "rel"}, backend: BackendDynamoDB, want: ""},
		{name: "no HOME", env: map[string]string{"HOME": ""}, wantErr: true, want: "cannot find a data directory"},
		{name: "no HOME, relative XDG", env: map[string]string{"HOME": "", "XDG_DATA_HOME": "rel"}, wantErr: true, want: "cannot find a data directory"},
		{name: "no HOME, absolute XDG", env: map[string]string{"HOME": "", "XDG_DATA_HOME": "/x"}, want: "/x/cloudchain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"HOME": home}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.file != "" {
				env["CLOUDCHAIN_CONFIG"] = writeFile(t, t.TempDir(), "cfg", "[cloudchain]\ndata_dir = "+tc.file+"\n")
			}
			c, err := Load(lookupOf(env), Overrides{DataDir: tc.flag, Backend: tc.backend})
			if tc.wantErr {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want ErrConfig with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DataDir != tc.want {
				t.Fatalf("DataDir = %q, want %q", c.DataDir, tc.want)
			}
		})
	}
}
