package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-alias", "cloudchain", "-alias", "alias/other", "-stdin-eof"}, stdinR, outW)
		outW.Close()
	}()
	sc := bufio.NewScanner(outR)
	var lines []string
	for len(lines) < 3 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 3 {
		t.Fatalf("output %q", lines)
	}
	if !strings.HasPrefix(lines[0], "http://127.0.0.1:") {
		t.Errorf("URL line %q", lines[0])
	}
	for i, alias := range []string{"alias/cloudchain", "alias/other"} {
		f := strings.Fields(lines[i+1])
		if len(f) != 2 || f[0] != alias || !strings.HasPrefix(f[1], "arn:aws:kms:us-east-1:111122223333:key/") {
			t.Errorf("key line %q", lines[i+1])
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, lines[0], strings.NewReader(`{"KeyId":"alias/cloudchain"}`))
	req.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("DescribeKey: HTTP %d", resp.StatusCode)
	}
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("run did not return after stdin closed")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-addr", "0.0.0.0:0"}, {"extra"}, {"-require-signature", "nocolon"}, {"-alias", "a", "-alias", "a"}, {"-alias", "bad name"}} {
		if err := run(context.Background(), args, strings.NewReader(""), io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
