package secretfmt

import (
	"errors"
	"strings"
	"testing"
)

func TestEnvName(t *testing.T) {
	tests := []struct{ user, want string }{
		{"DB_PASSWORD", "DB_PASSWORD"},
		{"dbPassword", "dbPassword"},
		{"_x", "_x"},
		{"db.password", "DB_PASSWORD"},
		{"api-key", "API_KEY"},
		{"9lives", "_9LIVES"},
		{"a b", "A_B"},
		{"ünï", "_N_"},
		{"日本", "__"},
		{"x/y=z", "X_Y_Z"},
		{"-", "_"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got := EnvName(tt.user)
			if got != tt.want {
				t.Errorf("EnvName(%q) = %q, want %q", tt.user, got, tt.want)
			}
			if !ValidEnvName(got) {
				t.Errorf("EnvName(%q) = %q is not a valid name", tt.user, got)
			}
		})
	}
}

func TestValidEnvName(t *testing.T) {
	for name, want := range map[string]bool{
		"A": true, "_": true, "a1": true, "A_B_9": true,
		"": false, "1A": false, "A-B": false, "A.B": false, "Ä": false, "A B": false, "A=": false,
	} {
		if got := ValidEnvName(name); got != want {
			t.Errorf("ValidEnvName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseMap(t *testing.T) {
	tests := []struct {
		name    string
		specs   []string
		want    []Mapping
		wantErr string
	}{
		{"user", []string{"db.password=DB_PASS"}, []Mapping{{"db.password", "DB_PASS"}}, ""},
		{"service user", []string{"prod/db=DB"}, []Mapping{{"prod/db", "DB"}}, ""},
		{"equals in key", []string{"a=b=NAME"}, []Mapping{{"a=b", "NAME"}}, ""},
		{"no equals", []string{"db"}, nil, "want USER=NAME"},
		{"empty key", []string{"=X"}, nil, "want USER=NAME"},
		{"bad name", []string{"db=1X"}, nil, "not a valid environment name"},
		{"empty name", []string{"db="}, nil, "not a valid environment name"},
		{"twice", []string{"db=A", "db=B"}, nil, "mapped twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMap(tt.specs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func sec(service, user, value string) Secret {
	return Secret{Service: service, User: user, Value: []byte(value)}
}

func TestBuildEnv(t *testing.T) {
	tests := []struct {
		name     string
		services [][]Secret
		opts     EnvOptions
		want     map[string]string // name -> service/user:value
		wantErr  []string
	}{
		{
			name:     "names",
			services: [][]Secret{{sec("db", "password", "p"), sec("db", "db.host", "h"), sec("db", "Mixed", "m")}},
			want:     map[string]string{"password": "db/password:p", "DB_HOST": "db/db.host:h", "Mixed": "db/Mixed:m"},
		},
		{
			name:     "later service overrides",
			services: [][]Secret{{sec("base", "url", "a"), sec("base", "x", "1")}, {sec("prod", "url", "b")}},
			want:     map[string]string{"url": "prod/url:b", "x": "base/x:1"},
		},
		{
			name:     "prefix",
			services: [][]Secret{{sec("db", "url", "a"), sec("db", "api-key", "k")}},
			opts:     EnvOptions{Prefix: "APP_", Map: []Mapping{{"url", "DATABASE_URL"}}},
			want:     map[string]string{"APP_DATABASE_URL": "db/url:a", "APP_API_KEY": "db/api-key:k"},
		},
		{
			name:     "service map beats user map",
			services: [][]Secret{{sec("a", "u", "1")}, {sec("b", "u", "2")}},
			opts:     EnvOptions{Map: []Mapping{{"u", "U"}, {"b/u", "BU"}}},
			want:     map[string]string{"U": "a/u:1", "BU": "b/u:2"},
		},
		{
			name:     "map resolves a collision",
			services: [][]Secret{{sec("db", "api-key", "1"), sec("db", "api.key", "2")}},
			opts:     EnvOptions{Map: []Mapping{{"api.key", "API_KEY2"}}},
			want:     map[string]string{"API_KEY": "db/api-key:1", "API_KEY2": "db/api.key:2"},
		},
		{
			name:     "collision in one service",
			services: [][]Secret{{sec("db", "api-key", "1"), sec("db", "api.key", "2"), sec("db", "API_KEY", "3")}},
			wantErr:  []string{`"db/API_KEY", "db/api-key" and "db/api.key" map to API_KEY`},
		},
		{
			name:     "map into a collision",
			services: [][]Secret{{sec("db", "a", "1"), sec("db", "b", "2")}},
			opts:     EnvOptions{Map: []Mapping{{"a", "b"}}},
			wantErr:  []string{`"db/a" and "db/b" map to b`},
		},
		{
			name:     "unused map",
			services: [][]Secret{{sec("db", "a", "1")}},
			opts:     EnvOptions{Map: []Mapping{{"typo", "X"}}},
			wantErr:  []string{`--map "typo" matches no secret`},
		},
		{
			name:     "bad prefix",
			services: [][]Secret{{sec("db", "a", "1")}},
			opts:     EnvOptions{Prefix: "1_"},
			wantErr:  []string{"--prefix"},
		},
		{
			name:     "bad map target",
			services: [][]Secret{{sec("db", "a", "1")}},
			opts:     EnvOptions{Map: []Mapping{{"a", "A-B"}}},
			wantErr:  []string{"not a valid environment name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars, err := BuildEnv(tt.services, tt.opts)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %v, want it to contain %q", err, w)
					}
				}
				if strings.Contains(tt.name, "collision") && !errors.Is(err, ErrEnvCollision) {
					t.Errorf("err does not wrap ErrEnvCollision: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for i, v := range vars {
				if i > 0 && vars[i-1].Name >= v.Name {
					t.Errorf("not sorted: %s before %s", vars[i-1].Name, v.Name)
				}
				got[v.Name] = v.Service + "/" + v.User + ":" + string(v.Value)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestEnviron(t *testing.T) {
	env, err := Environ([]EnvVar{{Name: "A", Value: []byte("x=y\n")}})
	if err != nil || len(env) != 1 || env[0] != "A=x=y\n" {
		t.Fatalf("Environ = %q, %v", env, err)
	}
	_, err = Environ([]EnvVar{{Name: "A", Value: []byte("a\x00SECRETTAIL"), Service: "db", User: "bin"}})
	if !errors.Is(err, ErrNotRepresentable) || !strings.Contains(err.Error(), `"db/bin"`) || strings.Contains(err.Error(), "SECRETTAIL") {
		t.Fatalf("err = %v", err)
	}
}
