// Command benchtool is the harness behind scripts/bench. It measures cchain
// end to end, one process per operation, against dynalite and the KMS test
// server behind loopback proxies that add a fixed latency to every request
// (standing for the network and service time of AWS) and count the requests
// by operation. Next to each cchain row it measures that row's floor in the
// same run: the least a Go program with the same AWS SDK needs for the same
// round trips (internal/benchtool/floor), or, for the embedded store, a
// hello-world Go binary. It prints a Markdown table.
//
// Usage (from the repo root; scripts/bench runs it):
//
//	go run ./internal/benchtool [-kms-latency 5ms] [-ddb-latency 2ms] [-runs 20] [-out bench/results.md]
//	go run ./internal/benchtool startup [-runs 200] BINARY... (times `BINARY --help`)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	var err error
	if len(args) > 0 && args[0] == "startup" {
		err = runStartup(ctx, args[1:], os.Stdout)
	} else {
		err = runBench(ctx, args, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

type benchFlags struct {
	kmsLatency, ddbLatency  time.Duration
	runs, bulkRuns, bigRuns int
	sizes                   []int
	out                     string
	bulk                    string
	keep                    bool
}

func parseBenchFlags(args []string) (*benchFlags, error) {
	f := &benchFlags{}
	fs := flag.NewFlagSet("benchtool", flag.ContinueOnError)
	fs.DurationVar(&f.kmsLatency, "kms-latency", 5*time.Millisecond, "latency added to every KMS (and STS) request")
	fs.DurationVar(&f.ddbLatency, "ddb-latency", 2*time.Millisecond, "latency added to every DynamoDB request")
	fs.IntVar(&f.runs, "runs", 40, "runs of each single-secret row and of the baselines")
	fs.IntVar(&f.bulkRuns, "bulk-runs", 20, "runs of each bulk read of up to 1,000 secrets")
	fs.IntVar(&f.bigRuns, "big-runs", 10, "runs of each bulk read of more than 1,000 secrets")
	sizes := fs.String("sizes", "10,100,1000,10000", "service sizes of the bulk-read rows")
	fs.StringVar(&f.out, "out", "bench/results.md", "also write the table to this `file` (\"\" for none)")
	fs.StringVar(&f.bulk, "bulk", "auto", "the bulk read: `cchain env SERVICE` (env), the bulkread helper (bulkread), or env when cchain has it (auto)")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary directory (binaries, configs) for inspection")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if f.sizes, err = parseSizes(*sizes); err != nil {
		return nil, err
	}
	if f.bulk != "auto" && f.bulk != "env" && f.bulk != "bulkread" {
		return nil, fmt.Errorf("-bulk must be auto, env or bulkread, not %q", f.bulk)
	}
	if f.runs < 1 || f.bulkRuns < 1 || f.bigRuns < 1 {
		return nil, errors.New("-runs, -bulk-runs and -big-runs must be at least 1")
	}
	return f, nil
}

// runBench runs the whole benchmark and writes the table to w (and f.out).
func runBench(ctx context.Context, args []string, w io.Writer) error {
	f, err := parseBenchFlags(args)
	if err != nil {
		return err
	}
	h, err := newHarness(ctx, f)
	if err != nil {
		return err
	}
	defer h.close()
	report, err := h.run(ctx)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, report); err != nil {
		return err
	}
	if f.out != "" {
		if err := os.WriteFile(f.out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", f.out, err)
		}
		fmt.Fprintf(os.Stderr, "benchtool: wrote %s\n", f.out)
	}
	return nil
}
