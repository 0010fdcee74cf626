package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runStartup times `BINARY ARGS` for each binary, interleaved, and with
// -inittrace also sums GODEBUG=inittrace=1 per package (median over runs).
func runStartup(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("startup", flag.ContinueOnError)
	runs := fs.Int("runs", 200, "runs of each binary")
	argStr := fs.String("args", "--help", "arguments given to each binary (space-separated)")
	trace := fs.Int("inittrace", 0, "also run each binary this many times with GODEBUG=inittrace=1 and show the top packages")
	top := fs.Int("top", 15, "packages shown by -inittrace")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bins := fs.Args()
	if len(bins) == 0 {
		return errors.New("usage: benchtool startup [-runs N] [-args ARGS] [-inittrace N] BINARY")
	}
	argv := strings.Fields(*argStr)
	env := []string{"HOME=" + os.TempDir(), "PATH=" + os.Getenv("PATH")}
	samples := make([][]time.Duration, len(bins))
	for range *runs {
		for i, bin := range bins {
			cmd := exec.CommandContext(ctx, bin, argv...)
			cmd.Env = env
			t := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w", bin, err)
			}
			samples[i] = append(samples[i], time.Since(t))
		}
	}
	fmt.Fprintf(w, "load average %s; %d runs each of ARGS=%q\n\n", loadAverage(), *runs, *argStr)
	fmt.Fprintf(w, "| Binary | Median ms | Min ms | p90 ms |\n|---|---:|---:|---:|\n")
	for i, bin := range bins {
		s := slices.Sorted(slices.Values(samples[i]))
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", bin, ms(median(s)), ms(s[0]), ms(s[len(s)*9/10]))
	}
	if *trace > 0 {
		for _, bin := range bins {
			if err := initTrace(ctx, w, bin, argv, env, *trace, *top); err != nil {
				return err
			}
		}
	}
	return nil
}

// initTrace runs bin n times with GODEBUG=inittrace=1 and prints the median
// total and the packages with the largest median init time.
func initTrace(ctx context.Context, w io.Writer, bin string, argv, env []string, n, top int) error {
	per := map[string][]float64{}
	var totals, allocs []float64
	for range n {
		cmd := exec.CommandContext(ctx, bin, argv...)
		cmd.Env = append(slices.Clone(env), "GODEBUG=inittrace=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		total, nalloc := 0.0, 0.0
		sc := bufio.NewScanner(&stderr)
		for sc.Scan() {
			// init PKG @T ms, C ms clock, B bytes, A allocs
			f := strings.Fields(sc.Text())
			if len(f) < 11 || f[0] != "init" {
				continue
			}
			c, err1 := strconv.ParseFloat(f[4], 64)
			a, err2 := strconv.ParseFloat(f[9], 64)
			if err1 != nil || err2 != nil {
				continue
			}
			per[f[1]] = append(per[f[1]], c)
			total += c
			nalloc += a
		}
		totals = append(totals, total)
		allocs = append(allocs, nalloc)
	}
	type pkg struct {
		name string
		med  float64
	}
	var pkgs []pkg
	for name, cs := range per {
		pkgs = append(pkgs, pkg{name, medianF(cs)})
	}
	slices.SortFunc(pkgs, func(a, b pkg) int {
		if a.med != b.med {
			if a.med > b.med {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	fmt.Fprintf(w, "\n%s: package init, median of %d runs: %.2f ms in %d packages, %.0f allocs\n\n", bin, n, medianF(totals), len(per), medianF(allocs))
	fmt.Fprintf(w, "| Package | Median init ms |\n|---|---:|\n")
	for _, p := range pkgs[:min(top, len(pkgs))] {
		fmt.Fprintf(w, "| %s | %.2f |\n", p.name, p.med)
	}
	return nil
}

func medianF(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
