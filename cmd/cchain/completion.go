package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudchain/cloudchain"
)

// Shell completion. cobra's `completion bash|zsh|fish|powershell` command
// writes the scripts; the scripts call `cchain __complete ARGS... WORD`,
// which runs the ValidArgsFunction set here. Service and user names come
// from the store when it answers within completionTimeout; otherwise, and
// on any error (no configuration, no credentials, a locked or missing
// store), nothing is completed and nothing is printed but cobra's
// directive. Completion never prompts and never creates a file: the store
// is opened for reading only (the embedded store creates its files on the
// first write).

// completionTimeout bounds the whole of one completion's store access.
const completionTimeout = 300 * time.Millisecond

// argKind is what a positional argument names.
type argKind int

const (
	argOther argKind = iota
	argService
	argUser
)

// argKinds reads the positional arguments of a command from its Use line:
// "get SERVICE USER" gives [service user]; "rotate SERVICE..." gives
// [service] with repeat; anything after "--" is not completed.
func argKinds(use string) (kinds []argKind, repeat bool) {
	words := strings.Fields(use)
	if len(words) < 2 {
		return nil, false
	}
	for _, w := range words[1:] {
		if w == "--" || strings.HasPrefix(w, "--") {
			break
		}
		w = strings.Trim(w, "[]")
		rep := strings.HasSuffix(w, "...")
		w = strings.TrimSuffix(strings.Trim(w, "[]"), "...")
		k := argOther
		switch {
		case strings.Contains(w, "SERVICE") || w == "SRC" || w == "DST":
			k = argService
		case w == "USER":
			k = argUser
		}
		kinds = append(kinds, k)
		if rep {
			return kinds, true
		}
	}
	return kinds, false
}

// afterDash reports whether the word being completed comes after a "--".
// cobra parses the flags twice during completion, the first time with a
// "--" of its own at the end, and pflag keeps the position of the first
// "--" it saw: a position before the last argument can only be the user's,
// but one at the end is either. Then the word typed before the one being
// completed tells (__complete is only run by the shell scripts, with the
// words as typed).
func afterDash(cmd *cobra.Command, args []string) bool {
	at := cmd.ArgsLenAtDash()
	switch {
	case at < 0:
		return false
	case at < len(args):
		return true
	}
	n := len(os.Args)
	return n >= 3 && os.Args[n-2] == "--"
}

// completeNames gives every command of root whose Use line names SERVICE or
// USER arguments, and that completes nothing itself, a completion of those
// names from the store.
func (a *app) completeNames(root *cobra.Command) {
	for _, c := range root.Commands() {
		kinds, repeat := argKinds(c.Use)
		if c.ValidArgsFunction != nil || !slices.ContainsFunc(kinds, func(k argKind) bool { return k != argOther }) {
			continue
		}
		c.ValidArgsFunction = a.nameCompleter(kinds, repeat, strings.Contains(c.Use, " -- "))
	}
}

// nameCompleter completes the positional arguments described by kinds.
// dash says the command takes "--" and a command after its arguments.
func (a *app) nameCompleter(kinds []argKind, repeat, dash bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if dash && afterDash(cmd, args) {
			// After "--" (exec's command): the shell's own completion.
			return nil, cobra.ShellCompDirectiveDefault
		}
		i := len(args)
		if i >= len(kinds) {
			if !repeat {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			i = len(kinds) - 1
		}
		var service string
		switch kinds[i] {
		case argService:
		case argUser:
			// Users belong to the first service argument (cp SRC DST USER...).
			for j, k := range kinds {
				if k == argService && j < len(args) {
					service = args[j]
					break
				}
			}
			if service == "" {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
		default:
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		// Names already given as arguments of the same kind are not
		// offered again (diff staging staging, rotate db db).
		given := map[string]bool{}
		for j, arg := range args {
			if k := kinds[min(j, len(kinds)-1)]; k == kinds[i] {
				given[arg] = true
			}
		}
		var out []cobra.Completion
		for _, n := range a.storeNames(cmd, service, cmd.Name() == "undelete") {
			if strings.HasPrefix(n, toComplete) && !given[n] {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// storeNames returns the services, or the users of service (the live ones,
// or with deleted the deleted ones), or nothing if the store cannot be read
// within completionTimeout.
func (a *app) storeNames(cmd *cobra.Command, service string, deleted bool) []string {
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, completionTimeout)
	defer cancel()
	cfg, err := a.config(cmd)
	if err != nil {
		return nil
	}
	c := *cfg
	c.Notify = nil // warnings would reach the shell's screen
	c.LockTimeout = min(c.LockTimeout, completionTimeout)
	done := make(chan []string, 1)
	// The store is used in its own goroutine, so that nothing it does can
	// hold the shell past the deadline; the process ends right after.
	go func() {
		var names []string
		defer func() { done <- names }()
		st, err := c.Open(ctx)
		if err != nil {
			return
		}
		defer st.Close()
		if service == "" {
			names, _ = st.Services(ctx)
			return
		}
		if cloudchain.ValidateService(service) != nil {
			return
		}
		entries, err := st.List(ctx, service)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Deleted == deleted {
				names = append(names, e.User)
			}
		}
	}()
	select {
	case names := <-done:
		return usableNames(names)
	case <-ctx.Done():
		return nil
	}
}

// usableNames drops names that a shell completion cannot carry (cobra
// keeps only the first line of a completion, and a tab starts its
// description).
func usableNames(names []string) []string {
	return slices.DeleteFunc(names, func(n string) bool { return strings.ContainsAny(n, "\t\r\n") })
}

// completeFormats completes a --format flag.
func completeFormats(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"json", "yaml", "dotenv", "shell", "k8s"}, cobra.ShellCompDirectiveNoFileComp
}

// completeServices completes a flag that names a service.
func (a *app) completeServices(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	for _, n := range a.storeNames(cmd, "", false) {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
