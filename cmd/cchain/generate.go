package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Charsets of generated secrets.
var charsets = map[string]string{
	"alnum":  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	"hex":    "0123456789abcdef",
	"base64": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
	// ascii is every printable ASCII character but the space.
	"ascii": func() string {
		var b strings.Builder
		for c := byte('!'); c <= '~'; c++ {
			b.WriteByte(c)
		}
		return b.String()
	}(),
}

// Bounds of --length.
const (
	defaultGenerateLength = 32
	maxGenerateLength     = 4096
)

// charsetNames lists the charsets for messages.
func charsetNames() string {
	names := make([]string, 0, len(charsets))
	for n := range charsets {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// generateSecret returns length characters drawn uniformly from the named
// charset with randomness from rand (crypto/rand.Reader outside tests).
// Bytes are drawn with rejection sampling, so no character is more likely
// than another.
func generateSecret(random io.Reader, length int, charset string) ([]byte, error) {
	set, ok := charsets[charset]
	if !ok {
		return nil, usagef("unknown --charset; the charsets are %s", charsetNames())
	}
	if length < 1 || length > maxGenerateLength {
		return nil, usagef("--length must be from 1 to %d", maxGenerateLength)
	}
	if random == nil {
		random = rand.Reader
	}
	n := len(set)
	// The largest multiple of n that fits in a byte: bytes at or above it
	// are dropped, so that every character is equally likely.
	limit := 256 - 256%n
	out := make([]byte, 0, length)
	buf := make([]byte, length+length/2+8)
	defer clear(buf)
	for len(out) < length {
		if _, err := io.ReadFull(random, buf); err != nil {
			clear(out)
			return nil, fmt.Errorf("reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, set[int(b)%n])
				if len(out) == length {
					break
				}
			}
		}
	}
	return out, nil
}
