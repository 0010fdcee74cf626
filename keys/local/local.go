// Package local implements cloudchain's local key provider: a 256-bit master
// key kept in a file on the user's machine. It is the key provider of the
// embedded default store, which needs no cloud account.
//
// # Key file
//
// The key file is a small text file of two lines:
//
//	cloudchain-local-key v1
//	<the 32-byte master key in standard base64>
//
// The header line makes a wrong file recognisable: a file that is not in
// this format is refused with an error wrapping ErrBadKeyFile and is never
// replaced or modified.
//
// The file must not be accessible by group or others. Like ssh with a private
// key, Load and Open refuse a key file with any group or other permission bit
// set, a key file owned by another user (root excepted), and a key file in a
// directory that group or others may write to (where someone else could
// replace it), with an error wrapping ErrKeyPermissions that tells the user
// how to fix it. A file that is not a key file, or is damaged or truncated,
// gives an error wrapping both ErrBadKeyFile and cloudchain.ErrWrongKey.
//
// # Key creation
//
// Open and Create generate the key file when it does not exist yet. The
// directory is created with mode 0700 if missing. The key is written to a
// temporary file (mode 0600) in the same directory, synced, and then linked
// to its final name, which fails if that name exists. A key file is
// therefore never seen half-written, an existing key file is never
// replaced, and when several processes create the key at the same time
// exactly one key wins and every process ends up using it.
//
// # Key separation
//
// The master key is never used directly for anything new. The wrapping key
// is derived from it with HKDF-SHA256 (RFC 5869; no salt, info "cloudchain
// local wrap v2"). The key id is a separate one-way derivation: "local:"
// followed by the first 16 hex digits of the SHA-256 hash of the
// domain-separation string "cloudchain local key id v1\x00" and the master
// key. The id was computed this way before HKDF was introduced and is kept
// as it is: it is public, domain-separated and independent of the wrapping
// key, and changing it would give every existing store a new id and make
// every record written so far look as if it were under another key.
//
// The id is recorded with every wrapped data key, so a record made under
// another local key is reported as cloudchain.ErrWrongKey before any
// decryption is attempted, and OwnsKey answers whether a record's key is
// this provider's without decrypting.
//
// # Wrapped data keys
//
// GenerateDataKey returns 32 random bytes and the same bytes sealed with
// AES-256-GCM under the wrapping key, with a random 96-bit nonce. The
// associated data is a domain-separation string followed by the canonical
// encoding of the encryption context (entries sorted by key, each key and
// value length-prefixed), so a wrapped key only unwraps with the context it
// was made with. A wrapped key is
//
//	version (1 byte, 2) || nonce (12 bytes) || sealed key and tag (48 bytes)
//
// # Moving to a new master key
//
// CreateNext, Promote and RemoveRetired move a key file to a new key in
// steps that leave, after a crash at any point, files that still hold every
// key needed (see Promote); Set holds the keys of a store during a move.
//
// # Backwards compatibility
//
// The key file format and the key id are stable. Wrapped keys of version 1,
// written before key separation, were sealed under the master key itself;
// Decrypt still opens them, and testdata/v1 holds a key file and wrapped
// keys made by that code, which the tests read. Every later release reads
// keys and wrapped keys written by this one.
package local

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/cloudchain/cloudchain"
)

var (
	_ cloudchain.KeyProvider = (*Provider)(nil)
	_ cloudchain.KeyOwner    = (*Provider)(nil)
)

// Header is the first line of every key file.
const Header = "cloudchain-local-key v1"

// KeySize is the size of the master key and of the data keys, in bytes.
const KeySize = 32

// WrappedSize is the size of a wrapped data key, in bytes (61).
const WrappedSize = 1 + nonceSize + KeySize + tagSize

const (
	// wrapVersion is the version of new wrapped keys (HKDF-derived
	// wrapping key); wrapVersionMaster is the earlier one, sealed under the
	// master key itself, which is still read.
	wrapVersion       = 2
	wrapVersionMaster = 1
	nonceSize         = 12
	tagSize           = 16
	keyIDDomain       = "cloudchain local key id v1\x00"
	wrapDomain        = "cloudchain local wrap v1\x00"
	// wrapInfo is the HKDF info of the wrapping key.
	wrapInfo = "cloudchain local wrap v2"
	// maxKeyFile bounds how much of a key file is read: a real one is about
	// 70 bytes, and anything much bigger is not a key file.
	maxKeyFile = 4096
)

// ErrKeyPermissions means the key file can be accessed by users other than
// its owner. The error wrapping it names the file and the command that fixes
// it.
var ErrKeyPermissions = errors.New("key file permissions are too open")

// ErrBadKeyFile means a file is not a cloudchain local key file, or is
// damaged. Such a file is never replaced.
var ErrBadKeyFile = errors.New("not a valid cloudchain local key file")

// BadKeyFileError reports a key file that is not in the key file format, or
// is damaged or truncated. It wraps ErrBadKeyFile and cloudchain.ErrWrongKey:
// nothing can be decrypted with it. Its message never shows the file's
// content.
type BadKeyFileError struct {
	Path   string
	Reason string
}

func (e *BadKeyFileError) Error() string {
	return fmt.Sprintf("%s: %s: %s\nhint: restore the key file from a backup; it is never replaced, since a new key could decrypt nothing already stored", ErrBadKeyFile, e.Path, e.Reason)
}

// Unwrap returns ErrBadKeyFile and cloudchain.ErrWrongKey.
func (e *BadKeyFileError) Unwrap() []error { return []error{ErrBadKeyFile, cloudchain.ErrWrongKey} }

// ErrClosed means the provider was used after Close.
var ErrClosed = errors.New("local key provider is closed")

// PermissionsError reports a key file whose permissions are too open. It
// wraps ErrKeyPermissions. Its message is like ssh's:
//
//	permissions 0644 for '/home/me/.local/share/cloudchain/master.key' are too open; run: chmod 600 /home/me/.local/share/cloudchain/master.key
type PermissionsError struct {
	Path string
	Perm fs.FileMode
}

func (e *PermissionsError) Error() string {
	return fmt.Sprintf("permissions %04o for '%s' are too open; run: chmod 600 %s", uint32(e.Perm), e.Path, e.Path)
}

// Unwrap returns ErrKeyPermissions.
func (e *PermissionsError) Unwrap() error { return ErrKeyPermissions }

// An Option configures a Provider.
type Option func(*config)

type config struct {
	rand io.Reader
}

// WithRand sets the source of randomness for the master key (when it is
// generated), data keys and nonces. The default is crypto/rand. The reader
// must be safe for concurrent use if the provider is.
func WithRand(r io.Reader) Option {
	return func(c *config) { c.rand = r }
}

func newConfig(opts []Option) config {
	c := config{rand: rand.Reader}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Provider is a cloudchain.KeyProvider that wraps data keys under a local
// master key. It is safe for concurrent use.
type Provider struct {
	rand io.Reader
	id   string
	path string
	mu   sync.RWMutex
	// aead seals under the HKDF-derived wrapping key; master opens wrapped
	// keys of version 1. Both are nil after Close. The Provider keeps no
	// other copy of the key material.
	aead, master cipher.AEAD
}

// DefaultPath returns the key file's path in the cloudchain data directory
// dataDir (for example $XDG_DATA_HOME/cloudchain). The package reads no
// environment variables; the caller resolves dataDir.
func DefaultPath(dataDir string) string {
	return filepath.Join(dataDir, "master.key")
}

// New returns a provider for the 32-byte master key. It keeps no reference
// to key, which the caller may clear. The provider has no file; Path returns
// "".
func New(key []byte, opts ...Option) (*Provider, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("local key provider: master key is %d bytes, want %d", len(key), KeySize)
	}
	c := newConfig(opts)
	wrapKey, err := hkdf.Key(sha256.New, key, nil, wrapInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("local key provider: deriving the wrapping key: %w", err)
	}
	defer cloudchain.Zero(wrapKey)
	aead, err := newGCM(wrapKey)
	if err != nil {
		return nil, err
	}
	master, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &Provider{rand: c.rand, id: KeyIDOf(key), aead: aead, master: master}, nil
}

// newGCM returns AES-256-GCM under key. The cipher keeps its own expanded
// copy of the key; key may be cleared afterwards.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("local key provider: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("local key provider: %w", err)
	}
	return aead, nil
}

// KeyIDOf returns the key id of a master key: "local:" and the first 16 hex
// digits of SHA-256 over a domain-separation string and the key.
func KeyIDOf(key []byte) string {
	h := sha256.New()
	h.Write([]byte(keyIDDomain))
	h.Write(key)
	return "local:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Load reads the key file at path. It does not create it: a missing file
// gives an error wrapping fs.ErrNotExist. A file with group or other
// permission bits gives an error wrapping ErrKeyPermissions, and a file not in
// the key file format an error wrapping ErrBadKeyFile.
func Load(path string, opts ...Option) (*Provider, error) {
	key, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	defer cloudchain.Zero(key)
	p, err := New(key, opts...)
	if err != nil {
		return nil, err
	}
	p.path = path
	return p, nil
}

// Open loads the key file at path, generating it first if it does not exist
// (see Create). It is what the embedded default uses on every run.
func Open(path string, opts ...Option) (*Provider, error) {
	p, _, err := Create(path, opts...)
	return p, err
}

// Create makes sure the key file at path exists, generating a new random
// master key if it does not, and returns a provider for the key in the file.
// created reports whether this call wrote the file. An existing file is never
// modified: it is loaded as Load does, with the same errors. `cchain setup`
// uses Create to report what it did.
func Create(path string, opts ...Option) (p *Provider, created bool, err error) {
	p, err = Load(path, opts...)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return p, false, err
	}
	c := newConfig(opts)
	key := make([]byte, KeySize)
	defer cloudchain.Zero(key)
	if _, err := io.ReadFull(c.rand, key); err != nil {
		return nil, false, fmt.Errorf("generating local master key: %w", err)
	}
	created, err = writeKeyFile(path, key)
	if err != nil {
		return nil, false, err
	}
	if !created {
		// Another process won the race; use its key.
		p, err = Load(path, opts...)
		return p, false, err
	}
	p, err = New(key, opts...)
	if err != nil {
		return nil, false, err
	}
	p.path = path
	return p, true, nil
}

// readKeyFile reads and checks a key file. The permission check uses the
// open file, so the file checked is the file read.
func readKeyFile(path string) ([]byte, error) {
	// O_NONBLOCK: a FIFO planted at path must not make the open wait for
	// a writer (it is then refused as not a regular file). It has no
	// effect on regular files.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading local key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading local key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &BadKeyFileError{Path: path, Reason: "not a regular file"}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &PermissionsError{Path: path, Perm: perm}
	}
	if err := checkOwner(path, fi); err != nil {
		return nil, err
	}
	if err := checkDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading local key file %s: %w", path, err)
	}
	defer cloudchain.Zero(data)
	key, err := parseKeyFile(data)
	if err != nil {
		return nil, &BadKeyFileError{Path: path, Reason: err.Error()}
	}
	return key, nil
}

// parseKeyFile parses the key file format. Its errors never include the
// file's content.
func parseKeyFile(data []byte) ([]byte, error) {
	if len(data) > maxKeyFile {
		return nil, errors.New("file is too large")
	}
	header, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok || string(bytes.TrimSuffix(header, []byte("\r"))) != Header {
		return nil, fmt.Errorf("first line is not %q", Header)
	}
	line, rest, _ := bytes.Cut(rest, []byte("\n"))
	line = bytes.TrimSpace(line)
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("unexpected content after the key line")
	}
	key := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
	n, err := base64.StdEncoding.Decode(key, line)
	if err != nil || n != KeySize {
		cloudchain.Zero(key)
		return nil, fmt.Errorf("key line is not %d bytes in base64", KeySize)
	}
	return key[:KeySize], nil
}

func formatKeyFile(key []byte) []byte {
	b := make([]byte, 0, len(Header)+1+base64.StdEncoding.EncodedLen(len(key))+1)
	b = append(b, Header...)
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, key)
	return append(b, '\n')
}

// writeKeyFile writes key to path atomically and without replacing an
// existing file. It reports false, and no error, if path already exists.
func writeKeyFile(path string, key []byte) (created bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating key directory: %w", err)
	}
	// Never write a key where someone else could replace it.
	if err := checkDir(dir); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("creating local key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful link this only drops the temporary name
	data := formatKeyFile(key)
	defer cloudchain.Zero(data)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, fmt.Errorf("creating local key file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("writing local key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("writing local key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("writing local key file: %w", err)
	}
	// link, unlike rename, fails if the target exists: of several racing
	// creators exactly one wins, and the others load the winner's key.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		// A file system without hard links: an exclusive create, which
		// also lets exactly one creator win (never a rename, which could
		// replace a key another process has already used).
		created, cerr := createExclusive(path, data)
		if cerr != nil {
			return false, fmt.Errorf("creating local key file %s: %w (and hard links: %v)", path, cerr, err)
		}
		if !created {
			return false, nil
		}
	}
	if err := syncDir(dir); err != nil {
		return true, fmt.Errorf("writing local key file: %w", err)
	}
	return true, nil
}

// createExclusive writes data to a new file at path, mode 0600, synced; it
// returns false if the file exists already.
func createExclusive(path string, data []byte) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return false, err
	}
	return true, f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Path returns the key file's path, or "" for a provider made by New.
func (p *Provider) Path() string { return p.path }

// KeyID returns the id of the master key, "local:" and 16 hex digits.
func (p *Provider) KeyID() string { return p.id }

// OwnsKey reports whether keyID, as recorded with a wrapped key, names this
// provider's master key, so that Decrypt could open a key wrapped under it.
// It never decrypts anything. The store asks it before writing over a
// record, so that a replaced key file is noticed before it makes versions
// that no single key can read.
func (p *Provider) OwnsKey(keyID string) bool { return keyID == p.id }

// Close drops the provider's ciphers, and with them its only references to
// the key material. It cannot overwrite that material: the AES key
// schedules belong to crypto/aes, and stay in memory until the garbage
// collector reuses it. (The raw master key and the derived wrapping key are
// cleared as soon as the ciphers are made, in Load and New.) The provider
// cannot be used afterwards: its methods return ErrClosed. Close is
// idempotent and always returns nil.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aead, p.master = nil, nil
	return nil
}

// GenerateDataKey returns a fresh random 256-bit data key and the same key
// wrapped under the master key with encCtx bound to it. The caller clears
// the returned Plaintext after use.
func (p *Provider) GenerateDataKey(ctx context.Context, encCtx map[string]string) (*cloudchain.DataKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	plain := make([]byte, KeySize)
	if _, err := io.ReadFull(p.rand, plain); err != nil {
		return nil, fmt.Errorf("generating data key: %w", err)
	}
	wrapped, err := p.wrap(plain, encCtx)
	if err != nil {
		cloudchain.Zero(plain)
		return nil, err
	}
	return &cloudchain.DataKey{Plaintext: plain, Wrapped: wrapped, KeyID: p.id}, nil
}

// wrap seals a KeySize-byte key under the wrapping key with encCtx bound,
// as a wrapped key of the current version.
func (p *Provider) wrap(plain []byte, encCtx map[string]string) ([]byte, error) {
	wrapped := make([]byte, 1+nonceSize, WrappedSize)
	wrapped[0] = wrapVersion
	if _, err := io.ReadFull(p.rand, wrapped[1:1+nonceSize]); err != nil {
		return nil, fmt.Errorf("generating nonce: %w", err)
	}
	var buf [96]byte
	ad := appendAD(buf[:0], encCtx)
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.aead == nil {
		return nil, ErrClosed
	}
	return p.aead.Seal(wrapped, wrapped[1:1+nonceSize], plain, ad), nil
}

// Decrypt unwraps a data key made by GenerateDataKey. It returns a
// *cloudchain.WrongKeyError (wrapping cloudchain.ErrWrongKey) if keyID is not
// this provider's key id, without attempting decryption, and an error
// wrapping cloudchain.ErrAuthentication if wrapped is damaged, has the wrong
// size, or was made with another encryption context.
func (p *Provider) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if keyID != p.id {
		return nil, &cloudchain.WrongKeyError{RecordKey: keyID, ProviderKey: p.id}
	}
	if len(wrapped) != WrappedSize {
		return nil, fmt.Errorf("unwrapping data key: %w (wrapped key is %d bytes, want %d)", cloudchain.ErrAuthentication, len(wrapped), WrappedSize)
	}
	var buf [96]byte
	ad := appendAD(buf[:0], encCtx)
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.aead == nil {
		return nil, ErrClosed
	}
	var aead cipher.AEAD
	switch wrapped[0] {
	case wrapVersion:
		aead = p.aead
	case wrapVersionMaster:
		aead = p.master
	default:
		return nil, fmt.Errorf("unwrapping data key: %w (unknown wrapped key version %d)", cloudchain.ErrAuthentication, wrapped[0])
	}
	plain, err := aead.Open(make([]byte, 0, KeySize), wrapped[1:1+nonceSize], wrapped[1+nonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("unwrapping data key: %w", cloudchain.ErrAuthentication)
	}
	return plain, nil
}

// appendAD appends the associated data of a wrapped key: the domain string
// and the canonical encoding of encCtx (cloudchain.AppendContext).
func appendAD(b []byte, encCtx map[string]string) []byte {
	return cloudchain.AppendContext(append(b, wrapDomain...), encCtx)
}
