package main

import "testing"

func TestSafe(t *testing.T) {
	cases := []struct {
		name, in, quoted, inline string
	}{
		{"plain", "alice", "alice", "alice"},
		{"unicode letters", "zoë 東京", "zoë 東京", "zoë 東京"},
		{"empty", "", "", ""},
		{"escape sequence", "\x1b[2J", `"\x1b[2J"`, `\x1b[2J`},
		{"title and bell", "\x1b]0;t\x07", `"\x1b]0;t\a"`, `\x1b]0;t\a`},
		{"newline", "a\nb", `"a\nb"`, `a\nb`},
		{"tab", "a\tb", `"a\tb"`, `a\tb`},
		{"bidi override", "abc\u202efed", `"abc\u202efed"`, `abc\u202efed`},
		{"zero width space", "ad\u200bmin", `"ad\u200bmin"`, `ad\u200bmin`},
		{"C1 control", "a\u009bb", `"a\u009bb"`, `a\u009bb`},
		{"invalid UTF-8", "a\xffb", `"a\xffb"`, `a\xffb`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := safe(c.in); got != c.quoted {
				t.Errorf("safe(%q) = %s, want %s", c.in, got, c.quoted)
			}
			if got := safeInline(c.in); got != c.inline {
				t.Errorf("safeInline(%q) = %s, want %s", c.in, got, c.inline)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"list", "list", 0}, {"lsit", "list", 2}, {"gte", "get", 2}, {"pur", "put", 1},
		{"", "get", 3}, {"history", "hsitory", 2}, {"setup", "status", 3},
	}
	for _, c := range cases {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
