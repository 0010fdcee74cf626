// Package secretfmt converts secrets to and from the file formats that
// cchain's exec, env, export, import and render commands use: environment
// names, shell, dotenv, json, yaml and Kubernetes Secret manifests, and
// cchain:// references. It is pure: no store, no environment, no I/O beyond
// the io.Reader and io.Writer it is given.
//
// # Secrets
//
// A Secret is a service, a user and a value of bytes; any bytes are
// allowed. Every encoder writes secrets sorted by service and then user
// (byte order), so its output depends only on the set. Two secrets with the
// same service and user, and empty or non-UTF-8 names, are refused.
// Decoders return secrets in the same order.
//
// Encoders build their whole output in memory and write it with one Write,
// so a secret that the format cannot hold (an error wrapping
// ErrNotRepresentable) means nothing is written. Errors name secrets as a
// quoted "service/user" and never contain a value.
//
// # Environment names
//
// A user name that is a valid POSIX environment name, [A-Za-z_][A-Za-z0-9_]*,
// is used exactly (case included). Any other is mapped by EnvName:
// ASCII letters are upper-cased, every other character (rune) that is not
// an ASCII letter, digit or "_" becomes "_", and a leading digit gets a "_"
// in front: "db.password" is DB_PASSWORD, "9lives" is _9LIVES.
//
// BuildEnv makes the environment of several services, in command-line
// order: --map USER=NAME or --map SERVICE/USER=NAME overrides a name (the
// SERVICE/USER form wins over the USER form; a mapping that matches nothing
// is an error); --prefix P_ goes before every name, mapped ones included; a
// later service overrides an earlier one; two secrets of one service with
// one name are an error naming both. Prefixes and mapped names must
// themselves be valid names.
//
// # Shell (FormatShell, ".sh")
//
// One line per variable: export NAME='VALUE'. The value is in single
// quotes, in which a POSIX shell takes every byte as it is; a single quote
// in the value is written as the four bytes below (close the quotes, an
// escaped quote, reopen them):
//
//	'\''
//
// Line
// breaks, $, backticks, backslashes and empty values need nothing else, so
// ". ./file" in sh, dash, bash, zsh or ksh sets exactly the stored bytes.
// A shell variable cannot hold a NUL byte: such a value is an error naming
// the secret. DecodeShell reads this form back (and hand-written lines made
// of single-quoted parts, backslash escapes and plain characters); it does
// no expansion, and a line that would need it ($, backticks, double quotes)
// is an error.
//
// # Dotenv (FormatDotenv, ".env")
//
// One line per variable, NAME='VALUE' or NAME="VALUE", in the dialect that
// godotenv (github.com/joho/godotenv) and docker compose read:
//
//   - A value with no single quote, no line break (LF or CR) and no
//     final backslash is written in single quotes, which hold it as it is:
//     $, #, =, backslashes, double quotes and unicode are literal.
//   - Any other value is written in double quotes, with \\ for a
//     backslash, \" for a double quote, \$ for a dollar sign (so that no
//     reader expands variables), \n for LF and \r for CR. Multi-line
//     values are always written this way, because godotenv rewrites
//     "---\n" anywhere in a file.
//   - A NUL byte is an error naming the secret.
//
// godotenv and docker compose misread two rare cases that DecodeDotenv
// reads correctly: a value that needs double quotes (it has a single quote
// or a line break) and ends in a backslash or a double quote.
//
// DecodeDotenv reads: blank lines; comment lines starting with "#";
// assignments "[export ]NAME=VALUE" with optional blanks around "=", NAME of
// [A-Za-z_][A-Za-z0-9_.-]*. VALUE is one of:
//
//   - '...': literal up to the next single quote, line breaks included;
//   - "...": up to the next unescaped double quote, line breaks included,
//     with \n as LF, \r as CR and a backslash before any other character
//     standing for that character;
//   - unquoted: up to the end of the line or to a "#" that follows a blank,
//     trailing blanks removed.
//
// After a quoted value only blanks and a "# comment" may follow on the
// line. CRLF line ends are read as LF. Variables are never expanded: a "$"
// followed by a letter, "_", "{" or "(" in a double-quoted or unquoted
// value is an error (write \$ or use single quotes), so that a file never
// means one thing here and another in docker compose. A name set twice is
// an error. Each variable becomes a secret of the service the caller gives
// (ErrNoService without one); its user is the variable name.
//
// Dotenv and shell carry environment names, not users: an export followed
// by an import reproduces the users only when they were valid names. Use
// json or yaml to move secrets exactly.
//
// # JSON (FormatJSON, ".json")
//
// EncodeJSON writes {"SERVICE": {"USER": VALUE}}, keys sorted, indented by
// two spaces. VALUE is a JSON string when the bytes are valid UTF-8, and
// otherwise the base64 marker:
//
//	{"base64": "STANDARD BASE64 WITH PADDING"}
//
// (RFC 4648 section 4 alphabet, "=" padding, no line breaks). The marker is
// an object with exactly the one key "base64"; on reading, any other
// object in a value's place is an error, and the base64 must be canonical.
// EncodeEnvJSON writes an environment (env --format json) as the flat
// object {"NAME": VALUE} with the same VALUE rule.
//
// DecodeJSON reads the nested form when no service is given and the flat
// form {"USER": VALUE} into the given service when one is; the wrong form
// for the call is an error that says so. A value must be a string or the
// marker: numbers, booleans, null and arrays are errors (quote them). Keys
// given twice, empty names and input that is not UTF-8 are errors. Errors
// give the line.
//
// # YAML (FormatYAML, ".yaml", ".yml")
//
// The same two forms as JSON, written and read with gopkg.in/yaml.v3, keys
// sorted, indented by two spaces. A value is written
//
//   - plain, when it is ASCII letters, digits and _ . - / @ + = only,
//     starts with a letter or "_", and is not a word that a YAML 1.1 reader
//     takes for a boolean or null (y, yes, n, no, true, false, on, off,
//     null, in any case);
//   - as a literal block ("|"), when it has a line break and reads back
//     exactly that way;
//   - double-quoted, with escapes, otherwise;
//   - as the base64 marker {base64: ...} when the bytes are not UTF-8 or no
//     style reads back exactly.
//
// Every chosen style is checked by reading it back before it is used, so
// values such as yes, 0123, ~, null, 1e3, "" or text with trailing blanks
// and line breaks stay strings, byte for byte. Names (keys) are plain or
// double-quoted by the same rule. EncodeEnvYAML writes an environment as a
// flat mapping.
//
// DecodeYAML takes one document. A value must be a string scalar (5432,
// true or null unquoted are errors: quote them), a !!binary scalar or the
// marker. A key is read as written (1234: is the name "1234"). Aliases and
// merge keys are refused, so nothing expands beyond the input; a name given
// twice is an error.
//
// # Kubernetes (FormatK8s, by name only: it is yaml)
//
// EncodeK8s writes, per service, a v1 Secret of type Opaque; documents are
// separated by "---":
//
//	apiVersion: v1
//	kind: Secret
//	metadata:
//	  name: K8sName(SERVICE)
//	  annotations:
//	    cloudchain.io/service: SERVICE
//	type: Opaque
//	data:
//	  USER: BASE64(VALUE)
//
// K8sName makes a DNS-1123 subdomain: ASCII letters lower-cased, any
// character outside a-z, 0-9, "-" and "." becomes "-", each dot-separated
// part loses leading and trailing "-", empty parts are dropped, and the
// result is cut to 253 bytes. An empty result, and two services with one
// name, are errors. Users must be valid data keys ([-._a-zA-Z0-9]+, at
// most 253 bytes, not "." or "..", not starting with ".."), or it is an
// error naming the secret. The annotation keeps the exact service name.
//
// DecodeK8s reads one or more such documents (empty documents skipped),
// each with apiVersion v1 and kind Secret. The service is the caller's if
// given, else the cloudchain.io/service annotation, else metadata.name.
// data values are base64; stringData values are text and win over data for
// the same key, as in Kubernetes. Other fields are ignored.
//
// # References
//
// A value of the form cchain://SERVICE/USER or
// cchain://SERVICE/USER?version=N names a secret. SERVICE and USER are URL
// path segments: "/", "?", "#", "%", spaces and other reserved bytes in
// names are percent-escaped (Ref.String does this, url.PathEscape rules).
// N is a positive decimal integer without leading zeros. ParseRef reports
// a value that does not start with "cchain://" as not a reference; one that
// does but is malformed is an error that names at most the service and
// user, never the rest of the value.
//
// # Formats from file names
//
// FormatFromPath maps .json, .yaml, .yml, .env (also a file named .env) and
// .sh, case-insensitively; ParseFormat maps the names json, yaml, yml,
// dotenv, env, shell, sh, k8s and kubernetes.
//
// # Bounded input
//
// Decoders read their whole input. Callers must bound it, for example with
// io.LimitReader(r, MaxInput+1), and refuse input that reaches the limit.
// Within that, memory is linear in the input: a few times its size plus a
// fixed cost per secret (a few hundred bytes) or, for yaml and k8s, per
// yaml node. TestDecodeMemoryBound measures adversarial inputs of about
// 1 MiB: the worst shapes, files of nothing but tiny entries, allocate
// about 65 times the input for dotenv, shell and json and about 140 times
// for yaml and k8s; ordinary shapes 2 to 8 times. The per-entry costs are
// capped whatever the input size: no decoder returns more than MaxSecrets
// secrets (about 40-65 MB), and yaml and k8s refuse input with more than
// MaxYAMLTokens structural marks or MaxYAMLDocuments documents (about 100
// MB). Aliases are refused, so nothing expands; this package recurses no
// deeper than the formats' three levels, and the yaml library limits its
// own depth.
package secretfmt
