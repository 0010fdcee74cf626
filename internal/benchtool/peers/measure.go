package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// row is one command, run as a fresh process runs times.
type row struct {
	op, tool string
	argv     []string
	env      []string
	check    func(stdout []byte) error

	samples  []time.Duration
	requests []map[string]int
	rss      int64 // KiB, from one warm-up run
}

func (b *bench) rows() []*row {
	var rows []*row
	for _, n := range b.f.sizes {
		want := b.values[n]
		op := fmt.Sprintf("read all %s of a service", secrets(n))
		rows = append(rows,
			&row{op: op, tool: "cchain", argv: []string{b.bin("cchain"), "env", service(n)}, env: b.cchainEnvFor(n),
				check: func(out []byte) error { return countLines(out, len(want)) }},
			&row{op: op, tool: "credstash", argv: b.credstash(n, "getall"), env: b.credstashEnv,
				check: func(out []byte) error { return sameJSON(out, want) }})
		if b.f.chamber != "" {
			rows = append(rows, &row{op: op, tool: "chamber", argv: []string{b.f.chamber, "export", service(n)}, env: b.credstashEnv,
				check: func(out []byte) error { return sameJSON(out, want) }})
		}
	}
	n := b.f.sizes[0]
	want := b.values[n][getUser] + "\n"
	op := fmt.Sprintf("get one secret (of %s)", secrets(n))
	equal := func(out []byte) error {
		if string(out) != want {
			return fmt.Errorf("printed %d bytes, not the secret's %d", len(out), len(want))
		}
		return nil
	}
	rows = append(rows,
		&row{op: op, tool: "cchain", argv: []string{b.bin("cchain"), "get", service(n), getUser}, env: b.cchainEnvFor(n), check: equal},
		&row{op: op, tool: "credstash", argv: b.credstash(n, "get", getUser), env: b.credstashEnv, check: equal},
	)
	if b.f.chamber != "" {
		rows = append(rows, &row{op: op, tool: "chamber", argv: []string{b.f.chamber, "read", "-q", service(n), getUser}, env: b.credstashEnv, check: equal})
	}
	rows = append(rows,
		&row{op: "start-up only: `python3 -c 'import boto3, cryptography'`", tool: "(credstash's runtime)",
			argv: []string{b.f.python, "-c", "import boto3, cryptography"}, env: b.credstashEnv},
	)
	return rows
}

func secrets(n int) string {
	if n >= 1000 {
		return fmt.Sprintf("%d,%03d secrets", n/1000, n%1000)
	}
	return fmt.Sprintf("%d secrets", n)
}

func countLines(out []byte, n int) error {
	if got := bytes.Count(out, []byte("\n")); got != n {
		return fmt.Errorf("printed %d lines, not %d", got, n)
	}
	return nil
}

func sameJSON(out []byte, want map[string]string) error {
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		return fmt.Errorf("its output is not a JSON object: %w", err)
	}
	if len(got) != len(want) {
		return fmt.Errorf("printed %d secrets, not %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("the value of %s is not the one written", k)
		}
	}
	return nil
}

// measure runs every row once to check its output and take its peak RSS,
// then runs them all f.runs times, interleaved (run i of every row, then run
// i+1), so that a change in the machine's load falls on every row alike.
func (b *bench) measure(ctx context.Context) (string, error) {
	rows := b.rows()
	logf("warm-up: one checked run of each row")
	for _, r := range rows {
		if err := b.warmUp(ctx, r); err != nil {
			return "", err
		}
	}
	start := time.Now()
	for i := range b.f.runs {
		logf("round %d of %d", i+1, b.f.runs)
		for _, r := range rows {
			b.proxy.take()
			t := time.Now()
			if _, err := b.runChecked(ctx, r.env, nil, r.argv[0], r.argv[1:]...); err != nil {
				return "", err
			}
			r.samples = append(r.samples, time.Since(t))
			r.requests = append(r.requests, b.proxy.take())
		}
	}
	logf("measured in %s", time.Since(start).Round(time.Second))
	return b.report(rows), nil
}

// warmUp runs r once, under GNU time when it is installed (a Go parent's
// own maxrss would show in a child's), and checks what it printed.
func (b *bench) warmUp(ctx context.Context, r *row) error {
	argv := r.argv
	rssFile := filepath.Join(b.dir, "rss")
	_, err := os.Stat("/usr/bin/time")
	timed := err == nil
	if timed {
		argv = append([]string{"/usr/bin/time", "-f", "%M", "-o", rssFile}, argv...)
	}
	out, err := b.runChecked(ctx, r.env, nil, argv[0], argv[1:]...)
	if err != nil {
		return err
	}
	if r.check != nil {
		if err := r.check(out); err != nil {
			return fmt.Errorf("%s, %s: %w", r.op, r.tool, err)
		}
	}
	if timed {
		data, err := os.ReadFile(rssFile)
		if err != nil {
			return err
		}
		if f := strings.Fields(string(data)); len(f) > 0 {
			r.rss, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
