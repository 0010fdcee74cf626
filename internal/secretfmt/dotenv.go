package secretfmt

import (
	"bytes"
	"fmt"
	"io"
)

// EncodeDotenv writes vars as NAME='value' or NAME="value" lines, sorted by
// name, in the dotenv dialect described in the package documentation. A
// NUL byte is an error naming the secret, and then nothing is written.
func EncodeDotenv(w io.Writer, vars []EnvVar) error {
	if err := checkVars(vars); err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, v := range sortedVars(vars) {
		buf.WriteString(v.Name)
		buf.WriteByte('=')
		writeDotenvValue(&buf, v.Value)
		buf.WriteByte('\n')
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func writeDotenvValue(buf *bytes.Buffer, v []byte) {
	// Single quotes hold a value as it is, except that godotenv and docker
	// compose take a quote after a backslash for part of the value, and
	// godotenv rewrites "---\n" anywhere in a file: so no quote, no line
	// break and no final backslash.
	if !bytes.ContainsAny(v, "'\n\r") && !bytes.HasSuffix(v, []byte{'\\'}) {
		buf.WriteByte('\'')
		buf.Write(v)
		buf.WriteByte('\'')
		return
	}
	buf.WriteByte('"')
	for _, c := range v {
		switch c {
		case '\\', '"', '$':
			buf.WriteByte('\\')
			buf.WriteByte(c)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte('"')
}

// DecodeDotenv reads a dotenv file (the dialect in the package
// documentation). Each variable becomes a secret of the given service,
// named by the variable. A name set twice is an error.
func DecodeDotenv(r io.Reader, service string) ([]Secret, error) {
	if service == "" {
		return nil, fmt.Errorf("dotenv: %w", ErrNoService)
	}
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("dotenv: reading input: %w", err)
	}
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	p := &lineParser{src: src, line: 1, format: "dotenv", dotenv: true}
	return p.assignments(service, p.dotenvValue)
}

func expansionAt(src []byte, i int) bool {
	if i+1 >= len(src) {
		return false
	}
	c := src[i+1]
	return c == '{' || c == '(' || c == '_' || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

func (p *lineParser) dotenvValue() ([]byte, error) {
	val := []byte{}
	if p.eof() {
		return val, nil
	}
	start := p.line
	switch p.src[p.pos] {
	case '\'':
		p.pos++
		end := bytes.IndexByte(p.src[p.pos:], '\'')
		if end < 0 {
			return nil, p.errf(start, "unterminated single quote")
		}
		chunk := p.src[p.pos : p.pos+end]
		p.line += bytes.Count(chunk, []byte{'\n'})
		p.pos += end + 1
		return append(val, chunk...), nil
	case '"':
		p.pos++
		for {
			if p.eof() {
				return nil, p.errf(start, "unterminated double quote")
			}
			c := p.src[p.pos]
			switch c {
			case '"':
				p.pos++
				return val, nil
			case '\\':
				if p.pos+1 >= len(p.src) {
					return nil, p.errf(start, "unterminated double quote")
				}
				n := p.src[p.pos+1]
				p.pos += 2
				switch n {
				case 'n':
					val = append(val, '\n')
				case 'r':
					val = append(val, '\r')
				case '\n':
					p.line++
					val = append(val, '\\', '\n')
				default:
					val = append(val, n)
				}
			case '$':
				if expansionAt(p.src, p.pos) {
					return nil, p.errf(p.line, "variable expansion is not supported: write \\$ for a literal $, or use single quotes")
				}
				val = append(val, c)
				p.pos++
			case '\n':
				p.line++
				val = append(val, c)
				p.pos++
			default:
				val = append(val, c)
				p.pos++
			}
		}
	}
	// Unquoted: up to the end of the line or a " #" comment, trailing
	// blanks trimmed.
	for !p.eof() {
		c := p.src[p.pos]
		if c == '\n' {
			break
		}
		if c == '#' && p.pos > 0 && (p.src[p.pos-1] == ' ' || p.src[p.pos-1] == '\t') {
			break
		}
		if c == '$' && expansionAt(p.src, p.pos) {
			return nil, p.errf(p.line, "variable expansion is not supported: quote the value with single quotes")
		}
		val = append(val, c)
		p.pos++
	}
	return bytes.TrimRight(val, " \t"), nil
}
