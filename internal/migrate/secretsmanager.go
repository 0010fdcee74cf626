package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	smithy "github.com/aws/smithy-go"
)

// SecretsManagerAPI is the pair of Secrets Manager operations the reader
// uses.
type SecretsManagerAPI interface {
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// ValueUser is the user name of a secret that is not a JSON object, when the
// secret's name is its service.
const ValueUser = "value"

// SecretsManagerOptions say what to read from Secrets Manager.
type SecretsManagerOptions struct {
	// Prefix keeps the secrets whose names start with it (case-sensitive);
	// empty keeps all.
	Prefix string
	// Service, when set, puts every secret under it: each key of a JSON
	// object secret is a user, and any other secret is the user named as
	// the secret. Otherwise each secret's name is its service, and a
	// secret that is not a JSON object is the user ValueUser.
	Service string
}

// ReadSecretsManager reads the current version (AWSCURRENT) of every secret
// whose name starts with o.Prefix: ListSecrets pages (filtered by name on the
// server, and checked again here, since the server's name filter ignores
// case) and one GetSecretValue per secret. A string secret that is a JSON
// object becomes one user per key (a string value is its text, any other
// value its JSON text); any other string secret, and every binary secret,
// one user, byte for byte.
func ReadSecretsManager(ctx context.Context, api SecretsManagerAPI, o SecretsManagerOptions) (*Result, error) {
	in := &secretsmanager.ListSecretsInput{}
	if o.Prefix != "" {
		in.Filters = []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{o.Prefix}}}
	}
	var names []string
	p := secretsmanager.NewListSecretsPaginator(api, in, func(o *secretsmanager.ListSecretsPaginatorOptions) { o.StopOnDuplicateToken = true })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the secrets of Secrets Manager: %w", err)
		}
		for _, e := range page.SecretList {
			if n := aws.ToString(e.Name); strings.HasPrefix(n, o.Prefix) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var res Result
	seen := map[[2]string]string{}
	for _, name := range names {
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err != nil {
			var apiErr smithy.APIError
			if errors.As(err, &apiErr) && secretsOwnError(apiErr.ErrorCode()) {
				// This secret's own trouble: deleted since the listing,
				// scheduled for deletion, its KMS key denied.
				res.Failures = append(res.Failures, Failure{Source: "secretsmanager " + name, Err: fmt.Errorf("reading it: %s", apiErr.ErrorCode())})
				continue
			}
			res.Zero()
			return nil, fmt.Errorf("reading the secret %s from Secrets Manager: %w", printable(name), err)
		}
		secrets, err := mapSecret(name, out, o.Service)
		if err != nil {
			res.Failures = append(res.Failures, Failure{Source: "secretsmanager " + name, Err: err})
			continue
		}
		// With --service, two secrets can name one user: import neither.
		for _, s := range secrets {
			k := [2]string{s.Service, s.User}
			if other, ok := seen[k]; ok {
				err = fmt.Errorf("%w: %s/%s is also named by %s", ErrName, s.Service, s.User, other)
			}
		}
		if err != nil {
			for _, s := range secrets {
				clear(s.Value)
			}
			res.Failures = append(res.Failures, Failure{Source: "secretsmanager " + name, Err: err})
			continue
		}
		for _, s := range secrets {
			seen[[2]string{s.Service, s.User}] = s.Source
		}
		res.Secrets = append(res.Secrets, secrets...)
	}
	return &res, nil
}

// secretsOwnError reports whether a GetSecretValue error code is about the
// one secret rather than the service or the caller's access to it all.
func secretsOwnError(code string) bool {
	switch code {
	case "ResourceNotFoundException", "DecryptionFailure", "InvalidRequestException", "AccessDeniedException":
		return true
	}
	return false
}

func mapSecret(name string, out *secretsmanager.GetSecretValueOutput, service string) ([]Secret, error) {
	src := "secretsmanager " + name
	if out.SecretString == nil {
		s, err := one(name, service, bytes.Clone(out.SecretBinary), src)
		return []Secret{s}, err
	}
	text := aws.ToString(out.SecretString)
	fields, ok, err := jsonObject(text)
	if err != nil {
		return nil, err
	}
	if !ok {
		s, err := one(name, service, []byte(text), src)
		return []Secret{s}, err
	}
	svc := name
	if service != "" {
		svc = service
	}
	var secrets []Secret
	for _, f := range fields {
		s, u, err := checked(svc, f.key)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, Secret{Service: s, User: u, Value: f.value, Source: src + " key " + f.key})
	}
	return secrets, nil
}

func one(name, service string, value []byte, src string) (Secret, error) {
	svc, user := name, ValueUser
	if service != "" {
		svc, user = service, name
	}
	s, u, err := checked(svc, user)
	if err != nil {
		return Secret{}, err
	}
	return Secret{Service: s, User: u, Value: value, Source: src}, nil
}

type field struct {
	key   string
	value []byte
}

// jsonObject parses text as a JSON object with at least one key. It
// reports ok false for text that is not a JSON object (or is an empty one),
// and an error for an object with a key given twice.
func jsonObject(text string) ([]field, bool, error) {
	trimmed := strings.TrimSpace(text)
	if !strings.HasPrefix(trimmed, "{") || !json.Valid([]byte(trimmed)) {
		return nil, false, nil
	}
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return nil, false, nil
	}
	var fields []field
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false, nil
		}
		key := tok.(string)
		if seen[key] {
			return nil, false, fmt.Errorf("%w: the JSON object gives the key %q twice", ErrName, printable(key))
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false, nil
		}
		var s string
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, false, errors.New("a JSON string value could not be decoded")
			}
			fields = append(fields, field{key, []byte(s)})
		} else {
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return nil, false, nil
			}
			fields = append(fields, field{key, b.Bytes()})
		}
	}
	if len(fields) == 0 {
		return nil, false, nil
	}
	return fields, true, nil
}
