package awskms

import "testing"

func TestOwnsKey(t *testing.T) {
	const (
		arnA  = "arn:aws:kms:us-east-1:123456789012:key/1111aaaa-0000-0000-0000-000000000000"
		arnB  = "arn:aws:kms:us-east-1:123456789012:key/2222bbbb-0000-0000-0000-000000000000"
		arnC  = "arn:aws-cn:kms:cn-north-1:123456789012:key/3333cccc-0000-0000-0000-000000000000"
		idA   = "1111aaaa-0000-0000-0000-000000000000"
		alias = "arn:aws:kms:us-east-1:123456789012:alias/cloudchain"
	)
	cases := []struct {
		name       string
		configured string
		decrypt    []string
		record     string
		want       bool
	}{
		{"configured key ARN", arnA, nil, arnA, true},
		{"another key", arnA, nil, arnB, false},
		{"configured bare key id", idA, nil, arnA, true},
		{"configured bare key id, another key", idA, nil, arnB, false},
		{"decrypt key ARN", arnA, []string{arnB}, arnB, true},
		{"decrypt bare key id", arnB, []string{idA}, arnA, true},
		{"decrypt keys do not list it", arnA, []string{arnB}, arnC, false},
		{"other partition", arnA, nil, arnC, false},
		{"alias: cannot tell", "alias/cloudchain", nil, arnB, true},
		{"alias ARN: cannot tell", alias, nil, arnB, true},
		{"legacy record without key id", arnA, nil, "", true},
		{"record id is not a key ARN", arnA, nil, "local:0123456789abcdef", true},
		{"alias as record id", arnA, nil, alias, true},
		{"decrypt-only provider", "", nil, arnB, true},
		{"decrypt alias does not match", arnA, []string{"alias/old"}, arnB, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := New(nil, tc.configured, WithDecryptKeys(tc.decrypt...))
			if got := p.OwnsKey(tc.record); got != tc.want {
				t.Fatalf("OwnsKey(%q) with key %q and decrypt keys %v = %v, want %v", tc.record, tc.configured, tc.decrypt, got, tc.want)
			}
		})
	}
}

func TestParseKeyARN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		id   string
		isOK bool
	}{
		{"arn:aws:kms:us-east-1:123456789012:key/1111aaaa-0000", "1111aaaa-0000", true},
		{"arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd", "mrk-1234abcd", true},
		{"arn:aws:kms:us-east-1:123456789012:alias/x", "", false},
		{"arn:aws:s3:us-east-1:123456789012:key/x", "", false},
		{"arn:aws:kms:us-east-1:12345:key/x", "", false},
		{"arn:aws:kms::123456789012:key/x", "", false},
		{"arn:aws:kms:us-east-1:123456789012:key/\x1b[2J", "", false},
		{"arn:aws:kms:us-east-1:123456789012:key/", "", false},
		{"arn:evil:kms:us-east-1:123456789012:key/x", "", false},
		{"arn:aws:kms:US-EAST-1\x07:123456789012:key/x", "", false},
		{"1111aaaa-0000", "", false},
		{"", "", false},
	} {
		id, ok := parseKeyARN(tc.in)
		if id != tc.id || ok != tc.isOK {
			t.Errorf("parseKeyARN(%q) = %q, %v; want %q, %v", tc.in, id, ok, tc.id, tc.isOK)
		}
	}
}
