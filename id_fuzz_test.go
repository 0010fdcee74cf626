package cloudchain

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzValidateID checks ValidateID and ValidateService against their
// specification on arbitrary names: a name is accepted exactly when it is
// non-empty UTF-8 within the length limit with no control or format
// character; a refusal wraps ErrInvalidID and quotes no unprintable name;
// the key ring's reserved user name is never a valid user.
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"db", "alice", "", "a\tb", "\xff", "a\u200bb", "\u202eevil", ServiceKeyUser, strings.Repeat("x", MaxUserLen+1), "日本語", "a b"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, service, user string) {
		want := func(s string, max int) bool {
			if s == "" || !utf8.ValidString(s) || len(s) > max {
				return false
			}
			for _, r := range s {
				if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
					return false
				}
			}
			return true
		}
		err := ValidateID(service, user)
		if ok := want(service, MaxServiceLen) && want(user, MaxUserLen); ok != (err == nil) {
			t.Fatalf("ValidateID(%q, %q) = %v, want ok=%v", service, user, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("error %v does not wrap ErrInvalidID", err)
			}
			for _, r := range err.Error() {
				if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
					t.Fatalf("error %q holds an unprintable character", err)
				}
			}
		}
		if serr := ValidateService(service); (serr == nil) != want(service, MaxServiceLen) {
			t.Fatalf("ValidateService(%q) = %v", service, serr)
		}
		if ValidateID(service, ServiceKeyUser) == nil {
			t.Fatal("the key ring's user name is a valid user")
		}
	})
}
