package cloudchain

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Auth says whether a version's metadata (time, author, comment, key) and
// its deletion mark were authenticated.
type Auth string

// The values of Auth.
const (
	// AuthVerified: the record authenticated under its key, so its metadata
	// is exactly what its writer wrote.
	AuthVerified Auth = "verified"
	// AuthUnverified: the record's format cannot authenticate it (legacy
	// records, and deletion markers written before service keys), or it was
	// not checked (listings of records older than service keys). Its
	// metadata is what the table says, which anyone with write access to it
	// could have changed.
	AuthUnverified Auth = "unverified"
	// AuthFailed: the record failed authentication: it was altered or moved.
	AuthFailed Auth = "failed"
)

// VersionInfo describes one version of a secret, never its value.
type VersionInfo struct {
	Version int64     `json:"version"`
	Created time.Time `json:"created,omitzero"`
	Author  string    `json:"author,omitempty"`
	Comment string    `json:"comment,omitempty"`
	Format  string    `json:"format"`
	// KeyID is the key-provider key of records made before service keys.
	KeyID string `json:"key_id,omitempty"`
	// ServiceKey is the service key version of a v2 record.
	ServiceKey int64 `json:"service_key,omitempty"`
	// Size is the secret's length in bytes, or -1 when unknown (legacy).
	Size    int  `json:"size"`
	Deleted bool `json:"deleted,omitempty"`
	// Auth says whether the fields above were authenticated. It is empty
	// where nothing was checked (Put's results).
	Auth Auth `json:"auth,omitempty"`
}

func infoOf(r *Record) VersionInfo {
	return VersionInfo{
		Version:    r.Version,
		Created:    r.Created,
		Author:     r.Author,
		Comment:    r.Comment,
		Format:     r.Format.String(),
		KeyID:      r.KeyID,
		ServiceKey: r.KeyVersion,
		Size:       r.Size(),
		Deleted:    r.Deleted,
	}
}

// Secret is a decrypted version of a secret.
type Secret struct {
	Service string
	User    string
	// Value is the secret. Clear it with Zero when done.
	Value []byte
	VersionInfo
}

// Entry describes a secret's current version in a listing.
type Entry struct {
	Service string `json:"service"`
	User    string `json:"user"`
	VersionInfo
}

// PutOption modifies a single write.
type PutOption func(*putConfig)

type putConfig struct {
	ifVersion    int64
	checkVersion bool
	comment      string
	dryRun       bool
}

func putConfigOf(opts []PutOption) (putConfig, error) {
	var cfg putConfig
	for _, o := range opts {
		o(&cfg)
	}
	return cfg, validateComment(cfg.comment)
}

// IfVersion makes the write conditional: it fails with a
// *VersionConflictError unless the secret's current version is n (0: the
// secret must not exist yet). The check is made on the read, before any
// key-provider call. Without IfVersion, a write that races another writer
// re-reads and retries, so every write lands as its own version.
func IfVersion(n int64) PutOption {
	return func(c *putConfig) { c.ifVersion, c.checkVersion = n, true }
}

// WithComment attaches a comment to the new version. A comment is at most
// MaxCommentLen bytes of UTF-8 with no control or format characters, so that
// printing it can never drive a terminal.
func WithComment(comment string) PutOption {
	return func(c *putConfig) { c.comment = comment }
}

// DryRun makes PutMany report what it would do without writing anything.
func DryRun() PutOption { return func(c *putConfig) { c.dryRun = true } }

func validateComment(c string) error {
	if len(c) > MaxCommentLen {
		return fmt.Errorf("%w: the comment is %d bytes long, the limit is %d", ErrInvalidID, len(c), MaxCommentLen)
	}
	if !utf8.ValidString(c) {
		return fmt.Errorf("%w: the comment is not valid UTF-8", ErrInvalidID)
	}
	for i, r := range c {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("%w: the comment has a control or format character (%U) at byte %d; comments are one line of text", ErrInvalidID, r, i)
		}
	}
	return nil
}

func notFound(service, user string) error { return fmt.Errorf("%w: %s/%s", ErrNotFound, service, user) }

// wrapRow says what was being done to which secret, unless err already
// names the secret (backends' errors often do).
func wrapRow(op, service, user string, err error) error {
	if strings.Contains(err.Error(), service+"/"+user) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s %s/%s: %w", op, service, user, err)
}

func keptVersions(it *Item) string {
	if len(it.Records) == 1 {
		return fmt.Sprintf("only version %d is kept", it.Records[0].Version)
	}
	return fmt.Sprintf("versions %d to %d are kept", it.Records[len(it.Records)-1].Version, it.Records[0].Version)
}
