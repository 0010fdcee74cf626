package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cloudchain/cloudchain"
)

// Argument scrubbing. A mistyped command line can hold a secret (a password
// that starts with "-", or one with a space given unquoted to -s), so usage
// errors never repeat what was typed. The validators and the flag-error
// function below build usage errors themselves; errors from the store are
// never inspected or rewritten.

const notShown = "(not shown, in case it is a secret)"

// exactArgs accepts exactly n arguments.
func exactArgs(n int) cobra.PositionalArgs { return rangeArgs(n, n) }

// rangeArgs accepts from min to max arguments.
func rangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && len(args) <= max {
			return nil
		}
		want := fmt.Sprintf("accepts %d arg(s)", min)
		if min != max {
			want = fmt.Sprintf("accepts between %d and %d arg(s)", min, max)
		}
		if len(args) > max && max == 0 {
			return usagef("unexpected argument %s; `%s` takes no arguments", notShown, cmd.CommandPath())
		}
		return usagef("`%s` %s, received %d; see `%s --help`", cmd.CommandPath(), want, len(args), cmd.CommandPath())
	}
}

// scrubArgs wraps a validator that cobra provides (help, completion), whose
// messages may repeat the arguments, so that it returns a usage error that
// does not.
func scrubArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if v == nil {
			return nil
		}
		if err := v(cmd, args); err != nil {
			var ue *usageError
			if errors.As(err, &ue) {
				return err
			}
			return usagef("invalid arguments to `%s` %s; see `%s --help`", cmd.CommandPath(), notShown, cmd.CommandPath())
		}
		return nil
	}
}

// flagError turns pflag's parse errors into usage errors that name the flag
// at most, never its value or an unknown flag's text.
func flagError(_ *cobra.Command, err error) error {
	var (
		notExist *pflag.NotExistError
		required *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		syntax   *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &notExist) && notExist.GetSpecifiedShortnames() != "":
		// Keep the letter only: "unknown shorthand flag: 'S' in -Sup3rS3cret".
		return usagef("unknown shorthand flag: %q", []rune(notExist.GetSpecifiedName())[0])
	case errors.As(err, &required) && required.GetFlag() != nil:
		return usagef("flag needs an argument: --%s", required.GetFlag().Name)
	case errors.As(err, &invalid) && invalid.GetFlag() != nil:
		return usagef("invalid value for --%s %s", invalid.GetFlag().Name, notShown)
	case errors.As(err, &notExist), errors.As(err, &syntax):
		return usagef("unknown flag %s; run `cchain COMMAND --help` for the flags, and give a secret that starts with - on stdin", notShown)
	}
	return usagef("invalid flags %s; run `cchain COMMAND --help`", notShown)
}

// scrubTree makes every command of the tree return usage errors that never
// echo what was typed, including the commands cobra adds itself.
func scrubTree(c *cobra.Command) {
	c.Args = scrubArgs(c.Args)
	c.SetFlagErrorFunc(flagError)
	for _, sub := range c.Commands() {
		scrubTree(sub)
	}
}

// suggest returns the command nearest to word, if one is within an edit
// distance of 2. A word that close to a command name is a mistyped command,
// not a secret, but it is still not repeated.
func suggest(root *cobra.Command, word string) string {
	best, bestD := "", 3
	for _, c := range root.Commands() {
		if !c.IsAvailableCommand() && c.Name() != "help" {
			continue
		}
		for _, name := range append([]string{c.Name()}, c.Aliases...) {
			if d := editDistance(strings.ToLower(word), name); d < bestD {
				best, bestD = c.Name(), d
			}
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// unknownCommand is the usage error for a first argument that is not a
// command.
func unknownCommand(root *cobra.Command, word string) error {
	if s := suggest(root, word); s != "" {
		return usagef("unknown command %s; did you mean `cchain %s`?", notShown, s)
	}
	return usagef("unexpected argument %s; the commands are %s; quote a secret that has spaces, or give it on stdin with -s -", notShown, commandList(root))
}

// commandList names root's commands for messages, from root itself so that
// it never lags behind them.
func commandList(root *cobra.Command) string {
	var names []string
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() && c.Name() != "help" && c.Name() != "completion" {
			names = append(names, c.Name())
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// parseVersion parses a version number given as an argument or flag.
func parseVersion(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, usagef("a version must be a whole number %s", notShown)
	}
	return v, nil
}

// commentOption turns a --comment flag into put options.
func commentOption(comment string) []cloudchain.PutOption {
	if comment == "" {
		return nil
	}
	return []cloudchain.PutOption{cloudchain.WithComment(comment)}
}
