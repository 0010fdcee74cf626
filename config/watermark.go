package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/watermark"
)

// highWaterMark resolves the high_water_mark setting: the first of settings
// that is set, as off (or false), on (or true: the file high-water-mark.json
// in the data directory) or an absolute path.
func highWaterMark(c *Config, home string, settings ...setting) (string, error) {
	for _, s := range settings {
		v := strings.TrimSpace(s.value)
		if v == "" {
			continue
		}
		if on, err := strconv.ParseBool(strings.NewReplacer("on", "true", "off", "false").Replace(strings.ToLower(v))); err == nil {
			if !on {
				return "", nil
			}
			if c.DataDir == "" {
				return "", fmt.Errorf("%w: %s = on needs a data directory (set CLOUDCHAIN_DATA_DIR or data_dir, or give a path)", ErrConfig, s.name)
			}
			return filepath.Join(c.DataDir, "high-water-mark.json"), nil
		}
		p, err := expandTilde(setting{s.name, v}, home)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("%w: %s %q is neither on, off nor an absolute path", ErrConfig, s.name, s.value)
		}
		return filepath.Clean(p), nil
	}
	return "", nil
}

// storeName names the store in the high-water mark file, which may hold
// several stores.
func (c *Config) storeName() string {
	if c.Backend == BackendLocal {
		return "local:" + c.LocalStorePath()
	}
	if len(c.Replicas) > 0 {
		// One global table is one store, whichever of its regions is the
		// primary for this command (--region during an outage).
		regions := []string{c.Region}
		for _, r := range c.Replicas {
			regions = append(regions, r.Region)
		}
		slices.Sort(regions)
		return "dynamodb:" + strings.Join(slices.Compact(regions), ",") + ":" + c.Table
	}
	name := "dynamodb:" + c.Region + ":" + c.Table
	if c.DynamoEndpoint != "" {
		name += "@" + c.DynamoEndpoint
	}
	return name
}

// watermarkOption is the Store option of the high-water mark, if it is on.
func (c *Config) watermarkOption() []cloudchain.Option {
	if c.HighWaterMark == "" {
		return nil
	}
	return []cloudchain.Option{cloudchain.WithWatermark(watermark.Open(c.HighWaterMark, c.storeName(), watermark.WithLockTimeout(c.LockTimeout)))}
}
