package config

import (
	"context"
	"github.com/cloudchain/cloudchain"
	"os"
)

// OpenDefault opens the store that `cchain` would use with no flags: it
// reads the process environment (CLOUDCHAIN_CONFIG, HOME, XDG_DATA_HOME,
// AWS_*) and the config file. It is the one place in the library that reads
// the environment, on purpose: it is the Go form of the Python tool's module
// functions. Programs that want control call Load with their own lookup.
func OpenDefault(ctx context.Context) (*cloudchain.Store, error) {
	c, err := Load(os.LookupEnv, Overrides{})
	if err != nil {
		return nil, err
	}
	return c.Open(ctx)
}

// SaveCreds stores secret for (service, user) in the default store, as the
// Python tool's savecreds(service, user, secret) did. Each call is a new
// version.
func SaveCreds(ctx context.Context, service, user, secret string) error {
	st, err := OpenDefault(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.SaveCreds(ctx, service, user, secret)
}

// ReadCreds returns the current secret of (service, user) from the default
// store, as the Python tool's readcreds(service, user) did.
func ReadCreds(ctx context.Context, service, user string) (string, error) {
	st, err := OpenDefault(ctx)
	if err != nil {
		return "", err
	}
	defer st.Close()
	return st.ReadCreds(ctx, service, user)
}
