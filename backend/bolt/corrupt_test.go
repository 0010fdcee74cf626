package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
)

// corruptVariant is one damaged copy of a good database file.
type corruptVariant struct {
	name string
	data []byte
}

// corruptCorpus damages good in every way the tests know, deterministically:
// each page zeroed, each page overwritten with random bytes, the file cut
// at several lengths, emptied, and replaced with random bytes.
func corruptCorpus(good []byte, pageSize int) []corruptVariant {
	rng := rand.New(rand.NewPCG(12, 7))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var out []corruptVariant
	pages := len(good) / pageSize
	for p := range pages {
		zeroed := append([]byte(nil), good...)
		clear(zeroed[p*pageSize : (p+1)*pageSize])
		out = append(out, corruptVariant{fmt.Sprintf("ZeroedPage%d", p), zeroed})
	}
	for p := range pages {
		junk := append([]byte(nil), good...)
		copy(junk[p*pageSize:], random(pageSize))
		out = append(out, corruptVariant{fmt.Sprintf("RandomPage%d", p), junk})
	}
	for _, n := range []int{1, 100, pageSize, 2 * pageSize, 3 * pageSize, len(good) / 2, len(good) - pageSize, len(good) - 1} {
		if n > 0 && n < len(good) {
			out = append(out, corruptVariant{fmt.Sprintf("TruncatedTo%d", n), append([]byte(nil), good[:n]...)})
		}
	}
	out = append(out, corruptVariant{"Empty", []byte{}})
	for _, n := range []int{16, pageSize, 4 * pageSize, len(good)} {
		out = append(out, corruptVariant{fmt.Sprintf("RandomBytes%d", n), random(n)})
	}
	// Good meta pages in front of random data: bbolt trusts the meta page
	// and walks into garbage.
	meta := append(append([]byte(nil), good[:2*pageSize]...), random(len(good)-2*pageSize)...)
	out = append(out, corruptVariant{"GoodMetaRandomRest", meta})
	return out
}

// TestCorruptFiles runs every Backend method on each damaged copy of a
// database: none may panic, and every error must wrap ErrCorrupt or
// ErrMalformed; a damaged file is never "not found".
func TestCorruptFiles(t *testing.T) {
	ctx := context.Background()
	src := newBackend(t)
	services := []string{"app", "db", "web"}
	for _, svc := range services {
		for u := range 20 {
			user := fmt.Sprintf("user-%02d", u)
			if _, err := src.Save(ctx, nil, item(svc, user, 1)); err != nil {
				t.Fatal(err)
			}
			prev, _ := src.Load(ctx, svc, user)
			if _, err := src.Save(ctx, prev, item(svc, user, 2, 1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	good, err := os.ReadFile(src.Path())
	if err != nil {
		t.Fatal(err)
	}
	known, err := src.Load(ctx, "db", "user-07")
	if err != nil {
		t.Fatal(err)
	}
	corpus := corruptCorpus(good, os.Getpagesize())
	if len(corpus) < 50 {
		t.Fatalf("only %d variants", len(corpus))
	}
	t.Logf("%d variants of a %d-byte database", len(corpus), len(good))

	damaged, total := 0, 0
	for _, v := range corpus {
		t.Run(v.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secrets.db")
			if err := os.WriteFile(path, v.data, 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := bolt.Open(path, bolt.WithTimeout(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			ops := []struct {
				name string
				// found says whether a nil error means the op saw the
				// item it must see.
				run func() error
			}{
				{"Load", func() error {
					it, err := b.Load(ctx, "db", "user-07")
					if err == nil && it.Version() != 2 {
						return fmt.Errorf("loaded version %d, want 2", it.Version())
					}
					return err
				}},
				{"LoadBatch", func() error {
					items, err := b.LoadBatch(ctx, "db", []string{"user-07", "user-08"})
					if err == nil && (items[0] == nil || items[1] == nil) {
						return errors.New("LoadBatch lost an item")
					}
					return err
				}},
				{"Services", func() error { return b.Services(ctx, func(string) error { return nil }) }},
				{"Items", func() error {
					return b.Items(ctx, "web", true, func(*cloudchain.Item) error { return nil })
				}},
				{"ItemsCurrent", func() error {
					return b.Items(ctx, "app", false, func(*cloudchain.Item) error { return nil })
				}},
				{"SaveNew", func() error { _, err := b.Save(ctx, nil, item("new", "user", 1)); return err }},
				{"SaveNext", func() error { _, err := b.Save(ctx, known, item("db", "user-07", 3, 2, 1)); return err }},
				{"Remove", func() error { return b.Remove(ctx, mustLoadOrKnown(b, known)) }},
				{"Discard", func() error { return b.Discard(ctx, "app", "user-03") }},
			}
			for _, op := range ops {
				total++
				err := func() (err error) {
					defer func() {
						if r := recover(); r != nil {
							err = fmt.Errorf("panic: %v", r)
						}
					}()
					return op.run()
				}()
				if err == nil {
					continue
				}
				damaged++
				if !errors.Is(err, cloudchain.ErrCorrupt) && !errors.Is(err, cloudchain.ErrMalformed) || errors.Is(err, cloudchain.ErrNotFound) {
					t.Errorf("%s: %v; want an error wrapping ErrCorrupt or ErrMalformed", op.name, err)
				}
			}
		})
	}
	t.Logf("%d of %d calls reported damage", damaged, total)
}

// mustLoadOrKnown returns the item as the damaged store has it, or the
// item from the good file when it cannot be read.
func mustLoadOrKnown(b *bolt.Backend, known *cloudchain.Item) *cloudchain.Item {
	if it, err := b.Load(context.Background(), known.Service, known.User); err == nil {
		return it
	}
	return known
}
