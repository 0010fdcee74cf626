package awskms

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// OwnsKey reports whether a record whose key id is keyID (as the store
// recorded it: the key ARN that KMS reported) can be decrypted by this
// Provider, without asking KMS. It is true when keyID names the configured
// key or one of the WithDecryptKeys keys, by key ARN or by bare key id.
//
// It is also true whenever the answer cannot be known without a request:
//   - for a record with no key id (written by the Python tool), which
//     Decrypt tries under every key it has;
//   - when the configured key is an alias or an alias ARN, because which key
//     an alias names is known only by asking KMS (DescribeKey), and an
//     alias may be moved to another key at any time;
//   - when keyID is not a KMS key ARN, since Decrypt never takes the
//     record's word for the key and pins the configured key anyway;
//   - for a Provider with no configured key, which passes the record's key
//     to KMS as it is.
//
// A true answer is no promise: KMS still decides when the record is
// decrypted, and refuses a ciphertext made under another key.
func (p *Provider) OwnsKey(keyID string) bool {
	if keyID == "" || p.keyID == "" {
		return true
	}
	if _, ok := parseKeyARN(keyID); !ok {
		return true
	}
	if isAlias(p.keyID) || sameKey(p.keyID, keyID) {
		return true
	}
	for _, k := range p.decryptKeys {
		if sameKey(k, keyID) {
			return true
		}
	}
	return false
}

// sameKey reports whether configured (a key ARN or bare key id) names the
// key of recorded, a key ARN from a record. Aliases never match.
func sameKey(configured, recorded string) bool {
	if configured == recorded {
		return true
	}
	id, ok := parseKeyARN(recorded)
	if !ok || isAlias(configured) || arn.IsARN(configured) {
		return false
	}
	return configured == id
}

// isAlias reports whether key names a KMS alias ("alias/x", or an alias
// ARN).
func isAlias(key string) bool {
	if a, err := arn.Parse(key); err == nil {
		return a.Service == "kms" && strings.HasPrefix(a.Resource, "alias/")
	}
	return strings.HasPrefix(key, "alias/")
}

// parseKeyARN returns the key id of a KMS key ARN
// (arn:PARTITION:kms:REGION:ACCOUNT:key/ID). It is strict, because its input
// comes from stored records, which anyone with write access to the table can
// forge: an id it accepts is safe to show in a message.
func parseKeyARN(s string) (keyID string, ok bool) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "kms" || !strings.HasPrefix(a.Partition, "aws") || a.Region == "" || !isAccount(a.AccountID) {
		return "", false
	}
	id, ok := strings.CutPrefix(a.Resource, "key/")
	if !ok || len(id) == 0 || len(id) > 64 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
		return "", false
	}
	if strings.Trim(a.Partition+a.Region, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return "", false
	}
	return id, true
}

func isAccount(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// looksLikeKeyARN reports whether s (read from a stored record, so not to be
// trusted) is a KMS key ARN, and so is safe to show.
func looksLikeKeyARN(s string) bool {
	_, ok := parseKeyARN(s)
	return ok
}
