package config

import (
	"context"
	"os"

	"github.com/cloudchain/cloudchain"
)

// OpenDefault opens the store that `cchain` would use with no flags, from
// the process environment (CLOUDCHAIN_CONFIG, HOME, XDG_DATA_HOME,
// CLOUDCHAIN_*, and the AWS SDK's AWS_* variables) and the config file.
//
// It is the one function of the library that reads the process environment,
// on purpose: with SaveCreds and ReadCreds it is the Go form of the Python
// tool's module functions, which read ~/.cchainrc behind the caller's back.
// Programs that want control call Load with their own lookup function and
// then Open.
func OpenDefault(ctx context.Context) (*cloudchain.Store, error) {
	c, err := Load(os.LookupEnv, Overrides{})
	if err != nil {
		return nil, err
	}
	return c.Open(ctx)
}

// SaveCreds stores secret for (service, user) in the store OpenDefault
// opens, as the Python tool's savecreds(service, user, secret) did. Each call
// is a new version.
func SaveCreds(ctx context.Context, service, user, secret string) error {
	st, err := OpenDefault(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Put(ctx, service, user, []byte(secret))
	return err
}

// ReadCreds returns the current secret of (service, user) from the store
// OpenDefault opens, as the Python tool's readcreds(service, user) did.
func ReadCreds(ctx context.Context, service, user string) (string, error) {
	st, err := OpenDefault(ctx)
	if err != nil {
		return "", err
	}
	defer st.Close()
	sec, err := st.Get(ctx, service, user)
	if err != nil {
		return "", err
	}
	defer cloudchain.Zero(sec.Value)
	return string(sec.Value), nil
}
