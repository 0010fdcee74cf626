package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/cloudchain/cloudchain"
)

// stickyWriter remembers the first write error, so that output nobody
// could read (stdout closed, a full disk) makes the command fail.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// outputError is a failure to write the result of a command.
type outputError struct{ err error }

func (e *outputError) Error() string { return "writing the output: " + e.err.Error() }
func (e *outputError) Unwrap() error { return e.err }

// printSecret writes a secret's bytes as stored, with a newline unless
// noNewline.
func printSecret(w io.Writer, v []byte, noNewline bool) error {
	if !noNewline {
		v = append(v[:len(v):len(v)], '\n')
		defer cloudchain.Zero(v)
	}
	if _, err := w.Write(v); err != nil {
		return &outputError{err}
	}
	return nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return &outputError{err}
	}
	return nil
}

// table prints aligned columns. Every cell is untrusted text and is passed
// through safe.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.tw, strings.Join(header, "\t"))
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = safe(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return &outputError{err}
	}
	return nil
}

// unsafeRune reports whether r must not reach a terminal as is: control and
// format characters (escape sequences, BEL, newlines, bidi overrides,
// zero-width characters), and anything else Go does not print as a glyph.
func unsafeRune(r rune) bool {
	return r == utf8.RuneError || !strconv.IsPrint(r)
}

// safe returns s unchanged when every character is printable, and quoted
// with Go's escapes (strconv.Quote) otherwise. Text stored by someone else
// (comments, authors, names, key ids) goes through safe before it is
// printed, so that it cannot move the cursor, rewrite the screen or the
// window title, or forge table rows.
func safe(s string) string {
	if strings.IndexFunc(s, unsafeRune) < 0 && utf8.ValidString(s) {
		return s
	}
	return strconv.Quote(s)
}

// safeInline escapes the unsafe characters of s in place (no quotes), for
// messages that mix our text with stored text.
func safeInline(s string) string {
	if strings.IndexFunc(s, unsafeRune) < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if r == utf8.RuneError {
			_, size := utf8.DecodeRuneInString(s[i:])
			if size == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i])
				continue
			}
		}
		if unsafeRune(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func humanTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func humanSize(n int) string {
	if n < 0 {
		return "?"
	}
	return strconv.Itoa(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// notices prints what the store reports about operations that succeeded:
// warnings on stderr at once, and history trimming on stdout after the
// command's own confirmation line.
// The store may call notice from several goroutines at once.
type notices struct {
	mu      sync.Mutex
	stderr  io.Writer
	pending []string
}

func (n *notices) notice(x cloudchain.Notice) {
	msg := safeInline(x.Message)
	n.mu.Lock()
	defer n.mu.Unlock()
	if x.Kind == cloudchain.NoticeHistoryTrimmed {
		n.pending = append(n.pending, msg)
		return
	}
	fmt.Fprintf(n.stderr, "cchain: warning: %s\n", msg)
}

// flush prints the notices kept for stdout, after a confirmation line.
func (n *notices) flush(w io.Writer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.pending {
		fmt.Fprintln(w, m)
	}
	n.pending = nil
}

// flushWarnings prints the notices kept for stdout as warnings on stderr,
// where they do not break JSON output.
func (n *notices) flushWarnings() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.pending {
		fmt.Fprintf(n.stderr, "cchain: warning: %s\n", m)
	}
	n.pending = nil
}
