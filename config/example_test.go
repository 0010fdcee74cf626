package config_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/config"
)

// A store opened from a configuration.
func ExampleConfig_Open() {
	dir, err := os.MkdirTemp("", "cchain-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The CLI passes os.LookupEnv; here the environment is a map.
	env := map[string]string{"HOME": dir}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Overrides{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	store, err := cfg.Open(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	if _, err := store.Put(ctx, "db", "alice", []byte("hunter2")); err != nil {
		log.Fatal(err)
	}
	secret, err := store.Get(ctx, "db", "alice")
	if err != nil {
		log.Fatal(err)
	}
	defer cloudchain.Zero(secret.Value)
	fmt.Println(cfg.Backend, string(secret.Value))
	// Output: local hunter2
}

// The Python module's savecreds and readcreds, on the store `cchain` uses by
// default (here the embedded store in a temporary data directory).
func ExampleSaveCreds() {
	dir, err := os.MkdirTemp("", "cchain-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// Point the default configuration at the temporary directory.
	for k, v := range map[string]string{"HOME": dir, "CLOUDCHAIN_CONFIG": "", "CLOUDCHAIN_BACKEND": "", "CLOUDCHAIN_DATA_DIR": dir} {
		if old, ok := os.LookupEnv(k); ok {
			defer os.Setenv(k, old)
		} else {
			defer os.Unsetenv(k)
		}
		os.Setenv(k, v)
	}

	ctx := context.Background()
	if err := config.SaveCreds(ctx, "db", "alice", "hunter2"); err != nil {
		log.Fatal(err)
	}
	secret, err := config.ReadCreds(ctx, "db", "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(secret)
	// Output: hunter2
}
