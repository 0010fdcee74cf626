package kmstest

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Fake static credentials that NewClient signs with. Pass them to
// RequireSignature to have the server verify the client's signatures.
const (
	AccessKeyID     = "AKIDKMSTEST00000000"
	SecretAccessKey = "kmstest/secret/key/not/a/real/one/0000"
)

// NewClient returns a real SDK KMS client for the server: static fake
// credentials (AccessKeyID, SecretAccessKey), the server's region, BaseEndpoint
// set to URL, and the SDK's standard retryer with its default 3 attempts but
// a 1 ms backoff, so that tests of throttling run fast. It reads no
// environment variable, profile or instance metadata. optFns can change any
// of this (Retryer, for example).
func (s *Server) NewClient(optFns ...func(*kms.Options)) *kms.Client {
	return kms.New(kms.Options{
		Region:       s.region,
		BaseEndpoint: aws.String(s.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		Retryer:      FastRetryer(retry.DefaultMaxAttempts),
	}, optFns...)
}

// FastRetryer returns the SDK's standard retryer with maxAttempts attempts, a
// 1 ms backoff and no retry quota, so that tests that exhaust retries run fast
// and deterministically.
func FastRetryer(maxAttempts int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = time.Millisecond
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		o.RateLimiter = ratelimit.None
	})
}
