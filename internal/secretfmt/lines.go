package secretfmt

import (
	"fmt"
)

// lineParser holds the position shared by the line-oriented formats
// (dotenv, shell). Errors carry the line, never the value.
type lineParser struct {
	src    []byte
	pos    int
	line   int
	format string
	// dotenv allows spaces around "=" and dots and dashes in names.
	dotenv bool
}

func (p *lineParser) eof() bool { return p.pos >= len(p.src) }

func (p *lineParser) errf(line int, format string, args ...any) error {
	return fmt.Errorf("%s: line %d: %s", p.format, line, fmt.Sprintf(format, args...))
}

func (p *lineParser) skipSpaces() {
	for !p.eof() && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *lineParser) skipBlankAndComments() {
	for !p.eof() {
		p.skipSpaces()
		if p.eof() {
			return
		}
		switch p.src[p.pos] {
		case '\n':
			p.pos++
			p.line++
		case '#':
			p.skipToEOL()
		default:
			return
		}
	}
}

func (p *lineParser) skipToEOL() {
	for !p.eof() && p.src[p.pos] != '\n' {
		p.pos++
	}
}

func nameByte(c byte, first, dotenv bool) bool {
	switch {
	case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		return true
	case '0' <= c && c <= '9':
		return !first
	case c == '.' || c == '-':
		return dotenv && !first
	}
	return false
}

// assignmentName reads "[export ]NAME=" and returns NAME.
func (p *lineParser) assignmentName() (string, error) {
	if len(p.src)-p.pos > 7 && string(p.src[p.pos:p.pos+6]) == "export" && (p.src[p.pos+6] == ' ' || p.src[p.pos+6] == '\t') {
		p.pos += 6
		p.skipSpaces()
	}
	start := p.pos
	for !p.eof() && nameByte(p.src[p.pos], p.pos == start, p.dotenv) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errf(p.line, "want NAME=VALUE: a name starts with a letter or _")
	}
	name := string(p.src[start:p.pos])
	if p.dotenv {
		p.skipSpaces()
	}
	if p.eof() || p.src[p.pos] != '=' {
		return "", p.errf(p.line, "want NAME=VALUE: no \"=\" after the name")
	}
	p.pos++
	if p.dotenv {
		p.skipSpaces()
	}
	return name, nil
}

// endOfLine accepts trailing blanks, an optional ";" (shell) and an
// optional comment, then a newline or the end of input.
func (p *lineParser) endOfLine() error {
	p.skipSpaces()
	if !p.dotenv && !p.eof() && p.src[p.pos] == ';' {
		p.pos++
		p.skipSpaces()
	}
	if !p.eof() && p.src[p.pos] == '#' {
		p.skipToEOL()
	}
	if p.eof() {
		return nil
	}
	if p.src[p.pos] != '\n' {
		return p.errf(p.line, "unexpected text after the value")
	}
	p.pos++
	p.line++
	return nil
}
