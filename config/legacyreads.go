package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
)

// The patterns are compiled on first use, not at start-up of every process.
var (
	cloudchainSection = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^[ \t]*\[cloudchain\][ \t]*\r?$`) })
	legacyReadsKey    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?im)^[ \t]*legacy_reads[ \t]*[=:]`) })
)

// noLegacyReads records legacy_reads = false in the config file, for a table
// that setup has just created: nothing in it was written by the Python tool,
// so a legacy record found there later can only have been planted. It
// returns the line setup reports. A file it cannot change is not an error:
// the line then says what to add.
func (c *Config) noLegacyReads() string {
	const advice = "add legacy_reads = false to the [cloudchain] section of your config: the new table holds no record of the Python tool, so none should ever be read from it"
	if c.File == "" {
		return advice
	}
	if err := setLegacyReadsFalse(c.File); err != nil {
		return fmt.Sprintf("could not record legacy_reads = false in %s (%v); %s", c.File, err, advice)
	}
	return fmt.Sprintf("recorded legacy_reads = false in %s: the new table holds no record of the Python tool, so none is ever read from it", c.File)
}

// setLegacyReadsFalse adds legacy_reads = false to the [cloudchain] section
// of the INI file at path, creating the section if needed, and leaves an
// explicit legacy_reads setting alone. It replaces the file atomically,
// keeping its mode.
func setLegacyReadsFalse(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if legacyReadsKey().Match(data) {
		return nil
	}
	var out []byte
	if loc := cloudchainSection().FindIndex(data); loc != nil {
		out = append(out, data[:loc[1]]...)
		out = append(out, "\nlegacy_reads = false"...)
		out = append(out, data[loc[1]:]...)
	} else {
		out = append(bytes.Clone(data), "\n[cloudchain]\nlegacy_reads = false\n"...)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			out = append(bytes.Clone(data), "\n\n[cloudchain]\nlegacy_reads = false\n"...)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cchainrc-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
