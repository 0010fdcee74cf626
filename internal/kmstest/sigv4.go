package kmstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigConfig is what RequireSignature asks for.
type sigConfig struct {
	accessKeyID string
	secret      string // empty: check the format only
}

const sigAlgorithm = "AWS4-HMAC-SHA256"

// check verifies a request's Signature Version 4 Authorization header, with
// the errors AWS gives.
func (c *sigConfig) check(r *http.Request, body []byte, region string) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errorf("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	rest, ok := strings.CutPrefix(auth, sigAlgorithm+" ")
	if !ok {
		return errorf("IncompleteSignatureException", "Authorization header requires existence of the %s algorithm", sigAlgorithm)
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return errorf("IncompleteSignatureException", "Authorization header has a malformed field %q", f)
		}
		fields[k] = v
	}
	for _, name := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[name] == "" {
			return errorf("IncompleteSignatureException", "Authorization header requires '%s' parameter", name)
		}
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		return errorf("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
	}
	// Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[4] != "aws4_request" || len(date) < 8 || cred[1] != date[:8] {
		return errorf("IncompleteSignatureException", "Credential should be scoped to a valid date, region and service: %s", fields["Credential"])
	}
	if cred[2] != region {
		return errorf("InvalidSignatureException", "Credential should be scoped to a valid region, not '%s'", cred[2])
	}
	if cred[3] != "kms" {
		return errorf("InvalidSignatureException", "Credential should be scoped to correct service: 'kms'")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.Contains(signed, "host") {
		return errorf("InvalidSignatureException", "'Host' must be a signed header")
	}
	if c.secret == "" {
		return nil
	}
	if cred[0] != c.accessKeyID {
		return errorf("UnrecognizedClientException", "The security token included in the request is invalid.")
	}

	return verifySignature(r, body, region, c.accessKeyID, c.secret, date, fields["SignedHeaders"], fields["Signature"])
}

// verifySignature recomputes the request's signature with the AWS SDK's own
// Signature Version 4 signer, over the headers the client says it signed,
// and compares it with the one the client sent.
func verifySignature(r *http.Request, body []byte, region, accessKeyID, secret, date, signedHeaders, got string) *apiError {
	at, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return errorf("IncompleteSignatureException", "X-Amz-Date %q is not a date such as 20060102T150405Z", date)
	}
	// The signer signs host, content-length (if the body is not empty),
	// and every header it is given: give it exactly the signed ones.
	req := r.Clone(r.Context())
	req.Header = http.Header{}
	req.ContentLength = 0
	for _, name := range strings.Split(signedHeaders, ";") {
		switch name {
		case "host":
		case "content-length":
			req.ContentLength = r.ContentLength
		default:
			req.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	hash := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, req, hex.EncodeToString(hash[:]), "kms", region, at); err != nil {
		return errorf("InternalFailure", "recomputing the signature: %v", err)
	}
	_, want, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	if !hmac.Equal([]byte(want), []byte(got)) {
		return errorf("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}
