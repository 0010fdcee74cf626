package kmstest

import (
	"fmt"
	"strings"
	"time"
)

// CreateMultiRegionKey creates an enabled symmetric multi-Region primary
// key, whose key id starts with "mrk-" as AWS's do, and returns its ARN. If
// alias is not empty, the alias is created for the key. It panics if the
// alias is invalid or already exists.
func (s *Server) CreateMultiRegionKey(alias string) (arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.newKeyLocked("")
	delete(s.keys, k.id)
	k.id = "mrk-" + strings.ReplaceAll(newUUID(), "-", "")
	k.arn = fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.region, s.account, k.id)
	s.keys[k.id] = k
	s.aliasLocked(alias, k.id)
	return k.arn
}

// ReplicateKey copies the key that keyID addresses on from (usually a
// multi-Region key of another region) to s, as KMS ReplicateKey does: the
// same key id and key material, so a ciphertext made by either server
// decrypts with the other, and an ARN in s's region. If alias is not
// empty, it is created on s for the replica. It returns the replica's ARN
// and panics if there is no such key or the alias exists.
func (s *Server) ReplicateKey(from *Server, keyID, alias string) (arn string) {
	from.mu.Lock()
	src, e := from.resolveLocked(keyID)
	var k key
	if e == nil {
		k = *src
	}
	from.mu.Unlock()
	if e != nil {
		panic("kmstest: ReplicateKey: " + e.message)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k.arn = fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.region, s.account, k.id)
	k.created = time.Now()
	k.state = "Enabled"
	s.keys[k.id] = &k
	s.aliasLocked(alias, k.id)
	return k.arn
}

func (s *Server) aliasLocked(alias, keyID string) {
	if alias == "" {
		return
	}
	if !strings.HasPrefix(alias, "alias/") {
		alias = "alias/" + alias
	}
	if e := s.createAliasLocked(alias, keyID); e != nil {
		panic("kmstest: " + e.message)
	}
}
