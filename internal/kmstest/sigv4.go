package kmstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
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

	payloadHash := sha256.Sum256(body)
	canonical := strings.Join([]string{
		r.Method,
		canonicalPath(r.URL),
		canonicalQuery(r.URL),
		canonicalHeaders(r, signed),
		fields["SignedHeaders"],
		hex.EncodeToString(payloadHash[:]),
	}, "\n")
	crHash := sha256.Sum256([]byte(canonical))
	scope := strings.Join(cred[1:], "/")
	toSign := sigAlgorithm + "\n" + date + "\n" + scope + "\n" + hex.EncodeToString(crHash[:])

	k := hmacSHA256([]byte("AWS4"+c.secret), cred[1])
	k = hmacSHA256(k, cred[2])
	k = hmacSHA256(k, cred[3])
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return errorf("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func canonicalPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return p
}

func canonicalQuery(u *url.URL) string {
	q := u.Query()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := slices.Clone(q[k])
		slices.Sort(vs)
		for _, v := range vs {
			parts = append(parts, awsEscape(k)+"="+awsEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

func awsEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		var v string
		switch name {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			vals := slices.Clone(r.Header.Values(name))
			for i, x := range vals {
				vals[i] = strings.Join(strings.Fields(x), " ")
			}
			v = strings.Join(vals, ",")
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	return b.String()
}
