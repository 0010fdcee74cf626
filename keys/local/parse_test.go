package local

import (
	"bytes"
	"testing"
)

// FuzzParseKeyFile checks that parsing never panics and that whatever parses
// formats back to a file that parses to the same key.
func FuzzParseKeyFile(f *testing.F) {
	f.Add(formatKeyFile(bytes.Repeat([]byte{0xa5}, KeySize)))
	f.Add([]byte(Header + "\r\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"))
	f.Add([]byte(Header + "\n"))
	f.Add([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := parseKeyFile(data)
		if err != nil {
			return
		}
		if len(key) != KeySize {
			t.Fatalf("parsed a %d-byte key", len(key))
		}
		again, err := parseKeyFile(formatKeyFile(key))
		if err != nil || !bytes.Equal(again, key) {
			t.Fatalf("formatted key does not parse back: %v", err)
		}
	})
}
