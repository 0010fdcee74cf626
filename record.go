package cloudchain

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Format says how a record's secret is encrypted.
type Format uint8

const (
	// FormatLegacy is the Python cloudchain format: the secret encrypted
	// directly by KMS Encrypt with the constant context {"string": "string"}
	// and nothing bound to the row. It is always readable; it is written only
	// on explicit opt-in.
	FormatLegacy Format = 0

	// FormatV1 is envelope encryption: a fresh 256-bit data key wrapped by
	// the key provider with the context {"service": SERVICE}, and the secret
	// sealed with AES-256-GCM under it, with associated data that binds the
	// format, service, user, version and every metadata field of the record.
	FormatV1 Format = 1

	// FormatV2 is sealed under the service key: the secret is encrypted with
	// AES-256-GCM under a record key derived with HKDF-SHA256 from the
	// service key (version KeyVersion) and a fresh random 256-bit salt, with
	// associated data that binds the format, service, user, version and
	// every metadata field. Deletion markers are sealed too (an empty
	// plaintext), so that a forged marker fails authentication. Reading any
	// number of FormatV2 records of one service costs one key-provider call
	// per service key version.
	FormatV2 Format = 2

	// FormatKeyring is a service's key ring, stored as the item of user
	// ServiceKeyUser: every version of the service key, each wrapped by the
	// key provider with the context {"service": SERVICE}, authenticated
	// with a MAC under the newest service key. It is never a secret.
	FormatKeyring Format = 3

	// FormatManifest is a service's rollback manifest, stored as the item of
	// user ManifestUser: the newest version written of every secret of the
	// service, authenticated with a MAC under a service key (manifest.go).
	// It is never a secret.
	FormatManifest Format = 4
)

func (f Format) String() string {
	switch f {
	case FormatLegacy:
		return "legacy"
	case FormatV1:
		return "v1"
	case FormatV2:
		return "v2"
	case FormatKeyring:
		return "keyring"
	case FormatManifest:
		return "manifest"
	default:
		return fmt.Sprintf("format(%d)", uint8(f))
	}
}

// LegacyContext is the constant KMS encryption context of the Python tool.
func LegacyContext() map[string]string { return map[string]string{"string": "string"} }

// ServiceContext is the KMS encryption context of a FormatV1 record.
func ServiceContext(service string) map[string]string { return map[string]string{"service": service} }

// Record is one version of a secret as stored: metadata in clear, the secret
// encrypted. A record with Deleted set is a deletion marker and has no
// ciphertext.
type Record struct {
	Format  Format
	Version int64
	Created time.Time
	// Author is who wrote the version: an AWS principal ARN or a local user.
	Author  string
	Comment string
	Deleted bool
	// KeyID identifies the key that wrapped WrappedKey (FormatV1) or that
	// encrypted Ciphertext (FormatLegacy).
	KeyID string
	// Context is the encryption context given to the key provider.
	Context    map[string]string
	WrappedKey []byte
	// KeyVersion is the version of the service key a FormatV2 record is
	// sealed under.
	KeyVersion int64
	// Salt is a FormatV2 record's random HKDF salt: with the service key it
	// gives the record's own key.
	Salt  []byte
	Nonce []byte
	// Ciphertext is the sealed secret with its GCM tag (FormatV1 and
	// FormatV2), the KMS ciphertext blob (FormatLegacy), or the encoded key
	// ring (FormatKeyring).
	Ciphertext []byte
}

// Size returns the length of the secret in bytes, or -1 when it is not known
// without decrypting (legacy records).
func (r *Record) Size() int {
	switch {
	case r.Deleted:
		return 0
	case r.Format == FormatV1 || r.Format == FormatV2:
		return len(r.Ciphertext) - gcmTagSize
	default:
		return -1
	}
}

const (
	recordMagic = "CCR1"
	gcmTagSize  = 16
	nonceSize   = 12
	dataKeySize = 32
	saltSize    = 32
	flagDeleted = 1 << 0
	// maxField bounds any single length-prefixed field when decoding, so a
	// corrupt length cannot make the decoder allocate gigabytes.
	maxField = 1 << 24
)

// MarshalBinary encodes the record. The encoding is stable: records written
// by every release must decode with every later release.
func (r *Record) MarshalBinary() ([]byte, error) {
	return r.appendBody(r.appendHeader(nil)), nil
}

// appendHeader appends everything but the nonce and ciphertext. For FormatV1
// it is authenticated as part of the associated data.
func (r *Record) appendHeader(b []byte) []byte {
	b = append(b, recordMagic...)
	b = append(b, byte(r.Format))
	var flags byte
	if r.Deleted {
		flags |= flagDeleted
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, r.Version)
	var created int64
	if !r.Created.IsZero() {
		created = r.Created.UnixNano()
	}
	b = binary.AppendVarint(b, created)
	b = appendField(b, []byte(r.Author))
	b = appendField(b, []byte(r.Comment))
	if r.Format == FormatV2 {
		b = binary.AppendVarint(b, r.KeyVersion)
		return appendField(b, r.Salt)
	}
	b = appendField(b, []byte(r.KeyID))
	b = AppendContext(b, r.Context)
	b = appendField(b, r.WrappedKey)
	return b
}

// AppendContext appends the canonical encoding of an encryption context to b:
// the number of entries, then each key and value length-prefixed, in
// ascending byte order of key. Every part of cloudchain that binds a context
// (records, the local key provider, the test servers) uses this encoding.
func AppendContext(b []byte, encCtx map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(encCtx)))
	for _, k := range slices.Sorted(maps.Keys(encCtx)) {
		b = appendField(b, []byte(k))
		b = appendField(b, []byte(encCtx[k]))
	}
	return b
}

// EncodeContext returns the canonical encoding of an encryption context, as
// AppendContext defines it.
func EncodeContext(encCtx map[string]string) []byte { return AppendContext(nil, encCtx) }

func (r *Record) appendBody(b []byte) []byte {
	b = appendField(b, r.Nonce)
	return appendField(b, r.Ciphertext)
}

func appendField(b, f []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(f)))
	return append(b, f...)
}

// UnmarshalRecord decodes a record encoded by MarshalBinary. Any malformed
// input gives an error wrapping ErrMalformed; it never panics.
func UnmarshalRecord(data []byte) (*Record, error) {
	d := decoder{b: data}
	if string(d.next(len(recordMagic))) != recordMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrMalformed)
	}
	r := &Record{}
	r.Format = Format(d.byte())
	if r.Format > FormatManifest && d.err == nil {
		return nil, fmt.Errorf("%w: unknown format %d (written by a newer cchain?)", ErrMalformed, r.Format)
	}
	flags := d.byte()
	if flags&^flagDeleted != 0 && d.err == nil {
		return nil, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags)
	}
	r.Deleted = flags&flagDeleted != 0
	r.Version = d.varint()
	if created := d.varint(); created != 0 {
		r.Created = time.Unix(0, created).UTC()
	}
	r.Author = string(d.field())
	r.Comment = string(d.field())
	if r.Format == FormatV2 {
		r.KeyVersion = d.varint()
		r.Salt = d.field()
		if d.err == nil && (r.KeyVersion < 1 || len(r.Salt) != saltSize) {
			d.err = fmt.Errorf("service key version %d or salt of %d bytes out of range", r.KeyVersion, len(r.Salt))
		}
	} else {
		r.KeyID = string(d.field())
		n := d.uvarint()
		if n > 64 && d.err == nil {
			d.err = errors.New("too many context entries")
		}
		if n > 0 && d.err == nil {
			r.Context = make(map[string]string, n)
			for i := uint64(0); i < n && d.err == nil; i++ {
				k := string(d.field())
				r.Context[k] = string(d.field())
			}
		}
		r.WrappedKey = d.field()
	}
	r.Nonce = d.field()
	r.Ciphertext = d.field()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err == nil && r.Version < 1 {
		d.err = fmt.Errorf("version %d out of range", r.Version)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, d.err)
	}
	return r, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) next(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = io.ErrUnexpectedEOF
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	v := d.next(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) field() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > maxField {
		d.err = fmt.Errorf("field of %d bytes is too long", n)
		return nil
	}
	v := d.next(int(n))
	if len(v) == 0 {
		return nil
	}
	return slices.Clone(v)
}

// associatedData binds a FormatV1 or FormatV2 record to its row and to all
// its metadata (the header holds the format, so the two never share AAD).
func associatedData(service, user string, r *Record) []byte {
	b := []byte("cloudchain record aad v1\x00")
	b = appendField(b, []byte(service))
	b = appendField(b, []byte(user))
	return r.appendHeader(b)
}

// seal encrypts plaintext into r (which must have every other field set)
// under dataKey, with a fresh nonce from rand.
func seal(rand io.Reader, dataKey []byte, service, user string, r *Record, plaintext []byte) error {
	aead, err := newGCM(dataKey)
	if err != nil {
		return err
	}
	r.Nonce = make([]byte, nonceSize)
	if _, err := io.ReadFull(rand, r.Nonce); err != nil {
		return fmt.Errorf("reading random nonce: %w", err)
	}
	r.Ciphertext = aead.Seal(nil, r.Nonce, plaintext, associatedData(service, user, r))
	return nil
}

// open decrypts a FormatV1 record's secret with its unwrapped data key.
func open(dataKey []byte, service, user string, r *Record) ([]byte, error) {
	aead, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	if len(r.Nonce) != nonceSize || len(r.Ciphertext) < gcmTagSize {
		return nil, fmt.Errorf("%w (nonce or ciphertext has the wrong size)", ErrAuthentication)
	}
	pt, err := aead.Open(nil, r.Nonce, r.Ciphertext, associatedData(service, user, r))
	if err != nil {
		return nil, ErrAuthentication
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != dataKeySize {
		return nil, fmt.Errorf("%w: data key is %d bytes, want %d", ErrAuthentication, len(key), dataKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
