package cloudchain

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// A service's rollback manifest is the item (SERVICE, ManifestUser). It
// lists, for every secret of the service, the newest version the Store has
// written, so that an older copy of an item put back as the current one (a
// rollback) is detected when it is read. Its current record has
// FormatManifest; the record's Version counts the manifest's writes (its
// epoch), and its Ciphertext holds
//
//	"CCM1" || uvarint(key version) || uvarint(n) || n × entry || field(mac)
//	entry = user hash (8 bytes) || uvarint(version << 1 | purged)
//
// with entries in strictly ascending order of user hash. The user hash is
// the first 8 bytes of SHA-256 of a domain string and the user name: a
// manifest of 10,000 secrets is about 110 KB. mac is HMAC-SHA256 under a key
// derived from the service key version named in the manifest, over the
// service name, the record's header and everything before it.
//
// The manifest is enforced only once the key ring says so (its "manifest"
// flag, which is under the ring's own MAC): the flag is set only after a
// manifest was written, so a crash between the two writes can never make a
// service look tampered with.
const (
	manifestMagic      = "CCM1"
	manifestMACInfo    = "cloudchain manifest mac v1"
	manifestMACDomain  = "cloudchain manifest v1\x00"
	manifestUserDomain = "cloudchain manifest user v1\x00"
	manifestHashSize   = 8
	// maxManifestEntries keeps the manifest well inside DynamoDB's 400 KB
	// item limit. Past it, purged entries are dropped first, then new
	// secrets go unlisted (a notice says so).
	maxManifestEntries = 25000
)

// ManifestUser is the user name under which a service's rollback manifest is
// kept, in the service's own partition. Like ServiceKeyUser it starts with a
// control character, so it can never be a secret's name.
const ManifestUser = "\x01cloudchain:manifest"

// IsReservedUser reports whether user is a name the Store keeps for itself
// (ServiceKeyUser, ManifestUser): such items are never secrets, and a service
// that holds nothing else is not listed.
func IsReservedUser(user string) bool { return len(user) > 0 && user[0] == 0x01 }

type userHash [manifestHashSize]byte

func hashUser(user string) userHash {
	h := sha256.New()
	h.Write([]byte(manifestUserDomain))
	h.Write([]byte(user))
	var out userHash
	copy(out[:], h.Sum(nil))
	return out
}

// manEntry is what the manifest says of one secret: the newest version
// written, and whether the secret was purged at that version.
type manEntry struct {
	Hash    userHash
	Version int64
	Purged  bool
}

// newer reports whether e supersedes old: a higher version wins, and at the
// same version a purge wins (a writer that saw the secret before a purge
// must not make it look alive again).
func (e manEntry) newer(old manEntry) bool {
	return e.Version > old.Version || (e.Version == old.Version && e.Purged && !old.Purged)
}

// manifest is the decoded content of a manifest record.
type manifest struct {
	KeyVersion int64
	Entries    []manEntry
	mac        []byte
	// body is the stored encoding of everything before the MAC, kept by
	// decodeManifest so that verifying does not encode it again; nil once
	// the manifest is changed.
	body []byte
}

func (m *manifest) clone() *manifest {
	return &manifest{KeyVersion: m.KeyVersion, Entries: slices.Clone(m.Entries)}
}

func (m *manifest) lookup(user string) (manEntry, bool) {
	h := hashUser(user)
	i, ok := slices.BinarySearchFunc(m.Entries, h, func(e manEntry, h userHash) int { return bytes.Compare(e.Hash[:], h[:]) })
	if !ok {
		return manEntry{}, false
	}
	return m.Entries[i], true
}

// set records e unless the manifest already holds something newer. It
// reports whether the manifest changed, and false with full set when there
// is no room for a new entry.
func (m *manifest) set(e manEntry) (changed, full bool) {
	i, ok := slices.BinarySearchFunc(m.Entries, e.Hash, func(x manEntry, h userHash) int { return bytes.Compare(x.Hash[:], h[:]) })
	m.body = nil
	if ok {
		if !e.newer(m.Entries[i]) {
			return false, false
		}
		m.Entries[i] = e
		return true, false
	}
	if len(m.Entries) >= maxManifestEntries {
		j := slices.IndexFunc(m.Entries, func(x manEntry) bool { return x.Purged })
		if j < 0 {
			return false, true
		}
		m.Entries = slices.Delete(m.Entries, j, j+1)
		if j < i {
			i--
		}
	}
	m.Entries = slices.Insert(m.Entries, i, e)
	return true, false
}

func (m *manifest) appendBody(b []byte) []byte {
	b = append(b, manifestMagic...)
	b = binary.AppendUvarint(b, uint64(m.KeyVersion))
	b = binary.AppendUvarint(b, uint64(len(m.Entries)))
	for _, e := range m.Entries {
		b = append(b, e.Hash[:]...)
		v := uint64(e.Version) << 1
		if e.Purged {
			v |= 1
		}
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func (m *manifest) macInput(service string, rec *Record) []byte {
	b := []byte(manifestMACDomain)
	b = appendField(b, []byte(service))
	b = rec.appendHeader(b)
	if m.body != nil {
		return append(b, m.body...)
	}
	return m.appendBody(b)
}

// seal MACs the manifest under key (service key version m.KeyVersion) and
// stores it in rec.
func (m *manifest) seal(service string, rec *Record, key []byte) error {
	mac, err := serviceKeyMAC(key, manifestMACInfo, m.macInput(service, rec))
	if err != nil {
		return err
	}
	m.mac = mac
	rec.Ciphertext = appendField(m.appendBody(nil), mac)
	return nil
}

func (m *manifest) verify(service string, rec *Record, key []byte) error {
	want, err := serviceKeyMAC(key, manifestMACInfo, m.macInput(service, rec))
	if err != nil {
		return err
	}
	if !hmac.Equal(want, m.mac) {
		return fmt.Errorf("%w: the rollback manifest of service %s was altered", ErrAuthentication, service)
	}
	return nil
}

// decodeManifest parses a manifest record. It never panics.
func decodeManifest(service string, rec *Record) (*manifest, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: the rollback manifest of service %s is damaged (%s)", ErrAuthentication, service, why)
	}
	if rec.Format != FormatManifest || rec.Deleted {
		return nil, bad("it holds a " + rec.Format.String() + " record")
	}
	d := decoder{b: rec.Ciphertext}
	if string(d.next(len(manifestMagic))) != manifestMagic {
		return nil, bad("bad magic")
	}
	// Every varint must be in its shortest form, so that a stored manifest
	// has exactly one encoding (the MAC covers these bytes as stored).
	uvarint := func() uint64 {
		before := len(d.b)
		v := d.uvarint()
		if d.err == nil && before-len(d.b) != uvarintLen(v) {
			d.err = errors.New("not in canonical encoding")
		}
		return v
	}
	m := &manifest{KeyVersion: int64(uvarint())}
	n := uvarint()
	if d.err == nil && n > maxManifestEntries {
		return nil, bad(fmt.Sprintf("%d entries", n))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var e manEntry
		copy(e.Hash[:], d.next(manifestHashSize))
		v := uvarint()
		e.Version, e.Purged = int64(v>>1), v&1 == 1
		if d.err == nil && (e.Version < 1 || (len(m.Entries) > 0 && bytes.Compare(m.Entries[len(m.Entries)-1].Hash[:], e.Hash[:]) >= 0)) {
			d.err = errors.New("entries out of order")
		}
		m.Entries = append(m.Entries, e)
	}
	m.body = rec.Ciphertext[:len(rec.Ciphertext)-len(d.b)]
	if n := uvarint(); d.err == nil && n != sha256.Size {
		d.err = errors.New("no MAC")
	}
	m.mac = d.next(sha256.Size)
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, bad(d.err.Error())
	}
	if m.KeyVersion < 1 {
		return nil, bad("no key version")
	}
	return m, nil
}

// uvarintLen is the length of v's shortest uvarint encoding.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// RollbackError says that a secret read is older than the service's
// manifest says it must be: an older copy of its item was put back (or the
// item was removed) outside cloudchain. It wraps ErrAuthentication.
type RollbackError struct {
	Service, User string
	// Found is the version in the table (0 if the secret is missing),
	// Listed the version the manifest lists.
	Found, Listed int64
	Purged        bool
}

func (e *RollbackError) Error() string {
	switch {
	case e.Found == 0:
		return fmt.Sprintf("%v: %s/%s is missing, but the service's rollback manifest lists it at version %d: it was removed outside cloudchain (restore it from a backup, or put a new value)", ErrAuthentication, e.Service, e.User, e.Listed)
	case e.Purged:
		return fmt.Sprintf("%v: %s/%s was purged at version %d, but an older copy (version %d) is back in the table (purge it again, or put a new value)", ErrAuthentication, e.Service, e.User, e.Listed, e.Found)
	}
	return fmt.Sprintf("%v: rollback detected: %s/%s is at version %d in the table, but the service's rollback manifest says version %d was written: an older copy was put back (restore it from a backup, or put a new value)", ErrAuthentication, e.Service, e.User, e.Found, e.Listed)
}

// Unwrap returns ErrAuthentication.
func (e *RollbackError) Unwrap() error { return ErrAuthentication }
