// Package failover reads secrets from the next region when one region does
// not answer, for a DynamoDB global table and a multi-Region KMS key.
//
// # What fails over
//
// Backend is a cloudchain.Backend over an ordered list of regions' backends
// (the primary first), and Keys a cloudchain.KeyProvider over an ordered
// list of regions' key providers. Reads (Load, LoadBatch, Services, Items,
// and Decrypt) go to the first region that is not being skipped; when it
// does not answer (RegionDown: connections refused, reset or timed out, 5xx
// answers, throttling, each after the SDK's own retries), the next region
// is tried. Any other answer (a missing secret, access denied, a failed
// authentication, a validation error) is returned as it is: another region
// would give the same one. A region that did not answer is tried last for
// a while (DefaultSkip), so a long run of reads pays its timeouts once;
// with WithStateFile, the processes that follow skip it too. A
// walk (Services, Items) that fails part-way resumes in the next region
// after the last name it delivered, since both walks are in ascending byte
// order.
//
// # What does not
//
// Writes (Save, Remove, Discard, GenerateDataKey, Encrypt) go to the
// primary region only. A global table replicates every write to the other
// regions, and resolves concurrent writes to one item in different regions
// by "last writer wins": a write accepted by a replica while the primary is
// cut off could silently undo a write made in the primary, which defeats
// the conditional writes that keep every update (cloudchain.Backend.Save).
// So a write that the primary does not answer fails with a *WriteError,
// which wraps ErrPrimaryDown.
//
// Replicas are eventually consistent: a read from a replica may miss the
// primary's last writes (typically under a second old).
package failover

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cloudchain/cloudchain"
)

// Region is one region's backend.
type Region struct {
	Name string
	// Endpoint is the region's endpoint ("" for the standard one); it
	// only tells regions apart in the state file (WithStateFile).
	Endpoint string
	Backend  cloudchain.Backend
}

// Backend is a cloudchain.Backend over the regions of a global table. It is
// safe for concurrent use if its regions' backends are.
type Backend struct {
	regions []Region
	h       *health
}

var (
	_ cloudchain.Backend     = (*Backend)(nil)
	_ cloudchain.BatchLoader = (*Backend)(nil)
	_ cloudchain.Discarder   = (*Backend)(nil)
	_ io.Closer              = (*Backend)(nil)
)

// New returns a Backend over regions, the primary first. It panics if
// regions is empty.
func New(regions []Region, opts ...Option) *Backend {
	if len(regions) == 0 {
		panic("failover: no regions")
	}
	names, endpoints := make([]string, len(regions)), make([]string, len(regions))
	for i, r := range regions {
		names[i], endpoints[i] = r.Name, r.Endpoint
	}
	return &Backend{regions: regions, h: newHealth("dynamodb", names, endpoints, opts)}
}

// Load reads from the first region that answers.
func (b *Backend) Load(ctx context.Context, service, user string) (*cloudchain.Item, error) {
	var it *cloudchain.Item
	err := b.h.read(ctx, func(i int) (err error) {
		it, err = b.regions[i].Backend.Load(ctx, service, user)
		return err
	})
	return it, err
}

// LoadBatch reads from the first region that answers, with the region's
// LoadBatch if it has one, else with one Load per user.
func (b *Backend) LoadBatch(ctx context.Context, service string, users []string) ([]*cloudchain.Item, error) {
	var items []*cloudchain.Item
	err := b.h.read(ctx, func(i int) (err error) {
		items, err = loadBatch(ctx, b.regions[i].Backend, service, users)
		return err
	})
	return items, err
}

func loadBatch(ctx context.Context, be cloudchain.Backend, service string, users []string) ([]*cloudchain.Item, error) {
	if bl, ok := be.(cloudchain.BatchLoader); ok {
		return bl.LoadBatch(ctx, service, users)
	}
	items := make([]*cloudchain.Item, len(users))
	for i, u := range users {
		it, err := be.Load(ctx, service, u)
		switch {
		case errors.Is(err, cloudchain.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			items[i] = it
		}
	}
	return items, nil
}

// Services walks the services of the first region that answers; a walk
// that fails part-way resumes in the next region after the last service
// delivered.
func (b *Backend) Services(ctx context.Context, fn func(service string) error) error {
	last, started := "", false
	return b.h.read(ctx, func(i int) error {
		return b.regions[i].Backend.Services(ctx, func(s string) error {
			if started && s <= last {
				return nil
			}
			if err := fn(s); err != nil {
				return &callerError{err}
			}
			last, started = s, true
			return nil
		})
	})
}

// Items walks the items of service in the first region that answers; a
// walk that fails part-way resumes in the next region after the last user
// delivered.
func (b *Backend) Items(ctx context.Context, service string, history bool, fn func(*cloudchain.Item) error) error {
	last, started := "", false
	return b.h.read(ctx, func(i int) error {
		return b.regions[i].Backend.Items(ctx, service, history, func(it *cloudchain.Item) error {
			if started && it.User <= last {
				return nil
			}
			if err := fn(it); err != nil {
				return &callerError{err}
			}
			last, started = it.User, true
			return nil
		})
	})
}

// Save writes to the primary region only.
func (b *Backend) Save(ctx context.Context, prev, next *cloudchain.Item) (dropped int, err error) {
	err = b.h.write(ctx, func() (err error) {
		dropped, err = b.regions[0].Backend.Save(ctx, prev, next)
		return err
	})
	return dropped, err
}

// Remove writes to the primary region only.
func (b *Backend) Remove(ctx context.Context, prev *cloudchain.Item) error {
	return b.h.write(ctx, func() error { return b.regions[0].Backend.Remove(ctx, prev) })
}

// Discard writes to the primary region only. It fails with an error
// wrapping cloudchain.ErrUnsupported if the primary's backend cannot
// discard.
func (b *Backend) Discard(ctx context.Context, service, user string) error {
	d, ok := b.regions[0].Backend.(cloudchain.Discarder)
	if !ok {
		return fmt.Errorf("discarding %s/%s: %w", service, user, cloudchain.ErrUnsupported)
	}
	return b.h.write(ctx, func() error { return d.Discard(ctx, service, user) })
}

// Close closes every region's backend that is an io.Closer.
func (b *Backend) Close() error {
	var errs []error
	for _, r := range b.regions {
		if c, ok := r.Backend.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
