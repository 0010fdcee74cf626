package secretfmt

import (
	"fmt"
	"io"
)

// Encode writes secrets in format f. For FormatDotenv and FormatShell the
// secrets become variables with BuildEnv(opts), one group per service in
// the order the services first appear in secrets (so a later service
// overrides an earlier one); the other formats ignore opts.
func Encode(w io.Writer, f Format, secrets []Secret, opts EnvOptions) error {
	switch f {
	case FormatJSON:
		return EncodeJSON(w, secrets)
	case FormatYAML:
		return EncodeYAML(w, secrets)
	case FormatK8s:
		return EncodeK8s(w, secrets)
	case FormatDotenv, FormatShell:
		vars, err := BuildEnv(GroupByService(secrets), opts)
		if err != nil {
			return err
		}
		if f == FormatDotenv {
			return EncodeDotenv(w, vars)
		}
		return EncodeShell(w, vars)
	}
	return fmt.Errorf("%w %q", ErrUnknownFormat, string(f))
}

// Decode reads secrets in format f. service is required for dotenv and
// shell, selects the flat form for json and yaml, and overrides the
// documents' own services for k8s (see each decoder). Callers bound the
// input, e.g. with io.LimitReader(r, MaxInput+1), and refuse an input that
// fills the limit.
func Decode(r io.Reader, f Format, service string) ([]Secret, error) {
	switch f {
	case FormatJSON:
		return DecodeJSON(r, service)
	case FormatYAML:
		return DecodeYAML(r, service)
	case FormatK8s:
		return DecodeK8s(r, service)
	case FormatDotenv:
		return DecodeDotenv(r, service)
	case FormatShell:
		return DecodeShell(r, service)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownFormat, string(f))
}

// MaxInput is a suggested bound on the input of a decoder: 64 MiB, room for
// 1,000 secrets of 40 KiB each with base64 and quoting to spare.
const MaxInput = 64 << 20

// MaxSecrets is the most secrets one decoder call returns; more is an error
// (split the file). With MaxInput it bounds a decoder's memory.
const MaxSecrets = 100_000

func tooMany(format string, n int) error {
	if n > MaxSecrets {
		return fmt.Errorf("%s: more than %d secrets: split the input", format, MaxSecrets)
	}
	return nil
}

// GroupByService splits secrets into one slice per service, in the order
// the services first appear, keeping the secrets' order within each.
func GroupByService(secrets []Secret) [][]Secret {
	idx := map[string]int{}
	var out [][]Secret
	for _, s := range secrets {
		i, ok := idx[s.Service]
		if !ok {
			i = len(out)
			idx[s.Service] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], s)
	}
	return out
}
