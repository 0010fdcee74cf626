package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	"gopkg.in/ini.v1"
)

// MaxConfigSize is the largest config file Load reads. A real one is a few
// hundred bytes; anything near this size is not a config file.
const MaxConfigSize = 1 << 20

// readConfigFile reads the config file at path, refusing anything that is
// not a regular file of at most MaxConfigSize bytes without reading it: a
// FIFO would block, and /dev/zero would never end. A missing file gives an
// error wrapping both ErrConfig and fs.ErrNotExist.
func readConfigFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: config file %s does not exist: %w", ErrConfig, path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("%w: reading config file: %v", ErrConfig, err)
	}
	if err := checkConfigInfo(path, fi); err != nil {
		return nil, err
	}
	// O_NONBLOCK: if path was swapped for a FIFO since the Stat, opening it
	// must not wait for a writer. It has no effect on regular files.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: reading config file: %v", ErrConfig, err)
	}
	defer f.Close()
	// Check the file that was opened, which is the one read.
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("%w: reading config file: %v", ErrConfig, err)
	}
	if err := checkConfigInfo(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading config file: %v", ErrConfig, err)
	}
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("%w: config file %s is larger than %d bytes, so it is not a cloudchain config file", ErrConfig, path, MaxConfigSize)
	}
	return data, nil
}

func checkConfigInfo(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: config file %s is %s, not a regular file", ErrConfig, path, fileKind(fi.Mode()))
	}
	if fi.Size() > MaxConfigSize {
		return fmt.Errorf("%w: config file %s is %d bytes, more than the %d a cloudchain config file may have", ErrConfig, path, fi.Size(), MaxConfigSize)
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

// parseError describes an INI syntax error by file and line number. The
// ini package's messages quote the offending line, which may be a password
// when the config path names the wrong file, so they are never shown.
func parseError(path string, data []byte, err error) error {
	var what, content string
	var dnf ini.ErrDelimiterNotFound
	msg := err.Error()
	switch {
	case errors.As(err, &dnf):
		what, content = "is not a [section] header, a comment, or key = value", dnf.Line
	case strings.HasPrefix(msg, "unclosed section: "):
		what, content = "has a [section] header without its closing ]", strings.TrimPrefix(msg, "unclosed section: ")
	case strings.HasPrefix(msg, "missing closing key quote: "):
		what, content = "has a key with an unclosed quote", strings.TrimPrefix(msg, "missing closing key quote: ")
	case strings.HasPrefix(msg, "missing closing key quote"):
		return fmt.Errorf("%w: %s: a key has an unclosed quote (not shown)", ErrConfig, path)
	case strings.HasPrefix(msg, "BOM"):
		return fmt.Errorf("%w: %s: line 1 starts with a bad byte-order mark", ErrConfig, path)
	default:
		return fmt.Errorf("%w: %s is not a valid INI file (the offending text is not shown)", ErrConfig, path)
	}
	if n := lineWhere(data, func(line string) bool { return line == strings.TrimSpace(content) }); n > 0 {
		return fmt.Errorf("%w: %s: line %d %s (its content is not shown)", ErrConfig, path, n, what)
	}
	return fmt.Errorf("%w: %s: a line %s (its content is not shown)", ErrConfig, path, what)
}

// lineWhere returns the 1-based number of the first line of data that,
// trimmed of spaces, satisfies match, or 0.
func lineWhere(data []byte, match func(string) bool) int {
	for i, line := range bytes.Split(data, []byte("\n")) {
		if match(strings.TrimSpace(string(line))) {
			return i + 1
		}
	}
	return 0
}

// lineOfKey returns the line on which key is set in section (ini's default
// section for keys outside any section), or 0.
func lineOfKey(data []byte, section, key string) int {
	current := ini.DefaultSection
	return lineWhere(data, func(line string) bool {
		if strings.HasPrefix(line, "[") {
			if end := strings.Index(line, "]"); end > 0 {
				current = strings.TrimSpace(line[1:end])
			}
			return false
		}
		if line == "" || line[0] == '#' || line[0] == ';' || current != section {
			return false
		}
		k, _, ok := strings.Cut(line, "=")
		if k2, _, ok2 := strings.Cut(line, ":"); ok2 && (!ok || len(k2) < len(k)) {
			k, ok = k2, true
		}
		return ok && strings.EqualFold(strings.TrimSpace(k), key)
	})
}

func lineOfSection(data []byte, section string) int {
	return lineWhere(data, func(line string) bool {
		end := strings.Index(line, "]")
		return strings.HasPrefix(line, "[") && end > 0 && strings.TrimSpace(line[1:end]) == section
	})
}

// showable says whether a name read from the file may be quoted in an
// error: a short identifier, as every real section and key is. Anything else
// may be a secret from a file that is not a config file at all.
//
// It is a plain function rather than a package-level regexp, which every
// cchain process would compile at start (--help included).
func showable(name string) bool {
	isLetter := func(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
	if len(name) == 0 || len(name) > 32 || !isLetter(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !isLetter(c) && (c < '0' || c > '9') && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func at(path string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s line %d", path, line)
	}
	return path
}

func checkKnown(path string, data []byte, f *ini.File) error {
	for _, sec := range f.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection {
			if len(sec.Keys()) > 0 {
				if line := defaultHeaderLine(data); line > 0 {
					return fmt.Errorf("%w: %s: a [DEFAULT] section (Python configparser's defaults for every section) is not supported; move its keys into the sections that use them", ErrConfig, at(path, line))
				}
				// Not named: in a file that is not a config file, the
				// "key" is often a secret.
				return fmt.Errorf("%w: %s: a key outside any section (known sections: %s)", ErrConfig, at(path, lineOfKey(data, name, sec.Keys()[0].Name())), knownSections())
			}
			continue
		}
		keys, ok := known[name]
		if r, isRegion := strings.CutPrefix(name, regionSection); isRegion && validRegion(strings.TrimSpace(r)) {
			if r != strings.TrimSpace(r) {
				// Looked up as "region NAME", one blank: any other
				// spelling would be silently ignored.
				return fmt.Errorf("%w: %s: write the section as [region %s], with one blank", ErrConfig, at(path, lineOfSection(data, name)), strings.TrimSpace(r))
			}
			keys, ok = regionKeys, true
		}
		if !ok {
			shown := "[" + name + "]"
			if !showable(name) {
				shown = "(name not shown)"
			}
			return fmt.Errorf("%w: %s: unknown section %s (known sections: %s)", ErrConfig, at(path, lineOfSection(data, name)), shown, knownSections())
		}
		for _, k := range sec.Keys() {
			if !slices.Contains(keys, k.Name()) {
				shown := fmt.Sprintf("%q", k.Name())
				if !showable(k.Name()) {
					shown = "(name not shown)"
				}
				return fmt.Errorf("%w: %s: unknown key %s in [%s] (known keys: %s)", ErrConfig, at(path, lineOfKey(data, name, k.Name())), shown, name, strings.Join(keys, ", "))
			}
		}
	}
	return nil
}

// defaultHeaderLine returns the line number of a "[DEFAULT]" section
// header in data, or 0.
func defaultHeaderLine(data []byte) int {
	for i, line := range strings.Split(string(data), "\n") {
		if strings.EqualFold(strings.TrimSpace(line), "[DEFAULT]") {
			return i + 1
		}
	}
	return 0
}
