package secretfmt_test

import (
	"fmt"
	"os"

	"github.com/cloudchain/cloudchain/internal/secretfmt"
)

func ExampleBuildEnv() {
	db := []secretfmt.Secret{
		{Service: "db", User: "password", Value: []byte("it's $ecret")},
		{Service: "db", User: "db.host", Value: []byte("127.0.0.1")},
	}
	prod := []secretfmt.Secret{{Service: "prod", User: "db.host", Value: []byte("10.0.0.7")}}
	maps, err := secretfmt.ParseMap([]string{"password=PGPASSWORD"})
	if err != nil {
		panic(err)
	}
	vars, err := secretfmt.BuildEnv([][]secretfmt.Secret{db, prod}, secretfmt.EnvOptions{Prefix: "APP_", Map: maps})
	if err != nil {
		panic(err)
	}
	if err := secretfmt.EncodeShell(os.Stdout, vars); err != nil {
		panic(err)
	}
	// Output:
	// export APP_DB_HOST='10.0.0.7'
	// export APP_PGPASSWORD='it'\''s $ecret'
}

func ExampleParseRef() {
	for _, v := range []string{"plain", "cchain://db/password", "cchain://team%2Fdb/api%20key?version=3", "cchain://db"} {
		ref, ok, err := secretfmt.ParseRef(v)
		fmt.Printf("%v %q %q %d %v\n", ok, ref.Service, ref.User, ref.Version, err)
	}
	fmt.Println(secretfmt.Ref{Service: "a/b", User: "c?d", Version: 2})
	// Output:
	// false "" "" 0 <nil>
	// true "db" "password" 0 <nil>
	// true "team/db" "api key" 3 <nil>
	// true "" "" 0 cchain reference: want cchain://SERVICE/USER (escape / in names as %2F)
	// cchain://a%2Fb/c%3Fd?version=2
}

func ExampleEncodeJSON() {
	secrets := []secretfmt.Secret{
		{Service: "db", User: "password", Value: []byte("hunter2")},
		{Service: "db", User: "key", Value: []byte{0xff, 0x00}},
	}
	if err := secretfmt.EncodeJSON(os.Stdout, secrets); err != nil {
		panic(err)
	}
	// Output:
	// {
	//   "db": {
	//     "key": {"base64": "/wA="},
	//     "password": "hunter2"
	//   }
	// }
}
