package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cloudchain/cloudchain"
)

// maxRecords bounds the record count of a decoded item, so a corrupt count
// cannot make the decoder allocate a huge slice.
const maxRecords = 1 << 16

// encodeItem encodes records (newest first). It drops the oldest records
// while the item exceeds MaxItemSize and returns how many it kept.
func encodeItem(records []*cloudchain.Record) (value []byte, kept int, err error) {
	encoded := make([][]byte, 0, len(records))
	total := len(itemMagic) + binary.MaxVarintLen64
	for i, r := range records {
		if r == nil {
			return nil, 0, fmt.Errorf("record %d is nil", i)
		}
		if r.Version < 1 {
			return nil, 0, fmt.Errorf("record %d has version %d", i, r.Version)
		}
		if i > 0 && r.Version >= records[i-1].Version {
			return nil, 0, fmt.Errorf("record versions do not strictly decrease (%d after %d)", r.Version, records[i-1].Version)
		}
		if len(encoded) >= maxRecords {
			break
		}
		e, err := r.MarshalBinary()
		if err != nil {
			return nil, 0, fmt.Errorf("encoding version %d: %w", r.Version, err)
		}
		if len(e) > MaxRecordSize {
			if i == 0 {
				return nil, 0, fmt.Errorf("%w: the record is %d bytes, the embedded store holds at most %d", cloudchain.ErrTooLarge, len(e), MaxRecordSize)
			}
			break
		}
		size := binary.MaxVarintLen64 + len(e)
		if total+size > MaxItemSize && i > 0 {
			break
		}
		total += size
		encoded = append(encoded, e)
	}
	value = make([]byte, 0, total)
	value = append(value, itemMagic...)
	value = binary.AppendUvarint(value, uint64(len(encoded)))
	for _, e := range encoded {
		value = binary.AppendUvarint(value, uint64(len(e)))
		value = append(value, e...)
	}
	return value, len(encoded), nil
}

// decodeItem decodes an encoded item. With history false only the current
// record is decoded. Any malformed input gives an error wrapping
// cloudchain.ErrMalformed; it never panics.
func decodeItem(service, user string, data []byte, history bool) (*cloudchain.Item, error) {
	rest, n, err := itemHeader(data)
	if err != nil {
		return nil, err
	}
	it := &cloudchain.Item{Service: service, User: user}
	if history {
		it.Records = make([]*cloudchain.Record, 0, n)
	}
	for i := uint64(0); i < n; i++ {
		var rec []byte
		rec, rest, err = nextRecord(rest)
		if err != nil {
			return nil, err
		}
		r, err := cloudchain.UnmarshalRecord(rec)
		if i > 0 && (err != nil || r.Version >= it.Records[len(it.Records)-1].Version) {
			// A damaged earlier version is left out, never fatal: the
			// current one must stay readable.
			it.DamagedHistory++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		if i == 0 {
			if err := checkCanonical(r, rec); err != nil {
				return nil, err
			}
		}
		it.Records = append(it.Records, r)
		if !history {
			return it, nil
		}
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after the records", cloudchain.ErrMalformed, len(rest))
	}
	return it, nil
}

func itemHeader(data []byte) (rest []byte, n uint64, err error) {
	if len(data) < len(itemMagic) || string(data[:len(itemMagic)]) != itemMagic {
		return nil, 0, fmt.Errorf("%w: not an encoded item (bad magic)", cloudchain.ErrMalformed)
	}
	rest = data[len(itemMagic):]
	n, k := binary.Uvarint(rest)
	if k <= 0 {
		return nil, 0, fmt.Errorf("%w: bad record count", cloudchain.ErrMalformed)
	}
	rest = rest[k:]
	// Every record takes at least two bytes, so a count above that is corrupt.
	if n == 0 || n > maxRecords || n > uint64(len(rest))/2 {
		return nil, 0, fmt.Errorf("%w: record count %d out of range", cloudchain.ErrMalformed, n)
	}
	return rest, n, nil
}

func nextRecord(b []byte) (rec, rest []byte, err error) {
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: bad record length", cloudchain.ErrMalformed)
	}
	return b[k : k+int(l)], b[k+int(l):], nil
}

// storedCurrent returns the encoding of an encoded item's current record
// and its version, or nil and 0 for nil. It decodes only what it needs.
func storedCurrent(v []byte) (raw []byte, version int64, err error) {
	if v == nil {
		return nil, 0, nil
	}
	rest, _, err := itemHeader(v)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the stored item: %w", err)
	}
	raw, _, err = nextRecord(rest)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the stored item: %w", err)
	}
	r, err := cloudchain.UnmarshalRecord(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the stored item: %w", err)
	}
	return raw, r.Version, nil
}

// checkCurrent returns nil if the stored encoded item v is still prev, as
// cloudchain.Backend.Save defines it: both absent, or the stored current
// record byte for byte prev's current record. Decoding rejects a current
// record whose encoding is not MarshalBinary's (see decodeItem), so a
// record that Load returned re-encodes to exactly the stored bytes.
func checkCurrent(service, user string, v []byte, prev *cloudchain.Item) error {
	raw, cur, err := storedCurrent(v)
	if err != nil {
		return err
	}
	want := prev.Version()
	if cur != want {
		return &cloudchain.VersionConflictError{Service: service, User: user, Expected: want, Current: cur}
	}
	if want == 0 {
		return nil
	}
	enc, err := prev.Records[0].MarshalBinary()
	if err != nil {
		return fmt.Errorf("encoding the expected record: %w", err)
	}
	if !bytes.Equal(raw, enc) {
		return fmt.Errorf("%w on %s/%s: version %d was replaced since it was read (removed and written again)", cloudchain.ErrVersionConflict, service, user, want)
	}
	return nil
}

// checkCanonical refuses a current record whose stored bytes are not what
// MarshalBinary makes of the decoded record (a non-minimal varint, a
// repeated context key). Conditional writes compare the stored bytes with
// the re-encoded record that Load returned, so such an item could never be
// overwritten; as ErrMalformed it can at least be discarded.
func checkCanonical(r *cloudchain.Record, raw []byte) error {
	enc, err := r.MarshalBinary()
	if err != nil || !bytes.Equal(enc, raw) {
		return fmt.Errorf("%w: the current record is not in canonical encoding", cloudchain.ErrMalformed)
	}
	return nil
}
