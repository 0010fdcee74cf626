package dynamodb

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudchain/cloudchain"
)

// encodeItem builds the attributes of next, leaving out the oldest history
// records of next until the item fits. It returns how many records of next
// the attributes hold, and does not modify next.
func (b *Backend) encodeItem(next *cloudchain.Item) (av map[string]types.AttributeValue, kept int, err error) {
	for i, r := range next.Records {
		if r == nil || r.Version < 1 {
			return nil, 0, fmt.Errorf("saving %s/%s: record %d is nil or has a version below 1", next.Service, next.User, i)
		}
		if i > 0 && r.Version >= next.Records[i-1].Version {
			return nil, 0, fmt.Errorf("saving %s/%s: record versions do not strictly decrease (%d after %d)", next.Service, next.User, r.Version, next.Records[i-1].Version)
		}
	}
	cur := next.Records[0]
	rec, err := cur.MarshalBinary()
	if err != nil {
		return nil, 0, fmt.Errorf("encoding %s/%s version %d: %w", next.Service, next.User, cur.Version, err)
	}
	av = keyOf(next.Service, next.User)
	av[attrVer] = numberOf(cur.Version)
	av[attrRec] = &types.AttributeValueMemberB{Value: rec}
	if cur.Format == cloudchain.FormatLegacy && !cur.Deleted && len(cur.Ciphertext) > 0 {
		av[attrSecret] = &types.AttributeValueMemberS{Value: base64.StdEncoding.EncodeToString(cur.Ciphertext)}
	}

	budget := b.maxSize - sizeMargin
	size := itemSize(av)
	if size > budget {
		secret := cur.Size()
		if secret < 0 {
			secret = len(cur.Ciphertext)
		}
		return nil, 0, fmt.Errorf("%w: %s/%s: the secret is %d bytes, which makes a %d-byte DynamoDB item even with no history; the limit is %d KB (%d bytes, keeping a margin)",
			cloudchain.ErrTooLarge, next.Service, next.User, secret, size, b.maxSize/1024, budget)
	}

	hist := make([]types.AttributeValue, 0, len(next.Records)-1)
	histSize := len(attrHist) + 3 // a list's name and overhead
	for _, r := range next.Records[1:] {
		data, err := r.MarshalBinary()
		if err != nil {
			return nil, 0, fmt.Errorf("encoding %s/%s version %d: %w", next.Service, next.User, r.Version, err)
		}
		elem := 1 + len(data) // each list element costs one byte more
		if size+histSize+elem > budget {
			break // this record and all older ones are dropped
		}
		histSize += elem
		hist = append(hist, &types.AttributeValueMemberB{Value: data})
	}
	if len(hist) > 0 {
		av[attrHist] = &types.AttributeValueMemberL{Value: hist}
	}
	return av, 1 + len(hist), nil
}

// decodeItem turns a stored item into a cloudchain.Item. With history false
// it ignores Hist.
func decodeItem(service, user string, av map[string]types.AttributeValue, history bool) (*cloudchain.Item, error) {
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: item %s/%s: %s", cloudchain.ErrMalformed, service, user, fmt.Sprintf(format, args...))
	}
	it := &cloudchain.Item{Service: service, User: user}

	recAttr, hasRec := av[attrRec]
	if !hasRec {
		// Written by the Python client: only Secret.
		s, ok := av[attrSecret].(*types.AttributeValueMemberS)
		if !ok {
			return nil, malformed("it has neither a %s nor a string %s attribute", attrRec, attrSecret)
		}
		blob, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.Value))
		if err != nil || len(blob) == 0 {
			return nil, malformed("its %s attribute is not a base64 ciphertext", attrSecret)
		}
		it.Records = []*cloudchain.Record{{
			Format:     cloudchain.FormatLegacy,
			Version:    1,
			Context:    cloudchain.LegacyContext(),
			Ciphertext: blob,
		}}
		return it, nil
	}

	rb, ok := recAttr.(*types.AttributeValueMemberB)
	if !ok {
		return nil, malformed("its %s attribute is not binary", attrRec)
	}
	cur, err := cloudchain.UnmarshalRecord(rb.Value)
	if err != nil {
		return nil, fmt.Errorf("item %s/%s: current record: %w", service, user, err)
	}
	if again, _ := cur.MarshalBinary(); !bytes.Equal(again, rb.Value) {
		// Writes are conditional on Rec being the re-encoded record; a
		// non-canonical one could never be overwritten, only discarded.
		return nil, malformed("its current record is not in canonical encoding")
	}
	it.Records = append(it.Records, cur)
	if n, ok := av[attrVer].(*types.AttributeValueMemberN); !ok {
		return nil, malformed("it has a record but no numeric %s attribute", attrVer)
	} else if v, err := strconv.ParseInt(n.Value, 10, 64); err != nil || v != cur.Version {
		return nil, malformed("its %s attribute %q does not match its record's version %d", attrVer, n.Value, cur.Version)
	}

	if !history {
		return it, nil
	}
	if h, present := av[attrHist]; present {
		l, ok := h.(*types.AttributeValueMemberL)
		if !ok {
			return nil, malformed("its %s attribute is not a list", attrHist)
		}
		for _, e := range l.Value {
			// A damaged earlier version is left out and counted, never
			// fatal: the current one must stay readable.
			eb, ok := e.(*types.AttributeValueMemberB)
			if !ok {
				it.DamagedHistory++
				continue
			}
			r, err := cloudchain.UnmarshalRecord(eb.Value)
			if err != nil || r.Version >= it.Records[len(it.Records)-1].Version {
				it.DamagedHistory++
				continue
			}
			it.Records = append(it.Records, r)
		}
	}
	return it, nil
}

// itemSize returns the size of an item as DynamoDB counts it against its
// 400 KB limit: the UTF-8 lengths of attribute names plus the sizes of their
// values.
func itemSize(av map[string]types.AttributeValue) int {
	n := 0
	for name, v := range av {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize follows "DynamoDB item sizes and formats" in the DynamoDB
// developer guide: strings by UTF-8 length, binary by raw length, numbers
// about one byte per two significant digits plus one, null and booleans one
// byte, lists and maps 3 bytes plus one byte per element plus the elements.
func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	default:
		return 0
	}
}

// numberSize errs on the large side: one byte per two significant digits,
// rounded up, plus two.
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.Replace(s, ".", "", 1)
	s = strings.Trim(s, "0")
	if s == "" {
		return 1
	}
	return (len(s)+1)/2 + 2
}
