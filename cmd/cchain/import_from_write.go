package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/internal/migrate"
)

// importFromRun says how to write and report one import --from.
type importFromRun struct {
	from     string
	dryRun   bool
	asJSON   bool
	progress io.Writer
}

// importedResult is one write (or unchanged secret) of an import --from.
type importedResult struct {
	cloudchain.WriteResult
	Source string `json:"source"`
}

// failedItem is an item that was not imported.
type failedItem struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

// importFromFailed is the error of an import that wrote what it could but
// left failed items out.
type importFromFailed struct{ n int }

func (e *importFromFailed) Error() string {
	return fmt.Sprintf("%d items were not imported (listed on stdout as failed); nothing was written for them", e.n)
}

// runImportFrom writes what a reader returned: one PutMany per service (so
// one key-provider call per service), or, when a secret has several versions
// (credstash --all-versions), successive PutMany rounds that write each
// secret's versions oldest first. A secret whose newest value is already the
// current one is left alone, versions and all, so that a second import
// writes nothing. Every written, unchanged and failed secret is reported.
func runImportFrom(ctx context.Context, st *cloudchain.Store, w io.Writer, o importFromRun, res *migrate.Result) error {
	failures := slices.Clone(res.Failures)
	// Chains of versions per secret, oldest first, in order of services.
	type key struct{ service, user string }
	chains := map[key][]migrate.Secret{}
	var services []string
	users := map[string][]string{}
	tooLarge := map[key]bool{}
	for _, s := range res.Secrets {
		k := key{s.Service, s.User}
		if len(s.Value) > cloudchain.MaxSecretSize {
			tooLarge[k] = true
			failures = append(failures, migrate.Failure{Source: s.Source, Err: fmt.Errorf("%w: the secret is %d bytes, the limit is %d", cloudchain.ErrTooLarge, len(s.Value), cloudchain.MaxSecretSize)})
		}
		if _, ok := users[s.Service]; !ok {
			services = append(services, s.Service)
		}
		if _, ok := chains[k]; !ok {
			users[s.Service] = append(users[s.Service], s.User)
		}
		chains[k] = append(chains[k], s)
	}
	for k := range tooLarge {
		for _, s := range chains[k] {
			if len(s.Value) <= cloudchain.MaxSecretSize {
				failures = append(failures, migrate.Failure{Source: s.Source, Err: errors.New("not imported: another version of this secret is too large")})
			}
		}
		delete(chains, k)
	}
	total := 0
	for _, c := range chains {
		total += len(c)
	}
	var bar *progressbar.ProgressBar
	if o.progress != nil && total >= progressMin {
		bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(o.progress),
			progressbar.OptionSetDescription("importing"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	var done []importedResult
	stop := func(err error) error {
		if bar != nil {
			bar.Clear()
		}
		var landed []cloudchain.WriteResult
		for _, r := range done {
			landed = append(landed, r.WriteResult)
		}
		perr := printImportFrom(w, o, done, failures)
		return &partialError{err: err, done: landed, dryRun: o.dryRun, verb: "import", printErr: perr}
	}
	var dry []cloudchain.PutOption
	if o.dryRun {
		dry = append(dry, cloudchain.DryRun())
	}
	for _, service := range services {
		var chainsOf [][]migrate.Secret
		for _, u := range users[service] {
			if c, ok := chains[key{service, u}]; ok {
				chainsOf = append(chainsOf, c)
			}
		}
		if len(chainsOf) == 0 {
			continue
		}
		if bar != nil {
			bar.Describe("importing " + safeInline(service))
		}
		// First the newest values: this is the whole import when each
		// secret has one version, and otherwise finds the secrets that
		// are already current.
		multi := false
		newest := make([]cloudchain.SecretValue, len(chainsOf))
		for i, c := range chainsOf {
			newest[i] = cloudchain.SecretValue{User: c[0].User, Value: c[len(c)-1].Value}
			multi = multi || len(c) > 1
		}
		opts := dry
		if multi {
			opts = []cloudchain.PutOption{cloudchain.DryRun()}
		}
		results, err := st.PutMany(ctx, service, newest, opts...)
		if err != nil {
			return stop(fmt.Errorf("%s: %w", service, err))
		}
		if !multi || o.dryRun {
			for i, r := range results {
				c := chainsOf[i]
				done = append(done, importedResult{r, describeChain(c)})
				if bar != nil {
					bar.Add(len(c))
				}
			}
			continue
		}
		var pending [][]migrate.Secret
		for i, r := range results {
			if r.Status == cloudchain.Unchanged {
				done = append(done, importedResult{r, describeChain(chainsOf[i])})
				if bar != nil {
					bar.Add(len(chainsOf[i]))
				}
				continue
			}
			pending = append(pending, chainsOf[i])
		}
		for round := 0; ; round++ {
			var values []cloudchain.SecretValue
			var sources []migrate.Secret
			for _, c := range pending {
				if round < len(c) {
					values = append(values, cloudchain.SecretValue{User: c[round].User, Value: c[round].Value})
					sources = append(sources, c[round])
				}
			}
			if len(values) == 0 {
				break
			}
			results, err := st.PutMany(ctx, service, values)
			for i, r := range results {
				done = append(done, importedResult{r, sources[i].Source})
			}
			if err != nil {
				return stop(fmt.Errorf("%s: %w", service, err))
			}
			if bar != nil {
				bar.Add(len(values))
			}
		}
	}
	if bar != nil {
		bar.Finish()
	}
	if err := printImportFrom(w, o, done, failures); err != nil {
		return err
	}
	if len(failures) > 0 {
		return &importFromFailed{len(failures)}
	}
	return nil
}

// describeChain names the source of a secret's newest version, and how many
// versions it has when more than one.
func describeChain(c []migrate.Secret) string {
	src := c[len(c)-1].Source
	if len(c) > 1 {
		src += fmt.Sprintf(" (and %d earlier)", len(c)-1)
	}
	return src
}

// printImportFrom reports an import --from: one line per write or unchanged
// secret, one per failed item, and a summary; or one JSON object.
func printImportFrom(w io.Writer, o importFromRun, done []importedResult, failures []migrate.Failure) error {
	slices.SortStableFunc(failures, func(a, b migrate.Failure) int { return strings.Compare(a.Source, b.Source) })
	counts := map[cloudchain.WriteStatus]int{}
	for _, r := range done {
		counts[r.Status]++
	}
	if o.asJSON {
		failed := []failedItem{}
		for _, f := range failures {
			failed = append(failed, failedItem{Source: f.Source, Error: f.Err.Error()})
		}
		if done == nil {
			done = []importedResult{}
		}
		return printJSON(w, map[string]any{
			"from":      o.from,
			"dry_run":   o.dryRun,
			"results":   done,
			"failures":  failed,
			"created":   counts[cloudchain.Created],
			"updated":   counts[cloudchain.Updated],
			"unchanged": counts[cloudchain.Unchanged],
			"failed":    len(failures),
		})
	}
	for _, r := range done {
		status := string(r.Status)
		if o.dryRun && r.Status != cloudchain.Unchanged {
			status = "would be " + status
		}
		if _, err := fmt.Fprintf(w, "%s %s/%s version %d from %s\n", status, safeInline(r.Service), safeInline(r.User), r.Version, safeInline(r.Source)); err != nil {
			return &outputError{err}
		}
	}
	for _, f := range failures {
		if _, err := fmt.Fprintf(w, "failed %s: %s\n", safeInline(f.Source), safeInline(f.Err.Error())); err != nil {
			return &outputError{err}
		}
	}
	summary := fmt.Sprintf("%d created, %d updated, %d unchanged, %d failed", counts[cloudchain.Created], counts[cloudchain.Updated], counts[cloudchain.Unchanged], len(failures))
	if o.dryRun {
		summary = "dry run, nothing was written: " + summary
	}
	if _, err := fmt.Fprintln(w, summary); err != nil {
		return &outputError{err}
	}
	return nil
}
