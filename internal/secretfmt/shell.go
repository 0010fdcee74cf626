package secretfmt

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// EncodeShell writes vars as "export NAME='value'" lines, sorted by name,
// that any POSIX shell reads back exactly. See the package documentation.
// A NUL byte is an error naming the secret, and then nothing is written.
func EncodeShell(w io.Writer, vars []EnvVar) error {
	if err := checkVars(vars); err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, v := range sortedVars(vars) {
		buf.WriteString("export ")
		buf.WriteString(v.Name)
		buf.WriteByte('=')
		writeShellQuoted(&buf, v.Value)
		buf.WriteByte('\n')
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func writeShellQuoted(buf *bytes.Buffer, v []byte) {
	buf.WriteByte('\'')
	for _, c := range v {
		if c == '\'' {
			buf.WriteString(`'\''`)
			continue
		}
		buf.WriteByte(c)
	}
	buf.WriteByte('\'')
}

// checkVars refuses names that are not environment names and NUL bytes.
func checkVars(vars []EnvVar) error {
	seen := make(map[string]bool, len(vars))
	for _, v := range vars {
		if !ValidEnvName(v.Name) {
			return fmt.Errorf("secret %s: %s is not a valid environment name: %w", secretName(v.Service, v.User), strconv.Quote(v.Name), ErrNotRepresentable)
		}
		if seen[v.Name] {
			return fmt.Errorf("environment name %s is given twice", v.Name)
		}
		seen[v.Name] = true
	}
	return checkNUL(vars)
}

func sortedVars(vars []EnvVar) []EnvVar {
	out := append([]EnvVar(nil), vars...)
	sortVars(out)
	return out
}

// DecodeShell reads the shell format back: lines of
// "[export ]NAME=WORD", where WORD is a sequence of single-quoted strings
// ('...'), backslash-escaped characters (\c) and unquoted characters other
// than shell metacharacters, blank lines and "#" comment lines. That is what
// EncodeShell writes and what people write by hand in the same style; no
// expansion ($, backticks, double quotes) is done: such a line is an error.
// Each variable becomes a secret of the given service, named by the
// variable.
func DecodeShell(r io.Reader, service string) ([]Secret, error) {
	if service == "" {
		return nil, fmt.Errorf("shell: %w", ErrNoService)
	}
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("shell: reading input: %w", err)
	}
	p := &lineParser{src: src, line: 1, format: "shell"}
	return p.assignments(service, p.shellWord)
}

// assignments reads NAME=VALUE lines to the end, each value with value, as
// the secrets of service, sorted; a name set twice is an error naming both
// lines. (Dotenv and shell files differ only in how a value is written.)
func (p *lineParser) assignments(service string, value func() ([]byte, error)) ([]Secret, error) {
	var out []Secret
	seen := map[string]int{}
	for {
		p.skipBlankAndComments()
		if p.eof() {
			break
		}
		startLine := p.line
		name, err := p.assignmentName()
		if err != nil {
			return nil, err
		}
		val, err := value()
		if err != nil {
			return nil, err
		}
		if err := p.endOfLine(); err != nil {
			return nil, err
		}
		if prev, ok := seen[name]; ok {
			return nil, fmt.Errorf("%s: line %d: %s is already set on line %d", p.format, startLine, name, prev)
		}
		seen[name] = startLine
		out = append(out, Secret{Service: service, User: name, Value: val})
		if err := tooMany(p.format, len(out)); err != nil {
			return nil, err
		}
	}
	Sort(out)
	return out, nil
}

func (p *lineParser) shellWord() ([]byte, error) {
	val := []byte{}
	for !p.eof() {
		c := p.src[p.pos]
		switch {
		case c == '\'':
			start := p.line
			p.pos++
			end := bytes.IndexByte(p.src[p.pos:], '\'')
			if end < 0 {
				return nil, p.errf(start, "unterminated single quote")
			}
			chunk := p.src[p.pos : p.pos+end]
			p.line += bytes.Count(chunk, []byte{'\n'})
			val = append(val, chunk...)
			p.pos += end + 1
		case c == '\\':
			if p.pos+1 >= len(p.src) {
				return nil, p.errf(p.line, "backslash at end of input")
			}
			n := p.src[p.pos+1]
			p.pos += 2
			if n == '\n' { // line continuation
				p.line++
				continue
			}
			val = append(val, n)
		case c == ' ' || c == '\t' || c == '\n' || c == ';':
			return val, nil
		case c == '"' || c == '$' || c == '`' || c == '|' || c == '&' || c == '<' || c == '>' || c == '(' || c == ')':
			return nil, p.errf(p.line, "unsupported shell syntax %q (only single quotes and backslashes are read; no expansion)", string(c))
		default:
			val = append(val, c)
			p.pos++
		}
	}
	return val, nil
}
