package cloudchain

import (
	"context"
	"errors"
	"fmt"
)

// The legacy format is the Python cloudchain's: the secret encrypted
// directly by KMS with the constant context {"string": "string"}, bound to
// nothing. It stays readable so that existing tables keep working, with
// three safeguards against a legacy blob copied from another row:
//   - every legacy read sends a NoticeLegacyRead;
//   - WithLegacyReads(false) refuses all of them;
//   - once a service is upgraded (Upgrade, or a key ring created while the
//     service held no legacy record), its key ring is marked sealed, under a
//     MAC that only the key provider's holder can make, and every legacy
//     record in that service is refused as tampering.

// openLegacy decrypts a legacy record, if the store and the service still
// accept legacy records.
func (s *Store) openLegacy(ctx context.Context, keys *serviceKeys, service, user string, rec *Record) ([]byte, error) {
	if !s.legacyReads {
		return nil, fmt.Errorf("%w: the record is in the legacy format, which is not bound to its row, and legacy reads are off (legacy_reads = false)", ErrAuthentication)
	}
	if keys.exists() {
		// Only a genuine ring may say that legacy records are still expected
		// here: check its MAC before trusting its flag.
		if err := keys.verify(ctx); err != nil {
			return nil, err
		}
		if keys.sealed() {
			return nil, fmt.Errorf("%w: service %s was upgraded and holds no legacy records, but %s/%s version %d is one (copied in from another row?)", ErrAuthentication, service, service, user, rec.Version)
		}
	}
	pt, err := s.keys.Decrypt(ctx, rec.KeyID, rec.Ciphertext, LegacyContext())
	if err != nil {
		return nil, err
	}
	s.notice(NoticeLegacyRead, service, user, "%s/%s version %d is in the legacy format, which is not bound to its row; run `cchain upgrade %s` once no Python client writes it any more", service, user, rec.Version, service)
	return pt, nil
}

func (s *Store) sealLegacy(ctx context.Context, keys *serviceKeys, service string, rec *Record, plaintext []byte) error {
	enc, ok := s.keys.(Encrypter)
	if !ok {
		return fmt.Errorf("%w: writing the legacy format needs a KMS key provider", ErrUnsupported)
	}
	if keys.sealed() {
		return fmt.Errorf("%w: service %s was upgraded and refuses legacy records; turn legacy_writes off, or write into a service that Python clients still use", ErrUnsupported, service)
	}
	ct, keyID, err := enc.Encrypt(ctx, plaintext, LegacyContext())
	if err != nil {
		return fmt.Errorf("encrypting legacy record: %w", err)
	}
	rec.Format = FormatLegacy
	rec.KeyID = keyID
	rec.Context = LegacyContext()
	rec.Ciphertext = ct
	return nil
}

// UpgradeReport says what Upgrade did to one service.
type UpgradeReport struct {
	Service string `json:"service"`
	// Resaved is how many secrets were re-saved in the current format.
	Resaved int `json:"resaved"`
	// Sealed is true once the service refuses legacy records.
	Sealed bool `json:"sealed"`
}

// Upgrade re-saves, as a new version in the current format, every secret of
// service whose current version is a legacy record or a record made before
// service keys, then marks the service's key ring as sealed: from then on a
// legacy record in the service is refused as tampering. Legacy versions kept
// in history can no longer be read after that; roll back to one first if it
// is needed. Run it once no Python client writes to the service any more.
// It is idempotent.
func (s *Store) Upgrade(ctx context.Context, service string) (*UpgradeReport, error) {
	if err := ValidateService(service); err != nil {
		return nil, err
	}
	if s.legacyWrites {
		return nil, fmt.Errorf("%w: upgrading %s while this store writes the legacy format would undo itself; turn legacy_writes off first", ErrUnsupported, service)
	}
	rep := &UpgradeReport{Service: service}
	var users []string
	var damaged []string
	err := s.backend.Items(ctx, service, false, func(it *Item) error {
		switch {
		case IsReservedUser(it.User):
		case it.Malformed != nil:
			damaged = append(damaged, it.User)
		case it.Current() != nil && it.Current().Format != FormatV2:
			users = append(users, it.User)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", service, err)
	}
	if len(damaged) > 0 {
		// A damaged item may be a legacy record: sealing now could make it
		// unreadable for good once restored.
		return nil, fmt.Errorf("%w: %d secrets of %s are damaged (%s first); restore or purge them, then upgrade", ErrMalformed, len(damaged), service, damaged[0])
	}
	for _, user := range users {
		var plaintext []byte
		cfg := putConfig{comment: "upgrade to the current format"}
		_, err := s.writeRecord(ctx, service, user, &cfg, func(cur *Item, keys *serviceKeys) (*change, error) {
			Zero(plaintext)
			rec := cur.Current()
			if rec == nil || rec.Format == FormatV2 {
				return nil, errUnchanged
			}
			pt, err := s.openRecord(ctx, keys, service, user, rec)
			if err != nil {
				return nil, fmt.Errorf("decrypting the current version %d: %w", rec.Version, err)
			}
			plaintext = pt
			return &change{plaintext: pt, tombstone: rec.Deleted}, nil
		})
		Zero(plaintext)
		switch {
		case err == nil:
			rep.Resaved++
		case errors.Is(err, errUnchanged), errors.Is(err, ErrNotFound):
		default:
			return rep, fmt.Errorf("upgrading %s/%s (%d re-saved before it): %w", service, user, rep.Resaved, err)
		}
	}
	keys, err := s.loadKeys(ctx, service)
	if err != nil {
		return rep, err
	}
	defer keys.close()
	if err := keys.setSealed(ctx, true, s.lookupAuthor(ctx)); err != nil {
		return rep, err
	}
	rep.Sealed = true
	return rep, nil
}
