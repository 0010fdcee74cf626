package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// row is one line of the table: a command run as a fresh process, runs
// times.
type row struct {
	name  string
	argv  []string
	env   []string
	stdin func(run int) []byte
	runs  int
	floor *row

	samples  []time.Duration
	rss      int64 // KiB
	requests []map[string]int
}

func (h *harness) rows() []*row {
	f := h.f
	cchain := h.bin("cchain")
	hello := &row{name: "hello-world Go binary (baseline)", argv: []string{h.bin("hello")}, runs: f.runs}
	floorGet := &row{name: "floor: get (SDK program: BatchGetItem, then Decrypt)", env: h.floorEnv, runs: f.runs,
		argv: []string{h.bin("floor"), "get", "-table", table, "-service", getSvc, "-user", getUser, "-blob", h.blob(getSvc)}}
	floorPut := &row{name: "floor: put (SDK program: BatchGetItem, Decrypt, then PutItem)", env: h.floorEnv, runs: f.runs,
		argv: []string{h.bin("floor"), "put", "-table", table, "-service", getSvc, "-user", putUser, "-blob", h.blob(getSvc)}}
	rows := []*row{
		hello,
		{name: "cchain --help", argv: []string{cchain, "--help"}, env: h.localEnv, runs: f.runs, floor: hello},
		{name: "embedded: cchain get", argv: []string{cchain, "get", localSvc, localUser}, env: h.localEnv, runs: f.runs, floor: hello},
		{name: "embedded: cchain put", argv: []string{cchain, "put", localSvc, localUser, "-"}, env: h.localEnv, runs: f.runs, floor: hello,
			stdin: func(int) []byte { return randomValue() }},
		floorGet,
		{name: "cchain get", argv: []string{cchain, "get", getSvc, getUser}, env: h.awsEnv, runs: f.runs, floor: floorGet},
		floorPut,
		{name: "cchain put (existing service)", argv: []string{cchain, "put", getSvc, putUser, "-"}, env: h.awsEnv, runs: f.runs, floor: floorPut,
			stdin: func(int) []byte { return randomValue() }},
	}
	for _, n := range f.sizes {
		runs := f.bulkRuns
		if n > 1000 {
			runs = f.bigRuns
		}
		svc := bulkService(n)
		fl := &row{name: fmt.Sprintf("floor: read %s (SDK program: Query pages, then Decrypt)", count(n)), env: h.floorEnv, runs: runs,
			argv: []string{h.bin("floor"), "query", "-table", table, "-service", svc, "-blob", h.blob(svc)}}
		rows = append(rows, fl, &row{name: fmt.Sprintf("read all %s of a service", count(n)), env: h.awsEnv, runs: runs, floor: fl,
			argv: append(slices.Clone(h.bulkCmd), svc)})
	}
	return rows
}

func count(n int) string {
	s := fmt.Sprint(n)
	if n >= 1000 {
		s = fmt.Sprintf("%d,%03d", n/1000, n%1000)
	}
	return s + " secrets"
}

// run measures every row, interleaved (run i of every row, then run i+1),
// so that a change in the machine's load falls on all rows alike.
func (h *harness) run(ctx context.Context) (string, error) {
	rows := h.rows()
	logf("warming up (one run of each row, for its peak RSS only)")
	for _, r := range rows {
		rss, err := h.peakRSS(ctx, r)
		if err != nil {
			return "", err
		}
		r.rss = rss
	}
	maxRuns := 0
	for _, r := range rows {
		maxRuns = max(maxRuns, r.runs)
	}
	start := time.Now()
	for i := range maxRuns {
		logf("round %d of %d", i+1, maxRuns)
		for _, r := range rows {
			if i >= r.runs {
				continue
			}
			d, reqs, err := h.runOnce(ctx, r, r.argv, i)
			if err != nil {
				return "", err
			}
			r.samples = append(r.samples, d)
			r.requests = append(r.requests, reqs)
		}
	}
	logf("measured in %s", time.Since(start).Round(time.Second))
	return h.report(rows), nil
}

// timeBinary is GNU time, used to measure a child's peak RSS: a child's
// maxrss counts the memory of the process that started it (a Go process
// starts children sharing its address space until exec), so the harness
// cannot measure it directly without adding its own ~20 MB.
const timeBinary = "/usr/bin/time"

// peakRSS runs r once under GNU time and returns its peak RSS in KiB, or
// the child's own maxrss (which includes the harness's) when GNU time is
// not installed.
func (h *harness) peakRSS(ctx context.Context, r *row) (int64, error) {
	if _, err := os.Stat(timeBinary); err != nil {
		h.rssNote = "the child's maxrss, which includes ~20 MiB of the harness (GNU time is not installed)"
		ps, err := h.runProcess(ctx, r, r.argv, -1)
		if err != nil {
			return 0, err
		}
		return maxRSS(ps), nil
	}
	h.rssNote = "`/usr/bin/time -f %M`, one run"
	out := filepath.Join(h.dir, "rss")
	if _, err := h.runProcess(ctx, r, append([]string{timeBinary, "-f", "%M", "-o", out}, r.argv...), -1); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("%s: no output from %s", r.name, timeBinary)
	}
	return strconv.ParseInt(fields[len(fields)-1], 10, 64)
}

// runOnce runs argv (r's command) once as a fresh process and returns its
// wall time and the requests it made.
func (h *harness) runOnce(ctx context.Context, r *row, argv []string, i int) (time.Duration, map[string]int, error) {
	h.takeCounts()
	t := time.Now()
	_, err := h.runProcess(ctx, r, argv, i)
	d := time.Since(t)
	reqs := h.takeCounts()
	return d, reqs, err
}

func (h *harness) runProcess(ctx context.Context, r *row, argv []string, i int) (*os.ProcessState, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = r.env
	if r.stdin != nil {
		cmd.Stdin = bytes.NewReader(r.stdin(i))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4096}
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", r.name, err, stderr.String())
	}
	return cmd.ProcessState, nil
}

func (h *harness) takeCounts() map[string]int {
	all := map[string]int{}
	for _, p := range []*proxy{h.ddbProxy, h.kmsProxy, h.stsProxy} {
		maps.Copy(all, p.take())
	}
	return all
}

type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
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

// opOrder puts DynamoDB operations first, then KMS, then STS.
var opOrder = []string{"BatchGetItem", "GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "GenerateDataKey", "Decrypt", "Encrypt", "GetCallerIdentity"}

// formatRequests says which requests a row's runs made, by operation; a
// count that varied between runs is shown as min-max.
func formatRequests(runs []map[string]int) string {
	ops := map[string]bool{}
	for _, m := range runs {
		for op := range m {
			ops[op] = true
		}
	}
	names := slices.Collect(maps.Keys(ops))
	slices.SortFunc(names, func(a, b string) int {
		ia, ib := slices.Index(opOrder, a), slices.Index(opOrder, b)
		if ia < 0 {
			ia = len(opOrder)
		}
		if ib < 0 {
			ib = len(opOrder)
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, op := range names {
		lo, hi := -1, 0
		for _, m := range runs {
			n := m[op]
			if lo < 0 || n < lo {
				lo = n
			}
			hi = max(hi, n)
		}
		if lo == hi {
			parts = append(parts, fmt.Sprintf("%d %s", lo, op))
		} else {
			parts = append(parts, fmt.Sprintf("%d–%d %s", lo, hi, op))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (r *row) kms() (lo, hi int) {
	lo = -1
	for _, m := range r.requests {
		n := m["Decrypt"] + m["GenerateDataKey"] + m["Encrypt"]
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	return lo, hi
}

func (r *row) ratio() float64 {
	if r.floor == nil {
		return 0
	}
	return float64(median(r.samples)) / float64(median(r.floor.samples))
}

func (h *harness) report(rows []*row) string {
	var b strings.Builder
	f := h.f
	fmt.Fprintf(&b, "# scripts/bench results\n\n")
	fmt.Fprintf(&b, "- When: %s; %s, %s/%s, %d CPUs (%s); load average before %s, after %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), h.loadBefore, loadAverage())
	fmt.Fprintf(&b, "- Servers: dynalite (in memory) and kmstestd on 127.0.0.1, each behind a proxy that adds %s to every DynamoDB request and %s to every KMS (and STS) request; plain HTTP, no TLS\n", f.ddbLatency, f.kmsLatency)
	fmt.Fprintf(&b, "- Every row is a fresh process, wall time from fork to exit; runs interleaved (run i of every row, then run i+1); peak RSS: %s\n", h.rssNote)
	fmt.Fprintf(&b, "- Bulk read: %s\n", h.bulkNote)
	fmt.Fprintf(&b, "- Reproduce: `scripts/bench -kms-latency %s -ddb-latency %s -runs %d -bulk-runs %d -big-runs %d -bulk %s`\n\n", f.kmsLatency, f.ddbLatency, f.runs, f.bulkRuns, f.bigRuns, f.bulk)
	b.WriteString("| Row | Runs | Median ms | Min ms | Max ms | Floor median ms | × floor | Requests (per run) | Peak RSS MiB |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range rows {
		floor, ratio := "", ""
		if r.floor != nil {
			floor = ms(median(r.floor.samples))
			ratio = fmt.Sprintf("%.2f", r.ratio())
		}
		rss := r.rss
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %.1f |\n",
			r.name, len(r.samples), ms(median(r.samples)), ms(slices.Min(r.samples)), ms(slices.Max(r.samples)),
			floor, ratio, formatRequests(r.requests), float64(rss)/1024)
	}
	b.WriteString("\nTargets (issue 8):\n\n")
	for _, t := range h.targets(rows) {
		fmt.Fprintf(&b, "- %s\n", t)
	}
	return b.String()
}

// targets checks the targets against the rows.
func (h *harness) targets(rows []*row) []string {
	find := func(name string) *row {
		for _, r := range rows {
			if r.name == name {
				return r
			}
		}
		return nil
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	var out []string
	if r := find("read all " + count(1000) + " of a service"); r != nil {
		lo, hi := r.kms()
		out = append(out, fmt.Sprintf("read 1,000 secrets: %d KMS call(s), %.2f× the floor (target: exactly 1 and at most 1.5×): %s",
			hi, r.ratio(), verdict(lo == 1 && hi == 1 && r.ratio() <= 1.5)))
	}
	if r := find("read all " + count(10000) + " of a service"); r != nil {
		rss := float64(r.rss) / 1024
		out = append(out, fmt.Sprintf("read 10,000 secrets: %.2f× the floor, peak RSS %.1f MiB (target: at most 2× and under 100 MB): %s",
			r.ratio(), rss, verdict(r.ratio() <= 2 && rss*1024*1024 < 100e6)))
	}
	if r := find("cchain get"); r != nil {
		out = append(out, fmt.Sprintf("get: %.2f× the floor (target: at most 1.3×): %s", r.ratio(), verdict(r.ratio() <= 1.3)))
	}
	for _, name := range []string{"embedded: cchain get", "embedded: cchain put"} {
		if r := find(name); r != nil {
			out = append(out, fmt.Sprintf("%s: %.2f× the hello-world binary (target: at most 2×): %s", name, r.ratio(), verdict(r.ratio() <= 2)))
		}
	}
	return out
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n < 1 {
			return nil, fmt.Errorf("-sizes: bad size %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
