// Command peers is the harness behind scripts/bench-peers: it measures
// cchain side by side with credstash (fugue/credstash, run from its single
// credstash.py with the local Python), both against one moto_server (KMS
// and DynamoDB) that it starts on a free loopback port and stops on exit.
//
// For services of each size it writes the secrets with each tool (timed
// apart: set-up, not measurement), then measures, one fresh process per
// run and the rows interleaved: reading every secret of the service
// (`cchain env SERVICE`; `credstash -t TABLE getall`, credstash having no
// services but one table per set of secrets) and one get (`cchain get`,
// `credstash get`); with -chamber, also chamber on its SSM Parameter
// Store backend (`chamber import`, `chamber export`, `chamber read -q`). A loopback proxy in front of moto counts every request
// by service and operation. It prints a Markdown table.
//
// Usage (from the repo root; scripts/bench-peers runs it):
//
//	go run ./internal/benchtool/peers -credstash PATH/credstash.py [-chamber PATH/chamber] [-runs 10] [-sizes 10,100,1000] [-out FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type flags struct {
	credstash, python, moto string
	chamber                 string
	runs                    int
	sizes                   []int
	out                     string
	kmsLatency, ddbLatency  time.Duration
	ssmLatency              time.Duration
	timeout                 time.Duration
	keep                    bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.StringVar(&f.credstash, "credstash", "", "`path` of credstash.py (from fugue/credstash)")
	fs.StringVar(&f.chamber, "chamber", "", "`path` of a chamber binary (segmentio/chamber, SSM backend) to measure too; none if empty")
	fs.StringVar(&f.python, "python", "python3", "the Python that runs credstash (needs boto3 and cryptography)")
	fs.StringVar(&f.moto, "moto", "moto_server", "the moto_server executable")
	fs.IntVar(&f.runs, "runs", 10, "measured runs of each row")
	sizes := fs.String("sizes", "10,100,1000", "service sizes (secrets per service)")
	fs.StringVar(&f.out, "out", "", "also write the table to this `file` (bench/peers.md quotes two runs, with remarks)")
	fs.DurationVar(&f.kmsLatency, "kms-latency", 0, "latency added to every KMS request by the counting proxy")
	fs.DurationVar(&f.ddbLatency, "ddb-latency", 0, "latency added to every DynamoDB request by the counting proxy")
	fs.DurationVar(&f.ssmLatency, "ssm-latency", 0, "latency added to every SSM request (chamber) by the counting proxy")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "give up after this long")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary directory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.credstash == "" {
		return nil, errors.New("give -credstash PATH/credstash.py (scripts/bench-peers finds it)")
	}
	if f.runs < 1 {
		return nil, errors.New("-runs must be at least 1")
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("-sizes: %q is not a size from 1 to 10000", s)
		}
		f.sizes = append(f.sizes, n)
	}
	return f, nil
}

func run(ctx context.Context, args []string) error {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	b, err := newBench(ctx, f)
	if err != nil {
		return err
	}
	defer b.close()
	report, err := b.measure(ctx)
	if err != nil {
		return err
	}
	fmt.Print(report)
	if f.out != "" {
		if err := os.WriteFile(f.out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", f.out, err)
		}
		logf("wrote %s", f.out)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "peers: "+format+"\n", args...)
}
