package cloudchain

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A service's key ring is the item (SERVICE, ServiceKeyUser). Its current
// record has FormatKeyring, and its Ciphertext holds
//
//	"CCK1" || flags (1 byte) || uvarint(n) || n × entry || field(mac)
//	entry = varint(version) || field(key id) || context || field(wrapped key)
//
// with entries in ascending version order. Flag bit 0 ("sealed") says that
// the service holds no legacy record any more, so that a legacy record
// planted in it is refused. Flag bit 1 ("manifest") says that the service
// has a rollback manifest (manifest.go), so that a missing or altered one is
// refused. mac is HMAC-SHA256 under a key derived from the
// newest service key, over the service name, the record's header and
// everything before it, so that nobody without the key provider can change
// the flags or the list of versions.
const (
	keyringMagic     = "CCK1"
	keyringSealed    = 1 << 0
	keyringManifest  = 1 << 1
	maxKeyVersions   = 1024
	recordKeyInfo    = "cloudchain v2 record key\x00"
	keyringMACInfo   = "cloudchain keyring mac v1"
	keyringMACDomain = "cloudchain keyring v1\x00"
)

// keyEntry is one version of a service key, wrapped by the key provider.
type keyEntry struct {
	Version int64
	KeyID   string
	Context map[string]string
	Wrapped []byte
}

// keyring is the decoded content of a service's key ring record.
type keyring struct {
	Entries  []keyEntry
	Sealed   bool
	Manifest bool
	mac      []byte
}

func (k *keyring) newest() *keyEntry { return &k.Entries[len(k.Entries)-1] }

func (k *keyring) entry(version int64) *keyEntry {
	for i := range k.Entries {
		if k.Entries[i].Version == version {
			return &k.Entries[i]
		}
	}
	return nil
}

func (k *keyring) appendBody(b []byte) []byte {
	b = append(b, keyringMagic...)
	var flags byte
	if k.Sealed {
		flags |= keyringSealed
	}
	if k.Manifest {
		flags |= keyringManifest
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(k.Entries)))
	for _, e := range k.Entries {
		b = binary.AppendVarint(b, e.Version)
		b = appendField(b, []byte(e.KeyID))
		b = AppendContext(b, e.Context)
		b = appendField(b, e.Wrapped)
	}
	return b
}

// macInput is what the key ring's MAC covers.
func (k *keyring) macInput(service string, rec *Record) []byte {
	b := []byte(keyringMACDomain)
	b = appendField(b, []byte(service))
	b = rec.appendHeader(b)
	return k.appendBody(b)
}

// serviceKeyMAC is HMAC-SHA256 of msg under a key derived from a service
// key with HKDF-SHA256 and info, which keeps each use (the key ring, the
// rollback manifest) to a key of its own.
func serviceKeyMAC(serviceKey []byte, info string, msg []byte) ([]byte, error) {
	macKey, err := hkdf.Key(sha256.New, serviceKey, nil, info, 32)
	if err != nil {
		return nil, err
	}
	defer Zero(macKey)
	h := hmac.New(sha256.New, macKey)
	h.Write(msg)
	return h.Sum(nil), nil
}

// seal computes the MAC under newestKey and stores the encoded ring in rec.
func (k *keyring) seal(service string, rec *Record, newestKey []byte) error {
	mac, err := serviceKeyMAC(newestKey, keyringMACInfo, k.macInput(service, rec))
	if err != nil {
		return err
	}
	k.mac = mac
	rec.Ciphertext = appendField(k.appendBody(nil), mac)
	return nil
}

// verify checks the MAC under the newest service key.
func (k *keyring) verify(service string, rec *Record, newestKey []byte) error {
	want, err := serviceKeyMAC(newestKey, keyringMACInfo, k.macInput(service, rec))
	if err != nil {
		return err
	}
	if !hmac.Equal(want, k.mac) {
		return fmt.Errorf("%w: the key ring of service %s was altered", ErrAuthentication, service)
	}
	return nil
}

// decodeKeyring parses a key ring record. It never panics.
func decodeKeyring(service string, rec *Record) (*keyring, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: the key ring of service %s is damaged (%s)", ErrMalformed, service, why)
	}
	if rec.Format != FormatKeyring || rec.Deleted {
		return nil, fmt.Errorf("%w: the key ring item of service %s holds a %s record", ErrAuthentication, service, rec.Format)
	}
	d := decoder{b: rec.Ciphertext}
	if string(d.next(len(keyringMagic))) != keyringMagic {
		return nil, bad("bad magic")
	}
	flags := d.byte()
	if flags&^(keyringSealed|keyringManifest) != 0 && d.err == nil {
		return nil, bad("unknown flags")
	}
	k := &keyring{Sealed: flags&keyringSealed != 0, Manifest: flags&keyringManifest != 0}
	n := d.uvarint()
	if d.err == nil && (n == 0 || n > maxKeyVersions) {
		return nil, bad(fmt.Sprintf("%d key versions", n))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var e keyEntry
		e.Version = d.varint()
		e.KeyID = string(d.field())
		m := d.uvarint()
		if m > 64 && d.err == nil {
			d.err = errors.New("too many context entries")
		}
		if m > 0 && d.err == nil {
			e.Context = make(map[string]string, m)
			for j := uint64(0); j < m && d.err == nil; j++ {
				key := string(d.field())
				e.Context[key] = string(d.field())
			}
		}
		e.Wrapped = d.field()
		if d.err == nil && (e.Version < 1 || (len(k.Entries) > 0 && e.Version <= k.newest().Version)) {
			d.err = fmt.Errorf("key version %d out of order", e.Version)
		}
		k.Entries = append(k.Entries, e)
	}
	k.mac = d.field()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, bad(d.err.Error())
	}
	if len(k.mac) != sha256.Size {
		return nil, bad("no MAC")
	}
	// The MAC covers the decoded content; refuse any other encoding of it,
	// so that a stored ring has exactly one byte form.
	if !bytes.Equal(appendField(k.appendBody(nil), k.mac), rec.Ciphertext) {
		return nil, bad("not in canonical encoding")
	}
	return k, nil
}

// deriveRecordKey derives a FormatV2 record's own key from the service key:
// HKDF-SHA256's Expand step with the service key as the pseudorandom key and
// an info string that holds the record's random salt, service, user, version
// and service key version. The Extract step is left out because the service
// key is already a uniformly random 256-bit key (RFC 5869, section 3.3); the
// random salt makes every record's key its own.
func deriveRecordKey(serviceKey []byte, service, user string, r *Record) ([]byte, error) {
	if len(r.Salt) != saltSize {
		return nil, fmt.Errorf("%w (salt has the wrong size)", ErrAuthentication)
	}
	info := make([]byte, 0, len(recordKeyInfo)+saltSize+len(service)+len(user)+32)
	info = append(info, recordKeyInfo...)
	info = append(info, r.Salt...)
	info = appendField(info, []byte(service))
	info = appendField(info, []byte(user))
	info = binary.AppendVarint(info, r.Version)
	info = binary.AppendVarint(info, r.KeyVersion)
	return hkdf.Expand(sha256.New, serviceKey, string(info), dataKeySize)
}

// sealV2 seals plaintext into r (a FormatV2 record with every metadata field
// set) under the service key version keyVersion.
func sealV2(rand io.Reader, serviceKey []byte, keyVersion int64, service, user string, r *Record, plaintext []byte) error {
	r.Format = FormatV2
	r.KeyVersion = keyVersion
	r.KeyID, r.Context, r.WrappedKey = "", nil, nil
	r.Salt = make([]byte, saltSize)
	if _, err := io.ReadFull(rand, r.Salt); err != nil {
		return fmt.Errorf("reading random salt: %w", err)
	}
	key, err := deriveRecordKey(serviceKey, service, user, r)
	if err != nil {
		return err
	}
	defer Zero(key)
	return seal(rand, key, service, user, r, plaintext)
}

// openV2 authenticates a FormatV2 record and returns its plaintext (empty
// for a deletion marker).
func openV2(serviceKey []byte, service, user string, r *Record) ([]byte, error) {
	key, err := deriveRecordKey(serviceKey, service, user, r)
	if err != nil {
		return nil, err
	}
	defer Zero(key)
	return open(key, service, user, r)
}
