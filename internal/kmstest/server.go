// Package kmstest is an in-process AWS KMS server for tests. It speaks the
// real KMS JSON wire protocol (awsJson1_1: HTTP POST to "/", the operation in
// the X-Amz-Target header as "TrentService.<Operation>", JSON bodies with
// base64 blobs), so the real aws-sdk-go-v2 KMS client, with its signing,
// serialisation, error deserialisation and standard retryer, runs against it
// unchanged: point the client's BaseEndpoint at Server.URL.
//
// # Operations
//
// CreateKey, DescribeKey, CreateAlias, ListAliases, GenerateDataKey,
// Encrypt, Decrypt, EnableKey, DisableKey and ScheduleKeyDeletion. Only
// symmetric encryption keys (SYMMETRIC_DEFAULT) exist. Any other operation
// gets UnknownOperationException.
//
// # Keys and addressing
//
// A key is addressed, wherever an operation takes a KeyId, by its key id (a
// UUID), its key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), an alias name
// (alias/NAME) or an alias ARN (arn:aws:kms:REGION:ACCOUNT:alias/NAME).
// Responses name keys by their key ARN, as AWS does.
//
// # Cryptography
//
// Each key holds a random 256-bit AES key. A ciphertext blob is
//
//	"KT1" | len(keyID) | keyID | 12-byte nonce | AES-256-GCM ciphertext and tag
//
// sealed with associated data that binds the blob header and the encryption
// context (serialised canonically, keys sorted). So, as with real KMS
// symmetric keys, Decrypt works without a KeyId; with a KeyId that is not the
// blob's key it fails with IncorrectKeyException; with a different or missing
// encryption context, or with a blob that was altered in any way, it fails
// with InvalidCiphertextException.
//
// # Errors
//
// Errors are sent as AWS sends them: an HTTP status (400 for client errors),
// the x-amzn-ErrorType header and a JSON body {"__type": TYPE, "message":
// MESSAGE}. The SDK turns modelled types (NotFoundException, DisabledException,
// InvalidCiphertextException, IncorrectKeyException, ...) into the kms/types
// error structs, and others (AccessDeniedException, ThrottlingException,
// ValidationException) into a smithy.GenericAPIError with that code.
//
// # Fault injection and counting
//
// Server.Throttle, Server.Fail and Server.DenyAccess make chosen operations
// fail; Server.Count reports how many requests each operation received,
// including failed and retried ones. Server.RequireSignature makes the server
// reject requests that are not signed with AWS Signature Version 4 (and, given
// the secret key, verifies the signature).
//
// # Standalone
//
// The command internal/kmstest/cmd/kmstestd runs a Server as a process, for
// end-to-end tests of the cchain binary.
package kmstest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults for the region and account that key ARNs name.
const (
	DefaultRegion  = "us-east-1"
	DefaultAccount = "111122223333"
)

// maxBody bounds a request body; real KMS requests are far smaller.
const maxBody = 1 << 20

// Server is a KMS test server listening on a loopback address. All its
// methods are safe for concurrent use.
type Server struct {
	ts      *httptest.Server
	region  string
	account string

	mu      sync.Mutex
	keys    map[string]*key   // by key id
	aliases map[string]*alias // by alias name ("alias/x")
	counts  map[string]int
	faults  map[string][]fault // queued faults by operation ("*": any)
	denied  map[string]bool    // denied operations ("*": all)
	sig     *sigConfig
}

type key struct {
	id          string
	arn         string
	description string
	created     time.Time
	state       string // Enabled, Disabled, PendingDeletion
	aead        cipher.AEAD
}

type alias struct {
	name    string
	target  string // key id
	created time.Time
}

type fault struct {
	errType string
	status  int
	message string
}

// Option configures a Server.
type Option func(*Server)

// WithRegion sets the region that key and alias ARNs name (DefaultRegion
// otherwise).
func WithRegion(region string) Option { return func(s *Server) { s.region = region } }

// WithAccount sets the account that key and alias ARNs name (DefaultAccount
// otherwise).
func WithAccount(account string) Option { return func(s *Server) { s.account = account } }

// New starts a Server on a random port of 127.0.0.1. Close stops it.
func New(opts ...Option) *Server {
	s := newServer(opts)
	s.ts = httptest.NewServer(s)
	return s
}

// Listen starts a Server on addr, which must be a loopback address such as
// "127.0.0.1:0". Close stops it.
func Listen(addr string, opts ...Option) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("kmstest: bad address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("kmstest: refusing to listen on %q: only loopback IP addresses are allowed", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kmstest: %w", err)
	}
	s := newServer(opts)
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.Listener.Close()
	s.ts.Listener = l
	s.ts.Start()
	return s, nil
}

// NewServer starts a Server with New and closes it when t and its subtests
// finish.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	t.Cleanup(s.Close)
	return s
}

func newServer(opts []Option) *Server {
	s := &Server{
		region:  DefaultRegion,
		account: DefaultAccount,
		keys:    map[string]*key{},
		aliases: map[string]*alias{},
		counts:  map[string]int{},
		faults:  map[string][]fault{},
		denied:  map[string]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Close stops the server and waits for its requests to finish.
func (s *Server) Close() { s.ts.Close() }

// URL returns the server's base URL, such as "http://127.0.0.1:41234". Give it
// to the SDK client as its BaseEndpoint.
func (s *Server) URL() string { return s.ts.URL }

// Region returns the region that the server's ARNs name.
func (s *Server) Region() string { return s.region }

// Account returns the account that the server's ARNs name.
func (s *Server) Account() string { return s.account }

// CreateKey creates an enabled symmetric key and returns its ARN. If alias is
// not empty ("alias/NAME", or just NAME), the alias is created for the key.
// It panics if the alias is invalid or already exists: that is a bug in the
// test.
func (s *Server) CreateKey(alias string) (arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.newKeyLocked("")
	if alias != "" {
		if !strings.HasPrefix(alias, "alias/") {
			alias = "alias/" + alias
		}
		if e := s.createAliasLocked(alias, k.id); e != nil {
			panic("kmstest: CreateKey: " + e.message)
		}
	}
	return k.arn
}

// DisableKey disables the key that keyID addresses, as the DisableKey
// operation does: it then fails cryptographic operations with
// DisabledException. It panics if there is no such key.
func (s *Server) DisableKey(keyID string) { s.setState(keyID, "Disabled") }

// EnableKey enables the key that keyID addresses. It panics if there is no
// such key.
func (s *Server) EnableKey(keyID string) { s.setState(keyID, "Enabled") }

func (s *Server) setState(keyID, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, e := s.resolveLocked(keyID)
	if e != nil {
		panic("kmstest: " + e.message)
	}
	k.state = state
}

// Count returns how many requests for the operation op ("Decrypt", ...) the
// server received since it started or since ResetCounts, including requests
// that failed, were throttled or were rejected.
func (s *Server) Count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// Counts returns a copy of all request counts, by operation.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}

// ResetCounts sets every request count to zero.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
}

// Throttle makes the next n requests for op fail with ThrottlingException
// and HTTP 400, as KMS does when a request rate quota is exceeded; the SDK's
// standard retryer retries them. op "*" matches any operation.
func (s *Server) Throttle(op string, n int) {
	s.Fail(op, n, "ThrottlingException", http.StatusBadRequest)
}

// Fail makes the next n requests for op fail with the AWS error type
// errType (such as "KMSInternalException" or "DependencyTimeoutException")
// and the HTTP status. op "*" matches any operation. Faults queue up: they are
// served in the order they were added, each operation's own before "*".
func (s *Server) Fail(op string, n int, errType string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[op] = append(s.faults[op], fault{
			errType: errType,
			status:  status,
			message: "injected fault: " + errType,
		})
	}
}

// DenyAccess makes every request for op fail with AccessDeniedException, as
// when an IAM or key policy does not allow the action kms:<op>, until
// AllowAccess. op "*" denies every operation.
func (s *Server) DenyAccess(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[op] = true
}

// AllowAccess undoes DenyAccess for op.
func (s *Server) AllowAccess(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.denied, op)
}

// ClearFaults removes every queued fault and access denial.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
	clear(s.denied)
}

// RequireSignature makes the server reject requests without an AWS Signature
// Version 4 Authorization header and X-Amz-Date header, with
// MissingAuthenticationTokenException or IncompleteSignatureException, as
// AWS does. The credential scope must name the service "kms" and the server's
// region. If secretAccessKey is not empty, the request must be signed by
// accessKeyID with it: another access key gets UnrecognizedClientException
// and a wrong signature InvalidSignatureException.
func (s *Server) RequireSignature(accessKeyID, secretAccessKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sig = &sigConfig{accessKeyID: accessKeyID, secret: secretAccessKey}
}

// apiError is an error response in the making.
type apiError struct {
	status  int
	errType string
	message string
}

func errorf(errType, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, errType: errType, message: fmt.Sprintf(format, args...)}
}

// ServeHTTP serves one KMS request. It makes a Server an http.Handler, for
// tests that want to wrap it (to inject network faults, for example).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", newUUID())
	if r.Method != http.MethodPost {
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, errType: "UnknownOperationException", message: "only POST is supported"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "TrentService.")
	if !ok || op == "" {
		writeError(w, errorf("UnknownOperationException", "unknown operation %q", target))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, errorf("SerializationException", "reading request body: %v", err))
		return
	}

	s.mu.Lock()
	s.counts[op]++
	sig := s.sig
	s.mu.Unlock()

	if len(body) > maxBody {
		writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, errType: "SerializationException", message: "request body too large"})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeError(w, errorf("SerializationException", "unsupported Content-Type %q, want application/x-amz-json-1.1", ct))
		return
	}
	if sig != nil {
		if e := sig.check(r, body, s.region); e != nil {
			writeError(w, e)
			return
		}
	}
	h, ok := handlers[op]
	if !ok {
		writeError(w, errorf("UnknownOperationException", "operation %s is not supported by kmstest", op))
		return
	}
	if e := s.injected(op); e != nil {
		writeError(w, e)
		return
	}
	out, e := h(s, body)
	if e != nil {
		writeError(w, e)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, &apiError{status: http.StatusInternalServerError, errType: "KMSInternalException", message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// injected returns the next injected fault or access denial for op.
func (s *Server) injected(op string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range []string{op, "*"} {
		if q := s.faults[name]; len(q) > 0 {
			f := q[0]
			if len(q) == 1 {
				delete(s.faults, name)
			} else {
				s.faults[name] = q[1:]
			}
			return &apiError{status: f.status, errType: f.errType, message: f.message}
		}
	}
	if s.denied[op] || s.denied["*"] {
		return errorf("AccessDeniedException",
			"User: arn:aws:iam::%s:user/kmstest is not authorized to perform: kms:%s because no identity-based policy allows the kms:%s action",
			s.account, op, op)
	}
	return nil
}

func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.errType, e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-ErrorType", e.errType+":")
	w.WriteHeader(e.status)
	w.Write(b)
}

// newUUID returns a random (version 4) UUID, the form of KMS key ids.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) newKeyLocked(description string) *key {
	material := make([]byte, 32)
	if _, err := rand.Read(material); err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(material)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	clear(material)
	id := newUUID()
	k := &key{
		id:          id,
		arn:         fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.region, s.account, id),
		description: description,
		created:     time.Now(),
		state:       "Enabled",
		aead:        aead,
	}
	s.keys[id] = k
	return k
}

func (s *Server) aliasARN(name string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:%s", s.region, s.account, name)
}

// resolveLocked finds the key that a KeyId parameter addresses.
func (s *Server) resolveLocked(keyID string) (*key, *apiError) {
	if keyID == "" {
		return nil, errorf("ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	id := keyID
	if rest, ok := strings.CutPrefix(keyID, "arn:"); ok {
		prefix := fmt.Sprintf("aws:kms:%s:%s:", s.region, s.account)
		res, ok := strings.CutPrefix(rest, prefix)
		if !ok {
			if strings.Count(rest, ":") < 4 {
				return nil, errorf("InvalidArnException", "invalid ARN %q", keyID)
			}
			return nil, errorf("NotFoundException", "Invalid arn %s", keyID)
		}
		id = res
		if k, ok := strings.CutPrefix(res, "key/"); ok {
			id = k
		} else if !strings.HasPrefix(res, "alias/") {
			return nil, errorf("InvalidArnException", "invalid ARN %q", keyID)
		}
	}
	if strings.HasPrefix(id, "alias/") {
		a, ok := s.aliases[id]
		if !ok {
			return nil, errorf("NotFoundException", "Alias %s is not found.", s.aliasARN(id))
		}
		id = a.target
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, errorf("NotFoundException", "Key '%s' does not exist", fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.region, s.account, id))
	}
	return k, nil
}

// usableLocked checks that k can be used for cryptographic operations.
func usableLocked(k *key) *apiError {
	switch k.state {
	case "Enabled":
		return nil
	case "Disabled":
		return errorf("DisabledException", "%s is disabled.", k.arn)
	default:
		return errorf("KMSInvalidStateException", "%s is pending deletion.", k.arn)
	}
}

func (s *Server) createAliasLocked(name, target string) *apiError {
	if !strings.HasPrefix(name, "alias/") || len(name) == len("alias/") || len(name) > 256 {
		return errorf("ValidationException", "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return errorf("NotAuthorizedException", "Cannot create alias with reserved AWS prefix")
	}
	for _, c := range name[len("alias/"):] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_-", c)) {
			return errorf("ValidationException", "1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$", name)
		}
	}
	if _, ok := s.aliases[name]; ok {
		return errorf("AlreadyExistsException", "An alias with the name %s already exists", s.aliasARN(name))
	}
	s.aliases[name] = &alias{name: name, target: target, created: time.Now()}
	return nil
}

// sortedAliasesLocked returns the aliases in name order.
func (s *Server) sortedAliasesLocked() []*alias {
	names := slices.Sorted(maps.Keys(s.aliases))
	out := make([]*alias, len(names))
	for i, n := range names {
		out[i] = s.aliases[n]
	}
	return out
}
