package dynamodb

import (
	"errors"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudchain/cloudchain"
)

// FuzzDecodeItem feeds arbitrary attribute values to the item decoder: it
// must return an item or an error wrapping ErrMalformed, never panic, and an
// item it returns must have strictly decreasing versions.
func FuzzDecodeItem(f *testing.F) {
	rec := func(v int64) []byte {
		b, _ := (&cloudchain.Record{Format: cloudchain.FormatV1, Version: v, KeyID: "k", Nonce: make([]byte, 12), Ciphertext: make([]byte, 20)}).MarshalBinary()
		return b
	}
	f.Add("2", rec(2), rec(1), "", true)
	f.Add("", []byte(nil), []byte(nil), "AQID", false)
	f.Add("1", rec(1), []byte("CCR1"), "not base64!", true)
	f.Fuzz(func(t *testing.T, ver string, current, hist []byte, secret string, withRec bool) {
		av := map[string]types.AttributeValue{}
		if ver != "" {
			av[attrVer] = &types.AttributeValueMemberN{Value: ver}
		}
		if withRec {
			av[attrRec] = &types.AttributeValueMemberB{Value: current}
		}
		if hist != nil {
			av[attrHist] = &types.AttributeValueMemberL{Value: []types.AttributeValue{
				&types.AttributeValueMemberB{Value: hist},
				&types.AttributeValueMemberB{Value: rec(1)},
			}}
		}
		if secret != "" {
			av[attrSecret] = &types.AttributeValueMemberS{Value: secret}
		}
		it, err := decodeItem("svc", "user", av, true)
		if err != nil {
			if !errors.Is(err, cloudchain.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(it.Records) == 0 {
			t.Fatal("decoded an item with no records")
		}
		for i := 1; i < len(it.Records); i++ {
			if it.Records[i].Version >= it.Records[i-1].Version {
				t.Fatalf("versions not decreasing: %d then %d", it.Records[i-1].Version, it.Records[i].Version)
			}
		}
		if withRec {
			if v, _ := strconv.ParseInt(ver, 10, 64); v != it.Version() {
				t.Fatalf("Ver %q accepted for record version %d", ver, it.Version())
			}
		}
	})
}
