package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestGenerateSecret(t *testing.T) {
	for name, set := range charsets {
		for _, n := range []int{1, 16, 32, 4096} {
			v, err := generateSecret(nil, n, name)
			if err != nil {
				t.Fatalf("%s/%d: %v", name, n, err)
			}
			if len(v) != n {
				t.Fatalf("%s/%d: got %d bytes", name, n, len(v))
			}
			for _, c := range v {
				if !strings.ContainsRune(set, rune(c)) {
					t.Fatalf("%s/%d: %q is not in the charset", name, n, c)
				}
			}
		}
	}
	// Rejection sampling: with a reader of only 0xff bytes, no alnum
	// character can be chosen (255 >= 248), so it must keep reading, and
	// a reader that ends fails instead of returning a biased value.
	if _, err := generateSecret(bytes.NewReader(bytes.Repeat([]byte{0xff}, 1000)), 8, "alnum"); err == nil {
		t.Fatal("rejected bytes were used")
	}
	// Every character of a 64-character set is reachable, uniformly.
	counts := map[byte]int{}
	for range 64 * 400 / 256 {
		v, err := generateSecret(nil, 256, "base64")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range v {
			counts[c]++
		}
	}
	for _, c := range []byte(charsets["base64"]) {
		if counts[c] < 250 || counts[c] > 550 {
			t.Fatalf("%q drawn %d times of 25600, want about 400", c, counts[c])
		}
	}
	for _, tc := range []struct {
		length  int
		charset string
	}{{0, "alnum"}, {-1, "hex"}, {4097, "hex"}, {8, "emoji"}, {8, ""}} {
		_, err := generateSecret(nil, tc.length, tc.charset)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("length %d charset %q: got %v, want a usage error", tc.length, tc.charset, err)
		}
	}
}
