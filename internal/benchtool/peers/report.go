package main

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// requests formats the requests of one service ("KMS", "DynamoDB") over
// every run: "1 Query, 10 Decrypt", with "min–max" where runs differed.
func requests(runs []map[string]int, svc string) string {
	keys := map[string]bool{}
	for _, m := range runs {
		for k := range m {
			keys[k] = true
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		s, op, _ := strings.Cut(k, " ")
		if s != svc {
			continue
		}
		lo, hi := -1, 0
		for _, m := range runs {
			if lo < 0 || m[k] < lo {
				lo = m[k]
			}
			hi = max(hi, m[k])
		}
		n := fmt.Sprint(lo)
		if hi != lo {
			n = fmt.Sprintf("%d–%d", lo, hi)
		}
		parts = append(parts, n+" "+op)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// storeRequests formats the requests to DynamoDB, and those to any other
// service (SSM for chamber, STS) named by it.
func storeRequests(runs []map[string]int) string {
	d := requests(runs, "DynamoDB")
	o := others(runs)
	switch {
	case o == "":
		return d
	case d == "none":
		return o
	}
	return d + "; " + o
}

// others formats the requests to services other than KMS and DynamoDB.
func others(runs []map[string]int) string {
	var out []string
	seen := map[string]bool{}
	for _, m := range runs {
		for k := range m {
			if s, _, _ := strings.Cut(k, " "); s != "KMS" && s != "DynamoDB" {
				seen[s] = true
			}
		}
	}
	for _, s := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, s+": "+requests(runs, s))
	}
	return strings.Join(out, "; ")
}

func (b *bench) report(rows []*row) string {
	var w strings.Builder
	fmt.Fprintf(&w, "Measured %s by `scripts/bench-peers -runs %d -sizes %s%s` (internal/benchtool/peers), on %d CPUs (load average before: %s).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), b.f.runs, joinSizes(b.f.sizes), latencyFlags(b.f), runtime.NumCPU(), loadAverage())
	fmt.Fprintf(&w, "Every tool talks to one moto_server (%s) on 127.0.0.1 through a counting proxy", b.versions["moto"])
	if b.f.kmsLatency > 0 || b.f.ddbLatency > 0 || b.f.ssmLatency > 0 {
		fmt.Fprintf(&w, " that adds %s per KMS, %s per DynamoDB and %s per SSM request", b.f.kmsLatency, b.f.ddbLatency, b.f.ssmLatency)
	} else {
		w.WriteString(" that adds no latency")
	}
	fmt.Fprintf(&w, "; credstash is credstash.py run by %s (%s). Each run is a fresh process, output to a pipe; the rows are interleaved. Peak RSS from one warm-up run.\n\n",
		b.f.python, b.versions["python libraries"])
	if b.f.chamber != "" {
		w.WriteString("chamber uses its default backend, SSM Parameter Store (SecureString parameters); moto's SSM makes no KMS call, where AWS's decrypts every SecureString it returns with KMS.\n\n")
	}

	w.WriteString("| Operation | Tool | Runs | Median ms | Min ms | Max ms | KMS requests | Store requests | Peak RSS MiB |\n")
	w.WriteString("|---|---|---:|---:|---:|---:|---|---|---:|\n")
	for _, r := range rows {
		kmsReq, ddbReq := requests(r.requests, "KMS"), storeRequests(r.requests)
		rss := ""
		if r.rss > 0 {
			rss = fmt.Sprintf("%.1f", float64(r.rss)/1024)
		}
		fmt.Fprintf(&w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", r.op, r.tool, len(r.samples),
			ms(median(r.samples)), ms(slices.Min(r.samples)), ms(slices.Max(r.samples)), kmsReq, ddbReq, rss)
	}

	w.WriteString("\nSet-up (not part of the measurement; one run each):\n\n")
	w.WriteString("| Tool | Secrets | Command | Wall s | KMS requests | Store requests |\n|---|---:|---|---:|---|---|\n")
	for _, s := range b.setups {
		runs := []map[string]int{s.requests}
		ddbReq := storeRequests(runs)
		fmt.Fprintf(&w, "| %s | %d | %s | %.2f | %s | %s |\n", s.tool, s.n, s.how, s.wall.Seconds(), requests(runs, "KMS"), ddbReq)
	}
	return w.String()
}

func joinSizes(sizes []int) string {
	s := make([]string, len(sizes))
	for i, n := range sizes {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
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

func latencyFlags(f *flags) string {
	var s string
	for _, l := range []struct {
		name string
		d    time.Duration
	}{{"kms", f.kmsLatency}, {"ddb", f.ddbLatency}, {"ssm", f.ssmLatency}} {
		if l.d > 0 {
			s += fmt.Sprintf(" -%s-latency %s", l.name, l.d)
		}
	}
	return s
}
