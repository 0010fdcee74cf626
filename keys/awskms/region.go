package awskms

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// InRegion returns key as it is named in region, for a replica of a
// multi-Region key: the ARN of a multi-Region key (key/mrk-...) or of an
// alias, with its region replaced. A multi-Region key has the same key id
// in every region it is replicated to, and a ciphertext made by one replica
// decrypts with any other; an alias is a name in one region, so the same
// alias name in the other region is what names the replica there (create
// it in each region). Anything else (a single-Region key's ARN, a bare key
// id, an alias name) is returned unchanged: a bare mrk- key id or alias
// name already means the key of the region asked.
func InRegion(key, region string) string {
	a, err := arn.Parse(key)
	if err != nil || a.Service != "kms" || region == "" {
		return key
	}
	if !strings.HasPrefix(a.Resource, "key/mrk-") && !strings.HasPrefix(a.Resource, "alias/") {
		return key
	}
	a.Region = region
	return a.String()
}

// WithReplicaRegion makes the Provider serve region as a replica region of
// a multi-Region key. Its key and the WithDecryptKeys keys are named in
// region (InRegion), and Decrypt reads a record's multi-Region key ARN of
// another region as the same key in region, so that a record written
// through the primary region decrypts in the replica. The key must still
// be the one KMS pins: a single-Region key of another region is not
// rewritten, and KMS refuses it.
func WithReplicaRegion(region string) Option {
	return func(p *Provider) { p.region = region }
}

// localize applies the replica region, once the options are in.
func (p *Provider) localize() {
	if p.region == "" {
		return
	}
	p.keyID = InRegion(p.keyID, p.region)
	for i, k := range p.decryptKeys {
		p.decryptKeys[i] = InRegion(k, p.region)
	}
}
