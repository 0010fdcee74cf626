package cloudchain

import (
	"bytes"
	"strconv"
	"sync"
	"time"
)

// keyCache keeps unwrapped service keys for a bounded time, for long-lived
// library users (WithServiceKeyCache). Each key is zeroed when it expires and
// on Close. A nil *keyCache caches nothing.
type keyCache struct {
	ttl time.Duration

	mu sync.Mutex
	m  map[string]*cachedKey
}

type cachedKey struct {
	key   []byte
	timer *time.Timer
}

func cacheID(service string, e *keyEntry) string {
	var b bytes.Buffer
	b.WriteString(service)
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(e.Version, 10))
	b.WriteByte(0)
	b.WriteString(e.KeyID)
	b.WriteByte(0)
	b.Write(e.Wrapped)
	return b.String()
}

// get returns a copy of the cached key, or nil.
func (c *keyCache) get(service string, e *keyEntry) []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ck := c.m[cacheID(service, e)]; ck != nil {
		return bytes.Clone(ck.key)
	}
	return nil
}

// put keeps a copy of key until the cache's time to live has passed.
func (c *keyCache) put(service string, e *keyEntry, key []byte) {
	if c == nil {
		return
	}
	id := cacheID(service, e)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*cachedKey{}
	}
	if c.m[id] != nil {
		return
	}
	ck := &cachedKey{key: bytes.Clone(key)}
	ck.timer = time.AfterFunc(c.ttl, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.m[id] == ck {
			Zero(ck.key)
			delete(c.m, id)
		}
	})
	c.m[id] = ck
}

// clear zeroes and forgets every cached key.
func (c *keyCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ck := range c.m {
		ck.timer.Stop()
		Zero(ck.key)
		delete(c.m, id)
	}
}
