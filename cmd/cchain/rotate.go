package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cloudchain/cloudchain"
)

// rotateOptions are the settings of one rotate.
type rotateOptions struct {
	services []string
	// to, when set, is the new KMS key the service keys move to.
	to     cloudchain.Encrypter
	toName string
	// reencrypt seals every record again under a new service key version.
	reencrypt bool
	dryRun    bool
	asJSON    bool
	// progress, when set, is where a progress bar is drawn (a terminal).
	progress io.Writer
}

func (a *app) newRotateCommand() *cobra.Command {
	var (
		o         rotateOptions
		toKey     string
		oldToKey  string
		newMaster bool
	)
	cmd := &cobra.Command{
		Use:   "rotate [SERVICE...] [--kms-key KEY | --new-master-key] [--new-service-key] [--dry-run]",
		Short: "Move secrets to new keys: a new service key, a new KMS key or a new master key",
		Long: `cchain rotate SERVICE...: make a new version of each service's key. New secrets are
sealed under it; older secrets keep reading under the versions they were sealed with,
which are kept. Nothing is re-encrypted.

--new-service-key: seal every record of each service (each secret's current version
and its whole history, deletion markers included, and records of the Python tool or
of releases before service keys) again under a new service key version: for when
someone who could read the services leaves. Versions, values, authors, times and
comments do not change. Each secret is rewritten in one conditional write, so it is
always wholly old or wholly new, and a secret written meanwhile is read and done
again. A final check reads each service again and opens every record under the new
version. Old versions stay in the key ring (a client that read the ring before the
rotation may still write under one); the report lists those no record uses.

--kms-key KEY: wrap every version of each service's key again under the KMS key
KEY, one conditional write per service; no secret is re-encrypted. Run it with the
config still naming the old key, then name KEY in [IAMKMS] keyalias: no
decrypt_keys entry is needed for these services any more. With --new-service-key
the records are re-encrypted first, then the keys move.

--new-master-key: move the embedded store to a new local master key (its service
keys are wrapped again; no secret is re-encrypted).

Without SERVICE, --new-service-key, --kms-key and --new-master-key act on every
service. Every mode is safe to interrupt (Ctrl-C, or a crash) and to run again,
which completes it; --dry-run says what would be done and writes nothing.`,
		Example: `  cchain rotate db                            # a new service key version for db
  cchain rotate --new-service-key db          # re-encrypt all of db under a new version
  cchain rotate --new-service-key --dry-run   # what re-encrypting every service would do
  cchain rotate --kms-key alias/new           # every service's keys, under the new KMS key
  cchain rotate --new-master-key              # the embedded store, under a new master key`,
		Args: rangeArgs(0, 1<<16),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.services, o.asJSON = args, a.asJSON
			for _, s := range args {
				if err := cloudchain.ValidateService(s); err != nil {
					return err
				}
			}
			switch {
			case toKey != "" && oldToKey != "" && toKey != oldToKey:
				return usagef("--to-kms-key is the old name of --kms-key; give one of them")
			case toKey == "":
				toKey = oldToKey
			}
			switch {
			case newMaster && (toKey != "" || o.reencrypt):
				return usagef("--new-master-key cannot be combined with --kms-key or --new-service-key; run them one after the other")
			case newMaster:
				return runRotateMasterKey(cmd.Context(), a, cmd, args, o.dryRun, a.stdout)
			case toKey == "" && !o.reencrypt && len(args) == 0:
				return usagef("name the services to give a new service key version, or give --new-service-key, --kms-key KEY or --new-master-key to move every service")
			}
			if f, ok := a.env.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !o.asJSON {
				o.progress = f
			}
			st, err := a.open(cmd)
			if err != nil {
				return err
			}
			if toKey != "" {
				cfg, err := a.config(cmd)
				if err != nil {
					return err
				}
				if o.to, err = cfg.NewKMSKey(cmd.Context(), toKey); err != nil {
					return err
				}
				o.toName = toKey
			}
			return runRotate(cmd.Context(), st, a.stdout, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&toKey, "kms-key", "", "move the service keys to this KMS `key` (alias, key id or ARN)")
	f.StringVar(&oldToKey, "to-kms-key", "", "the old name of --kms-key")
	_ = f.MarkHidden("to-kms-key")
	_ = f.MarkDeprecated("to-kms-key", "use --kms-key")
	f.BoolVar(&o.reencrypt, "new-service-key", false, "re-encrypt every record under a new service key version")
	f.BoolVar(&newMaster, "new-master-key", false, "move the embedded store to a new local master key")
	f.BoolVar(&o.dryRun, "dry-run", false, "say what would be done; write nothing")
	f.BoolVar(&a.asJSON, "json", false, "print the report as JSON")
	return cmd
}

// rotateResult is one service's line of the report.
type rotateResult struct {
	Service string `json:"service"`
	// KeyVersion is the new service key version of a plain rotation.
	KeyVersion int64                       `json:"key_version,omitempty"`
	Reencrypt  *cloudchain.ReencryptReport `json:"reencrypt,omitempty"`
	// Rewrapped is how many service key versions moved to KMSKey.
	Rewrapped int    `json:"rewrapped,omitempty"`
	KMSKey    string `json:"kms_key,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
	plain     bool
}

// runRotate rotates each service (every service when none is given) as o
// says, printing a line per service as soon as it is done.
func runRotate(ctx context.Context, st *cloudchain.Store, w io.Writer, o rotateOptions) error {
	services := o.services
	if len(services) == 0 {
		var err error
		if services, err = st.Services(ctx); err != nil {
			return err
		}
	}
	results := []rotateResult{}
	for i, svc := range services {
		res, err := rotateService(ctx, st, o, svc)
		if err != nil {
			switch code, _ := classify(err); code {
			case exitInterrupted, exitTerminated, exitUnavailable, exitConflict, exitError:
				// A run that stopped part-way: say how to finish it.
				return fmt.Errorf("%w\nhint: %d of %d services were done before it stopped; every secret is wholly old or wholly new, and running the same command again completes it", err, i, len(services))
			}
			return err
		}
		if o.asJSON {
			results = append(results, *res)
			continue
		}
		if _, err := fmt.Fprintln(w, describeRotation(res)); err != nil {
			return err
		}
	}
	if o.asJSON {
		return printJSON(w, map[string]any{"services": results})
	}
	return nil
}

// rotateService does one service.
func rotateService(ctx context.Context, st *cloudchain.Store, o rotateOptions, svc string) (*rotateResult, error) {
	res := &rotateResult{Service: svc, DryRun: o.dryRun}
	if o.reencrypt {
		opts := []cloudchain.ReencryptOption{}
		if o.dryRun {
			opts = append(opts, cloudchain.ReencryptDryRun())
		}
		bar := newRotateBar(o.progress, svc)
		opts = append(opts, cloudchain.ReencryptProgress(bar.set))
		rep, err := st.ReencryptService(ctx, svc, opts...)
		bar.finish()
		if err != nil {
			return nil, fmt.Errorf("re-encrypting %s: %w", svc, err)
		}
		res.Reencrypt = rep
	}
	if o.to != nil {
		res.KMSKey = o.toName
		if o.dryRun {
			ids, err := serviceKeyIDs(ctx, st, svc)
			if err != nil {
				return nil, err
			}
			res.Rewrapped = len(ids)
		} else {
			n, err := st.RewrapServiceKeys(ctx, svc, o.to)
			if err != nil {
				return nil, fmt.Errorf("moving %s to %s: %w", svc, o.toName, err)
			}
			res.Rewrapped = n
		}
	}
	if !o.reencrypt && o.to == nil {
		res.plain = true
		if o.dryRun {
			ids, err := serviceKeyIDs(ctx, st, svc)
			if err != nil {
				return nil, err
			}
			if ids != nil {
				res.KeyVersion = int64(len(ids) + 1)
			}
			return res, nil
		}
		v, err := st.RotateServiceKey(ctx, svc)
		if err != nil {
			return nil, err
		}
		res.KeyVersion = v
	}
	return res, nil
}

// describeRotation is a service's line of the text report.
func describeRotation(r *rotateResult) string {
	svc := safeInline(r.Service)
	var parts []string
	if rep := r.Reencrypt; rep != nil {
		fresh := "new"
		if !rep.NewKey {
			fresh = "made earlier, unused until now"
		}
		if rep.DryRun {
			parts = append(parts, fmt.Sprintf("would re-encrypt %d of %d secrets (%d records, %d of them legacy or v1) under service key version %d (%s)", rep.Rewritten, rep.Secrets, rep.Records, rep.Upgraded, rep.KeyVersion, fresh))
		} else {
			parts = append(parts, fmt.Sprintf("re-encrypted %d of %d secrets (%d records, %d of them legacy or v1) under service key version %d (%s); check: %d records open under version %d", rep.Rewritten, rep.Secrets, rep.Records, rep.Upgraded, rep.KeyVersion, fresh, rep.Checked, rep.KeyVersion))
		}
		if rep.Conflicts > 0 {
			parts = append(parts, fmt.Sprintf("%d written meanwhile by others and done again", rep.Conflicts))
		}
		if rep.KeptAsIs > 0 {
			parts = append(parts, fmt.Sprintf("%d legacy history records of the upgraded service kept as they are (unreadable)", rep.KeptAsIs))
		}
		if len(rep.Unused) > 0 {
			parts = append(parts, fmt.Sprintf("%s no longer used by any record (kept in the key ring)", joinVersions(rep.Unused)))
		}
	}
	if r.KMSKey != "" {
		if r.DryRun {
			parts = append(parts, fmt.Sprintf("would move %d service key versions under %s", r.Rewrapped, safeInline(r.KMSKey)))
		} else {
			parts = append(parts, fmt.Sprintf("%d service key versions now under %s", r.Rewrapped, safeInline(r.KMSKey)))
		}
	}
	if r.plain {
		switch {
		case r.DryRun && r.KeyVersion == 0:
			return fmt.Sprintf("%s: would make a new service key version", svc)
		case r.DryRun:
			return fmt.Sprintf("%s: would make service key version %d", svc, r.KeyVersion)
		}
		return fmt.Sprintf("%s: service key version %d", svc, r.KeyVersion)
	}
	return svc + ": " + strings.Join(parts, "; ")
}

// joinVersions names service key versions: "version 1", "versions 1, 2".
func joinVersions(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	if len(s) == 1 {
		return "version " + s[0]
	}
	return "versions " + strings.Join(s, ", ")
}

// serviceKeyIDs returns the key id of each version of svc's key ring
// without a key-provider call, where the Store can say (nil otherwise).
func serviceKeyIDs(ctx context.Context, st *cloudchain.Store, svc string) ([]string, error) {
	r, ok := any(st).(interface {
		ServiceKeyIDs(context.Context, string) ([]string, error)
	})
	if !ok {
		return nil, nil
	}
	return r.ServiceKeyIDs(ctx, svc)
}

// rotateBar is the progress bar of one service's re-encryption, drawn once
// the service turns out to hold progressMin secrets or more.
type rotateBar struct {
	w       io.Writer
	service string
	bar     *progressbar.ProgressBar
}

func newRotateBar(w io.Writer, service string) *rotateBar {
	return &rotateBar{w: w, service: service}
}

func (b *rotateBar) set(done, total int) {
	if b.w == nil || total < progressMin {
		return
	}
	if b.bar == nil {
		b.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription("re-encrypting "+safeInline(b.service)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = b.bar.Set(done)
}

func (b *rotateBar) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
	}
}
