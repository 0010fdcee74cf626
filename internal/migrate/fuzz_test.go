package migrate

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// FuzzParseCredstashItem feeds arbitrary attribute strings to the item
// parser: it must never panic, and an item it accepts must have a name and
// a known digest.
func FuzzParseCredstashItem(f *testing.F) {
	f.Add("db.alice", "0000000000000000001", "a2V5", "Y29udGVudHM=", "00ff", "SHA256", false)
	f.Add("", "", "!", "", "zz", "MD5", true)
	f.Fuzz(func(t *testing.T, name, version, key, contents, mac, digest string, binaryMAC bool) {
		item := map[string]types.AttributeValue{
			"name":     &types.AttributeValueMemberS{Value: name},
			"version":  &types.AttributeValueMemberS{Value: version},
			"key":      &types.AttributeValueMemberS{Value: key},
			"contents": &types.AttributeValueMemberS{Value: contents},
			"hmac":     &types.AttributeValueMemberS{Value: mac},
			"digest":   &types.AttributeValueMemberS{Value: digest},
		}
		if binaryMAC {
			item["hmac"] = &types.AttributeValueMemberB{Value: []byte(mac)}
		}
		it, err := parseCredstashItem(item)
		if err != nil {
			return
		}
		if it.name == "" || digestOf(it.digest) == nil {
			t.Fatalf("accepted an item with name %q digest %q", it.name, it.digest)
		}
	})
}

// FuzzJSONObject checks that a JSON object secret is split into exactly its
// keys, each value being its string text or its compact JSON.
func FuzzJSONObject(f *testing.F) {
	f.Add(`{"a":"x","b":1}`)
	f.Add(`{"a":{"b":[1,2]}}`)
	f.Add(`{"a":"1","a":"2"}`)
	f.Add(`[1]`)
	f.Fuzz(func(t *testing.T, text string) {
		fields, ok, err := jsonObject(text)
		if err != nil || !ok {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", text, err)
		}
		if len(m) != len(fields) {
			t.Fatalf("%q: %d fields, want %d", text, len(fields), len(m))
		}
		for _, fl := range fields {
			raw := m[fl.key]
			var s string
			if json.Unmarshal(raw, &s) == nil {
				if s != string(fl.value) {
					t.Fatalf("%q: key %q is %q, want %q", text, fl.key, fl.value, s)
				}
				continue
			}
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil || b.String() != string(fl.value) {
				t.Fatalf("%q: key %q is %q, want %q", text, fl.key, fl.value, b.String())
			}
		}
	})
}
