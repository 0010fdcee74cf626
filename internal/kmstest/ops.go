package kmstest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"time"

	"github.com/cloudchain/cloudchain"
)

// handlers maps each supported operation to its implementation. A handler
// gets the raw JSON body and returns the value to send as JSON, or an error.
var handlers = map[string]func(*Server, []byte) (any, *apiError){
	"CreateKey":           (*Server).createKey,
	"DescribeKey":         (*Server).describeKey,
	"CreateAlias":         (*Server).createAlias,
	"ListAliases":         (*Server).listAliases,
	"GenerateDataKey":     (*Server).generateDataKey,
	"Encrypt":             (*Server).encrypt,
	"Decrypt":             (*Server).decrypt,
	"EnableKey":           (*Server).enableKey,
	"DisableKey":          (*Server).disableKey,
	"ScheduleKeyDeletion": (*Server).scheduleKeyDeletion,
}

const symmetricDefault = "SYMMETRIC_DEFAULT"

// maxPlaintext is KMS's limit on Encrypt plaintext.
const maxPlaintext = 4096

func decode(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf("SerializationException", "could not parse request body: %v", err)
	}
	return nil
}

// epoch is a time sent as epoch seconds, the awsJson1_1 timestamp format.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', 3, 64), nil
}

type keyMetadata struct {
	AWSAccountId          string
	KeyId                 string
	Arn                   string
	CreationDate          epoch
	Enabled               bool
	Description           string
	KeyUsage              string
	KeyState              string
	Origin                string
	KeyManager            string
	CustomerMasterKeySpec string
	KeySpec               string
	EncryptionAlgorithms  []string
	MultiRegion           bool
}

func (s *Server) metadataLocked(k *key) keyMetadata {
	return keyMetadata{
		AWSAccountId:          s.account,
		KeyId:                 k.id,
		Arn:                   k.arn,
		CreationDate:          epoch(k.created),
		Enabled:               k.state == "Enabled",
		Description:           k.description,
		KeyUsage:              "ENCRYPT_DECRYPT",
		KeyState:              k.state,
		Origin:                "AWS_KMS",
		KeyManager:            "CUSTOMER",
		CustomerMasterKeySpec: symmetricDefault,
		KeySpec:               symmetricDefault,
		EncryptionAlgorithms:  []string{symmetricDefault},
	}
}

func (s *Server) createKey(body []byte) (any, *apiError) {
	var in struct {
		Description           string
		KeyUsage              string
		KeySpec               string
		CustomerMasterKeySpec string
		Origin                string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT" {
		return nil, errorf("UnsupportedOperationException", "kmstest supports only ENCRYPT_DECRYPT keys, not %s", in.KeyUsage)
	}
	for _, spec := range []string{in.KeySpec, in.CustomerMasterKeySpec} {
		if spec != "" && spec != symmetricDefault {
			return nil, errorf("UnsupportedOperationException", "kmstest supports only SYMMETRIC_DEFAULT keys, not %s", spec)
		}
	}
	if in.Origin != "" && in.Origin != "AWS_KMS" {
		return nil, errorf("UnsupportedOperationException", "kmstest supports only AWS_KMS key material, not %s", in.Origin)
	}
	if len(in.Description) > 8192 {
		return nil, errorf("ValidationException", "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.newKeyLocked(in.Description)
	return map[string]any{"KeyMetadata": s.metadataLocked(k)}, nil
}

func (s *Server) describeKey(body []byte) (any, *apiError) {
	var in struct{ KeyId string }
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, e := s.resolveLocked(in.KeyId)
	if e != nil {
		return nil, e
	}
	return map[string]any{"KeyMetadata": s.metadataLocked(k)}, nil
}

func (s *Server) createAlias(body []byte) (any, *apiError) {
	var in struct{ AliasName, TargetKeyId string }
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.TargetKeyId == "" {
		return nil, errorf("ValidationException", "1 validation error detected: Value null at 'targetKeyId' failed to satisfy constraint: Member must not be null")
	}
	if isAlias(in.TargetKeyId) {
		return nil, errorf("ValidationException", "Aliases must refer to keys. Not aliases")
	}
	k, e := s.resolveLocked(in.TargetKeyId)
	if e != nil {
		return nil, e
	}
	if k.state == "PendingDeletion" {
		return nil, usableLocked(k)
	}
	if e := s.createAliasLocked(in.AliasName, k.id); e != nil {
		return nil, e
	}
	return struct{}{}, nil
}

func isAlias(keyID string) bool {
	if len(keyID) >= 6 && keyID[:6] == "alias/" {
		return true
	}
	return bytes.Contains([]byte(keyID), []byte(":alias/"))
}

func (s *Server) listAliases(body []byte) (any, *apiError) {
	var in struct {
		KeyId  string
		Limit  int
		Marker string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.Limit == 0 {
		in.Limit = 50
	}
	if in.Limit < 1 || in.Limit > 100 {
		return nil, errorf("ValidationException", "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100", in.Limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	target := ""
	if in.KeyId != "" {
		if isAlias(in.KeyId) {
			return nil, errorf("InvalidArnException", "KeyId must be a key id or key ARN, not an alias")
		}
		k, e := s.resolveLocked(in.KeyId)
		if e != nil {
			return nil, e
		}
		target = k.id
	}
	type entry struct {
		AliasName       string
		AliasArn        string
		TargetKeyId     string
		CreationDate    epoch
		LastUpdatedDate epoch
	}
	var all []entry
	for _, a := range s.sortedAliasesLocked() {
		if target != "" && a.target != target {
			continue
		}
		all = append(all, entry{a.name, s.aliasARN(a.name), a.target, epoch(a.created), epoch(a.created)})
	}
	start := 0
	if in.Marker != "" {
		n, err := strconv.Atoi(in.Marker)
		if err != nil || n < 0 || n > len(all) {
			return nil, errorf("InvalidMarkerException", "invalid marker %q", in.Marker)
		}
		start = n
	}
	end := min(start+in.Limit, len(all))
	out := map[string]any{"Aliases": append([]entry{}, all[start:end]...), "Truncated": end < len(all)}
	if end < len(all) {
		out["NextMarker"] = strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) setStateOp(body []byte, state string) (any, *apiError) {
	var in struct{ KeyId string }
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, e := s.resolveLocked(in.KeyId)
	if e != nil {
		return nil, e
	}
	if k.state == "PendingDeletion" {
		return nil, usableLocked(k)
	}
	k.state = state
	return struct{}{}, nil
}

func (s *Server) enableKey(body []byte) (any, *apiError)  { return s.setStateOp(body, "Enabled") }
func (s *Server) disableKey(body []byte) (any, *apiError) { return s.setStateOp(body, "Disabled") }

func (s *Server) scheduleKeyDeletion(body []byte) (any, *apiError) {
	var in struct {
		KeyId               string
		PendingWindowInDays int
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.PendingWindowInDays == 0 {
		in.PendingWindowInDays = 30
	}
	if in.PendingWindowInDays < 7 || in.PendingWindowInDays > 30 {
		return nil, errorf("ValidationException", "PendingWindowInDays must be between 7 and 30")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, e := s.resolveLocked(in.KeyId)
	if e != nil {
		return nil, e
	}
	k.state = "PendingDeletion"
	when := time.Now().Add(time.Duration(in.PendingWindowInDays) * 24 * time.Hour)
	return map[string]any{
		"KeyId":               k.arn,
		"KeyState":            k.state,
		"DeletionDate":        epoch(when),
		"PendingWindowInDays": in.PendingWindowInDays,
	}, nil
}

// cryptoKeyLocked resolves keyID for a cryptographic operation.
func (s *Server) cryptoKeyLocked(keyID, algorithm string) (*key, *apiError) {
	k, e := s.resolveLocked(keyID)
	if e != nil {
		return nil, e
	}
	if e := usableLocked(k); e != nil {
		return nil, e
	}
	if algorithm != "" && algorithm != symmetricDefault {
		return nil, errorf("InvalidKeyUsageException", "%s key usage is ENCRYPT_DECRYPT with algorithm SYMMETRIC_DEFAULT, not %s", k.arn, algorithm)
	}
	return k, nil
}

func (s *Server) generateDataKey(body []byte) (any, *apiError) {
	var in struct {
		KeyId             string
		KeySpec           string
		NumberOfBytes     int
		EncryptionContext map[string]string
		DryRun            bool
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	n := 0
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != 0:
		return nil, errorf("ValidationException", "Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, errorf("ValidationException", "1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", in.KeySpec)
	case in.NumberOfBytes < 0 || in.NumberOfBytes > 1024:
		return nil, errorf("ValidationException", "1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", in.NumberOfBytes)
	case in.NumberOfBytes > 0:
		n = in.NumberOfBytes
	default:
		return nil, errorf("ValidationException", "Please specify either number of bytes or key spec.")
	}
	s.mu.Lock()
	k, e := s.cryptoKeyLocked(in.KeyId, "")
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	if in.DryRun {
		return nil, errorf("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	plaintext := make([]byte, n)
	if _, err := rand.Read(plaintext); err != nil {
		panic(err)
	}
	return map[string]any{
		"KeyId":          k.arn,
		"Plaintext":      plaintext,
		"CiphertextBlob": seal(k, plaintext, in.EncryptionContext),
	}, nil
}

func (s *Server) encrypt(body []byte) (any, *apiError) {
	var in struct {
		KeyId               string
		Plaintext           []byte
		EncryptionContext   map[string]string
		EncryptionAlgorithm string
		DryRun              bool
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.Plaintext) == 0 || len(in.Plaintext) > maxPlaintext {
		return nil, errorf("ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096 and greater than or equal to 1")
	}
	s.mu.Lock()
	k, e := s.cryptoKeyLocked(in.KeyId, in.EncryptionAlgorithm)
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	if in.DryRun {
		return nil, errorf("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	return map[string]any{
		"KeyId":               k.arn,
		"CiphertextBlob":      seal(k, in.Plaintext, in.EncryptionContext),
		"EncryptionAlgorithm": symmetricDefault,
	}, nil
}

func (s *Server) decrypt(body []byte) (any, *apiError) {
	var in struct {
		KeyId               string
		CiphertextBlob      []byte
		EncryptionContext   map[string]string
		EncryptionAlgorithm string
		DryRun              bool
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.CiphertextBlob) == 0 || len(in.CiphertextBlob) > 6144 {
		return nil, errorf("ValidationException", "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144 and greater than or equal to 1")
	}
	blobKeyID, nonce, sealed, ok := parseBlob(in.CiphertextBlob)
	s.mu.Lock()
	var k *key
	if in.KeyId != "" {
		var e *apiError
		if k, e = s.resolveLocked(in.KeyId); e != nil {
			s.mu.Unlock()
			return nil, e
		}
		if ok && blobKeyID != k.id {
			s.mu.Unlock()
			return nil, errorf("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	if !ok {
		s.mu.Unlock()
		return nil, errorf("InvalidCiphertextException", "")
	}
	if k == nil {
		if k = s.keys[blobKeyID]; k == nil {
			// A well-formed blob naming no key of ours was altered (or
			// comes from another server): KMS cannot authenticate it.
			s.mu.Unlock()
			return nil, errorf("InvalidCiphertextException", "")
		}
	}
	e := usableLocked(k)
	if e == nil && in.EncryptionAlgorithm != "" && in.EncryptionAlgorithm != symmetricDefault {
		e = errorf("InvalidKeyUsageException", "%s key usage is ENCRYPT_DECRYPT with algorithm SYMMETRIC_DEFAULT, not %s", k.arn, in.EncryptionAlgorithm)
	}
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	plaintext, err := k.aead.Open(nil, nonce, sealed, aad(in.CiphertextBlob[:headerLen(blobKeyID)], in.EncryptionContext))
	if err != nil {
		return nil, errorf("InvalidCiphertextException", "")
	}
	if in.DryRun {
		return nil, errorf("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	return map[string]any{
		"KeyId":               k.arn,
		"Plaintext":           plaintext,
		"EncryptionAlgorithm": symmetricDefault,
	}, nil
}

const blobMagic = "KT1"

func headerLen(keyID string) int { return len(blobMagic) + 1 + len(keyID) }

// seal makes a ciphertext blob of plaintext under k, bound to encCtx.
func seal(k *key, plaintext []byte, encCtx map[string]string) []byte {
	b := append([]byte(blobMagic), byte(len(k.id)))
	b = append(b, k.id...)
	header := len(b)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	b = append(b, nonce...)
	return k.aead.Seal(b, nonce, plaintext, aad(b[:header], encCtx))
}

// parseBlob splits a ciphertext blob; ok is false if it is malformed.
func parseBlob(b []byte) (keyID string, nonce, sealed []byte, ok bool) {
	if len(b) < len(blobMagic)+1 || string(b[:len(blobMagic)]) != blobMagic {
		return "", nil, nil, false
	}
	n := int(b[len(blobMagic)])
	rest := b[len(blobMagic)+1:]
	const nonceSize, tagSize = 12, 16
	if n == 0 || len(rest) < n+nonceSize+tagSize {
		return "", nil, nil, false
	}
	return string(rest[:n]), rest[n : n+nonceSize], rest[n+nonceSize:], true
}

// aad is the associated data of a blob: its header and the encryption
// context, serialised canonically (keys sorted, every string length-prefixed)
// so that equal maps always give equal bytes.
func aad(header []byte, encCtx map[string]string) []byte {
	b := append([]byte("kmstest blob v1\x00"), header...)
	return cloudchain.AppendContext(b, encCtx)
}
