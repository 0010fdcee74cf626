package cloudchain

import (
	"bytes"
	"testing"
	"time"
)

// TestKeyCacheZeroesOnExpiryAndClear: a cached service key is a copy, is
// zeroed when its time to live has passed, and every key is zeroed by clear
// (Store.Close).
func TestKeyCacheZeroesOnExpiryAndClear(t *testing.T) {
	c := &keyCache{ttl: 50 * time.Millisecond}
	e1 := &keyEntry{Version: 1, KeyID: "k", Wrapped: []byte("w1")}
	e2 := &keyEntry{Version: 2, KeyID: "k", Wrapped: []byte("w2")}
	key := bytes.Repeat([]byte{7}, 32)
	c.put("db", e1, key)
	got := c.get("db", e1)
	if !bytes.Equal(got, key) {
		t.Fatalf("get = %x", got)
	}
	got[0] = 0 // a copy: changing it changes nothing cached
	if again := c.get("db", e1); again[0] != 7 {
		t.Fatal("get handed out the cached slice itself")
	}
	if c.get("other", e1) != nil || c.get("db", e2) != nil {
		t.Fatal("a key cached for another service or version")
	}
	c.mu.Lock()
	stored := c.m[cacheID("db", e1)].key
	c.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for c.get("db", e1) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the key did not expire")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !bytes.Equal(stored, make([]byte, 32)) {
		t.Fatalf("an expired key was not zeroed: %x", stored)
	}

	c.put("db", e2, key)
	c.mu.Lock()
	stored = c.m[cacheID("db", e2)].key
	c.mu.Unlock()
	c.clear()
	if c.get("db", e2) != nil || !bytes.Equal(stored, make([]byte, 32)) {
		t.Fatal("clear left a key in the cache or in memory")
	}
	var none *keyCache
	none.put("db", e1, key) // a Store without the option caches nothing
	if none.get("db", e1) != nil {
		t.Fatal("a nil cache returned a key")
	}
}
