// Package config turns the cloudchain configuration (the ~/.cchainrc INI file
// of the Python tool, environment variables and command-line overrides) into
// an open cloudchain.Store.
//
// # Precedence
//
// Overrides (the CLI's flags) win, then environment variables, then the
// config file, then the embedded default. The package itself reads no
// environment: callers pass a lookup function (os.LookupEnv in the CLI).
//
// # The file
//
// The file is $CLOUDCHAIN_CONFIG if set (it must exist), or ~/.cchainrc if it
// exists. The Python tool's sections and keys keep their meaning:
//
//	[dynamo]
//	region_name  = eu-west-1        ; AWS region (also used for KMS)
//	endpoint_url = http://127.0.0.1:8000  ; DynamoDB endpoint only
//	tablename    = safedb
//
//	[IAMKMS]
//	keyalias = alias/cloudchain     ; alias, key id or ARN
//	region   = us-east-1            ; new: the KMS region (credstash's --kms-region)
//
// A [dynamo] section selects the DynamoDB backend. New settings live in new
// sections:
//
//	[cloudchain]
//	backend       = local | dynamodb
//	history_depth = 10
//	legacy_writes = false   ; write the Python tool's format
//	author_lookup = true    ; record the AWS principal (sts:GetCallerIdentity)
//	data_dir      = ~/.local/share/cloudchain  ; absolute, ~ or ~user
//	lock_timeout  = 10s
//	replica_regions = us-west-2, eu-west-1  ; other regions of a global table
//	high_water_mark = on    ; off, on (DATA_DIR/high-water-mark.json) or a path
//
//	[region us-west-2]              ; a replica region's endpoints, if not AWS's
//	endpoint_url     = http://127.0.0.1:8001
//	kms_endpoint_url = http://127.0.0.1:4600
//
//	[kms]
//	endpoint_url = http://127.0.0.1:4599
//	region_name  = eu-west-1
//
//	[aws]
//	profile = team
//
// With replica_regions, reads fail over to the next region when one does
// not answer, and writes go to the primary region only (package failover).
// The KMS region and the precedence of regions are described at
// resolveRegions.
//
// Unknown sections and keys are errors, so a typo never silently falls back
// to a default.
//
// The file must be a regular file of at most MaxConfigSize bytes: a FIFO,
// a device or a directory is refused without being read. Errors name the
// file and the line, never the line's content, since a config path that
// names the wrong file (a password file, say) must not print it.
//
// # The data directory
//
// The embedded store and its master key live in --data-dir,
// CLOUDCHAIN_DATA_DIR or data_dir (the first that is set), which must be
// absolute after expanding a leading ~ or ~user; otherwise in
// $XDG_DATA_HOME/cloudchain, or ~/.local/share/cloudchain. As the XDG Base
// Directory specification says, a relative XDG_DATA_HOME is ignored. A
// relative data directory is refused: it would put the master key wherever
// cchain happens to run.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"

	"github.com/cloudchain/cloudchain"
)

// Backend names.
const (
	BackendLocal    = "local"
	BackendDynamoDB = "dynamodb"
)

// Defaults.
const (
	DefaultTable       = "safedb"
	DefaultKeyAlias    = "alias/cloudchain"
	DefaultLockTimeout = 10 * time.Second
)

// ErrConfig marks an invalid configuration: a bad file, an unknown key or a
// bad value. The message says where and what.
var ErrConfig = errors.New("invalid configuration")

// Config is a resolved configuration.
type Config struct {
	// File is the config file that was read, or "" if none.
	File string

	Backend      string
	HistoryDepth int
	LegacyWrites bool
	AuthorLookup bool

	// Embedded default.
	DataDir     string
	LockTimeout time.Duration

	// HighWaterMark is the file of the client-side high-water mark
	// (package watermark), or "" when it is off ([cloudchain]
	// high_water_mark, CLOUDCHAIN_HIGH_WATER_MARK).
	HighWaterMark string
	// RegionState is the file in which reads remember, across processes,
	// the regions that did not answer (failover.WithStateFile); "" when
	// that is off ([cloudchain] region_state, CLOUDCHAIN_REGION_STATE; on
	// by default with replica_regions).
	RegionState string

	// AWS.
	Region         string
	Profile        string
	Table          string
	DynamoEndpoint string
	KMSKey         string
	KMSEndpoint    string
	KMSRegion      string
	// Replicas are the other regions of the DynamoDB global table, in the
	// order reads try them after Region ([cloudchain] replica_regions);
	// KMSReplicas are the regions Decrypt tries after KMSRegion. Both are
	// empty without replica_regions. See resolveRegions for the order.
	Replicas    []Replica
	KMSReplicas []Replica
	// DecryptKeys are further KMS keys (ARNs) whose records may be read,
	// besides KMSKey: keys used before a key change.
	DecryptKeys []string
	// LegacyReads allows reading records in the Python tool's format, which
	// are not bound to their row (default true).
	LegacyReads bool

	// Notify, if set, receives the notices of the opened Store (see
	// cloudchain.WithNotices), such as an author that could not be looked
	// up. Load leaves it nil; the CLI sets it to print warnings.
	Notify func(cloudchain.Notice)
}

// Overrides are settings from the command line. Empty strings and nil
// pointers mean "not given".
type Overrides struct {
	ConfigFile     string
	Backend        string
	DataDir        string
	Region         string
	Profile        string
	Table          string
	DynamoEndpoint string
	KMSKey         string
	KMSEndpoint    string
	// KMSRegion is the KMS region, beating every other region setting.
	KMSRegion    string
	HistoryDepth *int
	LegacyWrites *bool
	LockTimeout  *time.Duration
}

// known lists every section and key the file may contain.
var known = map[string][]string{
	"dynamo":     {"region_name", "endpoint_url", "tablename"},
	"IAMKMS":     {"keyalias", "decrypt_keys", "region"},
	"cloudchain": {"backend", "history_depth", "legacy_writes", "legacy_reads", "author_lookup", "data_dir", "lock_timeout", "replica_regions", "high_water_mark", "region_state"},
	"kms":        {"endpoint_url", "region_name"},
	"aws":        {"profile"},
}

// Load resolves the configuration from the file, the environment (looked up
// with lookup) and the overrides.
func Load(lookup func(string) (string, bool), o Overrides) (*Config, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return v
	}
	var err error
	c := &Config{HistoryDepth: cloudchain.DefaultHistoryDepth, AuthorLookup: true, LockTimeout: DefaultLockTimeout, LegacyReads: true}

	// The file.
	path, required := o.ConfigFile, o.ConfigFile != ""
	if !required {
		if p := get("CLOUDCHAIN_CONFIG"); p != "" {
			path, required = p, true
		}
	}
	if !required {
		if home := get("HOME"); home != "" {
			path = filepath.Join(home, ".cchainrc")
		}
	}
	var f *ini.File
	if path != "" {
		data, err := readConfigFile(path)
		switch {
		case err == nil:
			f, err = ini.LoadSources(ini.LoadOptions{InsensitiveKeys: true}, data)
			if err != nil {
				return nil, parseError(path, data, err)
			}
			c.File = path
			if err := checkKnown(path, data, f); err != nil {
				return nil, err
			}
		case errors.Is(err, fs.ErrNotExist) && !required:
		default:
			return nil, err
		}
	}
	val := func(section, key string) string {
		if f == nil || !f.HasSection(section) {
			return ""
		}
		return strings.TrimSpace(f.Section(section).Key(key).String())
	}
	hasDynamo := f != nil && f.HasSection("dynamo")

	// Pick each setting: override, environment, file, default.
	first := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	c.Backend = first(o.Backend, get("CLOUDCHAIN_BACKEND"), val("cloudchain", "backend"))
	if c.Backend == "" {
		c.Backend = BackendLocal
		if hasDynamo {
			c.Backend = BackendDynamoDB
		}
	}
	switch c.Backend {
	case BackendLocal, BackendDynamoDB:
	default:
		return nil, fmt.Errorf("%w: unknown backend %q (use %q or %q)", ErrConfig, c.Backend, BackendLocal, BackendDynamoDB)
	}

	if c.DataDir, err = dataDir(c.Backend == BackendLocal, get("HOME"), get("XDG_DATA_HOME"),
		setting{"--data-dir", o.DataDir}, setting{"CLOUDCHAIN_DATA_DIR", get("CLOUDCHAIN_DATA_DIR")}, setting{c.File + ": data_dir", val("cloudchain", "data_dir")}); err != nil {
		return nil, err
	}

	if err := c.resolveRegions(o, get, f); err != nil {
		return nil, err
	}
	c.Profile = first(o.Profile, get("AWS_PROFILE"), val("aws", "profile"))
	c.Table = first(o.Table, get("CLOUDCHAIN_TABLE"), val("dynamo", "tablename"), DefaultTable)
	c.KMSKey = first(o.KMSKey, get("CLOUDCHAIN_KMS_KEY"), val("IAMKMS", "keyalias"), DefaultKeyAlias)
	for _, k := range strings.Split(first(get("CLOUDCHAIN_DECRYPT_KEYS"), val("IAMKMS", "decrypt_keys")), ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.DecryptKeys = append(c.DecryptKeys, k)
		}
	}

	if s := first(get("CLOUDCHAIN_HISTORY_DEPTH"), val("cloudchain", "history_depth")); s != "" {
		if c.HistoryDepth, err = strconv.Atoi(s); err != nil || c.HistoryDepth < 0 || c.HistoryDepth > 1000 {
			return nil, fmt.Errorf("%w: history_depth %q is not a whole number from 0 to 1000", ErrConfig, s)
		}
	}
	if o.HistoryDepth != nil {
		if *o.HistoryDepth < 0 || *o.HistoryDepth > 1000 {
			return nil, fmt.Errorf("%w: --history-depth %d is not from 0 to 1000", ErrConfig, *o.HistoryDepth)
		}
		c.HistoryDepth = *o.HistoryDepth
	}
	legacyExplicit := o.LegacyWrites != nil || get("CLOUDCHAIN_LEGACY_WRITES") != ""
	if s := first(get("CLOUDCHAIN_LEGACY_WRITES"), val("cloudchain", "legacy_writes")); s != "" {
		if c.LegacyWrites, err = strconv.ParseBool(s); err != nil {
			return nil, fmt.Errorf("%w: legacy_writes %q is not true or false", ErrConfig, s)
		}
	}
	if o.LegacyWrites != nil {
		c.LegacyWrites = *o.LegacyWrites
	}
	if s := val("cloudchain", "legacy_reads"); s != "" {
		if c.LegacyReads, err = strconv.ParseBool(s); err != nil {
			return nil, fmt.Errorf("%w: legacy_reads %q is not true or false", ErrConfig, s)
		}
	}
	if s := val("cloudchain", "author_lookup"); s != "" {
		if c.AuthorLookup, err = strconv.ParseBool(s); err != nil {
			return nil, fmt.Errorf("%w: author_lookup %q is not true or false", ErrConfig, s)
		}
	}
	if s := val("cloudchain", "lock_timeout"); s != "" {
		if c.LockTimeout, err = time.ParseDuration(s); err != nil || c.LockTimeout < 0 {
			return nil, badLockTimeout("lock_timeout", s)
		}
	}
	if o.LockTimeout != nil {
		if *o.LockTimeout < 0 {
			return nil, badLockTimeout("--lock-timeout", o.LockTimeout.String())
		}
		c.LockTimeout = *o.LockTimeout
	}
	if c.HighWaterMark, err = highWaterMark(c, get("HOME"), setting{"CLOUDCHAIN_HIGH_WATER_MARK", get("CLOUDCHAIN_HIGH_WATER_MARK")},
		setting{c.File + ": high_water_mark", val("cloudchain", "high_water_mark")}); err != nil {
		return nil, err
	}
	if c.LegacyWrites && c.Backend != BackendDynamoDB {
		// A shared file's legacy_writes does not stop a user from choosing
		// the embedded store; asking for both at once is a mistake.
		if legacyExplicit {
			return nil, fmt.Errorf("%w: legacy writes need the dynamodb backend and a KMS key (the Python tool only read DynamoDB)", ErrConfig)
		}
		c.LegacyWrites = false
	}
	if c.LegacyWrites && !c.LegacyReads {
		return nil, fmt.Errorf("%w: legacy_writes = true and legacy_reads = false contradict each other", ErrConfig)
	}
	return c, nil
}

func knownSections() string {
	var names []string
	for k := range known {
		names = append(names, "["+k+"]")
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

// badLockTimeout is the one message for a bad lock timeout, wherever it
// was given.
func badLockTimeout(name, value string) error {
	return fmt.Errorf("%w: %s %q is not a duration of 0 or more, such as 10s", ErrConfig, name, value)
}

// LocalKeyPath is the embedded default's master key file.
func (c *Config) LocalKeyPath() string { return filepath.Join(c.DataDir, "master.key") }

// LocalStorePath is the embedded default's database file.
func (c *Config) LocalStorePath() string { return filepath.Join(c.DataDir, "secrets.db") }

// Describe says in one line where secrets are kept, for messages.
func (c *Config) Describe() string {
	if c.Backend == BackendLocal {
		return "embedded store " + c.LocalStorePath()
	}
	where := c.Region
	if c.DynamoEndpoint != "" {
		where = c.DynamoEndpoint
	}
	d := fmt.Sprintf("DynamoDB table %s (%s) with KMS key %s", c.Table, where, c.KMSKey)
	if len(c.Replicas) > 0 {
		names := make([]string, len(c.Replicas))
		for i, r := range c.Replicas {
			names[i] = r.Region
		}
		d += fmt.Sprintf(", primary region %s, read replicas %s", c.Region, strings.Join(names, ", "))
	}
	return d
}
